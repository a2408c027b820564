//! `sfko diff [--seed N] [--scenario NAME]… [--reference-endpoint URL | --reference-config FILE |
//! --reference-journal FILE]`: each plan runs on the reference (recorded), the target replays the recording, and
//! every answer that differs is listed and classified ([`crate::diff`]).
//!
//! With no reference named, the reference is a fresh embedded server without faults: sfko's own reference S3
//! server. So `sfko diff --endpoint URL` compares a cluster with it, and `sfko diff --embedded-faults X` shows what
//! fault X does to the answers.

use std::path::{Path, PathBuf};

use crate::catalogue;
use crate::cli::{CommonArgs, DiffArgs, Format};
use crate::diff::{self, DiffReport};
use crate::exec::{run_plan, RunOptions};
use crate::exit::{Exit, Fatal};
use crate::journal::{JournalReader, Verdict};
use crate::plan::Plan;
use crate::replay::ReplayOptions;
use crate::report::{self, Repro};
use crate::scenario;
use crate::seed::Seed;
use crate::target::Target;

use super::run::Runs;

pub async fn diff(args: &DiffArgs, common: &CommonArgs) -> Result<Exit, Fatal> {
    if args.select.rate.is_some() {
        return Err(Fatal::bad_input(
            "--rate does nothing useful in `sfko diff`: the reference run and the target's replay compare answers, \
             not timing",
        ));
    }
    if args.select.junit.is_some() {
        // Refused rather than ignored: a flag that does nothing is bad input everywhere in sfko.
        return Err(Fatal::bad_input("--junit does nothing in `sfko diff` (yet): use --format json"));
    }
    let config = crate::inputs::config(common)?;
    if let Some(journal) = &args.reference_journal {
        return against_journal(journal, common, &config).await;
    }
    let all = catalogue::load_scenarios(&common.scenarios_path)?;
    let selected = scenario::select(&all, &args.select.scenarios).map_err(|e| Fatal::bad_input(e.to_string()))?;
    crate::plan::validate_bucket_prefix(&args.select.bucket_prefix)
        .map_err(|e| Fatal::bad_input(format!("--bucket-prefix: {e}")))?;
    let seed = args.select.seed.map(Seed).unwrap_or_else(Seed::from_os);
    let backends = config.plan_backends();
    let setup = config.target_setup()?;
    let runs = Runs::new(seed, &args.select, &selected, &backends, &setup);
    let faults = crate::inputs::embedded_faults(common)?;
    let target = crate::inputs::connect(common, &config).await?;
    let reference = connect_reference(args, common).await?;
    if !common.quiet {
        eprintln!("sfko: seed {seed}; target {}; reference {}", target.label, reference.label);
    }
    let cancel = super::cancel_on_ctrl_c();
    let concurrency = common.concurrency().unwrap_or(crate::exec::DEFAULT_CONCURRENCY);
    let progress = !common.quiet && common.format == Format::Human;
    let mut reports = Vec::new();
    for (plan, scenario_digest) in runs.plans() {
        if *cancel.borrow() {
            break;
        }
        let name = |side: &str| journal_name(&common.journal_dir, &plan, side);
        let steps = catalogue::steps(&plan)?;
        let opts = RunOptions {
            scenario_digest: scenario_digest.to_string(),
            concurrency,
            journal_path: name("reference"),
            corpus_dir: common.corpus.clone(),
            // The reference is cleaned below whatever its verdict: it is not the system under test.
            keep: true,
            progress,
            timeseries: None,
            rate: None,
        };
        let recorded = run_plan(&reference, &plan, &steps, &opts, cancel.clone()).await?;
        if !args.select.keep {
            match crate::replay::clean(&reference, &plan, &common.journal_dir, concurrency).await {
                Ok(left) if left.is_empty() => {}
                Ok(left) => tracing::warn!("the reference kept buckets it could not remove: {}", left.join(", ")),
                Err(e) => tracing::warn!("cannot clean the reference: {e}"),
            }
        }
        let (Some(journal), Verdict::Pass | Verdict::Fail) = (recorded.journal.clone(), recorded.verdict) else {
            let why = recorded.reason.clone().unwrap_or_else(|| format!("reference run {}", recorded.verdict.as_str()));
            let why = if recorded.verdict == Verdict::Skipped { why } else { format!("on the reference: {why}") };
            let report = DiffReport::not_compared(plan.seed.0, &plan.scenario, &plan.digest(), recorded.verdict, why);
            emit(common, &report);
            reports.push(report);
            continue;
        };
        let repro = Repro {
            seed: plan.seed.0,
            scenario: &plan.scenario,
            scenarios_path: Some(&common.scenarios_path),
            bucket_prefix: Some(&args.select.bucket_prefix),
            faults: faults.as_ref(),
            rate: None,
            nemesis: None,
        }
        .line_for(&diff_command(args));
        let report = compare(&target, &journal, name("target"), concurrency, progress, repro, common).await?;
        emit(common, &report);
        reports.push(report);
    }
    finish(common, &reports, &target.label, &reference.label)
}

