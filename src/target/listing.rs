//! ListObjectsV2 without a delimiter, served from a sorted snapshot of a bucket's keys instead of s3s-fs's walk.
//!
//! s3s-fs answers every page by walking the whole bucket, stat-ing every file and sorting them all, then keeping the
//! thousand after the marker: listing a bucket of n keys page by page costs n²/1000 stats. At 100,000 objects a
//! cleanup spent most of an hour in it; that is why the embedded target slowed with object count. Here the key names
//! are read once per bucket (one directory walk, no stats) and kept sorted; a page binary-searches its marker and
//! stats only the keys it returns, so a full listing costs n stats.
//!
//! The keys are kept as one sorted arena of names (`SortedKeys`): the names end to end in one string, a few bytes
//! per key beyond the names themselves, with a skip list over the ones found gone. A `BTreeSet<String>` of them took
//! about 86 bytes a key in all (a `String`, its allocation and a share of tree node each), some 80 MB held by the
//! process for a bucket of a million keys.
//!
//! The snapshot is a list of names that may have been there. It stays valid while nothing can have *added* a name:
//! every request that might (a write, a copy, a completion, a versioned delete that restores an older version, a
//! bucket created or removed) calls [`Listings::touched`], and a snapshot taken before that is rebuilt. Deletes that
//! only remove names leave it valid — the stat of each returned key skips the ones gone — which is what keeps a
//! cleanup (list a page, delete it, list the next) linear. The answer is the one s3s-fs 0.14.1 gives: the same
//! fields, order, truncation and continuation token (the tests in `tests/reference_server.rs` pin listings).

use std::collections::HashMap;
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
    /// Every regular file's key under the bucket, sorted as s3s-fs sorts (by the key's UTF-8 bytes), as one arena
    /// of names with a skip list over the ones a page found gone: a client that lists from the start after each
    /// batch of deletes must not stat them again. Pages hold the lock for their whole run.
    keys: Mutex<SortedKeys>,
}

/// A bucket's key names sorted by their UTF-8 bytes and packed end to end in one string, with each key's end offset
/// and a skip entry: 8 bytes per key beyond the names themselves, so a million keys cost their names plus 8 MB
/// rather than the 80 MB of a `BTreeSet<String>`. Keys found gone are skipped rather than removed, which would shift
/// every offset after them. Offsets are `u32`: names adding up to more than 4 GiB (some 80 million keys of 50 bytes)
/// fail to build.
struct SortedKeys {
    /// Every key's name, in order, end to end.
    names: Box<str>,
    /// `ends[i]` is where key `i` ends in `names`; it starts where key `i - 1` ends, or at 0.
    ends: Box<[u32]>,
    /// `skip[i] == i` while key `i` is live; once it is found gone, a later index to look from (the key count for
    /// none): every key from `i` up to that one is gone. Lookups shorten the chains they follow, so skipping the gone
    /// keys of a listing from the start costs about one step each, however many deletes piled up there.
    skip: Vec<u32>,
}

impl SortedKeys {
    /// Sorts and packs `keys` (distinct, in any order); fails if they do not fit `u32` offsets.
    #[cfg(test)]
    fn new(keys: impl IntoIterator<Item = String>) -> S3Result<Self> {
        let mut unsorted = Packed::default();
        for key in keys {
            unsorted.push(&key)?;
        }
        unsorted.sorted()
    }

    /// Key `index`, or `None` past the last.
    fn name(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = index.checked_sub(1).and_then(|before| self.ends.get(before)).map_or(0, |&start| start as usize);
        self.names.get(start..end)
    }

    /// The index of the first key a page looks at: the first after `marker` when it is at or past `prefix`, else the
    /// first at or after `prefix` (live or not: see [`next_live`](Self::next_live)).
    fn first_candidate(&self, prefix: &str, marker: Option<&str>) -> usize {
        match marker {
            Some(marker) if marker >= prefix => self.partition_point(|name| name <= marker),
            _ => self.partition_point(|name| name < prefix),
        }
    }

    /// The first index whose key `is_before` is false for; it must be true for all keys before that and false after.
    fn partition_point(&self, is_before: impl Fn(&str) -> bool) -> usize {
        let (mut low, mut high) = (0, self.ends.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.name(middle) {
                Some(name) if is_before(name) => low = middle + 1,
                _ => high = middle,
            }
        }
        low
    }

    /// The first live key's index at or after `from` (the key count if none), pointing every gone key on the way
    /// straight at it so the next lookup from any of them takes one step.
    fn next_live(&mut self, from: usize) -> usize {
        let mut live = from;
        while let Some(&next) = self.skip.get(live) {
            if next as usize == live {
                break;
            }
            live = next as usize;
        }
        if let Ok(target) = u32::try_from(live) {
            let mut at = from;
            while at < live {
                let Some(entry) = self.skip.get_mut(at) else { break };
                at = std::mem::replace(entry, target) as usize;
            }
        }
        live
    }

    /// Key `index` was found gone: lookups skip it from now on.
    fn mark_gone(&mut self, index: usize) {
        if let (Some(entry), Ok(next)) = (self.skip.get_mut(index), u32::try_from(index + 1)) {
            *entry = next;
        }
    }
}

/// `n` as an offset into [`SortedKeys`], or the error for a bucket whose key names are too many to hold there.
fn offset(n: usize) -> S3Result<u32> {
    u32::try_from(n).map_err(|_| s3_error!(InternalError, "bucket key names too large to list: {n} bytes or keys"))
}

/// Names packed end to end in the order they came: what a walk fills, one name at a time, so a bucket's names are
/// never held as one `String` each (a million of them would cost more than the packed and sorted result).
#[derive(Default)]
struct Packed {
    names: String,
    ends: Vec<u32>,
}

