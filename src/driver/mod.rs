//! The recording driver: the only door from sfko to the network.
//!
//! Every S3 call a workload or check makes goes through [`Driver::call`], which numbers it (issue order), notes how
//! many ops had completed when it was issued (so a replay can keep the same overlap), retries transient failures with
//! bounded backoff, and appends one [`OpRecord`] with every attempt to the journal. Request bodies are described by
//! content key and range, never stored.

mod inflight;
pub mod pacer;
mod s3;
mod stats;
pub mod timeseries;
pub mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use tokio::sync::{watch, Semaphore};

use inflight::{InFlight, InFlightOps, Stage, CURRENT};

use crate::journal::{Attempt, JournalSink, OpRecord, Outcome, PageCursor, Phase, Request};
pub use inflight::{OpTag, StageTracker, OP_TAG};
pub use stats::{LatencyHistogram, LatencySummary, OperationStats, Stats, StatsSnapshot};
pub use watchdog::{StallPolicy, DEFAULT_STALL_TIMEOUT};

/// The error code of an op the driver gave up on without sending it (or while it was in flight) because the target
/// had stopped answering: not a verdict on the target, so nothing judges it.
pub const ABANDONED: &str = "SfkoAbandoned";

/// An attempt that shows no sign of life (no stage change, no body byte) for this long is cut off and retried. Big
/// bodies get all the time they need as long as they keep moving.
const ATTEMPT_IDLE: Duration = Duration::from_secs(120);

/// How many times a transient failure is tried in all, and the first backoff (doubling, capped).
pub const MAX_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The result of one recorded op.
#[derive(Debug, Clone)]
pub struct Op {
    pub index: u64,
    /// The S3 operation sent (`PutObject`, `CopyObject` …): what a failure about this op names.
    pub request: &'static str,
    pub outcome: Outcome,
    /// The answer may be the echo of an earlier attempt that applied without its answer arriving: a retried
    /// CompleteMultipartUpload answered NoSuchUpload, a retried CreateBucket answered BucketAlreadyOwnedByYou. What
    /// the op did is unknown, so nothing judges it.
    pub ambiguous: bool,
    /// When the op completed (this process's clock; measures time-to-replicate and time-to-expire, never recorded).
    pub at: Instant,
}

impl Op {
    /// It got an answer that says what it did (see [`usable`]).
    pub fn usable(&self) -> bool {
        usable(&self.outcome, self.ambiguous)
    }
}

/// `outcome` says what its op did: it was sent, not abandoned, answered (not unavailable), and not possibly the echo
/// of an earlier try (`ambiguous`).
pub fn usable(outcome: &crate::journal::Outcome, ambiguous: bool) -> bool {
    outcome.error_code.as_deref() != Some(ABANDONED) && !outcome.unavailable() && !outcome.not_issued() && !ambiguous
}

/// A multipart upload this run created; `open` until completed or aborted (its id stays known for later requests,
/// which the server must then refuse).
#[derive(Debug, Clone)]
struct OpenUpload {
    bucket: String,
    key: String,
    id: String,
    open: bool,
}

