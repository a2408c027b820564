//! `sfko -w`: take jobs from NATS and run them, one at a time, until stopped.
//!
//! A worker connects to its own target with its own config and secrets (a job never carries credentials), validates
//! every job message before acting on it (a bad one is terminated with a logged reason, and the worker keeps
//! serving), keeps the job alive with in-progress acks while it runs, stores the result in the results stream and
//! only then acks the job: if the worker dies anywhere before that ack, the job is delivered again and the controller
//! counts whichever result comes first. SIGTERM (or Ctrl-C) stops taking jobs and gives the current one
//! [`GRACE`] to finish; after that it is cancelled and handed back (NAK) for another worker. Exit 0.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use async_nats::Client;
use tokio::sync::watch;

use super::nats::{self as nats_io, NatsSettings, MAX_DELIVER, PROGRESS_EVERY};
use super::protocol::{self, Busy, Heartbeat, Job, JobResult, JournalMsg, ResultBatch, PROTOCOL_VERSION};
use super::HEARTBEAT_EVERY;
use crate::cli::{CommonArgs, WorkerArgs};
use crate::exec::{run_plan, Counts, RunOptions, RunReport, Step, Timings};
use crate::exit::{Exit, Fatal};
use crate::journal::Verdict;
use crate::plan::{resolve, Placement, TargetSetup};
use crate::scenario::Known;
use crate::seed::Seed;
use crate::target::Target;

/// How long a stopping worker lets its current job run on before handing it back.
pub const GRACE: Duration = Duration::from_secs(10);

/// What the heartbeats say.
#[derive(Default)]
struct Beat {
    jobs_done: u64,
    ops_done: u64,
    stopping: bool,
    busy: Option<Busy>,
}

/// Runs that a controller finished or cancelled: their queued jobs are dropped unrun.
#[derive(Default)]
struct Finished {
    runs: HashSet<String>,
    order: VecDeque<String>,
}

impl Finished {
    fn insert(&mut self, run: String) {
        if self.runs.insert(run.clone()) {
            self.order.push_back(run);
            if self.order.len() > 4096 {
                if let Some(old) = self.order.pop_front() {
                    self.runs.remove(&old);
                }
            }
        }
    }
}

/// Everything a job needs from its worker.
struct Worker {
    id: String,
    host: String,
    client: Client,
    js: jetstream::Context,
    target: Target,
    backends: Vec<Placement>,
    target_setup: TargetSetup,
    settings: NatsSettings,
    cli_concurrency: Option<usize>,
    /// `--embedded-faults …` flags of this worker's target, for the repro line of its results.
    faults: Option<String>,
    journal_dir: std::path::PathBuf,
    corpus_dir: std::path::PathBuf,
    quiet: bool,
    beat: Arc<Mutex<Beat>>,
    finished: Arc<Mutex<Finished>>,
    /// Bumped whenever a control message arrives.
    control: watch::Receiver<u64>,
    stop: watch::Receiver<u32>,
}

/// How a job ended on this worker.
enum Ending {
    Ran(Result<Box<RunReport>, Fatal>),
    /// Cancelled because the worker is stopping: NAK it so another worker runs it.
    HandBack,
    /// Its run was cancelled or finished by the controller: terminate it.
    Dropped,
}

/// Why a job message stops before its last seed.
enum Stop {
    /// The worker is stopping: NAK the message so another worker runs the rest.
    HandBack,
    /// The controller no longer waits for its run: terminate it.
    Dropped,
    /// A harness error with deliveries left: NAK it, to be tried again (here or elsewhere).
    Retry(String),
}

/// Which seed of a job message a result is for.
struct Run<'a> {
    index: u64,
    seed: u64,
    delivered: u64,
    prefix: &'a str,
}

/// Results not yet stored: flushed when the next would not fit in one message, at least every [`FLUSH_EVERY`] so
/// the controller sees progress, and when the message ends.
#[derive(Default)]
struct Batch {
    results: Vec<JobResult>,
    bytes: usize,
    since: Option<Instant>,
}

