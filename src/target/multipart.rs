//! Multipart uploads answered as S3 answers them, around s3s-fs 0.14.1, which gets four things wrong (README,
//! "Findings"): a request on a completed, aborted or unknown upload gets `403 AccessDenied` (S3: `404
//! NoSuchUpload`); ListParts of such an upload answers 200; ListParts answers every part at once, in directory
//! order and without ETags, whatever `max-parts` and `part-number-marker` ask; and CompleteMultipartUpload deletes
//! the upload *before* it validates the part list, so a completion it refuses destroys the upload, with the wrong
//! error codes (`InvalidRequest` for parts out of order, `500` for a missing part, part ETags never compared).
//!
//! This layer checks first and only then lets s3s-fs act, so s3s-fs does the storing and the ETag arithmetic as
//! before. An upload's requests hold its stripe: parts share it (they upload side by side), completion and abort
//! hold it alone, so a part cannot land in an upload while it is being completed, and an upload cannot vanish
//! between the check and s3s-fs's own.

use s3s::dto::{CompleteMultipartUploadInput, ETag, ListPartsInput, ListPartsOutput};
use s3s::{s3_error, S3Result};
use tokio::sync::{RwLockReadGuard, RwLockWriteGuard};

use super::fs_layout::FsLayout;
use super::stripes::Stripes;

/// S3's smallest part, except the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Most parts S3 lists on one ListParts page, and what it lists when no `max-parts` is asked for.
const MAX_PARTS_PAGE: i32 = 1000;

/// The multipart checks of the reference server.
pub struct Uploads {
    layout: FsLayout,
    stripes: Stripes,
}

impl Uploads {
    pub fn new(layout: FsLayout) -> Uploads {
        Uploads { layout, stripes: Stripes::default() }
    }

    /// For UploadPart, UploadPartCopy and ListParts: the upload is open, and stays open while the guard is held.
    pub async fn share(&self, bucket: &str, upload_id: &str) -> S3Result<RwLockReadGuard<'_, ()>> {
        let guard = self.stripes.read(bucket, upload_id).await;
        self.require_open(upload_id).await?;
        Ok(guard)
    }

    /// For CompleteMultipartUpload and AbortMultipartUpload: the upload is open, and nothing else touches it while
    /// the guard is held.
    pub async fn close(&self, bucket: &str, upload_id: &str) -> S3Result<RwLockWriteGuard<'_, ()>> {
        let guard = self.stripes.write(bucket, upload_id).await;
        self.require_open(upload_id).await?;
        Ok(guard)
    }

    async fn require_open(&self, upload_id: &str) -> S3Result<()> {
        let open = match self.layout.upload_marker(upload_id) {
            Some(marker) => tokio::fs::try_exists(&marker).await.unwrap_or(false),
            None => false,
        };
        match open {
            true => Ok(()),
            false => Err(s3_error!(
                NoSuchUpload,
                "The specified upload does not exist: it may have been aborted or completed"
            )),
        }
    }

    /// One ListParts page as S3 answers it, from every part s3s-fs listed (`all`): in part-number order, after
    /// `part-number-marker`, at most `max-parts` (1,000 at most and by default), each with its ETag, truncated while
    /// parts remain, with the next page's marker. Call with the guard of [`share`](Self::share) held.
    pub async fn page_parts(&self, input: &ListPartsInput, mut all: ListPartsOutput) -> S3Result<ListPartsOutput> {
        let mut parts = all.parts.take().unwrap_or_default();
        parts.sort_by_key(|p| p.part_number);
        let after = input.part_number_marker.unwrap_or(0);
        parts.retain(|p| p.part_number.is_some_and(|n| n > after));
        let max = input.max_parts.unwrap_or(MAX_PARTS_PAGE).clamp(0, MAX_PARTS_PAGE) as usize;
        let truncated = parts.len() > max;
        parts.truncate(max);
        for part in &mut parts {
            let Some(path) = part.part_number.and_then(|n| self.layout.part_path(&input.upload_id, n)) else {
                continue;
            };
            part.e_tag = Some(ETag::Strong(FsLayout::file_md5(&path).await?));
        }
        all.next_part_number_marker = if truncated { parts.last().and_then(|p| p.part_number) } else { None };
        all.is_truncated = Some(truncated);
        all.max_parts = Some(max as i32);
        all.part_number_marker = input.part_number_marker;
        all.parts = Some(parts);
        Ok(all)
    }

    /// Refuses a part list S3 would refuse, before s3s-fs (which would destroy the upload) sees it. Call with the
    /// guard of [`close`](Self::close) held.
    pub async fn check_completion(&self, input: &CompleteMultipartUploadInput) -> S3Result<()> {
        let parts = input.multipart_upload.as_ref().and_then(|m| m.parts.as_deref()).unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error!(MalformedXML, "The XML you provided did not list any part"));
        }
        let mut numbers = Vec::with_capacity(parts.len());
        for part in parts {
            let Some(number) = part.part_number else {
                return Err(s3_error!(MalformedXML, "a part of the list has no PartNumber"));
            };
            numbers.push(number);
        }
        if numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(s3_error!(InvalidPartOrder, "The list of parts was not in ascending order"));
        }
        let mut sizes = Vec::with_capacity(parts.len());
        for (part, number) in parts.iter().zip(&numbers) {
            let missing = || s3_error!(InvalidPart, "Part {number} was not uploaded, or its ETag does not match");
            let path = self.layout.part_path(&input.upload_id, *number).ok_or_else(missing)?;
            let Ok(metadata) = tokio::fs::metadata(&path).await else { return Err(missing()) };
            let claimed = part.e_tag.as_ref().map(|e| e.value().trim_matches('"').to_ascii_lowercase());
            if claimed.as_deref() != Some(FsLayout::file_md5(&path).await?.as_str()) {
                return Err(missing());
            }
            sizes.push(metadata.len());
        }
        if sizes.iter().rev().skip(1).any(|&size| size < MIN_PART_SIZE) {
            return Err(s3_error!(EntityTooSmall, "Your proposed upload is smaller than the minimum allowed size"));
        }
        Ok(())
    }
}
