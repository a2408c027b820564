//! What sfko believes each object is on the server right now, as the workloads left it. Checks judge against this.
//!
//! An object is a list of versions in write order (the last is current; it may be a delete marker). On a bucket
//! without versioning a write replaces the list and a delete empties it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OnceCell;

use crate::content::{self, ContentKey, Expected, WriteMode};
use crate::driver::Op;
use crate::journal::Outcome;
use crate::plan::Plan;

/// One version of an object (or a delete marker).
#[derive(Debug, Clone)]
pub struct Version {
    pub content: ContentKey,
    pub size: u64,
    pub mode: WriteMode,
    /// The op that created it (PutObject, CompleteMultipartUpload, CopyObject, or the DeleteObject of a marker).
    pub write: Written,
    pub delete_marker: bool,
}

/// What believed state keeps of the op that wrote a version: enough to name it, time from it and judge its ETag
/// again — not its whole answer. A run holds one per object it wrote, so this is what a million-object run pays
/// per object (tens of bytes, where the full op cost about half a kilobyte).
#[derive(Debug, Clone)]
pub struct Written {
    pub index: u64,
    /// The S3 operation (`PutObject`, `CompleteMultipartUpload` …), as failures name it.
    pub request: &'static str,
    /// When it completed (this process's clock): time-to-replicate and time-to-expire count from here.
    pub at: Instant,
    status: u16,
    etag: Option<Box<str>>,
    ambiguous: bool,
}

impl Written {
    pub fn of(op: &Op) -> Written {
        Written {
            index: op.index,
            request: op.request,
            at: op.at,
            status: op.outcome.status,
            etag: op.outcome.etag.as_deref().map(Box::from),
            ambiguous: op.ambiguous,
        }
    }

    /// The op as far as it is kept: its status and ETag, which is what judging the write's ETag again reads.
    pub fn op(&self) -> Op {
        let outcome =
            Outcome { status: self.status, etag: self.etag.as_deref().map(String::from), ..Outcome::default() };
        Op { index: self.index, request: self.request, outcome, ambiguous: self.ambiguous, at: self.at }
    }
}

/// The believed state of one object.
#[derive(Debug, Clone)]
pub enum ObjectStatus {
    /// Never written by this run: reads must say NoSuchKey.
    Absent,
    /// Versions in write order; the last is current. Unversioned buckets hold at most one.
    Versions(Vec<Version>),
    /// Deleted (unversioned bucket) by op `op`.
    Deleted { op: u64 },
    /// A write or delete failed midway: the server may hold either state. Checks skip it (the failure is reported).
    Unknown,
}

impl ObjectStatus {
    /// The version a plain GET must return, if any.
    pub fn current(&self) -> Option<&Version> {
        match self {
            ObjectStatus::Versions(versions) => versions.last().filter(|v| !v.delete_marker),
            _ => None,
        }
    }

    /// All versions (empty unless written).
    pub fn versions(&self) -> &[Version] {
        match self {
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
            match (&mut *guard, versioned) {
                (ObjectStatus::Versions(versions), true) => versions.push(version),
                (status, _) => *status = ObjectStatus::Versions(vec![version]),
            }
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
        self.expected(version.content, version.size, version.mode).await
    }
}