/// Issues, retries and records S3 operations.
pub struct Driver {
    client: Client,
    /// Clients of the backends checks read directly, by config name.
    backends: std::collections::BTreeMap<String, Client>,
    sink: JournalSink,
    in_flight: Semaphore,
    issued: AtomicU64,
    completed: AtomicU64,
    /// Bytes sent and received, for the progress line.
    moved: AtomicU64,
    /// Time zero of `issued_at_us`.
    started: Instant,
    /// Upload id by the index of the op that created it.
    uploads: Mutex<HashMap<u64, OpenUpload>>,
    /// The ETag a write (part, object) got back, by its op index.
    write_etags: Mutex<HashMap<u64, String>>,
    /// The checksum an UploadPart answered, by its op index: a completion lists it with the part, as SDKs' transfer
    /// managers do (they take it from the UploadPart answer).
    part_checksums: Mutex<HashMap<u64, crate::checksum::Returned>>,
    /// Whether a later op may name any earlier answer (see [`Driver::with_back_references`]).
    back_references: bool,
    /// Version id by the index of the op that created the version (or delete marker).
    versions: Mutex<HashMap<u64, String>>,
    /// Listing continuation by the index of the op that returned the page.
    cursors: Mutex<HashMap<u64, PageCursor>>,
    stats: Stats,
    progress: indicatif::ProgressBar,
    /// What is in flight, for the watchdog.
    inflight: Arc<InFlightOps>,
    stall: Arc<Mutex<StallPolicy>>,
    /// Set once the watchdog gave up on the target, with why.
    gave_up: watch::Receiver<Option<String>>,
    /// Told about every op before it is sent and once it has its answer (the nemesis schedules faults by op).
    observer: Option<Arc<dyn OpObserver>>,
    /// `--timeseries`: the invocation's per-interval counters, which every op is counted in too.
    timeseries: Option<Arc<timeseries::TimeSeries>>,
    /// `--rate`: each op waits for its arrival, and its latency counts from then.
    pacer: Option<pacer::Pacer>,
}

/// Something that follows the ops of a run by position: `before` runs before an op's first attempt (and may wait,
/// e.g. for a fault to heal before the checks), `after` once its outcome is final.
#[async_trait::async_trait]
pub trait OpObserver: Send + Sync {
    async fn before(&self, index: u64, phase: &Phase);
    fn after(&self, index: u64, end: &OpEnd);
}

/// How an op ended, for an [`OpObserver`].
#[derive(Debug, Clone, Copy)]
pub struct OpEnd {
    /// A workload op (setup, checks and cleanup are never under a fault).
    pub workload: bool,
    /// No usable answer after retries.
    pub unanswered: bool,
    /// The answer may echo an earlier attempt.
    pub ambiguous: bool,
    /// The final answer was not a success (many are expected: a read of a deleted key).
    pub failed: bool,
    /// From the first attempt to the final answer, retries and backoff included.
    pub latency: Duration,
}

impl Driver {
    pub fn new(client: Client, sink: JournalSink, concurrency: usize, progress: indicatif::ProgressBar) -> Driver {
        let inflight = Arc::new(InFlightOps::default());
        let stall = Arc::new(Mutex::new(StallPolicy::default()));
        let (give_up, gave_up) = watch::channel(None);
        watchdog::spawn(Arc::downgrade(&inflight), stall.clone(), give_up);
        Driver {
            client,
            backends: std::collections::BTreeMap::new(),
            sink,
            in_flight: Semaphore::new(concurrency.max(1)),
            issued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            started: Instant::now(),
            uploads: Mutex::new(HashMap::new()),
            write_etags: Mutex::new(HashMap::new()),
            part_checksums: Mutex::new(HashMap::new()),
            back_references: true,
            versions: Mutex::new(HashMap::new()),
            cursors: Mutex::new(HashMap::new()),
            stats: Stats::new(),
            progress,
            inflight,
            stall,
            gave_up,
            observer: None,
            timeseries: None,
            pacer: None,
        }
    }

    /// Keeps whole-object writes' ETags, and listing cursors once a page has been followed, only when a later op
    /// may name them: `random-ops` sends `If-Match` and `x-amz-copy-source-if-match` with earlier ETags and may
    /// continue from any page it listed; `conditional-race` sends `If-Match`. Scripted workloads follow each page
    /// once and name no object's ETag, and a million-object run would otherwise hold a million ETags, or one cursor
    /// per page, for nothing. Parts' ETags are always kept (a completion names them).
    pub fn with_back_references(mut self, keep: bool) -> Driver {
        self.back_references = keep;
        self
    }

    /// Issues ops on `pacer`'s open-loop schedule (`--rate`) instead of as fast as the workloads ask.
    pub fn with_pacer(mut self, pacer: Option<pacer::Pacer>) -> Driver {
        self.pacer = pacer;
        self
    }

