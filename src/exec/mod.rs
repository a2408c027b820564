//! Executing a plan against a target: setup, workloads in scenario order, checks in scenario order, cleanup —
//! everything recorded in a journal that is finished atomically, and copied into the corpus when the run fails.

mod cleanup;
mod ctx;
mod run_report;
mod setup;
mod state;
mod step;
mod walk;

use std::path::{Path, PathBuf};

use tokio::sync::watch;

pub use cleanup::remove_everything;
pub use ctx::{subject, Ctx, Failure, Findings, Unavailable, KEPT_FAILURES};
pub use run_report::{Counts, RunReport, Timings};
pub use setup::{expiration_days, unsupported};
pub use state::{ObjectStatus, RunState, Version, Written};
pub use step::{Entry, Needs, RunFn, Step};
pub use walk::{expected_page, page_size, walk, S3_MAX_PAGE};

use crate::driver::Driver;
use crate::exit::Fatal;
use crate::journal::{Header, JournalWriter, Verdict};
use crate::plan::Plan;
use crate::target::Target;

/// Requests in flight when `--concurrency` is not given (replay defaults to the recording's).
pub const DEFAULT_CONCURRENCY: usize = 16;

/// How long a run whose target was given up on keeps unwinding, so the ops that were in flight are journaled.
const ABANDON_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// How to run one plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// blake3 of the scenario file's text, for the journal header.
    pub scenario_digest: String,
    pub concurrency: usize,
    pub journal_path: PathBuf,
    pub corpus_dir: PathBuf,
    /// Leave buckets and objects in place after the run.
    pub keep: bool,
    pub progress: bool,
    /// `--timeseries`: the invocation's per-interval counters, which this run's ops are counted in too.
    pub timeseries: Option<std::sync::Arc<crate::driver::timeseries::TimeSeries>>,
    /// `--rate`: ops per second on an open-loop schedule drawn from the run's seed (`None`: as fast as they go).
    pub rate: Option<f64>,
}

/// Resolves nothing, only executes: `plan`'s `steps` (its workloads, then its checks, as the catalogue
/// resolved them) on `target`, until done or `cancel` turns true.
pub async fn run_plan(
    target: &Target,
    plan: &Plan,
    steps: &[Step],
    opts: &RunOptions,
    mut cancel: watch::Receiver<bool>,
) -> Result<RunReport, Fatal> {
    let plan_digest = plan.digest();
    let mut report = RunReport {
        seed: plan.seed.0,
        scenario: plan.scenario.clone(),
        plan_digest: plan_digest.clone(),
        verdict: Verdict::Skipped,
        reason: None,
        failures: Vec::new(),
        counts: Counts::default(),
        timings: None,
        journal: None,
        corpus: None,
        left_behind: Vec::new(),
        unsupported: Vec::new(),
        notes: Vec::new(),
        nemesis: None,
        histogram: None,
    };
    if let Some(why) = setup::unsupported(plan, steps, &target.capabilities) {
        report.reason = Some(why);
        return Ok(report);
    }
    let header =
        Header::new(plan, opts.scenario_digest.clone(), &target.label, &target.config_digest, opts.concurrency);
    let writer = JournalWriter::create(&opts.journal_path, &header, plan)
        .map_err(|e| Fatal::harness(format!("cannot write journal {}: {e}", opts.journal_path.display())))?;
    let progress = progress_bar(opts.progress, &plan.scenario);
    let nemesis = match crate::nemesis::schedule(target.nemesis.as_ref(), plan.seed) {
        Some(schedule) => {
            let actions = target.nemesis.as_ref().map(|n| n.actions.clone()).unwrap_or_default();
            Some(crate::nemesis::Nemesis::start(schedule, target.proxy.clone(), &actions, writer.sink()).await)
        }
        None => None,
    };
    let driver = Driver::new(target.client.clone(), writer.sink(), opts.concurrency, progress.clone())
        .with_back_references(plan.sends_if_match())
        .with_pacer(opts.rate.map(|per_s| crate::driver::pacer::Pacer::new(per_s, plan.seed)))
        .with_backends(target.backend_clients.clone())
        .with_stall(target.stall)
        .with_observer(nemesis.clone().map(|n| n as std::sync::Arc<dyn crate::driver::OpObserver>))
        .with_timeseries(opts.timeseries.clone());
    let state = RunState::new(plan);
    let findings = Findings::default();
    let created = setup::Created::default();

    // Boxed so it can be dropped as soon as the run stops: the ops it holds keep request permits until then.
    let mut body = Box::pin(execute(&driver, plan, steps, &state, &findings, &created, opts, writer.sink()));
    let (mut verdict, mut reason) = tokio::select! {
        outcome = &mut body => outcome,
        _ = cancel.wait_for(|stop| *stop) => (Verdict::Incomplete, Some("interrupted".to_string())),
        // The target stopped answering: everything in flight is abandoned at once. A moment lets those ops record
        // themselves; later ones are never sent nor recorded.
        reason = driver.given_up() => {
            let _ = tokio::time::timeout(ABANDON_GRACE, &mut body).await;
            (Verdict::Incomplete, Some(reason))
        }
    };
    drop(body);
    // The checks are done: what the run believed the objects to be (a hundred bytes an object) is not needed to
    // clean up, and a million-object cleanup should not hold it beside its listings.
    drop(state);
    if let Some(nemesis) = &nemesis {
        // Heals what is still broken before cleanup, and records the last window.
        let summary = nemesis.finish().await;
        report.notes.push(summary.line());
        report.nemesis = Some(summary);
    }
    if let Some(why) = driver.gave_up() {
        // Whatever finished, it finished on abandoned ops: the run is not complete.
        (verdict, reason) = (Verdict::Incomplete, Some(why));
    }
    // Only what this run created is removed: a bucket that already existed belongs to someone else. A run that found
    // something keeps its buckets for inspection (`sfko clean JOURNAL` removes them; a replay starts by doing so).
    let created = created.names();
    if opts.keep || findings.failed() > 0 || driver.gave_up().is_some() {
        report.left_behind = created;
    } else {
        if *cancel.borrow() {
            tracing::warn!("removing what the run created (Ctrl-C again to leave it)");
        }
        driver.show_step(format!("{} [cleanup]", plan.scenario));
        report.left_behind = remove_everything(&driver, &created, opts.concurrency).await;
    }
    progress.finish_and_clear();

    let (failures, failures_total, expectations) = findings.take();
    let unavailable = findings.unavailable();
    if unavailable.check > 0 && verdict == Verdict::Pass {
        // Checks that could not read cannot vouch for what they were to verify.
        verdict = Verdict::Incomplete;
        reason = Some(format!(
            "{} check ops got no usable answer (no response, 502/503/504 or SlowDown after retries): what they were \
             to verify is unverified",
            unavailable.check
        ));
    }
    if failures_total > 0 {
        // Found bugs outrank an early stop; the reason still says why the run ended.
        verdict = Verdict::Fail;
    }
    let finished = writer
        .finish(verdict, reason.clone())
        .await
        .map_err(|e| Fatal::harness(format!("cannot finish journal {}: {e}", opts.journal_path.display())))?;
    if failures_total > 0 {
        match copy_to_corpus(&finished.path, &finished.file_digest, &opts.corpus_dir) {
            Ok(path) => report.corpus = Some(path),
            Err(e) => tracing::error!("{e}; the journal stays at {}", finished.path.display()),
        }
    }
    report.verdict = verdict;
    report.reason = reason;
    report.failures = failures;
    report.unsupported = findings.unsupported_ops();
    report.notes.extend(findings.notes());
    if unavailable.workload + unavailable.check > 0 {
        report.notes.push(format!(
            "{} ops got no usable answer after retries ({} in workloads, {} in checks): not judged; the keys they \
             touched were treated as unknown",
            unavailable.workload + unavailable.check,
            unavailable.workload,
            unavailable.check
        ));
    }
    report.journal = Some(finished.path);
    let stats = driver.stats();
    report.counts = Counts::new(&stats, expectations, failures_total);
    report.timings = Some(Timings::from(&stats).paced(driver.intended_rate(), &stats));
    report.histogram = Some(stats.histogram);
    Ok(report)
}

