//! ListObjectsV2 without a delimiter, served from a sorted snapshot of a bucket's keys instead of s3s-fs's walk.
//!
//! s3s-fs answers every page by walking the whole bucket, stat-ing every file and sorting them all, then keeping the
//! thousand after the marker: listing a bucket of n keys page by page costs n²/1000 stats. At 100,000 objects a
//! cleanup spent most of an hour in it; that is why the embedded target slowed with object count. Here the key names
//! are read once per bucket (one directory walk, no stats) and kept sorted; a page binary-searches its marker and
//! stats only the keys it returns, so a full listing costs n stats.
//!
//! The snapshot is a list of names that may have been there. It stays valid while nothing can have *added* a name:
//! every request that might (a write, a copy, a completion, a versioned delete that restores an older version, a
//! bucket created or removed) calls [`Listings::touched`], and a snapshot taken before that is rebuilt. Deletes that
//! only remove names leave it valid — the stat of each returned key skips the ones gone — which is what keeps a
//! cleanup (list a page, delete it, list the next) linear. The answer is the one s3s-fs 0.14.1 gives: the same
//! fields, order, truncation and continuation token (the tests in `tests/reference_server.rs` pin listings).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use s3s::dto::{ListObjectsV2Input, ListObjectsV2Output, Object, Timestamp};
use s3s::{s3_error, S3Result};

/// Key snapshots by bucket, and the count of requests that may have added a name since the server started.
#[derive(Default)]
pub struct Listings {
    generation: AtomicU64,
    snapshots: Mutex<HashMap<String, Arc<Snapshot>>>,
}

/// See [`Listings::touching`].
pub struct Touching<'a>(&'a Listings);

impl Drop for Touching<'_> {
    fn drop(&mut self) {
        self.0.touched();
    }
}

struct Snapshot {
    /// [`Listings::generation`] when the walk began.
    generation: u64,
    /// Every regular file's key under the bucket, sorted as s3s-fs sorts (by the key's UTF-8 bytes), less the ones
    /// a page found gone: a client that lists from the start after each batch of deletes must not stat them again.
    keys: Mutex<BTreeSet<String>>,
}

impl Listings {
    /// Something may have added a name to some bucket: later pages read the names again.
    pub fn touched(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// For a request that may add a name: counts as [`touched`](Self::touched) now and again when dropped (after
    /// the request), so a walk that overlapped it is never trusted.
    pub fn touching(&self) -> Touching<'_> {
        self.touched();
        Touching(self)
    }

    /// One page of ListObjectsV2 without a delimiter (the caller sends delimited listings to s3s-fs).
    pub async fn list_v2(&self, bucket_root: PathBuf, input: ListObjectsV2Input) -> S3Result<ListObjectsV2Output> {
        let snapshot = self.snapshot(&input.bucket, bucket_root.clone()).await?;
        let prefix = input.prefix.as_deref().unwrap_or("").trim_start_matches('/').to_string();
        let max_keys = input.max_keys.unwrap_or(1000);
        let wanted = usize::try_from(max_keys).unwrap_or(1000);
        let marker = match (input.continuation_token.as_deref(), input.start_after.as_deref()) {
            (Some(token), Some(after)) => Some(if token >= after { token } else { after }),
            (token, after) => token.or(after),
        }
        .map(str::to_string);
        let page = tokio::task::spawn_blocking(move || page(&snapshot, &bucket_root, &prefix, marker, wanted))
            .await
            .map_err(|e| s3_error!(InternalError, "listing task failed: {e}"))??;
        let key_count = i32::try_from(page.objects.len()).map_err(|_| s3_error!(InternalError, "page too long"))?;
        let next_continuation_token =
            if page.truncated { page.objects.last().and_then(|o| o.key.clone()) } else { None };
        Ok(ListObjectsV2Output {
            key_count: Some(key_count),
            max_keys: Some(max_keys),
            is_truncated: Some(page.truncated),
            contents: (!page.objects.is_empty()).then_some(page.objects),
            continuation_token: input.continuation_token,
            next_continuation_token,
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            ..Default::default()
        })
    }

    /// The bucket's snapshot, walked again if something may have added a name since it was taken.
    async fn snapshot(&self, bucket: &str, root: PathBuf) -> S3Result<Arc<Snapshot>> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(snapshot) = self.snapshots.lock().ok().and_then(|s| s.get(bucket).cloned()) {
            if snapshot.generation == generation {
                return Ok(snapshot);
            }
        }
        let keys = tokio::task::spawn_blocking(move || walk(&root))
            .await
            .map_err(|e| s3_error!(InternalError, "listing task failed: {e}"))??;
        let snapshot = Arc::new(Snapshot { generation, keys: Mutex::new(keys) });
        if let Ok(mut snapshots) = self.snapshots.lock() {
            snapshots.insert(bucket.to_string(), snapshot.clone());
        }
        Ok(snapshot)
    }
}

/// Every regular file under `root` as a `/`-joined key; what s3s-fs's walk finds, without its stats.
fn walk(root: &Path) -> S3Result<BTreeSet<String>> {
    if !root.exists() {
        return Err(s3_error!(NoSuchBucket));
    }
    let mut keys = BTreeSet::new();
    let mut dirs = std::collections::VecDeque::from([root.to_path_buf()]);
    while let Some(dir) = dirs.pop_front() {
        for entry in std::fs::read_dir(&dir).map_err(|e| s3_error!(e, InternalError))? {
            let entry = entry.map_err(|e| s3_error!(e, InternalError))?;
            if entry.file_type().map_err(|e| s3_error!(e, InternalError))?.is_dir() {
                dirs.push_back(entry.path());
            } else if let Some(key) = key_of(root, &entry.path()) {
                keys.insert(key);
            }
        }
    }
    Ok(keys)
}