    /// Names what the run is doing on the live progress line (the scenario, and which of its steps). The line is a
    /// spinner until [`count_objects`](Self::count_objects) says how far the step has to go.
    pub fn show_step(&self, label: String) {
        self.progress.set_prefix(label);
        self.progress.set_style(crate::report::progress_spinner());
        self.progress.unset_length();
    }

    /// The step goes through `total` objects, one [`object_done`](Self::object_done) each: the line becomes a bar
    /// with a count and an ETA.
    pub fn count_objects(&self, total: u64) {
        self.progress.set_style(crate::report::progress_bar());
        self.progress.set_length(total);
        self.progress.set_position(0);
        self.progress.reset_eta();
    }

    /// One object of the step's [`count_objects`](Self::count_objects) is done.
    pub fn object_done(&self) {
        self.progress.inc(1);
    }

    /// The intended rate, when ops are paced.
    pub fn intended_rate(&self) -> Option<f64> {
        self.pacer.as_ref().map(pacer::Pacer::per_s)
    }

    /// Counts every op in `series` too (`--timeseries`).
    pub fn with_timeseries(mut self, series: Option<Arc<timeseries::TimeSeries>>) -> Driver {
        self.timeseries = series;
        self
    }

    /// Tells `observer` about every op from now on.
    pub fn with_observer(mut self, observer: Option<Arc<dyn OpObserver>>) -> Driver {
        self.observer = observer;
        self
    }

    /// How long to wait on a target that stopped moving (default: report after 60 s, then give up).
    pub fn with_stall(self, policy: StallPolicy) -> Driver {
        if let Ok(mut stall) = self.stall.lock() {
            *stall = policy;
        }
        self
    }

    /// Why the driver gave up on the target, if it did.
    pub fn gave_up(&self) -> Option<String> {
        self.gave_up.borrow().clone()
    }

    /// Resolves when the driver gives up on the target, with why (never, if it does not).
    pub async fn given_up(&self) -> String {
        let mut gave_up = self.gave_up.clone();
        let reason = gave_up.wait_for(Option::is_some).await.map(|reason| reason.clone().unwrap_or_default());
        match reason {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        }
    }

    /// Adds the clients of directly readable backends (by config name).
    pub fn with_backends(mut self, backends: std::collections::BTreeMap<String, Client>) -> Driver {
        self.backends = backends;
        self
    }

    /// Issues `request` to the target as the next op, records it, and returns its outcome.
    pub async fn call(&self, phase: &Phase, request: Request) -> Op {
        self.call_on(None, phase, request).await
    }

    /// Issues `request` to `backend` (a config name; `None` = the target) as the next op.
    pub async fn call_on(&self, backend: Option<&str>, phase: &Phase, request: Request) -> Op {
        // Open loop: the arrival comes first, then the wait for a slot, which counts as latency.
        let intended = match &self.pacer {
            Some(pacer) => Some(pacer.arrive().await),
            None => None,
        };
        let permit = self.in_flight.acquire().await;
        // Read the completion count *before* taking an index: every op counted there then has a smaller index,
        // which is what lets a replay wait for exactly those.
        let completed_before = self.completed.load(Ordering::SeqCst);
        let index = self.issued.fetch_add(1, Ordering::SeqCst);
        let op = self.perform(index, completed_before, phase, request, backend, intended).await;
        drop(permit);
        op
    }

    /// Issues `request` under a given index (replay keeps the recorded numbering so references stay valid).
    pub async fn call_as(&self, index: u64, phase: &Phase, request: Request, backend: Option<&str>) -> Op {
        let _permit = self.in_flight.acquire().await;
        let completed_before = self.completed.load(Ordering::SeqCst);
        self.issued.fetch_max(index.saturating_add(1), Ordering::SeqCst);
        self.perform(index, completed_before, phase, request, backend, None).await
    }

    /// Waits until `issued_at_us` after this driver started (replay's pacing).
    pub async fn wait_until(&self, issued_at_us: u64) {
        tokio::time::sleep_until((self.started + Duration::from_micros(issued_at_us)).into()).await;
    }

