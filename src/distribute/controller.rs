//! `sfko -c`: publish a run's seeded jobs, follow the workers, gather and summarize the results.
//!
//! Job `i` of a run with master seed `N` over `S` selected scenarios runs seed `N + i/S` on scenario `i mod S` — the
//! runs `sfko --seed N --runs K` makes, in the same order — so every result has a one-line standalone repro. The
//! controller never talks to the target and never holds credentials for it.
//!
//! It does not hang on dead workers: a worker whose heartbeats stop while it holds a job gets that job NAKed (so
//! another worker takes it at once), a job that runs out of deliveries is reported lost, a run with no live worker
//! for `--worker-wait` ends with exit 3, and so does `--run-timeout` or NATS staying unreachable for
//! `--nats-retry-for`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::jetstream::{self, stream};
use async_nats::Client;
use futures::StreamExt;
use serde_json::{json, Value};

use super::nats::{self as nats_io, duration_flag, NatsSettings, MAX_DELIVER};
use super::protocol::{self, Busy, Checked, Heartbeat, Job, JobOptions, JobResult, JobScenario, PROTOCOL_VERSION};
use super::{bad_input, harness, DEAD_AFTER};
use crate::app::{ExitCode, Fatal, DEFAULT_CONCURRENCY};
use crate::cli::{Cli, Format};
use crate::driver::LatencyHistogram;
use crate::journal::Verdict;
use crate::report;
use crate::scenario::{self, Scenario};
use crate::seed::Seed;

/// In broadcast mode, how long after the first worker appears the controller waits for others before fanning out
/// (later workers still get every job when they appear).
const BROADCAST_SETTLE: Duration = Duration::from_secs(2);
/// Jobs published before their acks are awaited.
const PUBLISH_WINDOW: usize = 256;

/// A job, or in broadcast mode a (job, worker) pair: what one result is counted against.
type Key = (u64, String);

/// What the controller knows about one worker.
struct WorkerSeen {
    host: String,
    last_seen: Instant,
    busy: Option<Busy>,
    direct: bool,
    stopping: bool,
    dead: bool,
    assigned: bool,
    jobs: u64,
    ops: u64,
}

/// A counted result.
struct Accepted {
    result: JobResult,
    verdict: Verdict,
    corpus: Option<PathBuf>,
    repro: String,
}

/// Everything fixed for the run.
struct Setup {
    run: String,
    seed: Seed,
    jobs_total: u64,
    broadcast: bool,
    scenarios: Vec<JobScenario>,
    options: JobOptions,
    scenarios_hint: Option<String>,
    corpus: PathBuf,
    format: Format,
    quiet: bool,
    worker_wait: Duration,
    run_timeout: Option<Duration>,
}

impl Setup {
    fn job(&self, index: u64) -> Job {
        let count = self.scenarios.len() as u64;
        Job {
            v: PROTOCOL_VERSION,
            run: self.run.clone(),
            job: index,
            seed: self.seed.0 + index / count,
            scenario: self.scenarios[(index % count) as usize].clone(),
            options: self.options.clone(),
        }
    }

    fn say(&self, line: &str) {
        if !self.quiet {
            eprintln!("sfko: {line}");
        }
    }
}

/// The run as it goes.
struct Gather {
    expected: BTreeSet<Key>,
    /// How many expected keys have a result or are lost.
    resolved_count: usize,
    accepted: BTreeMap<Key, Accepted>,
    lost: BTreeMap<Key, String>,
    /// Highest delivery count seen per key (redeliveries = that minus one).
    delivered: HashMap<Key, u64>,
    duplicates: u64,
    rejected: u64,
    workers: BTreeMap<String, WorkerSeen>,
    /// Stream sequence of each published shared job.
    sequences: HashMap<u64, u64>,
    histogram: LatencyHistogram,
    ops: u64,
    bytes: u64,
    started: Instant,
    first_worker: Option<Instant>,
    last_alive: Instant,
    fanned_out: bool,
    connected_since: Option<Instant>,
    disconnected_since: Option<Instant>,
    abort: Option<String>,
}

impl Gather {
    fn resolved(&self, key: &Key) -> bool {
        self.accepted.contains_key(key) || self.lost.contains_key(key)
    }

    fn complete(&self) -> bool {
        !self.expected.is_empty() && self.resolved_count == self.expected.len()
    }

    fn done(&self) -> usize {
        self.resolved_count
    }