/// The key s3s-fs lists for a file: its path under the bucket joined by `/` (not UTF-8: not listed, as there).
fn key_of(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            std::path::Component::Normal(name) => parts.push(name.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

struct Page {
    objects: Vec<Object>,
    truncated: bool,
}

/// Up to `wanted` keys after `marker` that start with `prefix` and still exist, with their size and mtime; the
/// keys found gone leave the snapshot.
fn page(snapshot: &Snapshot, root: &Path, prefix: &str, marker: Option<String>, wanted: usize) -> S3Result<Page> {
    use std::ops::Bound;
    let mut keys = snapshot.keys.lock().map_err(|_| s3_error!(InternalError, "listing snapshot poisoned"))?;
    let from = match marker.as_deref() {
        Some(marker) if marker >= prefix => Bound::Excluded(marker.to_string()),
        _ => Bound::Included(prefix.to_string()),
    };
    let mut objects = Vec::new();
    let mut truncated = false;
    let mut gone = Vec::new();
    for key in keys.range::<String, _>((from, Bound::Unbounded)).take_while(|k| k.starts_with(prefix)) {
        let Some(object) = stat(root, key)? else {
            gone.push(key.clone());
            continue;
        };
        if objects.len() == wanted {
            // One more exists: the page is truncated (never with max-keys 0, as s3s-fs answers it).
            truncated = wanted > 0;
            break;
        }
        objects.push(object);
    }
    for key in &gone {
        keys.remove(key);
    }
    Ok(Page { objects, truncated })
}

/// The listed object for `key`, or `None` if it is gone (deleted since the snapshot) or is no longer a file.
fn stat(root: &Path, key: &str) -> S3Result<Option<Object>> {
    let metadata = match std::fs::symlink_metadata(root.join(key)) {
        Ok(metadata) if !metadata.is_dir() => metadata,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(s3_error!(e, InternalError)),
    };
    let modified = metadata.modified().map_err(|e| s3_error!(e, InternalError))?;
    let size = i64::try_from(metadata.len()).map_err(|_| s3_error!(InternalError, "object too large"))?;
    Ok(Some(Object {
        key: Some(key.to_string()),
        last_modified: Some(Timestamp::from(modified)),
        size: Some(size),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(bucket: &str, prefix: Option<&str>, token: Option<&str>, max_keys: i32) -> ListObjectsV2Input {
        let mut input = ListObjectsV2Input::builder().bucket(bucket.to_string()).build().unwrap_or_default();
        input.prefix = prefix.map(str::to_string);
        input.continuation_token = token.map(str::to_string);
        input.max_keys = Some(max_keys);
        input
    }

    fn keys(out: &ListObjectsV2Output) -> Vec<String> {
        out.contents.iter().flatten().filter_map(|o| o.key.clone()).collect()
    }

    #[tokio::test]
    async fn pages_follow_the_snapshot_and_see_deletes_and_new_writes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path().join("b");
        std::fs::create_dir_all(root.join("d")).unwrap_or_else(|e| panic!("{e}"));
        for key in ["a", "c", "d/x", "e"] {
            std::fs::write(root.join(key), key).unwrap_or_else(|e| panic!("{e}"));
        }
        let listings = Listings::default();
        let first = listings.list_v2(root.clone(), input("b", None, None, 2)).await.unwrap_or_default();
        assert_eq!(keys(&first), ["a", "c"]);
        assert_eq!(first.is_truncated, Some(true));
        assert_eq!(first.next_continuation_token.as_deref(), Some("c"));

        // A delete leaves the snapshot valid; the gone key is skipped.
        std::fs::remove_file(root.join("d/x")).unwrap_or_else(|e| panic!("{e}"));
        let second = listings.list_v2(root.clone(), input("b", None, Some("c"), 2)).await.unwrap_or_default();
        assert_eq!(keys(&second), ["e"]);
        assert_eq!(second.is_truncated, Some(false));
        assert_eq!(second.next_continuation_token, None);
        // Listing from the start again after a delete (what a cleanup does) skips it too.
        std::fs::remove_file(root.join("a")).unwrap_or_else(|e| panic!("{e}"));
        let again = listings.list_v2(root.clone(), input("b", None, None, 1000)).await.unwrap_or_default();
        assert_eq!(keys(&again), ["c", "e"]);
        std::fs::write(root.join("a"), "a").unwrap_or_else(|e| panic!("{e}"));

        // A write says so, and the next page sees the new name.
        std::fs::write(root.join("b"), "b").unwrap_or_else(|e| panic!("{e}"));
        listings.touched();
        let all = listings.list_v2(root.clone(), input("b", None, None, 1000)).await.unwrap_or_default();
        assert_eq!(keys(&all), ["a", "b", "c", "e"]);
        let prefixed = listings.list_v2(root.clone(), input("b", Some("c"), None, 1000)).await.unwrap_or_default();
        assert_eq!(keys(&prefixed), ["c"]);
        let none = listings.list_v2(root.clone(), input("b", None, None, 0)).await.unwrap_or_default();
        assert_eq!((none.key_count, none.is_truncated, none.contents.is_none()), (Some(0), Some(false), true));
        let missing = listings.list_v2(dir.path().join("nope"), input("nope", None, None, 10)).await;
        assert!(missing.is_err());
    }
}
