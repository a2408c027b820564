//! Executing a plan against a target: setup, workloads in scenario order, checks in scenario order, cleanup —
//! everything recorded in a journal that is finished atomically, and copied into the corpus when the run fails.

mod cleanup;
mod ctx;
mod setup;
mod state;

use std::path::{Path, PathBuf};

use tokio::sync::watch;

pub use cleanup::remove_everything;
pub use ctx::{subject, Ctx, Failure, Findings};
pub use setup::{expiration_days, unsupported};
pub use state::{ObjectStatus, RunState, Version};

use crate::driver::{Driver, StatsSnapshot};
use crate::journal::{Header, JournalWriter, Phase, Verdict, FORMAT_VERSION};
use crate::plan::Plan;
use crate::target::Target;

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
}

/// What one run found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub scenario: String,
    pub plan_digest: String,
    pub verdict: Verdict,
    /// Why the run was skipped or incomplete.
    pub reason: Option<String>,
    /// Up to 200 failures; `failures_total` counts all (every one is in the journal).
    pub failures: Vec<Failure>,
    pub failures_total: u64,
    pub expectations: u64,
    pub journal: Option<PathBuf>,
    /// Where the failing journal was copied.
    pub corpus: Option<PathBuf>,
    pub stats: Option<StatsSnapshot>,
    /// Buckets that could not be removed (or were kept).
    pub left_behind: Vec<String>,
    /// Operations the target answered 501 NotImplemented, with counts: not bugs, but not verified either.
    pub unsupported: Vec<(String, u64)>,
    /// What checks measured (time-to-replicate, time-to-expire...).
    pub notes: Vec<String>,
}

/// Why a run could not be carried out at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HarnessError(pub String);

/// Resolves nothing, only executes: `plan` on `target`, until done or `cancel` turns true.
pub async fn run_plan(
    target: &Target,
    plan: &Plan,
    opts: &RunOptions,
    mut cancel: watch::Receiver<bool>,
) -> Result<RunReport, HarnessError> {
    let plan_digest = plan.digest();
    let mut report = RunReport {
        seed: plan.seed.0,
        scenario: plan.scenario.clone(),
        plan_digest: plan_digest.clone(),
        verdict: Verdict::Skipped,
        reason: None,
        failures: Vec::new(),
        failures_total: 0,
        expectations: 0,
        journal: None,
        corpus: None,
        stats: None,
        left_behind: Vec::new(),
        unsupported: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(why) = setup::unsupported(plan, &target.capabilities) {
        report.reason = Some(why);
        return Ok(report);
    }
    let header = Header {
        format_version: FORMAT_VERSION,
        sfko_version: env!("CARGO_PKG_VERSION").into(),
        seed: plan.seed,
        scenario: plan.scenario.clone(),
        scenario_digest: opts.scenario_digest.clone(),
        config_digest: target.config_digest.clone(),
        plan_digest,
        target: target.label.clone(),
        concurrency: opts.concurrency as u32,
        started_unix_ms: unix_ms(),
    };
    let writer = JournalWriter::create(&opts.journal_path, &header, plan)
        .map_err(|e| HarnessError(format!("cannot write journal {}: {e}", opts.journal_path.display())))?;
    let progress = progress_bar(opts.progress, &plan.scenario);
    let driver = Driver::new(target.client.clone(), writer.sink(), opts.concurrency, progress.clone())
        .with_backends(target.backend_clients.clone());
    let state = RunState::new(plan);
    let findings = Findings::default();
    let created = setup::Created::default();

    let body = execute(&driver, plan, &state, &findings, &created, opts, writer.sink());
    let (mut verdict, mut reason) = tokio::select! {
        outcome = body => outcome,
        _ = cancel.wait_for(|stop| *stop) => (Verdict::Incomplete, Some("interrupted".to_string())),
    };
    // Only what this run created is removed: a bucket that already existed belongs to someone else. A run that found
    // something keeps its buckets for inspection (`sfko clean JOURNAL` removes them; a replay starts by doing so).
    let created = created.names();
    if opts.keep || findings.failed() > 0 {
        report.left_behind = created;
    } else {
        if *cancel.borrow() {
            tracing::warn!("removing what the run created (Ctrl-C again to leave it)");
        }
        report.left_behind = remove_everything(&driver, &created, opts.concurrency).await;
    }
    progress.finish_and_clear();

    let (failures, failures_total, expectations) = findings.take();
    if failures_total > 0 {
        // Found bugs outrank an early stop; the reason still says why the run ended.
        verdict = Verdict::Fail;
    }
    if verdict == Verdict::Incomplete && reason.is_none() {
        reason = Some("stopped early".into());
    }
    let finished = writer
        .finish(verdict, reason.clone())
        .await
        .map_err(|e| HarnessError(format!("cannot finish journal {}: {e}", opts.journal_path.display())))?;
    if failures_total > 0 {
        match copy_to_corpus(&finished.path, &finished.file_digest, &opts.corpus_dir) {
            Ok(path) => report.corpus = Some(path),
            Err(e) => tracing::error!("{e}; the journal stays at {}", finished.path.display()),
        }
    }
    report.verdict = verdict;
    report.reason = reason;
    report.failures = failures;
    report.failures_total = failures_total;
    report.expectations = expectations;
    report.unsupported = findings.unsupported_ops();
    report.notes = findings.notes();
    report.journal = Some(finished.path);
    report.stats = Some(driver.stats());
    Ok(report)
}

/// Setup, workloads, checks. Returns the verdict before failures are counted (Pass unless something stopped it).
async fn execute(
    driver: &Driver,
    plan: &Plan,
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
    let steps = plan
        .workloads
        .iter()
        .enumerate()
        .map(|(i, name)| (i, Phase::Workload(name.clone()), crate::workload::find(name).map(|w| w.run)))
        .chain(
            plan.checks
                .iter()
                .enumerate()
                .map(|(i, name)| (i, Phase::Check(name.clone()), crate::check::find(name).map(|c| c.run))),
        );
    for (position, phase, run) in steps {
        let Some(run) = run else {
            return (Verdict::Incomplete, Some(format!("{phase} is not known to this sfko")));
        };
        tracing::info!(scenario = %plan.scenario, step = %phase, "running");
        let ctx =
            Ctx { driver, plan, state, phase, concurrency: opts.concurrency, position, sink: sink.clone(), findings };
        run(&ctx).await;
    }
    (Verdict::Pass, None)
}

/// Copies a failing journal to `corpus/<digest>.bin` (first 16 hex digits of its blake3), atomically.
fn copy_to_corpus(journal: &Path, digest: &str, corpus: &Path) -> Result<PathBuf, HarnessError> {
    let name = format!("{}.bin", &digest[..16.min(digest.len())]);
    let target = corpus.join(&name);
    let temp = corpus.join(format!(".{name}.partial"));
    std::fs::create_dir_all(corpus)
        .and_then(|_| std::fs::copy(journal, &temp))
        .and_then(|_| std::fs::rename(&temp, &target))
        .map_err(|e| HarnessError(format!("cannot copy the failing journal into {}: {e}", corpus.display())))?;
    Ok(target)
}

fn progress_bar(visible: bool, scenario: &str) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {pos} ops ({per_sec}), {msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(scenario.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
