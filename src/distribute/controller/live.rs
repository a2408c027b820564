//! What the controller knows about the world while the run goes: the workers it has heard from, its own connection,
//! the clock, and whether the run was cut short.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::distribute::protocol::Busy;

/// What the controller knows about one worker.
pub struct WorkerSeen {
    pub host: String,
    pub last_seen: Instant,
    pub busy: Option<Busy>,
    pub direct: bool,
    pub stopping: bool,
    pub dead: bool,
    /// Broadcast: every job was published for it.
    pub assigned: bool,
    pub jobs: u64,
    pub ops: u64,
}

/// The run's live state besides its results.
pub struct Live {
    pub workers: BTreeMap<String, WorkerSeen>,
    /// Stream sequence → (first job index, seed count) of each published shared job message (JetStream advisories
    /// name sequences).
    pub sequences: HashMap<u64, (u64, u64)>,
    pub started: Instant,
    pub first_worker: Option<Instant>,
    pub last_alive: Instant,
    pub fanned_out: bool,
    pub connected_since: Option<Instant>,
    pub disconnected_since: Option<Instant>,
    /// Why the run ends before every job is resolved.
    pub abort: Option<String>,
}

impl Live {
    pub fn new(now: Instant) -> Live {
        Live {
            workers: BTreeMap::new(),
            sequences: HashMap::new(),
            started: now,
            first_worker: None,
            last_alive: now,
            fanned_out: false,
            connected_since: Some(now),
            disconnected_since: None,
            abort: None,
        }
    }

    pub fn live_workers(&self) -> usize {
        self.workers.values().filter(|w| !w.dead && !w.stopping).count()
    }
}
