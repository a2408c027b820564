//! Replaying a journal from the file alone: the same requests (buckets, keys, bytes, part boundaries) in the same
//! order and with the same overlap, each outcome compared with the recorded one, and every recorded expectation judged
//! again against the new answers.
//!
//! Overlap is preserved by the journal's `completed_before` counts: op *i* is issued once every op that had completed
//! before *i* was issued in the recording has completed in the replay. That keeps each recorded happens-before (a part
//! upload after its CreateMultipartUpload, a GET after the PUT it reads) while letting independent ops overlap as
//! they did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::driver::Driver;
use crate::exec::{Counts, Failure, Timings};
use crate::exit::Fatal;
use crate::journal::{Frame, Header, JournalReader, JournalWriter, OpRecord, Outcome, Phase, Verdict};
use crate::target::Target;

mod verdicts;

use verdicts::{Answer, Readers, Verdicts};

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Upper bound on requests in flight (the recorded overlap is kept below it).
    pub concurrency: usize,
    /// Where the replay writes its own journal.
    pub journal_path: PathBuf,
    pub progress: bool,
    /// The recording's nemesis schedule, re-applied at the same op positions (the target must then go through
    /// its proxy: [`Target::route_through_proxy`]).
    pub nemesis: Option<crate::plan::nemesis::NemesisPlan>,
    /// `--timeseries`: the invocation's per-interval counters, which the replay's ops are counted in too.
    pub timeseries: Option<Arc<crate::driver::timeseries::TimeSeries>>,
}

/// The first op whose outcome differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Divergence {
    pub op: u64,
    pub request: String,
    pub subject: String,
    pub field: String,
    pub recorded: String,
    pub replayed: String,
    /// The other fields that differ too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<FieldDifference>,
    /// One side gave no usable answer (unavailable, or ambiguous after a retry): a difference of availability,
    /// not of what the server stored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unanswered: bool,
    /// `bucket/key` of every object the answer depends on (a copy's source too).
    #[serde(skip)]
    pub depends_on: Vec<String>,
    /// In the recording, another op on one of its objects was in flight at the same time and answered first: which
    /// of the two took effect first was the server's choice, and the replay (which keeps the order of answers)
    /// may see the other.
    #[serde(skip)]
    pub raced: bool,
}

impl Divergence {
    /// `op 27 GetObject b/k: body_digest recorded …, replayed …`
    pub fn describe(&self) -> String {
        format!(
            "op {} {} {}: {} recorded {}, replayed {}",
            self.op, self.request, self.subject, self.field, self.recorded, self.replayed
        )
    }
}

/// What a replay found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplayReport {
    pub source: PathBuf,
    pub seed: u64,
    pub scenario: String,
    pub plan_digest: String,
    pub recorded_verdict: Verdict,
    pub verdict: Verdict,
    /// The same expectations failed (and passed) as in the recording.
    pub reproduced: bool,
    pub first_divergence: Option<Divergence>,
    pub divergent_ops: u64,
    pub ops: u64,
    /// The first [`crate::exec::KEPT_FAILURES`] failures of the replayed judgement; `counts.failed` counts all.
    pub failures: Vec<Failure>,
    /// How many expectations failed in the recording.
    pub recorded_failures: u64,
    /// The replay's own journal.
    pub journal: Option<PathBuf>,
    pub counts: Counts,
    pub timings: Timings,
    /// The target gave no answer at all to the setup requests (nothing could be judged).
    #[serde(skip)]
    pub unreachable: bool,
    /// Every divergent op, in op order (`sfko diff` lists them all; the replay report names the first).
    #[serde(skip)]
    pub divergences: Vec<Divergence>,
    /// The expectations on each divergent op, judged on both sides.
    #[serde(skip)]
    pub judged: BTreeMap<u64, Vec<Judged>>,
}

/// One expectation on an op, as the recording and the replay each judged it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Judged {
    /// The check or workload that asked.
    pub by: String,
    pub expected: String,
    /// What the recording's answer violated (`None`: it held).
    pub recorded: Option<String>,
    /// What the replay's answer violated (`None`: it held, or there was no usable answer to judge).
    pub replayed: Option<String>,
    /// The answer fields the expectation speaks to.
    #[serde(skip)]
    pub fields: Vec<&'static str>,
}

