//! Object versioning for the embedded target. s3s-fs 0.14.1 has none, so without this layer every sfko scenario with
//! a `versioning: true` bucket had to be skipped on sfko's own server.
//!
//! Layout: the *live* object stays where s3s-fs keeps it (`root/bucket/key` plus its internal-info and metadata side
//! files), so plain GET/HEAD and ListObjectsV2 keep going through s3s-fs unchanged and always show the current
//! version. Every version's bytes and side files are also copied into an archive that s3s-fs can read as if it were
//! an object of the bucket [`ARCHIVE`] (not a valid bucket name, so ListBuckets never shows it): a GET or HEAD by
//! version id is an s3s-fs read of the archived copy, with ranges, ETags (multipart `-N` ones too) and checksums for
//! free. Deleting the newest version copies the next newest back into the live place.
//!
//! The version chains live in memory and in an append-only log under the archive (`version_log.rs`), so a server
//! killed and started again on the same data dir keeps them. Buckets never switched to versioning are not tracked
//! at all and pass straight to s3s-fs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

use super::fs_layout::FsLayout;
use super::version_log::{Entry, VersionLog};

/// The pseudo-bucket holding every archived version (a directory under the server root).
pub const ARCHIVE: &str = ".sfko-versions";
/// The version id of objects written while versioning is suspended.
const NULL: &str = "null";
/// ListObjectVersions' page size when the request names none (and its ceiling), as in S3.
const MAX_KEYS: i32 = 1000;

/// A bucket's versioning state once it has been switched on (S3 has no way back to "never versioned").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Enabled,
    Suspended,
}

/// One entry of a key's version chain.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Version {
    id: String,
    /// Archive key of its bytes; `None` = delete marker.
    archive: Option<String>,
    size: u64,
    etag: String,
    modified: SystemTime,
}

impl Version {
    fn is_marker(&self) -> bool {
        self.archive.is_none()
    }

    /// The highest number this version's id and archive name use (ids and archive names are numbered from one
    /// counter; `null` and unnumbered names count as 0).
    pub(super) fn number(&self) -> u64 {
        let id = self.id.parse::<u64>().unwrap_or(0);
        let archive = self.archive.as_deref().and_then(|a| a.strip_prefix('v')).and_then(|n| n.parse().ok());
        id.max(archive.unwrap_or(0))
    }
}

/// A versioned bucket: its mode and each key's chain, oldest first (the last entry is current).
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) mode: Mode,
    pub(super) keys: BTreeMap<String, Vec<Version>>,
}

/// One lock per (bucket, key) ever written in a versioned bucket.
type KeyLocks = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// Versioning state of every bucket switched to versioning, and the per-key locks that keep the live file and the
/// newest version in step when writes and deletes of one key race.
pub struct Versioning {
    /// Where s3s-fs keeps each object's files (the only code that knows).
    layout: FsLayout,
    root: PathBuf,
    buckets: Mutex<HashMap<String, Bucket>>,
    locks: Mutex<KeyLocks>,
    next: AtomicU64,
    /// The state on disk, so it survives a restart on the same data dir.
    log: VersionLog,
}

/// Holds a key of a versioned bucket exclusively; versioned operations on the key take one.
pub struct KeyGuard {
    _held: tokio::sync::OwnedMutexGuard<()>,
    bucket: String,
    key: String,
    mode: Mode,
}

impl KeyGuard {
    /// The bucket this guard holds a key of.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key held.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// What a versioned delete did, for DeleteObject and DeleteObjects answers.
struct Deleted {
    version_id: String,
    marker: bool,
}

impl Versioning {
    /// Versioning over the s3s-fs data dir `root` (the archive goes to `root/.sfko-versions`).
    /// What an earlier server on the same `root` recorded is restored.
    pub fn new(root: &Path) -> Versioning {
        // Ids and archive names are numbered; a restarted server goes on after the highest ever handed out.
        let (log, restored, next) = VersionLog::open(&root.join(ARCHIVE));
        Versioning {
            layout: FsLayout::new(root),
            root: root.to_path_buf(),
            buckets: Mutex::new(restored),
            locks: Mutex::new(HashMap::new()),
            next: AtomicU64::new(next),
            log,
        }
    }

