//! A standalone run (`sfko [--seed N] [--scenario NAME]… [--runs K]`) and its dry run.
//!
//! Plans are resolved one run at a time, just before each run, so memory is bounded by one plan — never by
//! `--runs` × objects — and a dry run streams its output.

use std::io::Write as _;

use crate::catalogue;
use crate::cli::{CommonArgs, Format, RunArgs};
use crate::exec::{run_plan, RunOptions, RunReport};
use crate::exit::{Exit, Fatal};
use crate::plan::{resolve, Placement, Plan, TargetSetup};
use crate::report::{self, Repro};
use crate::scenario::{self, Scenario};
use crate::seed::Seed;

/// The runs a standalone invocation makes: seeds N … N+K-1 (or N, N+1, … until `--duration` is up), each over the
/// selected scenarios, in that order. Which plans run is a function of the seed; with a duration only how many of
/// them fit depends on the clock.
pub(super) struct Runs<'a> {
    first: Seed,
    count: u64,
    /// `--duration`: no run starts after this much time from the first one.
    duration: Option<std::time::Duration>,
    scenarios: &'a [&'a Scenario],
    backends: &'a [Placement],
    bucket_prefix: &'a str,
    setup: &'a TargetSetup,
}

impl<'a> Runs<'a> {
    /// Seeds `first` … over `scenarios`, as `select` (`--runs` or `--duration`, `--bucket-prefix`) asks.
    pub fn new(
        first: Seed,
        select: &'a crate::cli::SelectArgs,
        scenarios: &'a [&'a Scenario],
        backends: &'a [Placement],
        setup: &'a TargetSetup,
    ) -> Runs<'a> {
        let count = if select.duration.is_some() { u64::MAX } else { select.runs };
        Runs {
            first,
            count,
            duration: select.duration,
            scenarios,
            backends,
            bucket_prefix: &select.bucket_prefix,
            setup,
        }
    }

    /// How many runs there are (seeds past `u64::MAX` are not made); `None` with `--duration`, where the clock
    /// decides.
    pub fn len(&self) -> Option<u64> {
        if self.duration.is_some() {
            return None;
        }
        let seeds = self.count.min(u64::MAX - self.first.0 + 1);
        Some(seeds.saturating_mul(self.scenarios.len() as u64))
    }

    /// Each run's plan, resolved when it is reached, with its scenario's source digest. With `--duration` the clock
    /// starts at the first plan and none is made once it has run out.
    pub fn plans(&self) -> impl Iterator<Item = (Plan, &str)> + '_ {
        let seeds = (0..self.count).map_while(|i| self.first.0.checked_add(i).map(Seed));
        let mut started: Option<std::time::Instant> = None;
        let within_time = move |_: &(Plan, &str)| {
            let Some(duration) = self.duration else { return true };
            started.get_or_insert_with(std::time::Instant::now).elapsed() < duration
        };
        seeds
            .flat_map(move |seed| {
                self.scenarios.iter().map(move |sc| {
                    let plan = resolve(sc, seed, self.backends, self.bucket_prefix, self.setup);
                    (plan, sc.origin.source_digest.as_str())
                })
            })
            .take_while(within_time)
    }
}

pub async fn standalone(args: &RunArgs, common: &CommonArgs) -> Result<Exit, Fatal> {
    let all = catalogue::load_scenarios(&common.scenarios_path)?;
    let selected = scenario::select(&all, &args.select.scenarios).map_err(|e| Fatal::bad_input(e.to_string()))?;
    let config = crate::inputs::config(common)?;
    crate::plan::validate_bucket_prefix(&args.select.bucket_prefix)
        .map_err(|e| Fatal::bad_input(format!("--bucket-prefix: {e}")))?;
    let seed = args.select.seed.map(Seed).unwrap_or_else(Seed::from_os);
    if !common.quiet {
        eprintln!("sfko: seed {seed}");
    }
    let backends = config.plan_backends();
    let setup = config.target_setup()?;
    let runs = Runs::new(seed, &args.select, &selected, &backends, &setup);
    match runs.len() {
        _ if args.journal.is_none() => {}
        Some(1) => {}
        Some(n) => return Err(Fatal::bad_input(format!("--journal needs exactly one run; this command makes {n}"))),
        None => return Err(Fatal::bad_input("--journal needs exactly one run; --duration makes as many as fit")),
    }
    if args.dry_run && runs.len().is_none() {
        return Err(Fatal::bad_input("--dry-run lists a fixed set of plans: give --runs K, not --duration"));
    }
    if args.dry_run && args.select.rate.is_some() {
        return Err(Fatal::bad_input("--rate paces requests, and --dry-run sends none: drop one of them"));
    }
    if args.dry_run {
        dry_run(seed, &runs, common.format)?;
        return Ok(Exit::Pass);
    }
    let faults = crate::inputs::embedded_faults(common)?;
    let nemesis_flags = crate::inputs::nemesis_flags(common);
    let target = crate::inputs::connect(common, &config).await?;
    if !common.quiet {
        eprintln!("sfko: target {}", target.label);
    }
    let cancel = super::cancel_on_ctrl_c();
    let concurrency = common.concurrency().unwrap_or(crate::exec::DEFAULT_CONCURRENCY);
    let series = super::start_timeseries(common)?;
    let mut reports: Vec<(RunReport, String)> = Vec::new();
    for (plan, scenario_digest) in runs.plans() {
        if *cancel.borrow() {
            break;
        }
        let steps = catalogue::steps(&plan)?;
        let opts = RunOptions {
            scenario_digest: scenario_digest.to_string(),
            concurrency,
            journal_path: args.journal.clone().unwrap_or_else(|| crate::journal::run_path(&common.journal_dir, &plan)),
            corpus_dir: common.corpus.clone(),
            keep: args.select.keep,
            progress: !common.quiet && common.format == Format::Human,
            timeseries: series.as_ref().map(|r| r.sink.clone()),
            rate: args.select.rate,
        };
        let mut run = run_plan(&target, &plan, &steps, &opts, cancel.clone()).await?;
        let repro = Repro {
            seed: run.seed,
            scenario: &run.scenario,
            scenarios_path: Some(&common.scenarios_path),
            bucket_prefix: Some(&args.select.bucket_prefix),
            faults: faults.as_ref(),
            rate: args.select.rate,
            nemesis: Some(&nemesis_flags),
        }
        .line();
        if common.format == Format::Human {
            crate::outln!("{}", report::human_run(&run, &repro, common.verbose > 0));
        }
        // What each run measured is printed; only the run's summary stays in memory for the end.
        run.histogram = None;
        let gone = run.reason.as_deref().is_some_and(|r| r.starts_with(crate::driver::watchdog::STOPPED_ANSWERING));
        reports.push((run, repro));
        if gone {
            // Each further run would wait out the stall timeout again on the same dead target.
            let left = runs.len().map(|n| n.saturating_sub(reports.len() as u64));
            if left != Some(0) && !common.quiet {
                let left = left.map_or_else(|| "remaining".to_string(), |n| format!("{n} remaining"));
                eprintln!("sfko: the target stopped answering; the {left} runs were not started");
            }
            break;
        }
    }
    if let Some(series) = series {
        series.finish();
    }
    let verdict = report::overall(reports.iter().map(|(r, _)| r.verdict));
    if let Some(path) = &args.select.junit {
        let cases = reports.iter().map(|(r, repro)| crate::junit::Case {
            scenario: &r.scenario,
            seed: r.seed,
            job: None,
            verdict: r.verdict,
            reason: r.reason.as_deref(),
            failures: &r.failures,
            failed: r.counts.failed,
            elapsed_s: r.timings.as_ref().map_or(0.0, |t| t.elapsed_s),
            repro,
            journal: r.corpus.as_ref().or(r.journal.as_ref()).map(|p| p.display().to_string()),
        });
        let xml = crate::junit::document(&format!("sfko seed {seed}"), cases).map_err(Fatal::harness)?;
        crate::junit::write(path, &xml)?;
    }
    match common.format {
        Format::Json => crate::outln!("{}", report::json_document(seed.0, &reports, verdict)),
        Format::Human => crate::outln!("{}", report::summary_line(seed.0, &reports)),
    }
    Ok(report::exit_for(verdict))
}