/// Removes every bucket of `plan` from the target (what a failing run keeps for inspection), recording the
/// requests in a journal under `journal_dir`; returns the buckets it could not remove.
pub async fn clean(
    target: &Target,
    plan: &crate::plan::Plan,
    journal_dir: &Path,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    let header = Header::new(plan, String::new(), &target.label, &target.config_digest, concurrency);
    let path = journal_dir.join(format!("clean-{}-{}.bin", plan.seed, header.plan_digest.get(..8).unwrap_or("plan")));
    let writer = JournalWriter::create(&path, &header, plan)
        .map_err(|e| format!("cannot write journal {}: {e}", path.display()))?;
    let driver = Driver::new(target.client.clone(), writer.sink(), concurrency, indicatif::ProgressBar::hidden())
        .with_stall(target.stall);
    let buckets: Vec<String> = plan.buckets.iter().map(|b| b.name.clone()).collect();
    let left = crate::exec::remove_everything(&driver, &buckets, concurrency).await;
    if let Some(reason) = driver.gave_up() {
        let _ = writer.finish(Verdict::Incomplete, Some(reason.clone())).await;
        return Err(format!("{reason} (while removing buckets; journal {})", path.display()));
    }
    writer
        .finish(Verdict::Pass, Some("clean".into()))
        .await
        .map_err(|e| format!("cannot finish journal {}: {e}", path.display()))?;
    Ok(left)
}