impl Packed {
    fn push(&mut self, name: &str) -> S3Result<()> {
        self.names.push_str(name);
        self.ends.push(offset(self.names.len())?);
        Ok(())
    }

    fn name(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before] as usize);
        &self.names[start..self.ends[index] as usize]
    }

    /// The same names sorted by their UTF-8 bytes: an order of indices is sorted, then the names are copied in it.
    fn sorted(self) -> S3Result<SortedKeys> {
        let mut order: Vec<u32> = (0..self.ends.len()).map(offset).collect::<S3Result<_>>()?;
        order.sort_unstable_by(|&a, &b| self.name(a as usize).cmp(self.name(b as usize)));
        let mut sorted =
            Packed { names: String::with_capacity(self.names.len()), ends: Vec::with_capacity(order.len()) };
        for index in order {
            sorted.push(self.name(index as usize))?;
        }
        drop(self);
        let skip = (0..sorted.ends.len()).map(offset).collect::<S3Result<Vec<u32>>>()?;
        Ok(SortedKeys { names: sorted.names.into_boxed_str(), ends: sorted.ends.into_boxed_slice(), skip })
    }
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
        let keys = tokio::task::spawn_blocking(move || walk(&root).and_then(Packed::sorted))
            .await
            .map_err(|e| s3_error!(InternalError, "listing task failed: {e}"))??;
        let snapshot = Arc::new(Snapshot { generation, keys: Mutex::new(keys) });
        if let Ok(mut snapshots) = self.snapshots.lock() {
            snapshots.insert(bucket.to_string(), snapshot.clone());
        }
        Ok(snapshot)
    }
}

/// Every regular file under `root` as a `/`-joined key, in no order; what s3s-fs's walk finds, without its stats.
fn walk(root: &Path) -> S3Result<Packed> {
    if !root.exists() {
        return Err(s3_error!(NoSuchBucket));
    }
    let mut keys = Packed::default();
    let mut dirs = std::collections::VecDeque::from([root.to_path_buf()]);
    while let Some(dir) = dirs.pop_front() {
        for entry in std::fs::read_dir(&dir).map_err(|e| s3_error!(e, InternalError))? {
            let entry = entry.map_err(|e| s3_error!(e, InternalError))?;
            if entry.file_type().map_err(|e| s3_error!(e, InternalError))?.is_dir() {
                dirs.push_back(entry.path());
            } else if let Some(key) = key_of(root, &entry.path()) {
                keys.push(&key)?;
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
/// keys found gone are marked so in the snapshot, and no page stats them again.
fn page(snapshot: &Snapshot, root: &Path, prefix: &str, marker: Option<String>, wanted: usize) -> S3Result<Page> {
    let mut keys = snapshot.keys.lock().map_err(|_| s3_error!(InternalError, "listing snapshot poisoned"))?;
    let mut objects = Vec::new();
    let mut truncated = false;
    let mut index = keys.first_candidate(prefix, marker.as_deref());
    loop {
        index = keys.next_live(index);
        let Some(key) = keys.name(index).filter(|key| key.starts_with(prefix)) else { break };
        let Some(object) = stat(root, key)? else {
            keys.mark_gone(index);
            continue;
        };
        if objects.len() == wanted {
            // One more exists: the page is truncated (never with max-keys 0, as s3s-fs answers it).
            truncated = wanted > 0;
            break;
        }
        objects.push(object);
        index += 1;
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
    use std::collections::BTreeSet;

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

    /// The names of the live keys, scanning from the start as a page does.
    fn live(sorted: &mut SortedKeys) -> Vec<String> {
        let mut names = Vec::new();
        let mut index = sorted.next_live(0);
        while let Some(name) = sorted.name(index) {
            names.push(name.to_string());
            index = sorted.next_live(index + 1);
        }
        names
    }

    #[test]
    fn sorted_keys_keep_byte_order_skip_the_gone_and_place_markers() {
        let unsorted: Vec<String> = ["z", "é", "ab", "a/b", "a"].into_iter().map(str::to_string).collect();
        let btree_order: Vec<String> = unsorted.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let mut sorted = SortedKeys::new(unsorted).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(live(&mut sorted), btree_order);
        assert_eq!(live(&mut sorted), ["a", "a/b", "ab", "z", "é"]);

        // Markers between, on and past keys; a marker before the prefix starts at the prefix.
        assert_eq!(sorted.first_candidate("", None), 0);
        assert_eq!(sorted.first_candidate("", Some("a")), 1);
        assert_eq!(sorted.first_candidate("", Some("a/")), 1);
        assert_eq!(sorted.first_candidate("", Some("a/b")), 2);
        assert_eq!(sorted.first_candidate("", Some("aa")), 2);
        assert_eq!(sorted.first_candidate("", Some("zz")), 4);
        assert_eq!(sorted.first_candidate("", Some("é")), 5);
        assert_eq!(sorted.first_candidate("b", None), 3);
        assert_eq!(sorted.first_candidate("a/", Some("0")), 1);
        assert_eq!(sorted.first_candidate("a", Some("a")), 1);

        // Gone keys are skipped from the start, through chains of them, and stay skipped.
        for gone in [0, 1, 3] {
            sorted.mark_gone(gone);
        }
        assert_eq!(live(&mut sorted), ["ab", "é"]);
        assert_eq!(live(&mut sorted), ["ab", "é"]);
        sorted.mark_gone(2);
        assert_eq!(sorted.next_live(0), 4);
        sorted.mark_gone(4);
        assert_eq!(sorted.next_live(0), 5);
        assert!(live(&mut sorted).is_empty());
    }
}
