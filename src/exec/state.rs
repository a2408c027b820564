//! What sfko believes each object is on the server right now, as the workloads left it. Checks judge against this.
//!
//! An object is a list of versions in write order (the last is current; it may be a delete marker). On a bucket
//! without versioning a write replaces the list and a delete empties it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::content::{self, ContentKey, Expected, WriteMode};
use crate::driver::Op;
use crate::plan::Plan;

/// One version of an object (or a delete marker).
#[derive(Debug, Clone)]
pub struct Version {
    pub content: ContentKey,
    pub size: u64,
    pub mode: WriteMode,
    /// The op that created it (PutObject, CompleteMultipartUpload, CopyObject, or the DeleteObject of a marker).
    pub write: Box<Op>,
    pub delete_marker: bool,
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
    expected: Mutex<HashMap<ExpectedKey, Arc<OnceCell<Expected>>>>,
}

impl RunState {
    pub fn new(plan: &Plan) -> RunState {
        let buckets =
            plan.buckets.iter().map(|b| b.objects.iter().map(|_| Mutex::new(ObjectStatus::Absent)).collect()).collect();
        RunState { buckets, expected: Mutex::new(HashMap::new()) }
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
            Ok(mut cache) => cache.entry((content, size, layout)).or_default().clone(),
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