/// Longest a finished run's result waits in a batch.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl Batch {
    /// Adds a result of `size` encoded bytes.
    fn push(&mut self, result: JobResult, size: usize) {
        self.since.get_or_insert_with(Instant::now);
        self.bytes += size;
        self.results.push(result);
    }

    /// Whether the batch should be stored now rather than wait for more results.
    fn due(&self) -> bool {
        self.results.len() >= MAX_BATCH || self.since.is_some_and(|t| t.elapsed() >= FLUSH_EVERY)
    }
}

/// Most results in one message.
const MAX_BATCH: usize = 4096;

/// `sfko -w`.
pub async fn run(args: &WorkerArgs, common: &CommonArgs) -> Result<Exit, Fatal> {
    let id = match &args.worker_id {
        Some(id) if protocol::is_token(id) => id.clone(),
        Some(id) => {
            return Err(Fatal::bad_input(format!(
                "--worker-id {id:?}: expected 1-{} letters, digits, '-' or '_'",
                protocol::MAX_TOKEN
            )))
        }
        None => format!("{}-{}", super::host_name(), super::random_hex(6)),
    };
    let config = crate::inputs::config(common)?;
    let target_setup = config.target_setup()?;
    let settings = NatsSettings::from_args(&args.nats)?;
    let faults = crate::inputs::embedded_faults(common)?.map(|f| f.flags());
    let target = crate::inputs::connect(common, &config).await?;
    let client = settings.connect(&format!("sfko worker {id}")).await?;
    let js = jetstream::new(client.clone());
    let (jobs, _) = nats_io::ensure_streams(&js, settings.retry_for).await.map_err(Fatal::harness)?;
    let shared = nats_io::shared_consumer(&jobs, settings.retry_for).await.map_err(Fatal::harness)?;
    let direct = nats_io::direct_consumer(&jobs, &id, settings.retry_for).await.map_err(Fatal::harness)?;
    if !common.quiet {
        eprintln!("sfko worker {id}: ready on NATS {}; target {}", settings.display, target.label);
    }

    let finished = Arc::new(Mutex::new(Finished::default()));
    let control = watch_control(&client, finished.clone()).await?;
    let worker = Worker {
        host: super::host_name(),
        id,
        client,
        js,
        target,
        backends: config.plan_backends(),
        target_setup,
        settings,
        cli_concurrency: common.concurrency(),
        faults,
        journal_dir: common.journal_dir.clone(),
        corpus_dir: common.corpus.clone(),
        quiet: common.quiet,
        beat: Arc::new(Mutex::new(Beat::default())),
        finished,
        control,
        stop: super::stop_signal(),
    };
    let heartbeats = tokio::spawn(heartbeat_loop(
        worker.client.clone(),
        worker.id.clone(),
        worker.host.clone(),
        worker.beat.clone(),
    ));
    let known = crate::catalogue::known();
    while *worker.stop.borrow() == 0 {
        // Broadcast jobs addressed to this worker first, then the shared queue (waiting up to a second there).
        let mut messages = nats_io::pull(&direct, 1, None).await;
        if messages.is_empty() {
            messages = nats_io::pull(&shared, 1, Some(Duration::from_secs(1))).await;
        }
        for message in messages {
            worker.handle(message, &known).await;
        }
    }
    if let Ok(mut beat) = worker.beat.lock() {
        beat.stopping = true;
    }
    send_heartbeat(&worker.client, &worker.id, &worker.host, &worker.beat).await;
    heartbeats.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), worker.client.flush()).await;
    if !common.quiet {
        eprintln!("sfko worker {}: stopped", worker.id);
    }
    Ok(Exit::Pass)
}