    async fn perform(
        &self,
        index: u64,
        completed_before: u64,
        phase: &Phase,
        request: Request,
        backend: Option<&str>,
        intended: Option<Instant>,
    ) -> Op {
        if let Some(reason) = self.gave_up() {
            // Given up on the target before this op was sent: nothing reaches the network, and nothing is recorded
            // (the journal holds what was sent; its trailer says why it ends).
            return Op {
                index,
                request: request.name(),
                outcome: abandoned(reason),
                ambiguous: false,
                at: Instant::now(),
            };
        }
        if let Some(observer) = &self.observer {
            observer.before(index, phase).await;
        }
        let issued_at_us = micros(self.started.elapsed());
        let client = match backend {
            None => Some(&self.client),
            Some(name) => self.backends.get(name),
        };
        let started = Instant::now();
        let mut attempts = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        let tracked = Arc::new(
            InFlight::new(index, request.name(), request.subject(), request.body_len())
                .faultable(matches!(phase, Phase::Workload(_))),
        );
        self.inflight.start(tracked.clone());
        let mut registered = inflight::Registered { ops: &self.inflight, index, answered: false };
        let outcome = loop {
            if let Some(reason) = self.gave_up() {
                break abandoned(reason);
            }
            let attempt_start = Instant::now();
            tracked.attempt();
            let outcome = match client {
                Some(client) => {
                    let attempt = CURRENT.scope(tracked.clone(), self.attempt(client, &request, &tracked));
                    tokio::select! {
                        outcome = attempt => outcome,
                        reason = self.given_up() => abandoned(reason),
                    }
                }
                None => s3::local_error(format!("backend {} has no endpoint in this config", backend.unwrap_or("?"))),
            };
            attempts.push(Attempt {
                status: outcome.status,
                error_code: outcome.error_code.clone(),
                latency_us: micros(attempt_start.elapsed()),
            });
            if !is_transient(&outcome) || attempts.len() as u32 >= MAX_ATTEMPTS {
                break outcome;
            }
            tracing::debug!(op = index, request = request.name(), outcome = %outcome.brief(), "transient failure, retrying");
            tracked.set(Stage::BackingOff);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                reason = self.given_up() => break abandoned(reason),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        registered.answered = outcome.status != 0;
        drop(registered);
        let latency = started.elapsed();
        // What a user of a paced (`--rate`) run waits: from the op's intended start, queueing included.
        let waited = intended.map_or(latency, |due| due.elapsed());
        let name = request.name();
        let ambiguous = echoes_an_earlier_attempt(&request, &attempts, &outcome);
        if let Some(observer) = &self.observer {
            let end = OpEnd {
                workload: matches!(phase, Phase::Workload(_)),
                unanswered: crate::journal::Outcome::unavailable(&outcome),
                ambiguous,
                failed: !outcome.succeeded(),
                latency,
            };
            observer.after(index, &end);
        }
        self.remember(index, &request, &outcome);
        let completion = self.completed.fetch_add(1, Ordering::SeqCst);
        // A request never sent (it names an id no earlier answer gave) is journaled, but it is not load: it counts
        // in no throughput, error or latency figure.
        if !outcome.not_issued() {
            self.stats.record(&request, &outcome, waited, latency);
            if let Some(series) = &self.timeseries {
                series.record(&request, &outcome, waited);
            }
        }
        self.show_progress(&request, &outcome, completion);
        let record = OpRecord {
            index,
            completed_before,
            completion,
            issued_at_us,
            phase: phase.clone(),
            backend: backend.map(str::to_string),
            request,
            outcome: outcome.clone(),
            attempts,
            latency_us: micros(latency),
        };
        self.sink.op(record).await;
        Op { index, request: name, outcome, ambiguous, at: Instant::now() }
    }

    /// One attempt, cut off when it shows no sign of life for [`ATTEMPT_IDLE`].
    async fn attempt(&self, client: &Client, request: &Request, tracked: &InFlight) -> Outcome {
        let send = s3::send(client, request, self);
        tokio::pin!(send);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                outcome = &mut send => return outcome,
                _ = tick.tick() => {
                    if tracked.idle() >= ATTEMPT_IDLE {
                        return Outcome {
                            status: 0,
                            detail: Some(format!("no sign of life for {ATTEMPT_IDLE:?}: {}", tracked.describe())),
                            ..Outcome::default()
                        };
                    }
                }
            }
        }
    }

    fn show_progress(&self, request: &Request, outcome: &Outcome, completion: u64) {
        let bytes = request.body_len() + outcome.size.filter(|_| outcome.body_digest.is_some()).unwrap_or(0);
        let moved = self.moved.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if completion.is_multiple_of(16) {
            let rate = completion as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            self.progress.set_message(crate::report::progress_message(completion, rate, moved));
        }
    }

    /// Keeps what later ops refer to: upload ids, and the ETags of parts (for completions) and of objects written
    /// (for `If-Match`).
    fn remember(&self, index: u64, request: &Request, outcome: &Outcome) {
        if let (Some(version), Ok(mut versions)) = (&outcome.version_id, self.versions.lock()) {
            if !matches!(
                request,
                Request::GetObject { .. } | Request::HeadObject { .. } | Request::GetObjectVersion { .. }
            ) {
                versions.insert(index, version.clone());
            }
        }
        if let Ok(mut cursors) = self.cursors.lock() {
            if let Some(cursor) = &outcome.next_page {
                cursors.insert(index, cursor.clone());
            }
            // Its final answer is in: no retry reads the cursor it continued from again.
            if let (false, Some(page)) = (self.back_references, request.continues_from()) {
                cursors.remove(&page);
            }
        }
        let write = match request {
            Request::UploadPart { .. } | Request::UploadPartCopy { .. } => true,
            Request::PutObject { .. } | Request::CompleteMultipartUpload { .. } => self.back_references,
            _ => false,
        };
        if let (true, Some(etag), Ok(mut etags)) = (write, &outcome.etag, self.write_etags.lock()) {
            etags.insert(index, etag.clone());
        }
        if let (Request::UploadPart { .. }, Some(checksum)) = (request, &outcome.checksum) {
            if let Ok(mut checksums) = self.part_checksums.lock() {
                checksums.insert(index, checksum.clone());
            }
        }
        match request {
            Request::CreateMultipartUpload { bucket, key, .. } => {
                if let (Some(id), Ok(mut uploads)) = (&outcome.upload_id, self.uploads.lock()) {
                    uploads.insert(
                        index,
                        OpenUpload { bucket: bucket.clone(), key: key.clone(), id: id.clone(), open: true },
                    );
                }
            }
            Request::CompleteMultipartUpload { create_op, .. } | Request::AbortMultipartUpload { create_op, .. }
                if outcome.succeeded() =>
            {
                if let Some(upload) = self.uploads.lock().ok().as_mut().and_then(|u| u.get_mut(create_op)) {
                    upload.open = false;
                }
            }
            _ => {}
        }
    }

    pub(crate) fn upload_id(&self, create_op: u64) -> Option<String> {
        self.uploads.lock().ok()?.get(&create_op).map(|u| u.id.clone())
    }

    /// Bucket and key of an open upload, for aborting it at cleanup.
    pub fn upload_target(&self, create_op: u64) -> Option<(String, String)> {
        self.uploads.lock().ok()?.get(&create_op).map(|u| (u.bucket.clone(), u.key.clone()))
    }

    pub(crate) fn etag_of(&self, write_op: u64) -> Option<String> {
        self.write_etags.lock().ok()?.get(&write_op).cloned()
    }

    /// The checksum the UploadPart op `part_op` answered, if it answered one.
    pub(crate) fn part_checksum(&self, part_op: u64) -> Option<crate::checksum::Returned> {
        self.part_checksums.lock().ok()?.get(&part_op).cloned()
    }

    pub(crate) fn version_id(&self, version_op: u64) -> Option<String> {
        self.versions.lock().ok()?.get(&version_op).cloned()
    }

    pub(crate) fn cursor(&self, page_op: u64) -> Option<PageCursor> {
        self.cursors.lock().ok()?.get(&page_op).cloned()
    }

    /// Ops that created uploads which were neither completed nor aborted.
    pub fn open_uploads(&self) -> Vec<u64> {
        let mut ops: Vec<u64> = self
            .uploads
            .lock()
            .map(|u| u.iter().filter(|(_, upload)| upload.open).map(|(op, _)| *op).collect())
            .unwrap_or_default();
        ops.sort_unstable();
        ops
    }

    /// Throughput and latency so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The region requests are signed for, as the client was configured.
    pub fn region(&self) -> Option<&str> {
        self.client.config().region().map(|r| r.as_ref())
    }

    /// Ops issued so far.
    pub fn ops_issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }
}