/// Replays `source` against `target`.
pub async fn replay(target: &Target, source: &Path, opts: &ReplayOptions) -> Result<ReplayReport, Fatal> {
    // The first pass counts who reads each answer, so the second keeps none longer than needed.
    let readers = Readers::count(source)?;
    let reader = JournalReader::open(source)?;
    let recorded = reader.header.clone();
    let plan = reader.plan.clone();
    // Start from an empty slate: a failing run keeps its buckets for inspection, and the replay re-creates them.
    let scratch = opts.journal_path.parent().unwrap_or(Path::new("."));
    let kept = clean(target, &plan, scratch, opts.concurrency).await.map_err(Fatal::harness)?;
    if !kept.is_empty() {
        return Err(Fatal::harness(format!("cannot remove what an earlier run left: {}", kept.join(", "))));
    }
    // The replay's journal names the recording's scenario source; target, concurrency and sfko version are its own.
    let header = Header {
        scenario_digest: recorded.scenario_digest.clone(),
        ..Header::new(&plan, String::new(), &target.label, &target.config_digest, opts.concurrency)
    };
    let writer = JournalWriter::create(&opts.journal_path, &header, &plan)
        .map_err(|e| Fatal::harness(format!("cannot write journal {}: {e}", opts.journal_path.display())))?;
    let progress = crate::exec::progress_bar(opts.progress, &format!("replay {}", plan.scenario));
    let nemesis = match &opts.nemesis {
        Some(schedule) => {
            let actions = target.nemesis.as_ref().map(|n| n.actions.clone()).unwrap_or_default();
            Some(crate::nemesis::Nemesis::start(schedule.clone(), target.proxy.clone(), &actions, writer.sink()).await)
        }
        None => None,
    };
    let driver = Arc::new(
        Driver::new(target.client.clone(), writer.sink(), opts.concurrency, progress.clone())
            .with_back_references(plan.sends_if_match())
            .with_backends(target.backend_clients.clone())
            .with_stall(target.stall)
            .with_observer(nemesis.clone().map(|n| n as Arc<dyn crate::driver::OpObserver>))
            .with_timeseries(opts.timeseries.clone()),
    );

    let (frames_tx, frames_rx) = mpsc::channel(1024);
    let read_thread = std::thread::spawn(move || read_frames(reader, frames_tx));
    let mut verdicts = Verdicts::new(readers, writer.sink());
    let mut reissuing = Box::pin(reissue(driver.clone(), frames_rx, &mut verdicts));
    let reissued = tokio::select! {
        replayed = &mut reissuing => Ok(replayed),
        reason = driver.given_up() => {
            // Let the ops that were in flight record their abandonment.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), &mut reissuing).await;
            Err(reason)
        }
    };
    drop(reissuing);
    if let Some(nemesis) = &nemesis {
        let summary = nemesis.finish().await;
        tracing::info!("{}", summary.line());
    }
    progress.finish_and_clear();
    let reissued = match (reissued, driver.gave_up()) {
        (Ok(_), Some(reason)) => Err(reason),
        (reissued, _) => reissued,
    };
    let replayed = match reissued {
        Ok(replayed) => replayed,
        Err(reason) => {
            // The target stopped answering: the journal keeps what was replayed, and says why it ends there.
            let _ = read_thread.join();
            writer
                .finish(Verdict::Incomplete, Some(reason.clone()))
                .await
                .map_err(|e| Fatal::harness(format!("cannot finish journal {}: {e}", opts.journal_path.display())))?;
            return Err(Fatal::harness(format!("{reason}; the replay's journal is {}", opts.journal_path.display())));
        }
    };
    let trailer = read_thread.join().map_err(|_| Fatal::harness("journal reader thread panicked"))??;

    // The recorded expectations were judged against the replayed answers as both came.
    let divergences: Vec<Divergence> =
        replayed.divergences.lock().map(|d| d.values().cloned().collect()).unwrap_or_default();
    let Verdicts { failures, failures_total, recorded_failures, same, unjudged_checks, judged, expectations, .. } =
        verdicts;
    // Found bugs come first; a check the target gave no usable answer leaves the replay incomplete.
    let verdict = match (failures_total, unjudged_checks) {
        (0, 0) => Verdict::Pass,
        (0, _) => Verdict::Incomplete,
        _ => Verdict::Fail,
    };
    let recorded_verdict = trailer.as_ref().map(|t| t.verdict).unwrap_or(Verdict::Incomplete);
    let first_divergence = divergences.first().cloned();
    // Reproduced: the same expectations failed (and held) and, when the recording judged nothing, nothing diverged.
    let reproduced = same && (expectations > 0 || first_divergence.is_none());
    // Leave the target as the recording did not necessarily: remove what the replay created, unjudged.
    let buckets: Vec<String> = plan.buckets.iter().map(|b| b.name.clone()).collect();
    crate::exec::remove_everything(&driver, &buckets, opts.concurrency).await;
    let finished = writer
        .finish(verdict, Some(format!("replay of {}", source.display())))
        .await
        .map_err(|e| Fatal::harness(format!("cannot finish journal {}: {e}", opts.journal_path.display())))?;
    let divergent_ops = divergences.len() as u64;
    let stats = driver.stats();
    Ok(ReplayReport {
        source: source.to_path_buf(),
        seed: recorded.seed.0,
        scenario: recorded.scenario,
        plan_digest: recorded.plan_digest,
        recorded_verdict,
        verdict,
        reproduced,
        first_divergence,
        divergent_ops,
        ops: replayed.ops,
        failures,
        recorded_failures,
        journal: Some(finished.path),
        counts: Counts::new(&stats, expectations, failures_total),
        timings: Timings::from(&stats),
        unreachable: replayed.setup_unanswered,
        divergences,
        judged,
    })
}

/// Frames from the journal file, read on a plain thread (file I/O is blocking).
fn read_frames(mut reader: JournalReader, tx: mpsc::Sender<Frame>) -> Result<Option<crate::journal::Trailer>, Fatal> {
    loop {
        match reader.next_frame()? {
            Some(frame) => {
                if tx.blocking_send(frame).is_err() {
                    return Err(Fatal::harness("replay stopped reading"));
                }
            }
            None => return Ok(reader.trailer().cloned()),
        }
    }
}

/// What re-issuing produced (the expectations were judged on the way, into a [`Verdicts`]).
struct Replayed {
    ops: u64,
    divergences: Arc<Mutex<BTreeMap<u64, Divergence>>>,
    /// Every setup request went unanswered (status 0).
    setup_unanswered: bool,
}

/// Progress of the replay: the recorded completion numbers all done below `watermark`, and ops still running.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    watermark: u64,
    in_flight: u64,
}