/// Resolves and prints every plan with its digest, one at a time, touching nothing. The combined `plan_digest` is
/// the single plan's digest, or blake3 over the newline-joined digests of several.
fn dry_run(seed: Seed, runs: &Runs<'_>, format: Format) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    let mut write = |text: &str| match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        _ => {}
    };
    let mut combined = blake3::Hasher::new();
    let mut first: Option<String> = None;
    let mut count = 0u64;
    if format == Format::Json {
        let backends = serde_json::to_string(runs.backends).unwrap_or_else(|_| "[]".into());
        write(&format!("{{\"seed\":{},\"backends\":{backends},\"plans\":[", seed.0));
    }
    for (plan, _) in runs.plans() {
        let digest = plan.digest();
        if count > 0 {
            combined.update(b"\n");
        }
        combined.update(digest.as_bytes());
        first.get_or_insert_with(|| digest.clone());
        match format {
            Format::Json => {
                let mut item = serde_json::json!({"scenario": plan.scenario, "seed": plan.seed.0, "plan_digest": digest, "plan": plan});
                let programs = random_ops_programs(&plan);
                if !programs.is_empty() {
                    item["random_ops_programs"] = serde_json::Value::Array(programs);
                }
                write(&format!("{}{item}", if count > 0 { "," } else { "" }));
            }
            Format::Human => write(&human_plan(&plan, &digest)),
        }
        count += 1;
    }
    let combined = match (count, first) {
        (1, Some(only)) => only,
        _ => combined.finalize().to_hex().to_string(),
    };
    match format {
        Format::Json => write(&format!("],\"plan_digest\":\"{combined}\"}}\n")),
        Format::Human => write(&format!("plan_digest {combined}\n")),
    }
    Ok(())
}

/// The operations each `random-ops` workload of `plan` will send, as drawn from the seed: every checksum,
/// precondition, part number, listing option and version reference is there before anything is sent.
fn random_ops_programs(plan: &Plan) -> Vec<serde_json::Value> {
    let positions = plan.workloads.iter().enumerate().filter(|(_, name)| *name == "random-ops").map(|(at, _)| at);
    positions
        .map(|position| {
            let steps = crate::workload::random_ops::program(plan, position);
            let steps: Vec<serde_json::Value> =
                steps.iter().map(|s| serde_json::json!({"n": s.n, "kind": s.kind, "request": s.request})).collect();
            serde_json::json!({"workload": position, "steps": steps})
        })
        .collect()
}

fn human_plan(plan: &Plan, digest: &str) -> String {
    let (objects, bytes) = plan.totals();
    let mut out = format!(
        "{}  seed {}  plan_digest {digest}\n      {} buckets, {objects} objects, {}; tests [{}]; checks [{}]\n",
        plan.scenario,
        plan.seed,
        plan.buckets.len(),
        scenario::format_size(bytes),
        plan.workloads.join(", "),
        plan.checks.join(", ")
    );
    for bucket in &plan.buckets {
        out.push_str(&format!("      {} on {} ({})\n", bucket.name, bucket.backend.name, bucket.backend.cloud));
    }
    if let Some(why) = &plan.unsatisfiable {
        out.push_str(&format!("      unsatisfiable: {why}\n"));
    }
    out
}
