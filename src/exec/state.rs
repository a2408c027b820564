//! What sfko believes each object is on the server right now, as the workloads left it. Checks judge against this.
//!
//! An object is a list of versions in write order (the last is current; it may be a delete marker). On a bucket
//! without versioning a write replaces the list and a delete empties it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::content::{self, ContentKey, Expected, PartLayout, WriteMode};
use crate::driver::Op;
use crate::journal::Outcome;
use crate::plan::Plan;

/// One version of an object (or a delete marker). A run holds one per object it wrote, so this is what a
/// million-object run pays per object: 96 bytes, inline in the object's slot for the usual single version.
#[derive(Debug, Clone)]
pub struct Version {
    pub content: ContentKey,
    pub size: u64,
    /// Part size when written by multipart upload (its layout is `size` cut in parts of this), 0 for one request.
    part_size: u64,
    /// The op that created it (PutObject, CompleteMultipartUpload, CopyObject, or the DeleteObject of a marker).
    pub write: Written,
    pub delete_marker: bool,
}

impl Version {
    /// A version `op` wrote: `content` of `size` bytes, sent as `mode` says.
    pub fn written(content: ContentKey, size: u64, mode: WriteMode, op: &Op) -> Version {
        let part_size = match mode {
            WriteMode::Single => 0,
            WriteMode::Multipart(layout) => layout.part_size.max(1),
        };
        Version { content, size, part_size, write: Written::of(op), delete_marker: false }
    }

    /// The delete marker a plain DeleteObject (`op`) left on a versioned bucket.
    pub fn marker(content: ContentKey, op: &Op) -> Version {
        Version { content, size: 0, part_size: 0, write: Written::of(op), delete_marker: true }
    }

    /// How it reached the server, which decides its ETag.
    pub fn mode(&self) -> WriteMode {
        match self.part_size {
            0 => WriteMode::Single,
            part_size => WriteMode::Multipart(PartLayout { size: self.size, part_size }),
        }
    }
}

/// What believed state keeps of the op that wrote a version: enough to name it, time from it and judge its ETag
/// again — not its whole answer (which cost about half a kilobyte): 40 bytes.
#[derive(Debug, Clone)]
pub struct Written {
    pub index: u64,
    etag: Etag,
    /// When it completed, in whole milliseconds after [`epoch`], rounded up: a time counted from here (to replicate,
    /// to expire) is never longer than the truth, and a deadline never earlier.
    at_ms: u32,
    status: u16,
    request: RequestName,
    ambiguous: bool,
}

impl Written {
    pub fn of(op: &Op) -> Written {
        Written {
            index: op.index,
            etag: Etag::of(op.outcome.etag.as_deref()),
            at_ms: since_epoch_ms(op.at),
            status: op.outcome.status,
            request: RequestName::of(op.request),
            ambiguous: op.ambiguous,
        }
    }

    /// The S3 operation (`PutObject`, `CompleteMultipartUpload` …), as failures name it.
    pub fn request(&self) -> &'static str {
        self.request.name()
    }

    /// When it completed (this process's clock): time-to-replicate and time-to-expire count from here.
    pub fn at(&self) -> Instant {
        epoch() + Duration::from_millis(u64::from(self.at_ms))
    }

    /// The op as far as it is kept: its status and ETag, which is what judging the write's ETag again reads.
    pub fn op(&self) -> Op {
        let outcome = Outcome { status: self.status, etag: self.etag.text(), ..Outcome::default() };
        Op { index: self.index, request: self.request(), outcome, ambiguous: self.ambiguous, at: self.at() }
    }
}

/// The instant believed-state times count from: the first time one was asked for.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_ms(at: Instant) -> u32 {
    let micros = at.saturating_duration_since(epoch()).as_micros();
    u32::try_from(micros.div_ceil(1000)).unwrap_or(u32::MAX)
}

/// An ETag as S3 gives them — `"<32 hex>"` or `"<32 hex>-<parts>"`, quoted — kept as its 16 bytes; anything else
/// (a server that answers otherwise is judged on exactly what it said) kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Etag {
    None,
    Md5 { digest: [u8; 16], quoted: bool },
    Parts { digest: [u8; 16], parts: u32, quoted: bool },
    Other(Box<str>),
}