/// Listens to `sfko.control.*`: `cancel` and `done` put the run among the finished ones.
async fn watch_control(client: &Client, finished: Arc<Mutex<Finished>>) -> Result<watch::Receiver<u64>, Fatal> {
    use futures::StreamExt;
    let mut subscription = client
        .subscribe("sfko.control.*")
        .await
        .map_err(|e| Fatal::harness(format!("cannot subscribe to sfko.control.*: {e}")))?;
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            match protocol::Control::decode(&message.payload) {
                Ok(control) => {
                    tracing::info!("control: run {} {}", control.run, control.kind);
                    if let Ok(mut finished) = finished.lock() {
                        finished.insert(control.run);
                    }
                    tx.send_modify(|n| *n += 1);
                }
                Err(reason) => tracing::warn!("ignoring a control message on {}: {reason}", message.subject),
            }
        }
    });
    Ok(rx)
}

async fn heartbeat_loop(client: Client, id: String, host: String, beat: Arc<Mutex<Beat>>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        send_heartbeat(&client, &id, &host, &beat).await;
    }
}

async fn send_heartbeat(client: &Client, id: &str, host: &str, beat: &Mutex<Beat>) {
    let message = {
        let Ok(beat) = beat.lock() else { return };
        Heartbeat {
            v: PROTOCOL_VERSION,
            worker: id.to_string(),
            host: host.to_string(),
            pid: std::process::id(),
            jobs_done: beat.jobs_done,
            ops_done: beat.ops_done,
            direct: true,
            stopping: beat.stopping,
            busy: beat.busy.clone(),
        }
    };
    // Core NATS: a heartbeat lost in an outage is replaced by the next one.
    let _ = client.publish(nats_io::heartbeat_subject(id), message.encode().into()).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
}

impl Worker {
    fn say(&self, line: &str) {
        if !self.quiet {
            eprintln!("sfko worker {}: {line}", self.id);
        }
    }

    fn set_busy(&self, busy: Option<Busy>) {
        if let Ok(mut beat) = self.beat.lock() {
            beat.busy = busy;
        }
    }

    fn run_finished(&self, run: &str) -> bool {
        self.finished.lock().map(|f| f.runs.contains(run)).unwrap_or(false)
    }

    /// Whether the controller of `job` has stopped waiting for it (its deadline passed, or it finished the run).
    fn unwanted(&self, job: &Job) -> bool {
        let deadline_passed = job.options.deadline_unix_ms != 0 && super::unix_ms() > job.options.deadline_unix_ms;
        deadline_passed || self.run_finished(&job.run)
    }

