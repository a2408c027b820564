//! What sfko believes each object is on the server right now, as the workloads left it. Checks judge against this.

use std::sync::Mutex;

use tokio::sync::OnceCell;

use crate::content::{self, Expected, WriteMode};
use crate::driver::Op;
use crate::plan::{ObjectPlan, Plan};

/// The believed state of one object.
#[derive(Debug, Clone)]
pub enum ObjectStatus {
    /// Never written by this run: reads must say NoSuchKey.
    Absent,
    /// Written successfully by the op `write` (PutObject or CompleteMultipartUpload).
    Written { mode: WriteMode, write: Box<Op> },
    /// Deleted by op `op`.
    Deleted { op: u64 },
    /// A write or delete failed midway: the server may hold either version. Checks skip it (the failure is reported).
    Unknown,
}

struct ObjectSlot {
    status: Mutex<ObjectStatus>,
    single: OnceCell<Expected>,
    multipart: OnceCell<Expected>,
}

/// Believed state of every object of a plan, indexed like the plan.
pub struct RunState {
    buckets: Vec<Vec<ObjectSlot>>,
}

impl RunState {
    pub fn new(plan: &Plan) -> RunState {
        let buckets = plan
            .buckets
            .iter()
            .map(|b| {
                b.objects
                    .iter()
                    .map(|_| ObjectSlot {
                        status: Mutex::new(ObjectStatus::Absent),
                        single: OnceCell::new(),
                        multipart: OnceCell::new(),
                    })
                    .collect()
            })
            .collect();
        RunState { buckets }
    }

    fn slot(&self, bucket: u32, object: u32) -> Option<&ObjectSlot> {
        self.buckets.get(bucket as usize)?.get(object as usize)
    }

    pub fn status(&self, bucket: u32, object: u32) -> ObjectStatus {
        self.slot(bucket, object).and_then(|s| s.status.lock().ok().map(|g| g.clone())).unwrap_or(ObjectStatus::Unknown)
    }

    pub fn set(&self, bucket: u32, object: u32, status: ObjectStatus) {
        if let Some(mut guard) = self.slot(bucket, object).and_then(|s| s.status.lock().ok()) {
            *guard = status;
        }
    }

    /// Size, blake3 and ETag the object must have after being written with `mode`; computed once, off the runtime.
    pub async fn expected(&self, bucket: u32, object: &ObjectPlan, mode: WriteMode) -> Expected {
        let compute = || {
            let (key, size) = (object.content, object.size);
            async move {
                tokio::task::spawn_blocking(move || content::expected(&key, size, mode))
                    .await
                    .unwrap_or_else(|_| content::expected(&key, size, mode))
            }
        };
        let Some(slot) = self.slot(bucket, object.index) else {
            return compute().await;
        };
        let cell = match mode {
            WriteMode::Single => &slot.single,
            WriteMode::Multipart(_) => &slot.multipart,
        };
        cell.get_or_init(compute).await.clone()
    }
}
