//! A PutObject whose checksum does not match must leave the key as it was. s3s-fs 0.14.1 compares the checksum only
//! after it has renamed the new bytes over the object (its metadata files come later, so only the data file
//! changes): the refusal it then answers would have destroyed what the key held. The reference server keeps a hard
//! link to the old bytes for the length of such a PUT and puts them back when s3s-fs refuses it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use s3s::dto::PutObjectInput;
use s3s::S3ErrorCode;

use super::fs_layout::FsLayout;

/// Names the hard links; unique within one server process (a leftover from a killed one is simply overwritten).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// What to put back if the PUT is refused for its checksum. Taken with the key's write stripe held.
pub struct Rollback {
    object: PathBuf,
    /// The hard link to the old bytes; `None` when the key held no object.
    saved: Option<PathBuf>,
}

impl Rollback {
    /// Before a PUT that declares a checksum (a header, an algorithm or a trailer): remembers the object's bytes.
    /// `None` when there is nothing to guard (no checksum declared, or a directory key).
    pub async fn before_put(layout: &FsLayout, input: &PutObjectInput, trailer: bool) -> Option<Rollback> {
        let declared = trailer
            || input.checksum_algorithm.is_some()
            || input.checksum_crc32.is_some()
            || input.checksum_crc32c.is_some()
            || input.checksum_crc64nvme.is_some()
            || input.checksum_sha1.is_some()
            || input.checksum_sha256.is_some();
        if !declared || input.key.ends_with('/') {
            return None;
        }
        let object = layout.object_path(&input.bucket, &input.key).ok()?;
        Some(Rollback::guard(layout, object).await)
    }

    /// Before a write of `file` (an object's data, an uploaded part) that may be refused for its checksum after
    /// s3s-fs has renamed the new bytes over it: remembers its bytes.
    pub async fn guard(layout: &FsLayout, file: PathBuf) -> Rollback {
        let saved = layout.root().join(format!(".sfko-rollback-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let _ = tokio::fs::remove_file(&saved).await;
        let saved = match tokio::fs::hard_link(&file, &saved).await {
            Ok(()) => Some(saved),
            Err(_) => None,
        };
        Rollback { object: file, saved }
    }

    /// After the PUT: on a checksum refusal, the old bytes go back (or the new ones away, if there were none).
    pub async fn settle(self, error: Option<&S3ErrorCode>) {
        if error == Some(&S3ErrorCode::BadDigest) {
            let restored = match &self.saved {
                Some(saved) => tokio::fs::rename(saved, &self.object).await,
                None => tokio::fs::remove_file(&self.object).await,
            };
            match restored {
                Ok(()) => tracing::debug!(path = %self.object.display(), "checksum refused: old bytes restored"),
                Err(e) => tracing::warn!(path = %self.object.display(), "checksum refused, restore failed: {e}"),
            }
        } else if let Some(saved) = &self.saved {
            let _ = tokio::fs::remove_file(saved).await;
        }
    }
}