    /// One job message: its seeds run one after another, their results stored in batches; the message is acked once
    /// every result is stored, or handed back (NAK) with the rest when the worker stops or a run hits a harness error
    /// with deliveries left (the seeds already reported then count as duplicates on the next delivery).
    async fn handle(&self, message: jetstream::Message, known: &Known<'_>) {
        let (delivered, sequence) = match message.info() {
            Ok(info) => (info.delivered.max(1) as u64, info.stream_sequence),
            Err(e) => {
                tracing::warn!("rejecting a job message without JetStream metadata on {}: {e}", message.subject);
                return;
            }
        };
        let valid = match Job::decode(&message.payload, known) {
            Ok(valid) => valid,
            Err(reason) => {
                tracing::warn!("rejecting job message {} (stream seq {sequence}): {reason}", message.subject);
                ack(&message, AckKind::Term).await;
                return;
            }
        };
        let job = &valid.job;
        let ack_subject = message.reply.as_ref().map(|r| r.to_string()).unwrap_or_default();
        let mut batch = Batch::default();
        let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        for (index, seed) in job.runs() {
            let stop = if self.unwanted(job) {
                tracing::info!("dropping job {}/{index}: its controller is no longer waiting", job.run);
                Stop::Dropped
            } else if *self.stop.borrow() > 0 && index != job.job {
                Stop::HandBack
            } else {
                self.set_busy(Some(Busy { run: job.run.clone(), job: index, seed, ack: ack_subject.clone() }));
                if index == job.job {
                    // Announce the message before running it, so a controller that sees this worker die can hand
                    // it on.
                    send_heartbeat(&self.client, &self.id, &self.host, &self.beat).await;
                }
                match self.run_one(&message, &valid, index, seed, delivered, &mut progress).await {
                    Ok(result) => {
                        if let Ok(mut beat) = self.beat.lock() {
                            beat.jobs_done += 1;
                            beat.ops_done += result.counts.ops;
                        }
                        if !self.store(&mut batch, result).await {
                            self.set_busy(None);
                            return;
                        }
                        continue;
                    }
                    Err(stop) => stop,
                }
            };
            // The run stops here: what ran so far is stored, the message goes back or is dropped.
            self.flush(&mut batch).await;
            let label = format!("job {}/{index} seed {seed} '{}'", job.run, job.scenario.name);
            match stop {
                Stop::HandBack => {
                    ack(&message, AckKind::Nak(None)).await;
                    self.say(&format!("{label}: handed back (stopping)"));
                }
                Stop::Dropped => {
                    ack(&message, AckKind::Term).await;
                    self.say(&format!("{label}: dropped (the controller no longer waits for its run)"));
                }
                Stop::Retry(why) => {
                    tracing::warn!("{label}: {why}; handing it back for another try");
                    ack(&message, AckKind::Nak(Some(Duration::from_secs(2)))).await;
                }
            }
            self.set_busy(None);
            return;
        }
        if self.flush(&mut batch).await {
            if let Err(e) =
                nats_io::retry("acknowledging the job", self.settings.retry_for, || message.double_ack()).await
            {
                tracing::warn!(
                    "job {}/{}: {e} (the job may run again; the controller counts it once)",
                    job.run,
                    job.job
                );
            }
        }
        self.set_busy(None);
    }

    /// One seed of a job message, run to a result; `Err` when the message must stop here instead.
    async fn run_one(
        &self,
        message: &jetstream::Message,
        valid: &protocol::ValidJob,
        index: u64,
        seed: u64,
        delivered: u64,
        progress: &mut tokio::time::Interval,
    ) -> Result<JobResult, Stop> {
        let job = &valid.job;
        let prefix = job.options.bucket_prefix.clone().unwrap_or_else(|| protocol::broadcast_prefix(&self.id));
        let plan = resolve(&valid.scenario, Seed(seed), &self.backends, &prefix, &self.target_setup);
        let run = Run { index, seed, delivered, prefix: &prefix };
        let label = format!("job {}/{index} seed {seed} '{}'", job.run, job.scenario.name);
        // The job's names were checked against this build's catalogue when it was decoded.
        let steps = match crate::catalogue::steps(&plan) {
            Ok(steps) => steps,
            Err(e) => return Ok(self.incomplete(job, &run, &plan, &e.message, Instant::now())),
        };
        let dir = self.journal_dir.join(&job.run).join(&self.id);
        let opts = RunOptions {
            scenario_digest: job.scenario.digest.clone(),
            concurrency: self.cli_concurrency.unwrap_or(job.options.concurrency as usize),
            journal_path: crate::journal::run_path(&dir, &plan),
            corpus_dir: self.corpus_dir.clone(),
            keep: job.options.keep,
            progress: false,
            timeseries: None,
            rate: job.options.rate,
        };
        self.say(&format!("{label} (delivery {delivered}): started"));
        let started = Instant::now();
        let result = match self.execute(message, &plan, &steps, &opts, &job.run, progress).await {
            Ending::Ran(Ok(report)) => self.result(job, &run, &report).await,
            Ending::Ran(Err(e)) if (delivered as i64) < MAX_DELIVER => return Err(Stop::Retry(e.message)),
            Ending::Ran(Err(e)) => self.incomplete(job, &run, &plan, &e.message, started),
            Ending::HandBack => return Err(Stop::HandBack),
            Ending::Dropped => return Err(Stop::Dropped),
        };
        self.say(&format!(
            "{label}: {} ({} ops, {:.2} s)",
            result.verdict.as_str(),
            result.counts.ops,
            started.elapsed().as_secs_f64()
        ));
        Ok(result)
    }