/// `sfko diff --reference-journal FILE`: the recording is the reference; only the target is driven.
async fn against_journal(journal: &Path, common: &CommonArgs, config: &crate::config::Config) -> Result<Exit, Fatal> {
    // Read the whole journal first: a bad one is a located exit 2 before anything reaches the target.
    let summary = JournalReader::summarize(journal, false)?;
    let target = crate::inputs::connect(common, config).await?;
    let reference = format!("journal {} (recorded on {})", journal.display(), summary.header.target);
    if !common.quiet {
        eprintln!("sfko: target {}; reference {reference}", target.label);
    }
    let concurrency = common.concurrency().unwrap_or(summary.header.concurrency.max(1) as usize);
    let stem = journal.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "journal".into());
    let target_journal = common.journal_dir.join(format!("diff-{stem}-target.bin"));
    let repro = format!("sfko diff --reference-journal {}", journal.display());
    let progress = !common.quiet && common.format == Format::Human;
    let report = compare(&target, journal, target_journal, concurrency, progress, repro, common).await?;
    emit(common, &report);
    finish(common, std::slice::from_ref(&report), &target.label, &reference)
}

/// Replays the reference's recording `journal` on the target and turns what differed into a [`DiffReport`]; a
/// differing plan's reference journal is copied into the corpus (it is what `sfko replay` and `sfko diff
/// --reference-journal` take).
async fn compare(
    target: &Target,
    journal: &Path,
    target_journal: PathBuf,
    concurrency: usize,
    progress: bool,
    repro: String,
    common: &CommonArgs,
) -> Result<DiffReport, Fatal> {
    let opts = ReplayOptions { concurrency, journal_path: target_journal, progress, nemesis: None, timeseries: None };
    let replayed = crate::replay::replay(target, journal, &opts).await?;
    if replayed.unreachable {
        return Err(Fatal::harness(format!(
            "the target {} did not answer the setup requests; nothing was compared",
            target.label
        )));
    }
    let mut report = DiffReport::from_replay(&replayed, journal.to_path_buf(), repro);
    if !report.divergences.is_empty() {
        let digest = file_digest(journal)?;
        report.reference_journal = Some(crate::exec::copy_to_corpus(journal, &digest, &common.corpus)?);
    }
    Ok(report)
}

/// The reference the flags name, or a fresh healthy embedded server.
async fn connect_reference(args: &DiffArgs, common: &CommonArgs) -> Result<Target, Fatal> {
    let (endpoint, config) = match (&args.reference_endpoint, &args.reference_config) {
        (Some(url), _) => (Some(url.as_str()), crate::config::Config::default()),
        (None, Some(path)) => {
            let config = crate::config::Config::load(path)?;
            if config.target.as_ref().and_then(|t| t.endpoint.as_ref()).is_none() {
                return Err(Fatal::bad_input(format!(
                    "--reference-config {}: names no target endpoint (expected `target: {{ endpoint: URL }}`)",
                    path.display()
                )));
            }
            (None, config)
        }
        (None, None) => (None, crate::config::Config::default()),
    };
    let mut reference = Target::connect(endpoint, common.region.as_deref(), &config, None).await?;
    reference.stall = crate::driver::StallPolicy { timeout: common.stall_timeout, wait: common.stall_wait };
    if endpoint.is_none() && args.reference_config.is_none() {
        reference.label = format!("sfko's reference server, {}", reference.label);
    }
    Ok(reference)
}

/// `sfko diff` with the reference flags that decide the comparison.
fn diff_command(args: &DiffArgs) -> String {
    let mut command = "sfko diff".to_string();
    if let Some(url) = &args.reference_endpoint {
        command.push_str(&format!(" --reference-endpoint {url}"));
    }
    if let Some(path) = &args.reference_config {
        command.push_str(&format!(" --reference-config {}", path.display()));
    }
    command
}

/// `diff-<seed>-<plan digest>-<side>.bin` in the journal dir.
fn journal_name(dir: &Path, plan: &Plan, side: &str) -> PathBuf {
    let digest = plan.digest();
    dir.join(format!("diff-{}-{}-{side}.bin", plan.seed, digest.get(..16).unwrap_or(&digest)))
}

/// blake3 of a file's bytes, read in pieces.
fn file_digest(path: &Path) -> Result<String, Fatal> {
    let mut hasher = blake3::Hasher::new();
    std::fs::File::open(path)
        .and_then(|mut file| std::io::copy(&mut file, &mut hasher))
        .map_err(|e| Fatal::harness(format!("cannot read {}: {e}", path.display())))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// One plan's result, printed as soon as it is known (human output).
fn emit(common: &CommonArgs, report: &DiffReport) {
    if common.format == Format::Human {
        crate::outln!("{}", diff::human(report));
    }
}

/// The closing line or document, and the exit code: 1 when any answer differed, 3 when a plan could not be
/// compared to the end, else 0.
fn finish(common: &CommonArgs, reports: &[DiffReport], target: &str, reference: &str) -> Result<Exit, Fatal> {
    let verdict = report::overall(reports.iter().map(DiffReport::verdict));
    match common.format {
        Format::Json => crate::outln!("{}", diff::json_document(reports, target, reference, verdict)),
        Format::Human => crate::outln!("{}", diff::summary_line(reports, target, reference)),
    }
    Ok(report::exit_for(verdict))
}