    /// Counts `key` against the run (kept in step with `resolved_count`, so progress checks stay O(1)).
    fn track(&mut self, key: Key) {
        if !self.expected.contains(&key) {
            if self.resolved(&key) {
                self.resolved_count += 1;
            }
            self.expected.insert(key);
        }
    }

    fn accept(&mut self, key: Key, accepted: Accepted) {
        if !self.resolved(&key) && self.expected.contains(&key) {
            self.resolved_count += 1;
        }
        self.lost.remove(&key);
        self.accepted.insert(key, accepted);
    }

    fn lose(&mut self, key: Key, why: String) {
        if self.resolved(&key) {
            return;
        }
        if self.expected.contains(&key) {
            self.resolved_count += 1;
        }
        self.lost.insert(key, why);
    }

    fn live_workers(&self) -> usize {
        self.workers.values().filter(|w| !w.dead && !w.stopping).count()
    }

    fn redeliveries(&self) -> u64 {
        self.delivered.values().map(|d| d.saturating_sub(1)).sum()
    }
}

/// `sfko -c`.
pub async fn run(cli: &Cli) -> Result<ExitCode, Fatal> {
    let (setup, settings) = prepare(cli)?;
    setup.say(&format!("seed {}", setup.seed));
    let client = settings.connect(&format!("sfko controller {}", setup.run)).await?;
    let js = jetstream::new(client.clone());
    let limit = settings.retry_for;
    let (jobs_stream, results_stream) = nats_io::ensure_streams(&js, limit).await.map_err(harness)?;
    nats_io::shared_consumer(&jobs_stream, limit).await.map_err(harness)?;
    let results = nats_io::results_consumer(&results_stream, &setup.run, limit).await.map_err(harness)?;
    let mut heartbeats = client
        .subscribe("sfko.heartbeat.*")
        .await
        .map_err(|e| harness(format!("cannot subscribe to heartbeats: {e}")))?;
    let mut advisories = client
        .subscribe(nats_io::max_deliveries_advisory())
        .await
        .map_err(|e| harness(format!("cannot subscribe to JetStream advisories: {e}")))?;
    setup.say(&format!(
        "run {}: {} jobs{} over NATS {}",
        setup.run,
        setup.jobs_total,
        if setup.broadcast { " for every worker (broadcast)" } else { "" },
        settings.display
    ));

    let now = Instant::now();
    let mut gather = Gather {
        expected: BTreeSet::new(),
        resolved_count: 0,
        accepted: BTreeMap::new(),
        lost: BTreeMap::new(),
        delivered: HashMap::new(),
        duplicates: 0,
        rejected: 0,
        workers: BTreeMap::new(),
        sequences: HashMap::new(),
        histogram: LatencyHistogram::new(),
        ops: 0,
        bytes: 0,
        started: now,
        first_worker: None,
        last_alive: now,
        fanned_out: false,
        connected_since: Some(now),
        disconnected_since: None,
        abort: None,
    };
    if !setup.broadcast {
        let keys: Vec<Key> = (0..setup.jobs_total).map(|i| (i, String::new())).collect();
        let publishing = Instant::now();
        match publish(&js, &setup, None, limit).await {
            Ok(sequences) => {
                tracing::info!("{} jobs published in {:.2?}", setup.jobs_total, publishing.elapsed());
                gather.sequences = sequences;
                keys.into_iter().for_each(|key| gather.track(key));
            }
            Err(e) => {
                cleanup(&client, &js, &jobs_stream, &results_stream, &setup, "cancel").await;
                return Err(harness(e));
            }
        }
    }

    // Results arrive through a task so that a slow pull never delays heartbeats or the clock.
    let (result_tx, mut result_rx) = tokio::sync::mpsc::channel::<jetstream::Message>(1024);
    let puller = tokio::spawn(async move {
        loop {
            for message in nats_io::pull(&results, 256, Some(Duration::from_secs(1))).await {
                if result_tx.send(message).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut stop = super::stop_signal();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut progress = Progress::new(&setup);
    while !gather.complete() && gather.abort.is_none() {
        tokio::select! {
            Some(message) = result_rx.recv() => {
                on_result(&setup, &mut gather, &message.payload);
                if let Err(e) = message.ack().await {
                    tracing::debug!("result ack: {e}");
                }
            }
            Some(message) = heartbeats.next() => {
                on_heartbeat(&js, &setup, &mut gather, &message.payload, limit).await;
            }
            Some(message) = advisories.next() => {
                on_advisory(&jobs_stream, &mut gather, &message.payload).await;
            }
            _ = stop.changed() => {
                gather.abort = Some("interrupted".into());
            }
            _ = tick.tick() => {
                on_tick(&client, &js, &jobs_stream, &setup, &mut gather, &settings).await;
                progress.show(&setup, &gather);
            }
        }
    }
    puller.abort();
    // Results already pulled are still counted.
    while let Ok(message) = result_rx.try_recv() {
        on_result(&setup, &mut gather, &message.payload);
        let _ = message.ack().await;
    }
    progress.finish();
    if let Some(why) = gather.abort.clone() {
        let unresolved: Vec<Key> = gather.expected.iter().filter(|k| !gather.resolved(k)).cloned().collect();
        for key in unresolved {
            gather.lose(key, why.clone());
        }
    }
    let kind = if gather.abort.is_some() { "cancel" } else { "done" };
    cleanup(&client, &js, &jobs_stream, &results_stream, &setup, kind).await;
    Ok(summarize(&setup, &gather, &settings))
}

/// Flags, scenarios and options, checked before anything is sent.
fn prepare(cli: &Cli) -> Result<(Setup, NatsSettings), Fatal> {
    let args = &cli.distribute;
    let common = &cli.common;
    let worker_only = [
        (args.worker_id.is_some(), "--worker-id"),
        (common.endpoint.is_some(), "--endpoint"),
        (common.region.is_some(), "--region"),
        (common.config.is_some(), "--config"),
    ];
    if let Some((_, flag)) = worker_only.iter().find(|(given, _)| *given) {
        return Err(bad_input(format!(
            "{flag} is the worker's (sfko -w): the controller never touches the target, each worker uses its own"
        )));
    }
    if cli.run.runs == 0 {
        return Err(bad_input("--runs must be at least 1"));
    }
    let all = super::load_scenarios(&common.scenarios_path)?;
    let selected: Vec<&Scenario> = scenario::select(&all, &cli.run.scenarios).map_err(|e| bad_input(e.to_string()))?;
    let mut texts: HashMap<String, String> = HashMap::new();
    let mut scenarios = Vec::new();
    for chosen in &selected {
        let file = &chosen.origin.file;
        if !texts.contains_key(file) {
            let text = std::fs::read_to_string(file).map_err(|e| bad_input(format!("{file}: {e}")))?;
            texts.insert(file.clone(), text);
        }
        let text = texts.get(file).cloned().unwrap_or_default();
        let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
        if digest != chosen.origin.source_digest {
            return Err(bad_input(format!("{file} changed while it was being read; try again")));
        }
        if text.len() > protocol::MAX_SCENARIO_TEXT {
            return Err(bad_input(format!(
                "{file}: {} bytes; a job carries at most {} bytes of scenario text (split the file)",
                text.len(),
                protocol::MAX_SCENARIO_TEXT
            )));
        }
        scenarios.push(JobScenario { name: chosen.name.clone(), file: file.clone(), yaml: text, digest });
    }
    crate::plan::validate_bucket_prefix(&cli.run.bucket_prefix)
        .map_err(|e| bad_input(format!("--bucket-prefix: {e}")))?;
    if args.broadcast && cli.run.bucket_prefix != crate::plan::DEFAULT_BUCKET_PREFIX {
        return Err(bad_input("--bucket-prefix: with --broadcast every worker uses a prefix of its own"));
    }
    let count = scenarios.len() as u64;
    let jobs_total = match args.jobs {
        Some(0) => return Err(bad_input("--jobs must be at least 1")),
        Some(n) => n,
        None => cli.run.runs.saturating_mul(count),
    };
    let seed = cli.run.seed.map(Seed).unwrap_or_else(Seed::from_os);
    if seed.0.checked_add((jobs_total - 1) / count.max(1)).is_none() {
        return Err(bad_input(format!("--seed {seed} with {jobs_total} jobs runs past the largest seed")));
    }
    let journal_cap = scenario::parse_size(&args.journal_cap).map_err(|e| bad_input(format!("--journal-cap: {e}")))?;
    if journal_cap > protocol::MAX_JOURNAL_CAP {
        return Err(bad_input(format!("--journal-cap: at most {} bytes", protocol::MAX_JOURNAL_CAP)));
    }
    let run_timeout = args.run_timeout.as_deref().map(|t| duration_flag("--run-timeout", t)).transpose()?;
    let worker_wait = duration_flag("--worker-wait", &args.worker_wait)?;
    let concurrency = common.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency > protocol::MAX_CONCURRENCY as usize {
        return Err(bad_input(format!("--concurrency: at most {}", protocol::MAX_CONCURRENCY)));
    }
    let settings = NatsSettings::from_args(args)?;
    let options = JobOptions {
        concurrency: concurrency as u32,
        keep: cli.run.keep,
        bucket_prefix: (!args.broadcast).then(|| cli.run.bucket_prefix.clone()),
        broadcast: args.broadcast,
        deadline_unix_ms: run_timeout.map(|t| super::unix_ms() + t.as_millis() as u64).unwrap_or(0),
        journal_cap,
    };
    let setup = Setup {
        run: format!("r{}", super::random_hex(12)),
        seed,
        jobs_total,
        broadcast: args.broadcast,
        scenarios,
        options,
        scenarios_hint: (common.scenarios_path != Path::new("scenarios"))
            .then(|| common.scenarios_path.display().to_string()),
        corpus: common.corpus.clone(),
        format: common.format,
        quiet: common.quiet,
        worker_wait,
        run_timeout,
    };
    Ok((setup, settings))
}

/// Publishes every job of the run (to one worker's subject in broadcast mode), a window at a time, each with a
/// message id so a retried publish is stored once. Returns the stream sequence of each job.
async fn publish(
    js: &jetstream::Context,
    setup: &Setup,
    worker: Option<&str>,
    limit: Duration,
) -> Result<HashMap<u64, u64>, String> {
    let subject = match worker {
        Some(worker) => nats_io::direct_subject(worker, &setup.run),
        None => nats_io::shared_subject(&setup.run),
    };
    let mut sequences = HashMap::new();
    let indices: Vec<u64> = (0..setup.jobs_total).collect();
    for window in indices.chunks(PUBLISH_WINDOW) {
        let mut pending = Vec::new();
        for &index in window {
            let payload = bytes::Bytes::from(setup.job(index).encode());
            let id = match worker {
                Some(worker) => format!("{}.{index}.{worker}", setup.run),
                None => format!("{}.{index}", setup.run),
            };
            let message = jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(&id);
            let ack = js.send_publish(subject.clone(), message).await;
            pending.push((index, payload, id, ack));
        }
        for (index, payload, id, ack) in pending {
            let first = match ack {
                Ok(future) => future.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let stored = match first {
                Ok(ack) => ack,
                Err(_) => {
                    nats_io::retry(&format!("publishing job {index}"), limit, || async {
                        let message =
                            jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(&id);
                        js.send_publish(subject.clone(), message).await?.await.map_err(async_nats::Error::from)
                    })
                    .await?
                }
            };
            sequences.insert(stored.sequence, index);
        }
    }
    Ok(sequences)
}

fn on_result(setup: &Setup, gather: &mut Gather, payload: &[u8]) {
    let checked = match JobResult::decode(payload, &setup.run) {
        Ok(checked) => checked,
        Err(reason) => {
            gather.rejected += 1;
            tracing::warn!("rejecting a result of run {}: {reason}", setup.run);
            return;
        }
    };
    let result = &checked.result;
    if result.job >= setup.jobs_total {
        gather.rejected += 1;
        tracing::warn!("rejecting a result for job {} of a {}-job run", result.job, setup.jobs_total);
        return;
    }
    let key: Key = (result.job, if setup.broadcast { result.worker.clone() } else { String::new() });
    let seen = gather.delivered.entry(key.clone()).or_insert(0);
    *seen = (*seen).max(result.delivered);
    if gather.accepted.contains_key(&key) {
        gather.duplicates += 1;
        return;
    }
    if setup.broadcast {
        gather.track(key.clone());
    }
    let histogram = checked.histogram.clone();
    let accepted = accept(setup, checked);
    gather.ops += accepted.result.counts.ops;
    gather.bytes += accepted.result.counts.bytes_written + accepted.result.counts.bytes_read;
    if let Some(worker) = gather.workers.get_mut(&accepted.result.worker) {
        worker.jobs += 1;
        worker.ops += accepted.result.counts.ops;
    }
    if matches!(accepted.verdict, Verdict::Fail | Verdict::Incomplete) && setup.format == Format::Human {
        crate::outln!("{}", human_job(&accepted));
    }
    gather.accept(key, accepted);
    if let Some(histogram) = histogram {
        gather.histogram.merge(&histogram);
    }
}

/// Drops the journal into the corpus and works out the repro line.
fn accept(setup: &Setup, checked: Checked) -> Accepted {
    let Checked { result, verdict, journal, .. } = checked;
    let corpus = match (&journal, &result.journal) {
        (Some(bytes), Some(meta)) => match write_corpus(&setup.corpus, &meta.digest, bytes) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::error!("job {}: {e}; the worker keeps the journal at {}", result.job, meta.kept_at);
                None
            }
        },
        _ => None,
    };
    let mut repro = report::repro_line(result.seed, &result.scenario, setup.scenarios_hint.as_deref());
    if result.bucket_prefix != crate::plan::DEFAULT_BUCKET_PREFIX {
        repro.push_str(&format!(" --bucket-prefix {}", result.bucket_prefix));
    }
    Accepted { result, verdict, corpus, repro }
}

/// `corpus/<first 16 hex of the journal's blake3>.bin`, written atomically (the name `sfko replay` expects).
fn write_corpus(dir: &Path, digest: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let name = format!("{}.bin", &digest[..16.min(digest.len())]);
    let path = dir.join(&name);
    let temp = dir.join(format!(".{name}.partial"));
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&temp, bytes))
        .and_then(|_| std::fs::rename(&temp, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

async fn on_heartbeat(js: &jetstream::Context, setup: &Setup, gather: &mut Gather, payload: &[u8], limit: Duration) {
    let beat = match Heartbeat::decode(payload) {
        Ok(beat) => beat,
        Err(reason) => {
            tracing::debug!("ignoring a heartbeat: {reason}");
            return;
        }
    };
    let now = Instant::now();
    gather.first_worker.get_or_insert(now);
    gather.last_alive = now;
    let worker = gather.workers.entry(beat.worker.clone()).or_insert_with(|| {
        setup.say(&format!("worker {} ({}, pid {}) is here", beat.worker, beat.host, beat.pid));
        WorkerSeen {
            host: beat.host.clone(),
            last_seen: now,
            busy: None,
            direct: beat.direct,
            stopping: false,
            dead: false,
            assigned: false,
            jobs: 0,
            ops: 0,
        }
    });
    if worker.dead {
        setup.say(&format!("worker {} is back", beat.worker));
        worker.dead = false;
    }
    worker.last_seen = now;
    worker.busy = beat.busy;
    worker.direct = beat.direct;
    worker.stopping = beat.stopping;
    if setup.broadcast && gather.fanned_out {
        assign(js, setup, gather, &beat.worker, limit).await;
    }
}

/// Broadcast: publishes every job to `worker` once (if it takes direct jobs and is not stopping).
async fn assign(js: &jetstream::Context, setup: &Setup, gather: &mut Gather, worker: &str, limit: Duration) {
    let Some(seen) = gather.workers.get_mut(worker) else { return };
    if seen.assigned || !seen.direct || seen.stopping || seen.dead {
        return;
    }
    seen.assigned = true;
    setup.say(&format!("worker {worker}: {} jobs published for it", setup.jobs_total));
    match publish(js, setup, Some(worker), limit).await {
        Ok(_) => (0..setup.jobs_total).for_each(|i| gather.track((i, worker.to_string()))),
        Err(e) => gather.abort = Some(format!("cannot publish jobs for worker {worker}: {e}")),
    }
}

/// JetStream gave up on a job (every delivery ended without an ack): it is lost, and removed from the queue.
async fn on_advisory(jobs_stream: &stream::Stream, gather: &mut Gather, payload: &[u8]) {
    let Ok(advisory) = serde_json::from_slice::<Value>(payload) else { return };
    let Some(sequence) = advisory.get("stream_seq").and_then(Value::as_u64) else { return };
    let Some(&index) = gather.sequences.get(&sequence) else { return };
    let key: Key = (index, String::new());
    if gather.resolved(&key) {
        return;
    }
    let deliveries = advisory.get("deliveries").and_then(Value::as_u64).unwrap_or(MAX_DELIVER as u64);
    gather.delivered.insert(key.clone(), deliveries);
    gather.lose(
        key,
        format!("delivered {deliveries} times without a result (its workers died or gave it back each time)"),
    );
    let _ = jobs_stream.delete_message(sequence).await;
}

async fn on_tick(
    client: &Client,
    js: &jetstream::Context,
    jobs_stream: &stream::Stream,
    setup: &Setup,
    gather: &mut Gather,
    settings: &NatsSettings,
) {
    let now = Instant::now();
    match client.connection_state() {
        State::Connected => {
            gather.disconnected_since = None;
            gather.connected_since.get_or_insert(now);
        }
        _ => {
            gather.connected_since = None;
            let since = *gather.disconnected_since.get_or_insert(now);
            if now - since > settings.retry_for {
                gather.abort = Some(format!(
                    "NATS {} has been unreachable for {:.0?} (--nats-retry-for)",
                    settings.display, settings.retry_for
                ));
            }
            return;
        }
    }
    // Judge silence only while we ourselves have been connected long enough to have heard a heartbeat.
    let connected_long = gather.connected_since.is_some_and(|since| now - since >= DEAD_AFTER);
    if connected_long {
        let silent: Vec<String> = gather
            .workers
            .iter()
            .filter(|(_, w)| !w.dead && now - w.last_seen >= DEAD_AFTER)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            worker_gone(client, jobs_stream, setup, gather, &id).await;
        }
    }
    if gather.live_workers() > 0 {
        gather.last_alive = now;
    }
    if setup.broadcast && !gather.fanned_out && gather.first_worker.is_some_and(|t| now - t >= BROADCAST_SETTLE) {
        gather.fanned_out = true;
        let ids: Vec<String> = gather.workers.keys().cloned().collect();
        for id in ids {
            assign(js, setup, gather, &id, settings.retry_for).await;
        }
    }
    if gather.complete() {
        return;
    }
    if gather.live_workers() == 0 && connected_long && now - gather.last_alive >= setup.worker_wait {
        gather.abort = Some(if gather.workers.is_empty() {
            format!(
                "no worker showed up within {:.0?} on NATS {}; start some with: sfko -w --nats {}",
                setup.worker_wait, settings.display, settings.display
            )
        } else {
            format!("no live worker for {:.0?}; every worker seen has gone", setup.worker_wait)
        });
    }
    if let Some(timeout) = setup.run_timeout {
        if now - gather.started >= timeout {
            gather.abort = Some(format!("the run timeout ({timeout:.0?}) passed"));
        }
    }
}

/// A worker went silent: its job of this run goes back to the queue at once (shared), or its remaining jobs are
/// abandoned (broadcast: the job was for that worker only).
async fn worker_gone(client: &Client, jobs_stream: &stream::Stream, setup: &Setup, gather: &mut Gather, id: &str) {
    let Some(worker) = gather.workers.get_mut(id) else { return };
    worker.dead = true;
    let busy = worker.busy.take();
    if !worker.stopping {
        setup.say(&format!("worker {id} has been silent for {DEAD_AFTER:?}"));
    }
    if setup.broadcast {
        let open: Vec<Key> = gather.expected.iter().filter(|k| k.1 == id && !gather.resolved(k)).cloned().collect();
        if !open.is_empty() {
            setup.say(&format!("worker {id}: {} of its jobs abandoned", open.len()));
        }
        for key in open {
            gather.lose(key, format!("abandoned: worker {id} went away"));
        }
        let _ = jobs_stream.purge().filter(nats_io::direct_subject(id, &setup.run)).await;
        return;
    }
    if let Some(busy) = busy.filter(|b| b.run == setup.run && !b.ack.is_empty()) {
        if !gather.resolved(&(busy.job, String::new())) {
            setup.say(&format!("job {} goes back to the queue", busy.job));
            let _ = client.publish(busy.ack, bytes::Bytes::from_static(b"-NAK")).await;
        }
    }
}

/// Tells workers the run is over, and removes what is left of it from the streams.
async fn cleanup(
    client: &Client,
    js: &jetstream::Context,
    jobs_stream: &stream::Stream,
    results_stream: &stream::Stream,
    setup: &Setup,
    kind: &str,
) {
    let control = protocol::Control { v: PROTOCOL_VERSION, run: setup.run.clone(), kind: kind.into() };
    let _ = client.publish(nats_io::control_subject(&setup.run), control.encode().into()).await;
    let limit = Duration::from_secs(5);
    let run = &setup.run;
    for filter in [nats_io::shared_subject(run), format!("sfko.jobs.to.*.{run}")] {
        let _ =
            nats_io::retry("purging jobs", limit, || async { jobs_stream.purge().filter(filter.clone()).await }).await;
    }
    let _ = js.delete_consumer_from_stream(format!("sfko-results-{run}"), nats_io::RESULTS_STREAM).await;
    let _ = results_stream.purge().filter(nats_io::results_subject(run)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
}

/// Live progress on stderr: a bar on a terminal, a line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    quiet: bool,
}

impl Progress {
    fn new(setup: &Setup) -> Progress {
        let bar = (!setup.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(setup.jobs_total);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, last_line: Instant::now(), quiet: setup.quiet }
    }

    fn show(&mut self, setup: &Setup, gather: &Gather) {
        let failed = gather.accepted.values().filter(|a| a.verdict == Verdict::Fail).count();
        let in_flight =
            gather.workers.values().filter(|w| !w.dead && w.busy.as_ref().is_some_and(|b| b.run == setup.run)).count();
        let elapsed = gather.started.elapsed().as_secs_f64().max(1e-9);
        let total = if setup.broadcast { gather.expected.len() } else { setup.jobs_total as usize };
        let line = format!(
            "{}/{} jobs done ({} failed), {} in flight, {} workers, {:.0} ops/s, {} redeliveries",
            gather.done(),
            total,
            failed,
            in_flight,
            gather.live_workers(),
            gather.ops as f64 / elapsed,
            gather.redeliveries()
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(5) {
            self.last_line = Instant::now();
            eprintln!("sfko: {line}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A failing or incomplete job, as standalone runs show one.
fn human_job(accepted: &Accepted) -> String {
    let r = &accepted.result;
    let tag = if accepted.verdict == Verdict::Fail { "FAIL" } else { "STOP" };
    let mut out = format!(
        "{tag}  {}  seed {}  plan {}  job {}  worker {}  {} ops",
        r.scenario,
        r.seed,
        &r.plan_digest[..12.min(r.plan_digest.len())],
        r.job,
        r.worker,
        r.counts.ops
    );
    if let Some(reason) = &r.reason {
        out.push_str(&format!("\n      reason: {reason}"));
    }
    out.push_str(&crate::report::failure_lines(&r.failures, r.failures_total));
    out.push_str(&format!("\n      repro:   {}", accepted.repro));
    match (&accepted.corpus, &r.journal) {
        (Some(path), _) => out.push_str(&format!("\n      replay:  sfko replay {}", path.display())),
        (None, Some(journal)) => out.push_str(&format!(
            "\n      journal: {} ({} bytes, over the --journal-cap; kept on the worker)",
            journal.kept_at, journal.size
        )),
        (None, None) => {}
    }
    if !r.left_behind.is_empty() {
        out.push_str(&format!(
            "\n      left on the target for inspection (by worker {}): {}",
            r.worker,
            r.left_behind.join(", ")
        ));
        if let Some(path) = &accepted.corpus {
            out.push_str(&format!("\n      remove with: sfko clean {}", path.display()));
        }
    }
    out
}

/// Prints the summary (human or JSON) and picks the exit code: 1 if any job failed, else 3 if any job was lost or
/// incomplete (or the run was cut short), else 0.
fn summarize(setup: &Setup, gather: &Gather, settings: &NatsSettings) -> ExitCode {
    let count = |v: Verdict| gather.accepted.values().filter(|a| a.verdict == v).count();
    let (passed, failed, skipped, incomplete) =
        (count(Verdict::Pass), count(Verdict::Fail), count(Verdict::Skipped), count(Verdict::Incomplete));
    let abandoned = gather.lost.values().filter(|why| why.starts_with("abandoned")).count();
    let lost = gather.lost.len() - abandoned;
    let code = if failed > 0 {
        ExitCode::BugsFound
    } else if incomplete > 0 || lost > 0 || gather.abort.is_some() {
        ExitCode::Harness
    } else {
        ExitCode::Pass
    };
    let verdict = match code {
        ExitCode::Pass => "pass",
        ExitCode::BugsFound => "fail",
        _ => "incomplete",
    };
    let elapsed = gather.started.elapsed().as_secs_f64().max(1e-9);
    let latency = gather.histogram.summary();
    let jobs_total = if setup.broadcast { gather.expected.len() } else { setup.jobs_total as usize };
    match setup.format {
        Format::Json => {
            let jobs: Vec<Value> = gather
                .accepted
                .values()
                .map(|a| {
                    let r = &a.result;
                    json!({
                        "job": r.job, "seed": r.seed, "scenario": r.scenario, "worker": r.worker,
                        "verdict": r.verdict, "reason": r.reason, "plan_digest": r.plan_digest,
                        "bucket_prefix": r.bucket_prefix, "delivered": r.delivered, "counts": r.counts,
                        "elapsed_s": r.elapsed_s, "failures": r.failures, "failures_total": r.failures_total,
                        "repro": a.repro, "corpus": a.corpus,
                        "journal_kept_at": r.journal.as_ref().map(|j| &j.kept_at), "left_behind": r.left_behind,
                    })
                })
                .collect();
            let lost_jobs: Vec<Value> = gather
                .lost
                .iter()
                .map(|((job, worker), why)| json!({"job": job, "worker": (!worker.is_empty()).then_some(worker), "reason": why}))
                .collect();
            let failures: Vec<Value> = gather
                .accepted
                .values()
                .filter(|a| a.verdict == Verdict::Fail)
                .flat_map(|a| {
                    a.result.failures.iter().map(move |f| {
                        json!({
                            "job": a.result.job, "seed": a.result.seed, "scenario": a.result.scenario,
                            "worker": a.result.worker, "by": f.by, "subject": f.subject, "op": f.op,
                            "request": f.request, "expected": f.expected, "got": f.got,
                            "repro": a.repro, "corpus": a.corpus,
                        })
                    })
                })
                .collect();
            let workers: Vec<Value> = gather
                .workers
                .iter()
                .map(|(id, w)| {
                    json!({"id": id, "host": w.host, "jobs": w.jobs, "ops": w.ops, "alive": !w.dead && !w.stopping})
                })
                .collect();
            let doc = json!({
                "sfko_version": env!("CARGO_PKG_VERSION"),
                "mode": "controller",
                "run": setup.run,
                "seed": setup.seed.0,
                "broadcast": setup.broadcast,
                "nats": settings.display,
                "verdict": verdict,
                "reason": gather.abort,
                "jobs_total": jobs_total,
                "jobs_done": gather.accepted.len(),
                "jobs_passed": passed,
                "jobs_failed": failed,
                "jobs_skipped": skipped,
                "jobs_incomplete": incomplete,
                "jobs_lost": lost,
                "jobs_abandoned": abandoned,
                "redeliveries": gather.redeliveries(),
                "duplicates": gather.duplicates,
                "rejected": gather.rejected,
                "workers": gather.workers.len(),
                "per_worker": workers,
                "elapsed_s": elapsed,
                "ops": gather.ops,
                "ops_per_s": gather.ops as f64 / elapsed,
                "mib_per_s": gather.bytes as f64 / (1024.0 * 1024.0) / elapsed,
                "latency_ms": latency,
                "failures": failures,
                "jobs": jobs,
                "lost": lost_jobs,
            });
            crate::outln!("{doc}");
        }
        Format::Human => {
            for ((job, worker), why) in gather.lost.iter().take(20) {
                let on = if worker.is_empty() { String::new() } else { format!(" (worker {worker})") };
                crate::outln!("LOST  job {job}{on}: {why}");
            }
            if gather.lost.len() > 20 {
                crate::outln!("LOST  ... {} in all", gather.lost.len());
            }
            for (id, w) in &gather.workers {
                crate::outln!("      worker {id} ({}): {} jobs, {} ops", w.host, w.jobs, w.ops);
            }
            crate::outln!(
                "sfko: run {} from seed {}: {jobs_total} jobs on {} workers: {passed} passed, {failed} failed, \
                 {skipped} skipped, {incomplete} incomplete, {lost} lost{}; {} redeliveries; {:.0} ops/s merged, \
                 p50 {:.1} ms, p99 {:.1} ms",
                setup.run,
                setup.seed,
                gather.workers.len(),
                if abandoned > 0 { format!(", {abandoned} abandoned") } else { String::new() },
                gather.redeliveries(),
                gather.ops as f64 / elapsed,
                latency.p50,
                latency.p99
            );
        }
    }
    if let Some(why) = &gather.abort {
        eprintln!("sfko: error: {why}");
    }
    code
}