    /// Records `bucket/key`'s chain as it now is (call with the state lock held, so the log keeps its order).
    fn log_chain(&self, state: &HashMap<String, Bucket>, bucket: &str, key: &str) {
        let versions = state.get(bucket).and_then(|b| b.keys.get(key)).cloned().unwrap_or_default();
        self.log_entry(state, &Entry::Chain { bucket: bucket.to_string(), key: key.to_string(), versions });
    }

    /// Appends `entry` (state lock held), compacting the log when it has grown long.
    fn log_entry(&self, state: &HashMap<String, Bucket>, entry: &Entry) {
        if self.log.append(entry) {
            if let Err(e) = self.log.compact(state, self.next.load(Ordering::Relaxed)) {
                tracing::warn!("versioning state log: {e}");
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, HashMap<String, Bucket>> {
        self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The bucket's mode, or `None` if versioning was never switched on (then s3s-fs answers alone).
    pub fn mode(&self, bucket: &str) -> Option<Mode> {
        self.state().get(bucket).map(|b| b.mode)
    }

    /// Locks `bucket/key` if the bucket is versioned; `None` (and no waiting) otherwise. Keys ending in `/` are
    /// directories to s3s-fs, with no bytes or ETag to archive: they stay unversioned.
    pub async fn lock(&self, bucket: &str, key: &str) -> Option<KeyGuard> {
        if key.ends_with('/') {
            return None;
        }
        self.mode(bucket)?;
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry((bucket.to_string(), key.to_string())).or_default().clone()
        };
        let held = lock.lock_owned().await;
        // The mode may have changed while this waited.
        let mode = self.mode(bucket)?;
        Some(KeyGuard { _held: held, bucket: bucket.to_string(), key: key.to_string(), mode })
    }

    /// PutBucketVersioning: `Enabled` or `Suspended` (anything else is refused, as S3 does).
    pub async fn set_mode(&self, bucket: &str, status: Option<&BucketVersioningStatus>) -> S3Result<()> {
        if !self.root.join(bucket).is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let mode = match status.map(BucketVersioningStatus::as_str) {
            Some(BucketVersioningStatus::ENABLED) => Mode::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Mode::Suspended,
            _ => return Err(s3_error!(MalformedXML, "versioning status must be Enabled or Suspended")),
        };
        {
            let mut state = self.state();
            if let Some(known) = state.get_mut(bucket) {
                known.mode = mode;
                self.log_entry(&state, &Entry::Mode { bucket: bucket.to_string(), mode });
                return Ok(());
            }
        }
        // First switched on: objects already there become their keys' null versions, as in S3.
        let keys = self.adopt(bucket).await?;
        let mut state = self.state();
        let names: Vec<String> = keys.iter().map(|(key, _)| key.clone()).collect();
        state.entry(bucket.to_string()).or_insert(Bucket { mode, keys: BTreeMap::new() }).keys.extend(keys);
        self.log_entry(&state, &Entry::Mode { bucket: bucket.to_string(), mode });
        for key in names {
            self.log_chain(&state, bucket, &key);
        }
        Ok(())
    }

    /// Archives every object of a bucket that was never versioned as its key's null version.
    async fn adopt(&self, bucket: &str) -> S3Result<Vec<(String, Vec<Version>)>> {
        let mut chains = Vec::new();
        for key in object_keys(&self.root.join(bucket)).await? {
            let live = self.live_files(bucket, &key)?;
            let meta = tokio::fs::metadata(&live[0]).await.map_err(|e| s3_error!(e, InternalError))?;
            let etag = match FsLayout::stored_etag(&live[1]).await {
                Ok(etag) => etag,
                Err(_) => FsLayout::file_md5(&live[0]).await?,
            };
            let archive = format!("v{:012}", self.next.fetch_add(1, Ordering::Relaxed));
            copy_files(&live, &self.archive_files(&archive)).await?;
            let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
            let version = Version { id: NULL.into(), archive: Some(archive), size: meta.len(), etag, modified };
            chains.push((key, vec![version]));
        }
        Ok(chains)
    }

    /// GetBucketVersioning: the status, or none for a bucket never versioned.
    pub fn get_mode(&self, bucket: &str) -> S3Result<GetBucketVersioningOutput> {
        if !self.root.join(bucket).is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let status = self.mode(bucket).map(|mode| {
            BucketVersioningStatus::from_static(match mode {
                Mode::Enabled => BucketVersioningStatus::ENABLED,
                Mode::Suspended => BucketVersioningStatus::SUSPENDED,
            })
        });
        Ok(GetBucketVersioningOutput { status, ..Default::default() })
    }

    /// Whether DeleteBucket must be refused: a versioned bucket still holding versions or delete markers.
    pub fn holds_versions(&self, bucket: &str) -> bool {
        self.state().get(bucket).is_some_and(|b| !b.keys.is_empty())
    }

    /// After DeleteBucket: a bucket created later under the same name starts unversioned, as in S3.
    pub async fn forget_bucket(&self, bucket: &str) {
        let archives: Vec<String> = {
            let mut state = self.state();
            match state.remove(bucket) {
                Some(gone) => {
                    self.log_entry(&state, &Entry::Forget { bucket: bucket.to_string() });
                    gone.keys.into_values().flatten().filter_map(|v| v.archive).collect()
                }
                None => return,
            }
        };
        for archive in archives {
            self.drop_archive(&archive).await;
        }
    }

    /// After a successful write of the live object (PutObject, CompleteMultipartUpload, CopyObject): archives it as
    /// the new current version and returns its id. `lose_previous` is the `version-lost` fault: the version it
    /// replaces is silently dropped.
    pub async fn record_write(&self, guard: &KeyGuard, lose_previous: bool) -> S3Result<String> {
        let live = self.live_files(&guard.bucket, &guard.key)?;
        let meta = tokio::fs::metadata(&live[0]).await.map_err(|e| s3_error!(e, InternalError))?;
        let etag = FsLayout::stored_etag(&live[1]).await?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let archive = format!("v{n:012}");
        copy_files(&live, &self.archive_files(&archive)).await?;
        let id = match guard.mode {
            Mode::Enabled => format!("{n:020}"),
            Mode::Suspended => NULL.to_string(),
        };
        let version = Version {
            id: id.clone(),
            archive: Some(archive),
            size: meta.len(),
            etag,
            modified: meta.modified().unwrap_or_else(|_| SystemTime::now()),
        };
        let dropped = self.push(guard, version, lose_previous);
        if lose_previous && !dropped.is_empty() {
            tracing::debug!(bucket = guard.bucket, key = guard.key, "fault fixture: lost a noncurrent version");
        }
        for archive in dropped {
            self.drop_archive(&archive).await;
        }
        Ok(id)
    }

    /// Appends `version` to the key's chain (replacing the null version when suspended); returns the archive keys
    /// no longer referenced.
    fn push(&self, guard: &KeyGuard, version: Version, lose_previous: bool) -> Vec<String> {
        let mut state = self.state();
        let Some(bucket) = state.get_mut(&guard.bucket) else { return version.archive.into_iter().collect() };
        let chain = bucket.keys.entry(guard.key.clone()).or_default();
        let mut dropped = Vec::new();
        if version.id == NULL {
            dropped.extend(chain.iter().filter(|v| v.id == NULL).filter_map(|v| v.archive.clone()));
            chain.retain(|v| v.id != NULL);
        }
        if lose_previous {
            if let Some(previous) = chain.pop() {
                dropped.extend(previous.archive);
            }
        }
        chain.push(version);
        self.log_chain(&state, &guard.bucket, &guard.key);
        dropped
    }

    /// DeleteObject on a versioned bucket, with or without a version id.
    pub async fn delete_object(&self, guard: &KeyGuard, version_id: Option<&str>) -> S3Result<DeleteObjectOutput> {
        let deleted = match version_id {
            None => self.add_marker(guard).await?,
            Some(id) => self.delete_version(guard, id).await?,
        };
        Ok(DeleteObjectOutput {
            delete_marker: deleted.marker.then_some(true),
            version_id: Some(deleted.version_id),
            ..Default::default()
        })
    }

    /// DeleteObjects on a versioned bucket: each key as its own DeleteObject.
    pub async fn delete_objects(&self, input: DeleteObjectsInput) -> S3Result<DeleteObjectsOutput> {
        let mut deleted = Vec::new();
        for object in input.delete.objects {
            let Some(guard) = self.lock(&input.bucket, &object.key).await else {
                return Err(s3_error!(InternalError, "bucket {} is no longer versioned", input.bucket));
            };
            let done = match object.version_id.as_deref() {
                None => self.add_marker(&guard).await?,
                Some(id) => self.delete_version(&guard, id).await?,
            };
            let marker_id = done.marker.then(|| done.version_id.clone());
            deleted.push(DeletedObject {
                key: Some(object.key),
                delete_marker: done.marker.then_some(true),
                delete_marker_version_id: marker_id.filter(|_| object.version_id.is_none()),
                version_id: object.version_id,
            });
        }
        Ok(DeleteObjectsOutput { deleted: Some(deleted), ..Default::default() })
    }

    /// A delete without version id: the live object goes, a delete marker becomes current.
    async fn add_marker(&self, guard: &KeyGuard) -> S3Result<Deleted> {
        remove_file(&self.live_files(&guard.bucket, &guard.key)?[0]).await?;
        let id = match guard.mode {
            Mode::Enabled => format!("{:020}", self.next.fetch_add(1, Ordering::Relaxed)),
            Mode::Suspended => NULL.to_string(),
        };
        let marker =
            Version { id: id.clone(), archive: None, size: 0, etag: String::new(), modified: SystemTime::now() };
        for archive in self.push(guard, marker, false) {
            self.drop_archive(&archive).await;
        }
        Ok(Deleted { version_id: id, marker: true })
    }

    /// Removes one version for good; when it was current, the next newest takes the live place.
    async fn delete_version(&self, guard: &KeyGuard, id: &str) -> S3Result<Deleted> {
        let (removed, now_current) = {
            let mut state = self.state();
            let Some(chain) = state.get_mut(&guard.bucket).and_then(|b| b.keys.get_mut(&guard.key)) else {
                return Ok(Deleted { version_id: id.to_string(), marker: false });
            };
            let Some(at) = chain.iter().position(|v| v.id == id) else {
                return Ok(Deleted { version_id: id.to_string(), marker: false });
            };
            let was_current = at + 1 == chain.len();
            let removed = chain.remove(at);
            let now_current = was_current.then(|| chain.last().cloned());
            if chain.is_empty() {
                if let Some(bucket) = state.get_mut(&guard.bucket) {
                    bucket.keys.remove(&guard.key);
                }
            }
            self.log_chain(&state, &guard.bucket, &guard.key);
            (removed, now_current)
        };
        if let Some(current) = now_current {
            self.make_live(guard, current.as_ref()).await?;
        }
        if let Some(archive) = &removed.archive {
            self.drop_archive(archive).await;
        }
        Ok(Deleted { version_id: removed.id.clone(), marker: removed.is_marker() })
    }

    /// Puts `current`'s bytes and side files in the live place, or removes the live object when the key's newest
    /// entry is a delete marker or nothing is left.
    async fn make_live(&self, guard: &KeyGuard, current: Option<&Version>) -> S3Result<()> {
        let live = self.live_files(&guard.bucket, &guard.key)?;
        match current.and_then(|v| v.archive.as_deref()) {
            Some(archive) => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                let staged = [0, 1, 2].map(|i| self.root.join(format!(".sfko-restore-{n}-{i}")));
                copy_files(&self.archive_files(archive), &staged).await?;
                for (from, to) in staged.iter().zip(&live) {
                    rename_if_present(from, to).await?;
                }
                Ok(())
            }
            None => remove_file(&live[0]).await,
        }
    }

    /// GetObject on a versioned bucket: by version id from the archive, else the live object with its version id.
    pub async fn get_object(
        &self,
        inner: &FileSystem,
        guard: &KeyGuard,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let Some(id) = req.input.version_id.take() else {
            let mut out = inner.get_object(req).await?;
            out.output.version_id = self.current_id(guard);
            return Ok(out);
        };
        let version = self.find(guard, &id)?;
        req.input.bucket = ARCHIVE.to_string();
        req.input.key = version.archive.clone().unwrap_or_default();
        let mut out = inner.get_object(req).await.map_err(archive_gone)?;
        out.output.version_id = Some(version.id);
        out.output.last_modified = Some(Timestamp::from(version.modified));
        Ok(out)
    }

    /// HeadObject on a versioned bucket, like [`get_object`](Self::get_object).
    pub async fn head_object(
        &self,
        inner: &FileSystem,
        guard: &KeyGuard,
        mut req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let Some(id) = req.input.version_id.take() else {
            let mut out = inner.head_object(req).await?;
            out.output.version_id = self.current_id(guard);
            return Ok(out);
        };
        let version = self.find(guard, &id)?;
        req.input.bucket = ARCHIVE.to_string();
        req.input.key = version.archive.clone().unwrap_or_default();
        let mut out = inner.head_object(req).await.map_err(archive_gone)?;
        out.output.version_id = Some(version.id);
        out.output.last_modified = Some(Timestamp::from(version.modified));
        Ok(out)
    }

    /// A CopyObject source naming a version of a versioned bucket is read from the archive instead.
    pub async fn resolve_copy_source(&self, input: &mut CopyObjectInput) -> S3Result<()> {
        let CopySource::Bucket { bucket, key, version_id: Some(id) } = &input.copy_source else { return Ok(()) };
        let Some(guard) = self.lock(bucket, key).await else { return Ok(()) };
        let version = self.find(&guard, id).map_err(|e| match e.code() {
            s3s::S3ErrorCode::MethodNotAllowed => {
                s3_error!(InvalidRequest, "the source of a copy may not refer to a delete marker by version id")
            }
            _ => e,
        })?;
        input.copy_source = CopySource::Bucket {
            bucket: ARCHIVE.into(),
            key: version.archive.unwrap_or_default().into(),
            version_id: None,
        };
        Ok(())
    }

    /// The internal-info file of `bucket/key`'s version `id` (its ETag, checksums and part sizes), or of the live
    /// object when `id` is `None`: errors as a GET of that version would answer them.
    pub fn info_file(&self, guard: &KeyGuard, id: Option<&str>) -> S3Result<PathBuf> {
        let [info, _] = match id {
            Some(id) => self.layout.side_files(ARCHIVE, &self.find(guard, id)?.archive.unwrap_or_default()),
            None => self.layout.side_files(&guard.bucket, &guard.key),
        };
        Ok(info)
    }

    /// The key's version `id`: NoSuchVersion if there is none, MethodNotAllowed if it is a delete marker.
    fn find(&self, guard: &KeyGuard, id: &str) -> S3Result<Version> {
        let state = self.state();
        let chain = state.get(&guard.bucket).and_then(|b| b.keys.get(&guard.key));
        match chain.and_then(|c| c.iter().find(|v| v.id == id)) {
            None => Err(s3_error!(NoSuchVersion)),
            Some(v) if v.is_marker() => Err(s3_error!(MethodNotAllowed, "the version is a delete marker")),
            Some(v) => Ok(v.clone()),
        }
    }

    /// The version id of the key's current version (none when its newest entry is a delete marker).
    fn current_id(&self, guard: &KeyGuard) -> Option<String> {
        let state = self.state();
        let newest = state.get(&guard.bucket)?.keys.get(&guard.key)?.last()?;
        (!newest.is_marker()).then(|| newest.id.clone())
    }

    /// ListObjectVersions of a versioned bucket (`None` for one never versioned: s3s-fs answers).
    /// A delimiter is refused rather than ignored (sfko sends none): a listing without the roll-up it asked for
    /// would be a wrong answer, not a missing feature.
    pub fn list(&self, input: &ListObjectVersionsInput) -> Option<S3Result<ListObjectVersionsOutput>> {
        let state = self.state();
        let bucket = state.get(&input.bucket)?;
        if input.delimiter.as_deref().is_some_and(|d| !d.is_empty()) {
            return Some(Err(s3_error!(NotImplemented, "ListObjectVersions with a delimiter")));
        }
        let max = input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS) as usize;
        let (rows, truncated) = page(bucket, input, max);
        let last = rows.last().filter(|_| truncated).map(|(key, v, _)| ((*key).clone(), v.id.clone()));
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for (key, version, is_latest) in rows {
            let modified = Some(Timestamp::from(version.modified));
            if version.is_marker() {
                markers.push(DeleteMarkerEntry {
                    is_latest: Some(is_latest),
                    key: Some(key.clone()),
                    last_modified: modified,
                    owner: None,
                    version_id: Some(version.id.clone()),
                });
            } else {
                versions.push(ObjectVersion {
                    e_tag: Some(ETag::Strong(version.etag.clone())),
                    is_latest: Some(is_latest),
                    key: Some(key.clone()),
                    last_modified: modified,
                    size: Some(version.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    version_id: Some(version.id.clone()),
                    ..Default::default()
                });
            }
        }
        let (next_key_marker, next_version_id_marker) = last.unzip();
        Some(Ok(ListObjectVersionsOutput {
            name: Some(input.bucket.clone()),
            prefix: input.prefix.clone(),
            key_marker: input.key_marker.clone(),
            version_id_marker: input.version_id_marker.clone(),
            max_keys: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker,
            next_version_id_marker,
            versions: (!versions.is_empty()).then_some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            ..Default::default()
        }))
    }

    /// s3s-fs's files for `bucket/key`: data, internal info (ETag, checksums), metadata.
    fn live_files(&self, bucket: &str, key: &str) -> S3Result<[PathBuf; 3]> {
        let [internal, metadata] = self.layout.side_files(bucket, key);
        Ok([self.layout.object_path(bucket, key)?, internal, metadata])
    }

    /// The same files for an archived version, where s3s-fs finds them as object `archive` of bucket [`ARCHIVE`].
    fn archive_files(&self, archive: &str) -> [PathBuf; 3] {
        let [internal, metadata] = self.layout.side_files(ARCHIVE, archive);
        [self.root.join(ARCHIVE).join(archive), internal, metadata]
    }

    async fn drop_archive(&self, archive: &str) {
        for path in self.archive_files(archive) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

/// An archived copy s3s-fs cannot find is a version that is gone; other errors (a bad range) stand.
fn archive_gone(e: s3s::S3Error) -> s3s::S3Error {
    match e.code() {
        s3s::S3ErrorCode::NoSuchKey => s3_error!(NoSuchVersion),
        _ => e,
    }
}

/// One page of (key, version, is_latest): keys in byte order, newest first within a key, resuming after the
/// key/version-id markers; and whether more entries follow.
fn page<'a>(
    bucket: &'a Bucket,
    input: &ListObjectVersionsInput,
    max: usize,
) -> (Vec<(&'a String, &'a Version, bool)>, bool) {
    let prefix = input.prefix.as_deref().unwrap_or("");
    let key_marker = input.key_marker.as_deref().filter(|m| !m.is_empty());
    let id_marker = input.version_id_marker.as_deref().filter(|m| !m.is_empty());
    let mut rows = Vec::new();
    for (key, chain) in &bucket.keys {
        if !key.starts_with(prefix) {
            continue;
        }
        let newest_first = chain.iter().rev().enumerate();
        let skip = match key_marker {
            Some(marker) if key.as_str() < marker => continue,
            Some(marker) if key == marker => match id_marker {
                // Resume after the marker's version; a marker no longer there means the key was done.
                Some(id) => match chain.iter().rev().position(|v| v.id == id) {
                    Some(at) => at + 1,
                    None => continue,
                },
                None => continue,
            },
            _ => 0,
        };
        for (i, version) in newest_first.skip(skip) {
            if rows.len() == max {
                return (rows, max > 0);
            }
            rows.push((key, version, i == 0));
        }
    }
    (rows, false)
}

/// Every object key under a bucket directory (files; s3s-fs keeps `a/b` as directory `a` holding file `b`).
async fn object_keys(dir: &Path) -> S3Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| s3_error!(e, InternalError))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| s3_error!(e, InternalError))? {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let kind = entry.file_type().await.map_err(|e| s3_error!(e, InternalError))?;
            if kind.is_dir() {
                pending.push((entry.path(), format!("{prefix}{name}/")));
            } else if kind.is_file() {
                keys.push(format!("{prefix}{name}"));
            }
        }
    }
    Ok(keys)
}

/// Copies each existing `from` file to its `to` (a side file s3s-fs never wrote is simply absent in both).
async fn copy_files(from: &[PathBuf; 3], to: &[PathBuf; 3]) -> S3Result<()> {
    for (from, to) in from.iter().zip(to) {
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| s3_error!(e, InternalError))?;
        }
        match tokio::fs::copy(from, to).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => remove_file(to).await?,
            Err(e) => return Err(s3_error!(e, InternalError)),
        }
    }
    Ok(())
}

/// Moves a staged file into place atomically; a staged file that does not exist removes the target.
async fn rename_if_present(from: &Path, to: &Path) -> S3Result<()> {
    if tokio::fs::metadata(from).await.is_err() {
        return remove_file(to).await;
    }
    if let Some(dir) = to.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(|e| s3_error!(e, InternalError))?;
    }
    tokio::fs::rename(from, to).await.map_err(|e| s3_error!(e, InternalError))
}

/// Removes a file; one already gone is fine.
async fn remove_file(path: &Path) -> S3Result<()> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(s3_error!(e, InternalError)),
    }
}