/// Re-issues the recorded ops in issue order, each after the ops that preceded it in the recording.
async fn reissue(driver: Arc<Driver>, mut frames: mpsc::Receiver<Frame>, verdicts: &mut Verdicts) -> Replayed {
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let shared = Arc::new(Shared { progress: progress_tx, ..Shared::default() });
    // Answers as the tasks get them, to the judging below (which holds them only while an expectation reads them).
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(u64, Answer)>();
    let mut pending: BTreeMap<u64, OpRecord> = BTreeMap::new();
    // When each recorded completion happened (µs after the recorded start), by completion number; kept from the
    // pacing anchor of the last op released on.
    let mut recorded_done: BTreeMap<u64, u64> = BTreeMap::new();
    let mut next_index = 0u64;
    // Recorded completion numbers of the ops read so far, by the key they touch: ops racing on one key keep their
    // recorded order (see `keep_order`).
    let mut by_key: BTreeMap<String, std::collections::BTreeSet<u64>> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ops = 0u64;
    let mut released = 0u64;
    let mut input_done = false;
    let mut setup_ops = 0u64;

    while !input_done || !pending.is_empty() {
        // Reap finished tasks as we go, so a long replay does not keep one task cell per op.
        while tasks.try_join_next().is_some() {}
        while let Ok((index, answer)) = answers.try_recv() {
            verdicts.answered(index, answer).await;
        }
        if !input_done {
            match frames.recv().await {
                Some(Frame::Op(record)) => {
                    recorded_done.insert(record.completion, record.issued_at_us.saturating_add(record.latency_us));
                    for key in record.request.objects() {
                        by_key.entry(key).or_default().insert(record.completion);
                    }
                    pending.insert(record.index, record);
                }
                Some(Frame::Expect(expectation)) => verdicts.recorded(expectation).await,
                Some(_) => {}
                None => input_done = true,
            }
        }
        // Release ops in index order; at the end of input, gaps are skipped.
        loop {
            let ready = match pending.first_key_value() {
                Some((&index, _)) => index <= next_index || input_done,
                None => false,
            };
            if !ready {
                break;
            }
            let Some((index, record)) = pending.pop_first() else { break };
            next_index = index.saturating_add(1);
            released += 1;
            if record.phase == Phase::Cleanup {
                // Cleanup is not judged, and its requests name this recording's version ids: the replay cleans up
                // after itself instead. Count the op as done so nothing waits for it.
                shared.progress.send_modify(|p| p.in_flight += 1);
                drop(CompletionGuard { shared: shared.clone(), completion: record.completion });
                forget_history(&record, released, &mut recorded_done, &mut by_key, &shared);
                continue;
            }
            ops += 1;
            setup_ops += u64::from(record.phase == Phase::Setup);
            wait_turn(progress_rx.clone(), record.completed_before).await;
            // Keep the recorded pacing: a check that polled for seconds polls for seconds again. Pace from the
            // recorded start, and from the op that completed last before this one was issued, so a replay that runs
            // late (a slow write) keeps the gaps that matter (write → expiry poll) instead of catching up.
            driver.wait_until(record.issued_at_us).await;
            if let Some(anchor) = record.completed_before.checked_sub(1) {
                let replayed = shared.completions.lock().ok().and_then(|c| c.done_at.get(&anchor).copied());
                if let (Some(replayed), Some(recorded)) = (replayed, recorded_done.get(&anchor)) {
                    let gap = std::time::Duration::from_micros(record.issued_at_us.saturating_sub(*recorded));
                    tokio::time::sleep_until((replayed + gap).into()).await;
                }
            }
            let first = keep_order(&mut by_key, &record);
            let raced = !first.is_empty();
            forget_history(&record, released, &mut recorded_done, &mut by_key, &shared);
            shared.progress.send_modify(|p| p.in_flight += 1);
            let (driver, shared, progress) = (driver.clone(), shared.clone(), progress_rx.clone());
            let answers = answers_tx.clone();
            tasks.spawn(async move {
                // Whatever happens to the op (even a panic), its completion is counted, or the replay would stall.
                let _done = CompletionGuard { shared: shared.clone(), completion: record.completion };
                wait_for_completions(progress, &shared, &first).await;
                let op = driver
                    .call_as(record.index, &record.phase, record.request.clone(), record.backend.as_deref())
                    .await;
                if record.phase == Phase::Setup && op.outcome.status == 0 {
                    shared.setup_unanswered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let mut fields = differences(&record.outcome, &op.outcome).into_iter();
                let divergent = if let Some(first) = fields.next() {
                    let divergence = Divergence {
                        op: record.index,
                        request: record.request.name().into(),
                        subject: record.request.subject(),
                        field: first.field,
                        recorded: first.recorded,
                        replayed: first.replayed,
                        more: fields.collect(),
                        unanswered: [&record.outcome, &op.outcome].iter().any(|o| o.unavailable() || o.not_issued())
                            || op.ambiguous,
                        depends_on: record.request.depends_on(),
                        raced,
                    };
                    if let Ok(mut d) = shared.divergences.lock() {
                        d.insert(record.index, divergence);
                    }
                    true
                } else {
                    false
                };
                let answer = Answer {
                    outcome: op.outcome,
                    ambiguous: op.ambiguous,
                    request: record.request.name(),
                    check: matches!(record.phase, Phase::Check(_)),
                    divergent,
                };
                let _ = answers.send((record.index, answer));
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    drop(answers_tx);
    while let Some((index, answer)) = answers.recv().await {
        verdicts.answered(index, answer).await;
    }
    verdicts.finish().await;
    let unanswered = shared.setup_unanswered.load(std::sync::atomic::Ordering::SeqCst);
    Replayed {
        ops,
        divergences: shared.divergences.clone(),
        setup_unanswered: setup_ops > 0 && unanswered == setup_ops,
    }
}

/// What no op released after `record` can need any more: ops are released in issue order, whose
/// `completed_before` never decreases, so none paces from an earlier anchor or waits for an earlier completion.
/// Pacing anchors go at once; the per-key sets are swept every few thousand releases (a key no later op touches
/// would otherwise keep its last completion for the rest of the replay).
fn forget_history(
    record: &OpRecord,
    released: u64,
    recorded_done: &mut BTreeMap<u64, u64>,
    by_key: &mut BTreeMap<String, std::collections::BTreeSet<u64>>,
    shared: &Shared,
) {
    if let Some(anchor) = record.completed_before.checked_sub(1) {
        forget_below(recorded_done, anchor);
        if let Ok(mut completions) = shared.completions.lock() {
            completions.forget_below(anchor);
        }
    }
    if released.is_multiple_of(4096) {
        forget_keys_below(by_key, record.completed_before);
    }
}

/// Drops the entries of `map` below `floor`.
fn forget_below<V>(map: &mut BTreeMap<u64, V>, floor: u64) {
    while map.first_key_value().is_some_and(|(&key, _)| key < floor) {
        map.pop_first();
    }
}

/// Drops the completions below `floor` from every key's set, and the keys left with none: a key no op touches
/// again would otherwise keep its last op's completion for the rest of the replay.
fn forget_keys_below(by_key: &mut BTreeMap<String, std::collections::BTreeSet<u64>>, floor: u64) {
    by_key.retain(|_, done| {
        done.retain(|&c| c >= floor);
        !done.is_empty()
    });
}

/// State the replay tasks share.
#[derive(Default)]
struct Shared {
    progress: watch::Sender<Progress>,
    completions: Mutex<Completions>,
    divergences: Arc<Mutex<BTreeMap<u64, Divergence>>>,
    setup_unanswered: std::sync::atomic::AtomicU64,
}

/// Marks a recorded completion number done when the task holding it ends, however it ends.
struct CompletionGuard {
    shared: Arc<Shared>,
    completion: u64,
}

impl Drop for CompletionGuard {
    fn drop(&mut self) {
        let watermark = self.shared.completions.lock().map(|mut d| d.complete(self.completion)).unwrap_or(u64::MAX);
        self.shared.progress.send_modify(|p| {
            p.watermark = p.watermark.max(watermark);
            p.in_flight = p.in_flight.saturating_sub(1);
        });
    }
}

/// Recorded completion numbers replayed so far: all below `watermark`, plus `ahead` (done out of order).
#[derive(Default)]
struct Completions {
    watermark: u64,
    ahead: std::collections::BTreeSet<u64>,
    /// When each recorded completion number completed in the replay.
    done_at: BTreeMap<u64, std::time::Instant>,
}

impl Completions {
    /// Whether `completion` is done.
    fn done(&self, completion: u64) -> bool {
        completion < self.watermark || self.done_at.contains_key(&completion)
    }

    /// Forgets when the completions below `floor` (and below the watermark, which still says they are done)
    /// happened: no op paces from them any more.
    fn forget_below(&mut self, floor: u64) {
        forget_below(&mut self.done_at, floor.min(self.watermark));
    }

    /// Marks one done and returns the new watermark.
    fn complete(&mut self, completion: u64) -> u64 {
        self.done_at.insert(completion, std::time::Instant::now());
        self.ahead.insert(completion);
        while self.ahead.remove(&self.watermark) {
            self.watermark += 1;
        }
        self.watermark
    }
}

/// The ops that touched `record`'s key while it was in flight and completed before it, in the recording (their
/// completion numbers): it waits for them, so ops racing on one key (random-ops issues such races on purpose) take
/// effect in the recorded order and the replay meets the state the recording's later answers were judged in. The
/// journal holds op frames in completion order, so every such op has been read already. Ops are released in issue
/// order, whose `completed_before` never decreases: entries below it are dropped as the replay goes.
fn keep_order(by_key: &mut BTreeMap<String, std::collections::BTreeSet<u64>>, record: &OpRecord) -> Vec<u64> {
    let mut first: Vec<u64> = Vec::new();
    for key in record.request.objects() {
        let Some(done) = by_key.get_mut(&key) else { continue };
        first.extend(done.range(record.completed_before..record.completion).copied());
        done.retain(|&c| c >= record.completed_before);
        if done.is_empty() {
            by_key.remove(&key);
        }
    }
    first.sort_unstable();
    first.dedup();
    first
}

/// Waits until each of `completions` is done in the replay. Each is an op already read, so it is released and ends
/// (its guard counts it done however it ends), and it waits only for smaller completion numbers: no cycle.
async fn wait_for_completions(mut progress: watch::Receiver<Progress>, shared: &Shared, completions: &[u64]) {
    if completions.is_empty() {
        return;
    }
    let done =
        |shared: &Shared| shared.completions.lock().map(|c| completions.iter().all(|&n| c.done(n))).unwrap_or(true);
    let _ = progress.wait_for(|_| done(shared)).await;
}

/// Waits until the recorded predecessors are done — or nothing is running (their records were lost to a crash).
async fn wait_turn(mut progress: watch::Receiver<Progress>, completed_before: u64) {
    let _ = progress.wait_for(|p| p.watermark >= completed_before || p.in_flight == 0).await;
}

/// A listing as replay compares it: (key, size, ETag, is latest, delete marker) per entry, and truncation.
type ComparableListing = (Vec<(String, u64, Option<String>, bool, bool)>, bool);

/// `key 12B etag (noncurrent) (delete marker)`: a listed entry as compared.
fn describe_entry((key, size, etag, latest, marker): &(String, u64, Option<String>, bool, bool)) -> String {
    if *marker {
        return format!("{key} (delete marker){}", if *latest { "" } else { " (noncurrent)" });
    }
    let etag = etag.as_deref().map(|e| format!(" {e}")).unwrap_or_default();
    format!("{key} {size}B{etag}{}", if *latest { "" } else { " (noncurrent)" })
}

/// The first field that legitimately must match and does not (see [`differences`]).
#[cfg(test)]
fn compare(recorded: &Outcome, replayed: &Outcome) -> Option<(String, String, String)> {
    differences(recorded, replayed).into_iter().next().map(|d| (d.field, d.recorded, d.replayed))
}

/// Every field of two answers to the same request that legitimately must match and does not, most telling first:
/// status and error code, ETag, size, body digest, listing entries and truncation, common prefixes, part count,
/// checksum, metadata, DeleteObjects answer. Request ids, version ids, upload ids, cursors and timings may differ
/// between runs (and between servers) and are ignored.
pub fn differences(recorded: &Outcome, replayed: &Outcome) -> Vec<FieldDifference> {
    let mut out = Vec::new();
    let mut differ = |field: &str, recorded: String, replayed: String| {
        out.push(FieldDifference { field: field.into(), recorded, replayed })
    };
    let show = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    if recorded.status != replayed.status || recorded.error_code != replayed.error_code {
        differ("status", recorded.brief(), replayed.brief());
    }
    let etag = |o: &Outcome| o.etag.as_deref().map(|e| crate::content::normalize_etag(e).to_string());
    if etag(recorded) != etag(replayed) {
        differ("etag", show(etag(recorded)), show(etag(replayed)));
    }
    if recorded.size != replayed.size {
        let size = |o: &Outcome| o.size.map(|s| s.to_string());
        differ("size", show(size(recorded)), show(size(replayed)));
    }
    if recorded.body_digest != replayed.body_digest {
        let digest = |o: &Outcome| o.body_digest.map(|d| d.to_string());
        differ("body_digest", show(digest(recorded)), show(digest(replayed)));
    }
    // Listings compare without version and upload ids, which are new in every run.
    let listing = |o: &Outcome| {
        o.listing.as_ref().map(|l| {
            let entries: Vec<_> = l
                .entries
                .iter()
                .map(|e| {
                    let etag = e.etag.as_deref().map(|t| crate::content::normalize_etag(t).to_string());
                    (e.key.clone(), e.size, etag, e.is_latest, e.delete_marker)
                })
                .collect();
            (entries, l.truncated)
        })
    };
    let (recorded_listing, mut replayed_listing) = (listing(recorded), listing(replayed));
    // A server that lists no ETags (s3s-fs) cannot be wrong about one: an entry's ETag is compared only when both
    // sides list one.
    if let (Some((a, _)), Some((b, _))) = (&recorded_listing, &mut replayed_listing) {
        for (x, y) in a.iter().zip(b.iter_mut()) {
            if x.2.is_none() || y.2.is_none() {
                y.2 = x.2.clone();
            }
        }
    }
    if recorded_listing != replayed_listing {
        let describe = |l: &Option<ComparableListing>| match l {
            Some((entries, truncated)) => {
                format!("{} entries{}", entries.len(), if *truncated { ", truncated" } else { "" })
            }
            None => "none".into(),
        };
        let first_difference = match (&recorded_listing, &replayed_listing) {
            (Some((a, _)), Some((b, _))) => a
                .iter()
                .zip(b)
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!(" (first: {} vs {})", describe_entry(x), describe_entry(y)))
                .or_else(|| match a.len().cmp(&b.len()) {
                    std::cmp::Ordering::Less => b.get(a.len()).map(|e| format!(" (first extra: {})", e.0)),
                    std::cmp::Ordering::Greater => a.get(b.len()).map(|e| format!(" (first missing: {})", e.0)),
                    std::cmp::Ordering::Equal => None,
                }),
            _ => None,
        };
        differ(
            "listing",
            describe(&recorded_listing),
            format!("{}{}", describe(&replayed_listing), first_difference.unwrap_or_default()),
        );
    }
    let prefixes = |o: &Outcome| o.listing.as_ref().map(|l| l.common_prefixes.clone()).unwrap_or_default();
    if prefixes(recorded) != prefixes(replayed) {
        let describe = |p: Vec<String>| format!("common prefixes [{}]", p.join(", "));
        differ("common_prefixes", describe(prefixes(recorded)), describe(prefixes(replayed)));
    }
    if recorded.parts_count != replayed.parts_count {
        let parts = |o: &Outcome| o.parts_count.map(|n| n.to_string());
        differ("parts_count", show(parts(recorded)), show(parts(replayed)));
    }
    if recorded.checksum != replayed.checksum {
        let checksum = |o: &Outcome| o.checksum.as_ref().map(|c| c.describe());
        differ("checksum", show(checksum(recorded)), show(checksum(replayed)));
    }
    // Most answers carry no metadata on either side: skip the comparison (and its clone) for them, on every op.
    let empty = crate::metadata::Metadata::default();
    let stored = recorded.metadata.as_deref().unwrap_or(&empty);
    let wrong = (recorded.metadata.is_some() || replayed.metadata.is_some())
        .then(|| stored.mismatch(replayed.metadata.as_deref()))
        .flatten();
    if let Some(wrong) = wrong {
        let count = |o: &Outcome| {
            o.metadata.as_deref().map_or(0, |m| m.standard().iter().filter(|(_, v)| v.is_some()).count() + m.user.len())
        };
        differ("metadata", format!("{} headers", count(recorded)), wrong);
    }
    // A DeleteObjects answer is a set of keys deleted and a set of errors: the order they are listed in is free.
    type BatchSets<'a> = (std::collections::BTreeSet<&'a str>, std::collections::BTreeSet<(&'a str, &'a str)>);
    fn batch(o: &Outcome) -> Option<BatchSets<'_>> {
        o.batch.as_ref().map(|b| {
            let deleted = b.deleted.iter().map(String::as_str).collect();
            let errors = b.errors.iter().map(|(k, c)| (k.as_str(), c.as_str())).collect();
            (deleted, errors)
        })
    }
    if batch(recorded) != batch(replayed) {
        let describe = |b: Option<BatchSets<'_>>| {
            b.map_or_else(
                || "none".to_string(),
                |(deleted, errors)| {
                    let errors: Vec<String> = errors.iter().map(|(k, c)| format!("{k}: {c}")).collect();
                    let deleted: Vec<&str> = deleted.into_iter().collect();
                    format!("deleted [{}], errors [{}]", deleted.join(", "), errors.join(", "))
                },
            )
        };
        differ("batch", describe(batch(recorded)), describe(batch(replayed)));
    }
    out
}

/// One field two answers disagree on, each side shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldDifference {
    pub field: String,
    pub recorded: String,
    pub replayed: String,
}