    /// Runs the plan, sending in-progress acks, watching for SIGTERM and for the controller's cancel.
    async fn execute(
        &self,
        message: &jetstream::Message,
        plan: &crate::plan::Plan,
        steps: &[Step],
        opts: &RunOptions,
        run: &str,
        progress: &mut tokio::time::Interval,
    ) -> Ending {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let run_fut = run_plan(&self.target, plan, steps, opts, cancel_rx);
        tokio::pin!(run_fut);
        let mut stop = self.stop.clone();
        let mut control = self.control.clone();
        let mut grace: Option<tokio::time::Instant> = None;
        let mut ending: Option<Ending> = None;
        loop {
            let grace_sleep = async {
                match grace {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                out = &mut run_fut => return ending.unwrap_or(Ending::Ran(out.map(Box::new))),
                _ = progress.tick() => ack(message, AckKind::Progress).await,
                changed = stop.changed(), if ending.is_none() => {
                    let signals = if changed.is_ok() { *stop.borrow() } else { 0 };
                    if signals >= 2 {
                        let _ = cancel_tx.send(true);
                        ending = Some(Ending::HandBack);
                    } else if grace.is_none() {
                        self.say(&format!("stopping: the current job gets {GRACE:?} to finish, then goes back"));
                        grace = Some(tokio::time::Instant::now() + GRACE);
                    }
                }
                _ = grace_sleep, if ending.is_none() => {
                    let _ = cancel_tx.send(true);
                    ending = Some(Ending::HandBack);
                }
                changed = control.changed(), if ending.is_none() => {
                    if changed.is_ok() && self.run_finished(run) {
                        let _ = cancel_tx.send(true);
                        ending = Some(Ending::Dropped);
                    }
                }
            }
        }
    }

    /// The most bytes one result message may hold: the server's max payload, less room for headers.
    fn result_limit(&self) -> usize {
        self.client.server_info().max_payload.saturating_sub(4096).max(4096)
    }

    /// Queues a finished run's result, storing the batch first when the result would not fit in it and after it
    /// when the batch is due; false if a batch could not be stored (the message then runs again elsewhere).
    async fn store(&self, batch: &mut Batch, result: JobResult) -> bool {
        let limit = self.result_limit();
        let (result, size) = fit(result, limit);
        if !batch.results.is_empty() && batch.bytes + size > limit && !self.flush(batch).await {
            return false;
        }
        batch.push(result, size);
        !batch.due() || self.flush(batch).await
    }

    /// Stores the batch in the results stream (deduplicated by run, first job and worker) and empties it; false if
    /// it could not be stored.
    async fn flush(&self, batch: &mut Batch) -> bool {
        let results = std::mem::take(batch).results;
        let Some(first) = results.first() else { return true };
        let (run, job) = (first.run.clone(), first.job);
        let subject = nats_io::results_subject(&run);
        let id = format!("{run}.{job}.{}", self.id);
        let message = ResultBatch { v: PROTOCOL_VERSION, run: run.clone(), worker: self.id.clone(), results };
        let payload = bytes::Bytes::from(message.encode());
        // Keep trying through a broker restart; a worker told to stop gives up sooner (the job then runs again).
        let limit = if *self.stop.borrow() > 0 { self.settings.retry_for } else { Duration::from_secs(600) };
        let outcome = nats_io::retry("storing the result", limit, || async {
            let publish = jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(&id);
            self.js.send_publish(subject.clone(), publish).await?.await.map_err(async_nats::Error::from)
        })
        .await;
        match outcome {
            Ok(_) => true,
            Err(e) => {
                tracing::error!("job {run}/{job}: {e}; it will run again elsewhere");
                false
            }
        }
    }

    async fn result(&self, job: &Job, run: &Run<'_>, report: &RunReport) -> JobResult {
        let journal = if report.verdict == Verdict::Fail {
            let path = report.corpus.as_ref().or(report.journal.as_ref());
            match path {
                Some(path) => self.journal_msg(path, job.options.journal_cap).await,
                None => None,
            }
        } else {
            None
        };
        JobResult {
            counts: report.counts.clone(),
            timings: report.timings.clone().unwrap_or_default(),
            histogram: report.histogram.as_ref().map(|h| protocol::b64(&h.encode())),
            failures: report.failures.iter().take(protocol::MAX_FAILURES_IN_RESULT).cloned().collect(),
            journal,
            left_behind: report.left_behind.iter().take(protocol::MAX_LEFT_BEHIND).cloned().collect(),
            ..self.base(job, run, report.verdict, report.reason.clone(), report.plan_digest.clone())
        }
    }

    fn incomplete(&self, job: &Job, run: &Run<'_>, plan: &crate::plan::Plan, why: &str, started: Instant) -> JobResult {
        let reason = Some(format!("worker {}: {why}", self.id));
        JobResult {
            timings: Timings { elapsed_s: started.elapsed().as_secs_f64(), ..Timings::default() },
            ..self.base(job, run, Verdict::Incomplete, reason, plan.digest())
        }
    }

    /// A result that names the job, the worker and the verdict, and carries nothing else yet.
    fn base(
        &self,
        job: &Job,
        run: &Run<'_>,
        verdict: Verdict,
        reason: Option<String>,
        plan_digest: String,
    ) -> JobResult {
        JobResult {
            v: PROTOCOL_VERSION,
            run: job.run.clone(),
            job: run.index,
            seed: run.seed,
            scenario: job.scenario.name.clone(),
            worker: self.id.clone(),
            delivered: run.delivered,
            verdict,
            reason,
            plan_digest,
            bucket_prefix: run.prefix.to_string(),
            faults: self.faults.clone(),
            rate: job.options.rate,
            counts: Counts::default(),
            timings: Timings::default(),
            histogram: None,
            failures: Vec::new(),
            journal: None,
            left_behind: Vec::new(),
        }
    }

    /// The failing journal: its bytes when within `cap`, else only where it is kept.
    async fn journal_msg(&self, path: &Path, cap: u64) -> Option<JournalMsg> {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let kept_at = format!("{}:{}", self.id, absolute.display());
        let size = tokio::fs::metadata(path).await.ok()?.len();
        if size <= cap {
            let bytes = tokio::fs::read(path).await.ok()?;
            let digest = blake3::hash(&bytes).to_hex().to_string();
            Some(JournalMsg { digest, size, data: Some(protocol::b64(&bytes)), kept_at })
        } else {
            let digest = crate::journal::file_digest(path).ok()?;
            Some(JournalMsg { digest, size, data: None, kept_at })
        }
    }
}

/// The result trimmed to fit one message of `limit` bytes (the journal bytes go first, then failures, then the
/// histogram), with its encoded size. `limit` leaves room for the batch's own fields.
fn fit(mut result: JobResult, limit: usize) -> (JobResult, usize) {
    let mut size = result.encoded_len();
    if size > limit {
        if let Some(journal) = result.journal.as_mut() {
            journal.data = None;
        }
        size = result.encoded_len();
    }
    while size > limit && !result.failures.is_empty() {
        result.failures.pop();
        size = result.encoded_len();
    }
    if size > limit {
        result.histogram = None;
        size = result.encoded_len();
    }
    (result, size)
}

/// Acks (of any kind) are best effort: a lost one means a redelivery, which results are deduplicated against.
async fn ack(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        tracing::debug!("ack {kind:?} failed: {e}");
    }
}