/// Worth another try: no response, throttling, or a 5xx.
fn is_transient(outcome: &Outcome) -> bool {
    let code = outcome.error_code.as_deref();
    if matches!(code, Some("SfkoMissingReference" | "SfkoLocalError" | ABANDONED)) {
        return false;
    }
    outcome.status == 0
        || matches!(outcome.status, 500 | 502 | 503 | 504)
        || matches!(code, Some("SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable"))
}

/// Whether what `outcome` says may be only part of the story because an earlier try (whose answer was lost) may
/// have applied. Every retry follows a transient failure — no answer, or a 5xx — and a server may have done the
/// work before failing to say so:
/// - an error that only says "an earlier try did it" (a retried CompleteMultipartUpload answered NoSuchUpload, a
///   retried CreateBucket answered BucketAlreadyOwnedByYou, a retried version delete answered NoSuchVersion);
/// - a success of a request that does something again when repeated (another version or delete marker on a
///   versioned bucket, another multipart upload).
///
/// A 503 (SlowDown, ServiceUnavailable) is a refusal before the work, so it makes nothing ambiguous.
fn echoes_an_earlier_attempt(request: &Request, attempts: &[Attempt], outcome: &Outcome) -> bool {
    let Some((_, earlier)) = attempts.split_last() else { return false };
    let maybe_applied = earlier.iter().any(|a| a.status == 0 || matches!(a.status, 500 | 502 | 504));
    if !maybe_applied {
        return false;
    }
    let code = outcome.error_code.as_deref();
    // A conditional write refused on a retry may be refused because the earlier try applied it: If-None-Match: *
    // finds the object that try created, If-Match finds the ETag that try changed.
    let refused_by_precondition = outcome.status == 412 || code == Some("ConditionalRequestConflict");
    match request {
        Request::CompleteMultipartUpload { precondition, .. } => {
            outcome.succeeded() || code == Some("NoSuchUpload") || (precondition.is_some() && refused_by_precondition)
        }
        Request::PutObject { precondition: Some(_), .. } => outcome.succeeded() || refused_by_precondition,
        // An earlier try that deleted the object leaves a retry nothing to match: 412, or 404 NoSuchKey.
        Request::DeleteObjectIf { .. } => outcome.succeeded() || refused_by_precondition || code == Some("NoSuchKey"),
        Request::AbortMultipartUpload { .. } | Request::AbortUploadId { .. } | Request::UploadPart { .. } => {
            code == Some("NoSuchUpload")
        }
        Request::CreateBucket { .. } => code == Some("BucketAlreadyOwnedByYou"),
        Request::DeleteObjectVersion { .. } | Request::DeleteVersionId { .. } => code == Some("NoSuchVersion"),
        Request::PutObject { .. }
        | Request::CopyObject { .. }
        | Request::DeleteObject { .. }
        | Request::DeleteObjects { .. }
        | Request::CreateMultipartUpload { .. } => outcome.succeeded(),
        _ => false,
    }
}

/// The answer of an op the driver gave up on.
fn abandoned(reason: String) -> Outcome {
    Outcome { status: 0, error_code: Some(ABANDONED.into()), detail: Some(reason), ..Outcome::default() }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