impl Etag {
    fn of(text: Option<&str>) -> Etag {
        let Some(text) = text else { return Etag::None };
        let (inner, quoted) = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) => (inner, true),
            None => (text, false),
        };
        let (hex_part, parts) = match inner.split_once('-') {
            Some((hex_part, parts)) => (hex_part, Some(parts)),
            None => (inner, None),
        };
        let mut digest = [0u8; 16];
        let lower_hex = hex_part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lower_hex || hex::decode_to_slice(hex_part, &mut digest).is_err() {
            return Etag::Other(text.into());
        }
        match parts {
            None => Etag::Md5 { digest, quoted },
            // Only a count that prints back as it came (no sign, no leading zero).
            Some(parts) => match parts.parse::<u32>() {
                Ok(n) if !parts.starts_with(['0', '+']) => Etag::Parts { digest, parts: n, quoted },
                _ => Etag::Other(text.into()),
            },
        }
    }

    fn text(&self) -> Option<String> {
        let quote = |inner: String, quoted: bool| if quoted { format!("\"{inner}\"") } else { inner };
        match self {
            Etag::None => None,
            Etag::Md5 { digest, quoted } => Some(quote(hex::encode(digest), *quoted)),
            Etag::Parts { digest, parts, quoted } => Some(quote(format!("{}-{parts}", hex::encode(digest)), *quoted)),
            Etag::Other(text) => Some(text.to_string()),
        }
    }
}

/// An S3 operation's name in one byte: the names are the driver's `&'static str`s, numbered as first seen.
#[derive(Debug, Clone, Copy)]
struct RequestName(u8);

/// Names seen so far, in the order they were numbered (a few dozen at most: one per operation the driver sends).
static REQUEST_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Operations that write versions, numbered without taking the lock.
const WRITES: [&str; 4] = ["PutObject", "CompleteMultipartUpload", "CopyObject", "DeleteObject"];

impl RequestName {
    fn of(name: &'static str) -> RequestName {
        if let Some(n) = WRITES.iter().position(|w| *w == name) {
            return RequestName(n as u8);
        }
        let Ok(mut names) = REQUEST_NAMES.lock() else { return RequestName(u8::MAX) };
        let n = match names.iter().position(|seen| *seen == name) {
            Some(n) => n,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        RequestName(u8::try_from(WRITES.len() + n).unwrap_or(u8::MAX))
    }

    fn name(self) -> &'static str {
        let n = usize::from(self.0);
        if let Some(name) = WRITES.get(n) {
            return name;
        }
        REQUEST_NAMES.lock().ok().and_then(|names| names.get(n - WRITES.len()).copied()).unwrap_or("a write")
    }
}

/// The believed state of one object.
#[derive(Debug, Clone)]
pub enum ObjectStatus {
    /// Never written by this run: reads must say NoSuchKey.
    Absent,
    /// One version (the usual case, kept without an allocation).
    One(Version),
    /// Versions in write order; the last is current. Unversioned buckets hold at most one.
    Versions(Vec<Version>),
    /// Deleted (unversioned bucket) by op `op`.
    Deleted { op: u64 },
    /// A write or delete failed midway: the server may hold either state. Checks skip it (the failure is reported).
    Unknown,
}

impl ObjectStatus {
    /// The status of an object holding `versions` (in write order).
    pub fn of_versions(mut versions: Vec<Version>) -> ObjectStatus {
        match versions.len() {
            1 => versions.pop().map_or(ObjectStatus::Versions(Vec::new()), ObjectStatus::One),
            _ => ObjectStatus::Versions(versions),
        }
    }

    /// The version a plain GET must return, if any.
    pub fn current(&self) -> Option<&Version> {
        self.versions().last().filter(|v| !v.delete_marker)
    }

    /// All versions (empty unless written).
    pub fn versions(&self) -> &[Version] {
        match self {
            ObjectStatus::One(version) => std::slice::from_ref(version),
            ObjectStatus::Versions(versions) => versions,
            _ => &[],
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, ObjectStatus::Unknown)
    }

    /// How many versions were ever written (numbers the next version's content).
    pub fn written(&self) -> usize {
        self.versions().iter().filter(|v| !v.delete_marker).count()
    }
}

type ExpectedKey = (ContentKey, u64, Option<(u64, u64)>);

/// Believed state of every object of a plan, indexed like the plan.
pub struct RunState {
    buckets: Vec<Vec<Mutex<ObjectStatus>>>,
    /// Expected answers by content, most recently used kept: a check right after the write that made a version
    /// finds it here; a pass over more objects than this holds computes some again rather than growing with the run.
    expected: Mutex<lru::LruCache<ExpectedKey, Arc<OnceCell<Expected>>>>,
}

/// How many computed expectations [`RunState`] keeps (a few hundred bytes each).
const EXPECTED_CACHED: usize = 16 * 1024;

