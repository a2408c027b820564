//! The controller's NATS side: publishing jobs, and what it does with each result, heartbeat, JetStream advisory
//! and clock tick. Counting is left to [`Gather`]; these handlers decide what happened and tell it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::jetstream::{self, stream};
use async_nats::Client;
use serde_json::Value;

use super::gather::{Accepted, Gather, Key, Lost, Taken};
use super::live::{Live, WorkerSeen};
use super::prepare::Setup;
use super::summary::human_job;
use crate::cli::Format;
use crate::distribute::nats::{self as nats_io, NatsSettings, MAX_DELIVER};
use crate::distribute::protocol::{self, Checked, Heartbeat, Job, ResultBatch, PROTOCOL_VERSION};
use crate::distribute::DEAD_AFTER;
use crate::journal::Verdict;
use crate::report::Repro;

/// In broadcast mode, how long after the first worker appears the controller waits for others before fanning out
/// (later workers still get every job when they appear).
const BROADCAST_SETTLE: Duration = Duration::from_secs(2);
/// Jobs published before their acks are awaited.
const PUBLISH_WINDOW: usize = 256;

/// Publishes job messages (to one worker's subject in broadcast mode), a window at a time, each with a message id so
/// a retried publish is stored once. Returns, by stream sequence, the first job index and the seed count of each
/// message.
pub async fn publish(
    js: &jetstream::Context,
    setup: &Setup,
    worker: Option<&str>,
    jobs: impl Iterator<Item = Job>,
    limit: Duration,
) -> Result<HashMap<u64, (u64, u64)>, String> {
    let subject = match worker {
        Some(worker) => nats_io::direct_subject(worker, &setup.run),
        None => nats_io::shared_subject(&setup.run),
    };
    let mut sequences = HashMap::new();
    let mut messages = jobs.peekable();
    while messages.peek().is_some() {
        let mut pending = Vec::new();
        for job in messages.by_ref().take(PUBLISH_WINDOW) {
            let (index, seeds) = (job.job, job.seeds);
            let payload = bytes::Bytes::from(job.encode());
            let id = match worker {
                Some(worker) => format!("{}.{index}.{worker}", setup.run),
                None => format!("{}.{index}", setup.run),
            };
            let message = jetstream::message::PublishMessage::build().payload(payload.clone()).message_id(&id);
            let ack = js.send_publish(subject.clone(), message).await;
            pending.push((index, seeds, payload, id, ack));
        }
        for (index, seeds, payload, id, ack) in pending {
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
            if worker.is_none() {
                sequences.insert(stored.sequence, (index, seeds));
            }
        }
    }
    Ok(sequences)
}

/// A batch of results arrived: validate it, and count each of its results.
pub fn on_results(setup: &Setup, gather: &mut Gather, live: &mut Live, payload: &[u8]) {
    match ResultBatch::decode(payload, &setup.run) {
        Ok(results) => {
            for checked in results {
                on_result(setup, gather, live, checked);
            }
        }
        Err(reason) => {
            gather.reject();
            tracing::warn!("rejecting a result message of run {}: {reason}", setup.run);
        }
    }
}

/// One result: drop its journal into the corpus, count it.
fn on_result(setup: &Setup, gather: &mut Gather, live: &mut Live, checked: Checked) {
    if checked.result.job >= setup.jobs_total {
        gather.reject();
        tracing::warn!("rejecting a result for job {} of a {}-job run", checked.result.job, setup.jobs_total);
        return;
    }
    let key: Key = (checked.result.job, if setup.broadcast { checked.result.worker.clone() } else { String::new() });
    // A job already counted writes nothing to the corpus again.
    if gather.duplicate(&key, checked.result.delivered) {
        return;
    }
    let histogram = checked.histogram.clone();
    let (ops, worker) = (checked.result.counts.ops, checked.result.worker.clone());
    let accepted = accept(setup, checked);
    let failing = matches!(accepted.result.verdict, Verdict::Fail | Verdict::Incomplete);
    let shown = (failing && setup.format == Format::Human).then(|| human_job(&accepted));
    if gather.result(key, accepted, histogram.as_ref()) == Taken::Duplicate {
        return;
    }
    if let Some(seen) = live.workers.get_mut(&worker) {
        seen.jobs += 1;
        seen.ops += ops;
    }
    if let Some(text) = shown {
        crate::outln!("{text}");
    }
}