#[cfg(test)]
mod tests {
    use super::compare;
    use crate::journal::{ListEntry, Listing, Outcome};

    fn ok() -> Outcome {
        Outcome { status: 200, etag: Some("\"abc\"".into()), size: Some(3), ..Outcome::default() }
    }

    #[test]
    fn what_legitimately_differs_between_runs_is_ignored() {
        let recorded = Outcome { version_id: Some("v1".into()), upload_id: Some("u1".into()), ..ok() };
        let replayed = Outcome { version_id: Some("v2".into()), upload_id: Some("u2".into()), ..ok() };
        assert_eq!(compare(&recorded, &replayed), None);
        // ETags compare unquoted.
        assert_eq!(compare(&ok(), &Outcome { etag: Some("abc".into()), ..ok() }), None);
    }

    #[test]
    fn the_first_differing_field_is_named() {
        let field = |replayed: Outcome| compare(&ok(), &replayed).map(|(field, _, _)| field);
        assert_eq!(
            field(Outcome { status: 404, error_code: Some("NoSuchKey".into()), ..ok() }).as_deref(),
            Some("status")
        );
        assert_eq!(field(Outcome { etag: Some("abd".into()), ..ok() }).as_deref(), Some("etag"));
        assert_eq!(field(Outcome { size: Some(4), ..ok() }).as_deref(), Some("size"));
        let (field, recorded, replayed) = compare(&ok(), &Outcome { size: None, ..ok() }).unwrap_or_default();
        assert_eq!((field.as_str(), recorded.as_str(), replayed.as_str()), ("size", "3", "none"));
    }