impl RunState {
    pub fn new(plan: &Plan) -> RunState {
        epoch();
        let buckets =
            plan.buckets.iter().map(|b| b.objects.iter().map(|_| Mutex::new(ObjectStatus::Absent)).collect()).collect();
        let cached = std::num::NonZeroUsize::new(EXPECTED_CACHED).unwrap_or(std::num::NonZeroUsize::MIN);
        RunState { buckets, expected: Mutex::new(lru::LruCache::new(cached)) }
    }

    fn slot(&self, bucket: u32, object: u32) -> Option<&Mutex<ObjectStatus>> {
        self.buckets.get(bucket as usize)?.get(object as usize)
    }

    pub fn status(&self, bucket: u32, object: u32) -> ObjectStatus {
        self.slot(bucket, object).and_then(|s| s.lock().ok().map(|g| g.clone())).unwrap_or(ObjectStatus::Unknown)
    }

    pub fn set(&self, bucket: u32, object: u32, status: ObjectStatus) {
        if let Some(mut guard) = self.slot(bucket, object).and_then(|s| s.lock().ok()) {
            *guard = status;
        }
    }

    /// Records a new version: appended on a versioned bucket, replacing everything otherwise.
    pub fn push_version(&self, bucket: u32, object: u32, versioned: bool, version: Version) {
        if let Some(mut guard) = self.slot(bucket, object).and_then(|s| s.lock().ok()) {
            let status = std::mem::replace(&mut *guard, ObjectStatus::Unknown);
            *guard = match (status, versioned) {
                (ObjectStatus::One(first), true) => ObjectStatus::Versions(vec![first, version]),
                (ObjectStatus::Versions(mut versions), true) => {
                    versions.push(version);
                    ObjectStatus::of_versions(versions)
                }
                _ => ObjectStatus::One(version),
            };
        }
    }

    /// Size, blake3 and ETag a version must have; computed once per (content, size, mode), off the runtime.
    pub async fn expected(&self, content: ContentKey, size: u64, mode: WriteMode) -> Expected {
        let layout = match mode {
            WriteMode::Single => None,
            WriteMode::Multipart(layout) => Some((layout.size, layout.part_size)),
        };
        let cell = match self.expected.lock() {
            Ok(mut cache) => cache.get_or_insert((content, size, layout), Default::default).clone(),
            Err(_) => Arc::new(OnceCell::new()),
        };
        cell.get_or_init(|| async move {
            tokio::task::spawn_blocking(move || content::expected(&content, size, mode))
                .await
                .unwrap_or_else(|_| content::expected(&content, size, mode))
        })
        .await
        .clone()
    }

    /// What a version must read back as.
    pub async fn expected_version(&self, version: &Version) -> Expected {
        self.expected(version.content, version.size, version.mode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_kept_compact_and_given_back_exactly() {
        for text in [
            "\"d41d8cd98f00b204e9800998ecf8427e\"",
            "d41d8cd98f00b204e9800998ecf8427e",
            "\"d41d8cd98f00b204e9800998ecf8427e-12\"",
            "\"D41D8CD98F00B204E9800998ECF8427E\"",
            "\"d41d8cd98f00b204e9800998ecf8427e-012\"",
            "\"d41d8cd98f00b204e9800998ecf8427e-\"",
            "\"d41d8cd98f00b204\"",
            "W/\"x\"",
            "",
        ] {
            assert_eq!(Etag::of(Some(text)).text().as_deref(), Some(text), "{text}");
        }
        assert_eq!(Etag::of(None).text(), None);
        assert!(matches!(Etag::of(Some("\"d41d8cd98f00b204e9800998ecf8427e-3\"")), Etag::Parts { parts: 3, .. }));
    }

    #[test]
    fn a_written_op_keeps_its_name_status_and_time() {
        let at = Instant::now();
        let outcome = Outcome { status: 200, etag: Some("\"abc\"".into()), ..Outcome::default() };
        for request in ["PutObject", "UploadPartCopy", "CompleteMultipartUpload", "UploadPartCopy"] {
            let op = Op { index: 9, request, outcome: outcome.clone(), ambiguous: true, at };
            let kept = Written::of(&op).op();
            assert_eq!((kept.index, kept.request, kept.ambiguous), (9, request, true));
            assert_eq!(kept.outcome.status, 200);
            assert_eq!(kept.outcome.etag, outcome.etag);
            // Rounded up to the millisecond: never earlier than the op, at most a millisecond later.
            assert!(kept.at >= at && kept.at <= at + Duration::from_millis(1), "{:?}", kept.at - at);
        }
    }

    /// What a run holds per object is what bounds a million-object run's memory: pin it.
    #[test]
    fn an_object_slot_stays_small() {
        assert!(std::mem::size_of::<Mutex<ObjectStatus>>() <= 104, "{}", std::mem::size_of::<Mutex<ObjectStatus>>());
    }
}