/// Drops the journal into the corpus and works out the repro line.
fn accept(setup: &Setup, checked: Checked) -> Accepted {
    let Checked { result, journal, .. } = checked;
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
    let mut repro = Repro {
        seed: result.seed,
        scenario: &result.scenario,
        scenarios_path: Some(&setup.scenarios_path),
        bucket_prefix: Some(&result.bucket_prefix),
        faults: None,
        rate: result.rate,
        nemesis: None,
    }
    .line();
    // The worker's embedded faults decide the run too; the worker says which flags asked for them.
    if let Some(faults) = &result.faults {
        repro.push(' ');
        repro.push_str(faults);
    }
    Accepted { result, corpus, repro }
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

/// A worker's heartbeat: note it alive (and, in broadcast mode, give a newcomer every job).
pub async fn on_heartbeat(
    js: &jetstream::Context,
    setup: &Setup,
    gather: &mut Gather,
    live: &mut Live,
    payload: &[u8],
    limit: Duration,
) {
    let beat = match Heartbeat::decode(payload) {
        Ok(beat) => beat,
        Err(reason) => {
            tracing::debug!("ignoring a heartbeat: {reason}");
            return;
        }
    };
    let now = Instant::now();
    live.first_worker.get_or_insert(now);
    live.last_alive = now;
    let worker = live.workers.entry(beat.worker.clone()).or_insert_with(|| {
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
    if setup.broadcast && live.fanned_out {
        assign(js, setup, gather, live, &beat.worker, limit).await;
    }
}

/// Broadcast: publishes every job to `worker` once (if it takes direct jobs and is not stopping).
async fn assign(
    js: &jetstream::Context,
    setup: &Setup,
    gather: &mut Gather,
    live: &mut Live,
    worker: &str,
    limit: Duration,
) {
    let Some(seen) = live.workers.get_mut(worker) else { return };
    if seen.assigned || !seen.direct || seen.stopping || seen.dead {
        return;
    }
    seen.assigned = true;
    setup.say(&format!("worker {worker}: {} jobs published for it", setup.jobs_total));
    match publish(js, setup, Some(worker), setup.messages(), limit).await {
        Ok(_) => gather.expect_worker(worker),
        Err(e) => live.abort = Some(format!("cannot publish jobs for worker {worker}: {e}")),
    }
}

/// JetStream gave up on a job message (every delivery ended without an ack): its jobs not yet counted are lost, and
/// it is removed from the queue.
pub async fn on_advisory(
    jobs_stream: &stream::Stream,
    setup: &Setup,
    gather: &mut Gather,
    live: &Live,
    payload: &[u8],
) {
    let Ok(advisory) = serde_json::from_slice::<Value>(payload) else { return };
    let Some(sequence) = advisory.get("stream_seq").and_then(Value::as_u64) else { return };
    let Some(&(first, seeds)) = live.sequences.get(&sequence) else { return };
    let deliveries = advisory.get("deliveries").and_then(Value::as_u64).unwrap_or(MAX_DELIVER as u64);
    for index in protocol::indices(first, seeds, setup.scenarios.len().max(1) as u64) {
        let key: Key = (index, String::new());
        if gather.is_resolved(&key) {
            continue;
        }
        gather.delivered(&key, deliveries);
        gather.lose(
            key,
            Lost::Lost(format!(
                "delivered {deliveries} times without a result (its workers died or gave it back each time)"
            )),
        );
    }
    let _ = jobs_stream.delete_message(sequence).await;
}

/// The clock: watch the connection, declare silent workers dead, fan out in broadcast mode, and end a run with no
/// live worker or past its timeout.
pub async fn on_tick(
    client: &Client,
    js: &jetstream::Context,
    jobs_stream: &stream::Stream,
    setup: &Setup,
    gather: &mut Gather,
    live: &mut Live,
    settings: &NatsSettings,
) {
    let now = Instant::now();
    match client.connection_state() {
        State::Connected => {
            live.disconnected_since = None;
            live.connected_since.get_or_insert(now);
        }
        _ => {
            live.connected_since = None;
            let since = *live.disconnected_since.get_or_insert(now);
            if now - since > settings.retry_for {
                live.abort = Some(format!(
                    "NATS {} has been unreachable for {:.0?} (--nats-retry-for)",
                    settings.display, settings.retry_for
                ));
            }
            return;
        }
    }
    // Judge silence only while we ourselves have been connected long enough to have heard a heartbeat.
    let connected_long = live.connected_since.is_some_and(|since| now - since >= DEAD_AFTER);
    if connected_long {
        let silent: Vec<String> = live
            .workers
            .iter()
            .filter(|(_, w)| !w.dead && now - w.last_seen >= DEAD_AFTER)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            worker_gone(client, jobs_stream, setup, gather, live, &id).await;
        }
    }
    if live.live_workers() > 0 {
        live.last_alive = now;
    }
    if setup.broadcast && !live.fanned_out && live.first_worker.is_some_and(|t| now - t >= BROADCAST_SETTLE) {
        live.fanned_out = true;
        let ids: Vec<String> = live.workers.keys().cloned().collect();
        for id in ids {
            assign(js, setup, gather, live, &id, settings.retry_for).await;
        }
    }
    if gather.complete() {
        return;
    }
    if live.live_workers() == 0 && connected_long && now - live.last_alive >= setup.worker_wait {
        live.abort = Some(if live.workers.is_empty() {
            format!(
                "no worker showed up within {:.0?} on NATS {}; start some with: sfko -w --nats {}",
                setup.worker_wait, settings.display, settings.display
            )
        } else {
            format!("no live worker for {:.0?}; every worker seen has gone", setup.worker_wait)
        });
    }
    if let Some(timeout) = setup.run_timeout {
        if now - live.started >= timeout {
            live.abort = Some(format!("the run timeout ({timeout:.0?}) passed"));
        }
    }
}

/// A worker went silent: its job of this run goes back to the queue at once (shared), or its remaining jobs are
/// abandoned (broadcast: the job was for that worker only).
async fn worker_gone(
    client: &Client,
    jobs_stream: &stream::Stream,
    setup: &Setup,
    gather: &mut Gather,
    live: &mut Live,
    id: &str,
) {
    let Some(worker) = live.workers.get_mut(id) else { return };
    worker.dead = true;
    let busy = worker.busy.take();
    if !worker.stopping {
        setup.say(&format!("worker {id} has been silent for {DEAD_AFTER:?}"));
    }
    if setup.broadcast {
        let abandoned = gather.abandon_worker(id, &format!("worker {id} went away"));
        if abandoned > 0 {
            setup.say(&format!("worker {id}: {abandoned} of its jobs abandoned"));
        }
        let _ = jobs_stream.purge().filter(nats_io::direct_subject(id, &setup.run)).await;
        return;
    }
    if let Some(busy) = busy.filter(|b| b.run == setup.run && !b.ack.is_empty()) {
        if !gather.is_resolved(&(busy.job, String::new())) {
            setup.say(&format!("job {} goes back to the queue", busy.job));
            let _ = client.publish(busy.ack, bytes::Bytes::from_static(b"-NAK")).await;
        }
    }
}

/// Tells workers the run is over, and removes what is left of it from the streams.
pub async fn cleanup(
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