/// Setup, workloads, checks. Returns the verdict before failures are counted (Pass unless something stopped it).
#[allow(clippy::too_many_arguments)]
async fn execute(
    driver: &Driver,
    plan: &Plan,
    steps: &[Step],
    state: &RunState,
    findings: &Findings,
    created: &setup::Created,
    opts: &RunOptions,
    sink: crate::journal::JournalSink,
) -> (Verdict, Option<String>) {
    match setup::create_buckets(driver, plan, created).await {
        setup::Setup::Ready => {}
        setup::Setup::Unsupported(why) => return (Verdict::Skipped, Some(why)),
        setup::Setup::Failed(why) => return (Verdict::Incomplete, Some(why)),
    }
    for (n, step) in steps.iter().enumerate() {
        tracing::info!(scenario = %plan.scenario, step = %step.phase, "running");
        driver.show_step(format!("{} [{}/{} {}]", plan.scenario, n + 1, steps.len(), step.phase));
        let ctx = Ctx {
            driver,
            plan,
            state,
            phase: step.phase.clone(),
            concurrency: opts.concurrency,
            position: step.position,
            sink: sink.clone(),
            findings,
        };
        (step.entry.run)(&ctx).await;
    }
    (Verdict::Pass, None)
}

/// Copies a failing journal to `corpus/<digest>.bin` (first 16 hex digits of its blake3), atomically.
pub fn copy_to_corpus(journal: &Path, digest: &str, corpus: &Path) -> Result<PathBuf, Fatal> {
    let name = format!("{}.bin", &digest[..16.min(digest.len())]);
    let target = corpus.join(&name);
    let temp = corpus.join(format!(".{name}.partial"));
    std::fs::create_dir_all(corpus)
        .and_then(|_| std::fs::copy(journal, &temp))
        .and_then(|_| std::fs::rename(&temp, &target))
        .map_err(|e| Fatal::harness(format!("cannot copy the failing journal into {}: {e}", corpus.display())))?;
    Ok(target)
}

/// The live progress line of a run or replay: the step it is in (`[3/7 check-backend]`), ops so far and their rate,
/// rounded for a person to read.
pub fn progress_bar(visible: bool, scenario: &str) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(crate::report::progress_spinner());
    bar.set_prefix(scenario.to_string());
    bar.set_message(crate::report::progress_message(0, 0.0, 0));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