    #[test]
    fn a_listing_without_etags_is_not_a_difference_from_one_with_them() {
        let entry = |etag: Option<&str>| ListEntry {
            key: "k".into(),
            size: 1,
            etag: etag.map(String::from),
            is_latest: true,
            ..ListEntry::default()
        };
        let listing = |entry: ListEntry| Outcome {
            listing: Some(Listing { entries: vec![entry], common_prefixes: vec![], truncated: false }),
            ..ok()
        };
        assert_eq!(compare(&listing(entry(None)), &listing(entry(Some("\"abc\"")))), None);
        let differs = compare(&listing(entry(Some("abc"))), &listing(entry(Some("abd"))));
        assert_eq!(differs.map(|(field, _, _)| field).as_deref(), Some("listing"));
    }

    #[test]
    fn listings_compare_entries_without_version_ids() {
        let entry = |key: &str, version: &str| ListEntry {
            key: key.into(),
            size: 1,
            version_id: Some(version.into()),
            is_latest: true,
            ..ListEntry::default()
        };
        let listing = |entries: Vec<ListEntry>| Outcome {
            listing: Some(Listing { entries, common_prefixes: vec![], truncated: false }),
            ..ok()
        };
        let recorded = listing(vec![entry("a", "v1"), entry("b", "v1")]);
        assert_eq!(compare(&recorded, &listing(vec![entry("a", "v9"), entry("b", "v9")])), None);
        let (field, recorded_text, replayed_text) =
            compare(&recorded, &listing(vec![entry("a", "v1"), entry("c", "v1")])).unwrap_or_default();
        assert_eq!((field.as_str(), recorded_text.as_str()), ("listing", "2 entries"));
        assert!(replayed_text.contains("first: b 1B vs c 1B"), "{replayed_text}");
    }
}
