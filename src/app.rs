//! The commands behind the CLI: standalone runs, dry runs, replay, list, serve. Each returns an [`ExitCode`]
//! following the contract: 0 pass, 1 bugs found, 2 bad input, 3 harness failure.

use std::path::{Path, PathBuf};

use tokio::sync::watch;

use crate::cli::{Cli, Command, CommonArgs, Format, RunArgs, ServeArgs};
use crate::config::Config;
use crate::exec::{run_plan, RunOptions, RunReport};
use crate::journal::Verdict;
use crate::plan::{resolve, Backend, Plan};
use crate::replay::{replay, ReplayError, ReplayOptions};
use crate::report;
use crate::scenario::{self, Known, Scenario};
use crate::seed::Seed;
use crate::target::{Target, TargetError};

/// Requests in flight when `--concurrency` is not given (replay defaults to the recording's).
pub const DEFAULT_CONCURRENCY: usize = 16;

/// sfko's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Pass = 0,
    BugsFound = 1,
    BadInput = 2,
    Harness = 3,
}

/// An error that ends the command, with its exit code.
#[derive(Debug)]
pub struct Fatal {
    pub code: ExitCode,
    pub message: String,
}

impl Fatal {
    fn bad_input(message: impl Into<String>) -> Fatal {
        Fatal { code: ExitCode::BadInput, message: message.into() }
    }
    fn harness(message: impl Into<String>) -> Fatal {
        Fatal { code: ExitCode::Harness, message: message.into() }
    }
}

impl From<TargetError> for Fatal {
    fn from(e: TargetError) -> Fatal {
        match e {
            TargetError::BadInput(m) => Fatal::bad_input(m),
            TargetError::Harness(m) => Fatal::harness(m),
        }
    }
}

/// Runs the parsed command line.
pub async fn main(cli: Cli) -> Result<ExitCode, Fatal> {
    if cli.distribute.controller || cli.distribute.worker {
        return crate::distribute::main(&cli).await;
    }
    match cli.command {
        None => standalone(&cli.run, &cli.common).await,
        Some(Command::Replay { journal, common }) => replay_command(&journal, &merge(&cli.common, &common)).await,
        Some(Command::Shrink { journal, max_runs, common }) => {
            shrink_command(&journal, max_runs, &merge(&cli.common, &common)).await
        }
        Some(Command::List { common }) => list(&merge(&cli.common, &common)),
        Some(Command::Serve(args)) => serve(&args).await,
        Some(Command::Selftest { seeds, common }) => selftest(seeds, &common).await,
        Some(Command::Clean { journal, common }) => clean(&journal, &common).await,
        Some(Command::Show { journal, failures }) => {
            crate::show::show(&journal, failures, &mut std::io::stdout().lock())
                .map(|()| ExitCode::Pass)
                .map_err(|e| Fatal::bad_input(e.to_string()))
        }
    }
}

/// Subcommand flags win over the same flags given before the subcommand.
fn merge(_outer: &CommonArgs, inner: &CommonArgs) -> CommonArgs {
    inner.clone()
}

/// The names the scenario parser accepts.
fn known() -> (Vec<&'static str>, Vec<&'static str>) {
    (crate::workload::names(), crate::check::names())
}

fn load_scenarios(path: &Path) -> Result<Vec<Scenario>, Fatal> {
    let (tests, checks) = known();
    scenario::load_path(path, &Known { tests: &tests, checks: &checks }).map_err(|e| Fatal::bad_input(e.to_string()))
}

fn load_config(common: &CommonArgs) -> Result<Config, Fatal> {
    match &common.config {
        Some(path) => Config::load(path).map_err(|e| Fatal::bad_input(e.0)),
        None => Ok(Config::default()),
    }
}

/// Ctrl-C sets the flag; a second Ctrl-C exits at once.
fn cancel_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: finishing the journal (Ctrl-C again to abort at once)");
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(ExitCode::Harness as i32);
            }
        }
        // No signal handler (or it failed): keep the sender alive so runs are not taken as cancelled.
        std::future::pending::<()>().await;
    });
    rx
}

async fn standalone(args: &RunArgs, common: &CommonArgs) -> Result<ExitCode, Fatal> {
    if args.runs == 0 {
        return Err(Fatal::bad_input("--runs must be at least 1"));
    }
    if common.concurrency == Some(0) {
        return Err(Fatal::bad_input("--concurrency must be at least 1"));
    }
    let concurrency = common.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let all = load_scenarios(&common.scenarios_path)?;
    let selected: Vec<Scenario> = scenario::select(&all, &args.scenarios)
        .map_err(|e| Fatal::bad_input(e.to_string()))?
        .into_iter()
        .cloned()
        .collect();
    let config = load_config(common)?;
    crate::plan::validate_bucket_prefix(&args.bucket_prefix)
        .map_err(|e| Fatal::bad_input(format!("--bucket-prefix: {e}")))?;
    let seed = args.seed.map(Seed).unwrap_or_else(Seed::from_os);
    if !common.quiet {
        eprintln!("sfko: seed {seed}");
    }
    let backends = config.plan_backends();
    let target_setup = config.target_setup().map_err(|e| Fatal::bad_input(e.0))?;
    let seeds = (0..args.runs).map_while(|i| seed.0.checked_add(i).map(Seed));
    let runs: Vec<(Plan, String)> = seeds
        .flat_map(|s| selected.iter().map(move |sc| (sc, s)))
        .map(|(sc, s)| (resolve(sc, s, &backends, &args.bucket_prefix, &target_setup), sc.origin.source_digest.clone()))
        .collect();
    if args.journal.is_some() && runs.len() != 1 {
        return Err(Fatal::bad_input(format!("--journal needs exactly one run; this command makes {}", runs.len())));
    }
    if args.dry_run {
        let plans: Vec<&Plan> = runs.iter().map(|(plan, _)| plan).collect();
        print_plans(seed, &plans, &backends, common.format);
        return Ok(ExitCode::Pass);
    }
    let target =
        Target::connect(common.endpoint.as_deref(), common.region.as_deref(), &config, embedded_faults(common)?)
            .await?;
    if !common.quiet {
        eprintln!("sfko: target {}", target.label);
    }
    let cancel = cancel_on_ctrl_c();
    let scenarios_hint =
        (common.scenarios_path != Path::new("scenarios")).then(|| common.scenarios_path.display().to_string());
    let mut reports: Vec<(RunReport, String)> = Vec::new();
    for (plan, scenario_digest) in &runs {
        if *cancel.borrow() {
            break;
        }
        let opts = RunOptions {
            scenario_digest: scenario_digest.clone(),
            concurrency,
            journal_path: args.journal.clone().unwrap_or_else(|| journal_path(&common.journal_dir, plan)),
            corpus_dir: common.corpus.clone(),
            keep: args.keep,
            progress: !common.quiet && common.format == Format::Human,
        };
        let run = run_plan(&target, plan, &opts, cancel.clone()).await.map_err(|e| Fatal::harness(e.0))?;
        let mut repro = report::repro_line(run.seed, &run.scenario, scenarios_hint.as_deref());
        if args.bucket_prefix != crate::plan::DEFAULT_BUCKET_PREFIX {
            repro.push_str(&format!(" --bucket-prefix {}", args.bucket_prefix));
        }
        if common.format == Format::Human {
            crate::outln!("{}", report::human_run(&run, &repro));
        }
        reports.push((run, repro));
    }
    let code = overall(reports.iter().map(|(r, _)| r.verdict));
    let verdict = match code {
        ExitCode::Pass => "pass",
        ExitCode::BugsFound => "fail",
        _ => "incomplete",
    };
    match common.format {
        Format::Json => crate::outln!("{}", report::json_document(seed.0, &reports, verdict)),
        Format::Human => crate::outln!("{}", summary_line(seed, &reports)),
    }
    Ok(code)
}

/// Fail beats incomplete beats pass; skipped runs count as passing (their reason is printed).
fn overall(verdicts: impl Iterator<Item = Verdict>) -> ExitCode {
    let mut code = ExitCode::Pass;
    for verdict in verdicts {
        match verdict {
            Verdict::Fail => return ExitCode::BugsFound,
            Verdict::Incomplete => code = ExitCode::Harness,
            Verdict::Pass | Verdict::Skipped => {}
        }
    }
    code
}

fn summary_line(seed: Seed, reports: &[(RunReport, String)]) -> String {
    let count = |v: Verdict| reports.iter().filter(|(r, _)| r.verdict == v).count();
    format!(
        "sfko: {} runs from seed {seed}: {} passed, {} failed, {} skipped, {} incomplete",
        reports.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skipped),
        count(Verdict::Incomplete)
    )
}

/// `.sfko/journals/<seed>-<scenario slug>-<plan digest prefix>.bin`.
fn journal_path(dir: &Path, plan: &Plan) -> PathBuf {
    let slug: String =
        plan.scenario.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    dir.join(format!("{}-{}-{}.bin", plan.seed, slug.trim_matches('-'), &plan.digest()[..8]))
}

fn print_plans(seed: Seed, plans: &[&Plan], backends: &[Backend], format: Format) {
    let digests: Vec<String> = plans.iter().map(|p| p.digest()).collect();
    let combined = if digests.len() == 1 {
        digests[0].clone()
    } else {
        blake3::hash(digests.join("\n").as_bytes()).to_hex().to_string()
    };
    match format {
        Format::Json => {
            let items: Vec<_> = plans
                .iter()
                .zip(&digests)
                .map(
                    |(p, d)| serde_json::json!({"scenario": p.scenario, "seed": p.seed.0, "plan_digest": d, "plan": p}),
                )
                .collect();
            let doc = serde_json::json!({
                "seed": seed.0,
                "plan_digest": combined,
                "backends": backends,
                "plans": items,
            });
            crate::outln!("{doc}");
        }
        Format::Human => {
            for (plan, digest) in plans.iter().zip(&digests) {
                let (objects, bytes) = plan.totals();
                crate::outln!(
                    "{}  seed {}  plan_digest {digest}\n      {} buckets, {objects} objects, {}; tests [{}]; checks [{}]",
                    plan.scenario,
                    plan.seed,
                    plan.buckets.len(),
                    scenario::format_size(bytes),
                    plan.workloads.join(", "),
                    plan.checks.join(", ")
                );
                for bucket in &plan.buckets {
                    crate::outln!("      {} on {} ({})", bucket.name, bucket.backend.name, bucket.backend.cloud);
                }
                if let Some(why) = &plan.unsatisfiable {
                    crate::outln!("      unsatisfiable: {why}");
                }
            }
            crate::outln!("plan_digest {combined}");
        }
    }
}

async fn shrink_command(journal: &Path, max_runs: u64, common: &CommonArgs) -> Result<ExitCode, Fatal> {
    let config = load_config(common)?;
    crate::journal::JournalReader::summarize(journal, true).map_err(|e| Fatal::bad_input(e.to_string()))?;
    let faults = embedded_faults(common)?;
    let target = Target::connect(common.endpoint.as_deref(), common.region.as_deref(), &config, faults).await?;
    let stem = journal.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "journal".into());
    let opts = crate::shrink::ShrinkOptions {
        workdir: common.journal_dir.join(format!("shrink-{stem}")),
        corpus: common.corpus.clone(),
        max_runs,
        concurrency: common.concurrency,
    };
    match crate::shrink::shrink(&target, journal, &opts).await {
        Ok(report) => {
            match common.format {
                Format::Json => crate::outln!("{}", serde_json::to_string(&report).unwrap_or_default()),
                Format::Human => crate::outln!("{}", crate::shrink::human(&report)),
            }
            Ok(ExitCode::BugsFound)
        }
        Err(crate::shrink::ShrinkError::NotReproduced(why)) => {
            eprintln!("sfko: {why}");
            Ok(ExitCode::Pass)
        }
        Err(crate::shrink::ShrinkError::BadInput(why)) => Err(Fatal::bad_input(why)),
        Err(crate::shrink::ShrinkError::Harness(why)) => Err(Fatal::harness(why)),
    }
}

async fn replay_command(journal: &Path, common: &CommonArgs) -> Result<ExitCode, Fatal> {
    let config = load_config(common)?;
    // Read the whole journal before sending anything: a truncated, corrupt or edited file is a located exit 2, and
    // none of its requests reach the target.
    let summary =
        crate::journal::JournalReader::summarize(journal, false).map_err(|e| Fatal::bad_input(e.to_string()))?;
    let target =
        Target::connect(common.endpoint.as_deref(), common.region.as_deref(), &config, embedded_faults(common)?)
            .await?;
    let stem = journal.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "journal".into());
    let opts = ReplayOptions {
        // The recorded overlap is what a race needs to come back: default to the recording's concurrency.
        concurrency: common.concurrency.unwrap_or(summary.header.concurrency.max(1) as usize),
        journal_path: common.journal_dir.join(format!("replay-{stem}.bin")),
        progress: !common.quiet && common.format == Format::Human,
    };
    let result = replay(&target, journal, &opts).await.map_err(|e| match e {
        ReplayError::Journal(e) => Fatal::bad_input(e.to_string()),
        ReplayError::Harness(m) => Fatal::harness(m),
    })?;
    if result.unreachable {
        return Err(Fatal::harness(format!(
            "the target {} did not answer the replay's setup requests; nothing was judged",
            target.label
        )));
    }
    match common.format {
        Format::Json => crate::outln!("{}", report::json_replay(&result)),
        Format::Human => crate::outln!("{}", report::human_replay(&result)),
    }
    Ok(if result.verdict == Verdict::Fail { ExitCode::BugsFound } else { ExitCode::Pass })
}

fn list(common: &CommonArgs) -> Result<ExitCode, Fatal> {
    let scenarios = load_scenarios(&common.scenarios_path)?;
    let config = load_config(common)?;
    let backends = config.plan_backends();
    let setup = config.target_setup().map_err(|e| Fatal::bad_input(e.0))?;
    let embedded = common.endpoint.is_none() && config.target.as_ref().and_then(|t| t.endpoint.as_ref()).is_none();
    let capabilities = crate::target::Capabilities::from_config(&config, embedded);
    // Why each scenario cannot run here (None = it can), judged on seed 0's placement.
    let runnable: Vec<Option<String>> = scenarios
        .iter()
        .map(|s| {
            let plan = resolve(s, Seed(0), &backends, crate::plan::DEFAULT_BUCKET_PREFIX, &setup);
            crate::exec::unsupported(&plan, &capabilities)
        })
        .collect();
    let workloads: Vec<_> = crate::workload::WORKLOADS.iter().map(|w| (w.name, w.about)).collect();
    let checks: Vec<_> = crate::check::CHECKS.iter().map(|c| (c.name, c.about)).collect();
    match common.format {
        Format::Json => {
            let doc = serde_json::json!({
                "scenarios": scenarios.iter().zip(&runnable).map(|(s, why)| serde_json::json!({
                    "name": s.name, "file": s.origin.file, "line": s.origin.line, "tests": s.tests, "checks": s.checks,
                    "runnable": why.is_none(), "why_not": why,
                })).collect::<Vec<_>>(),
                "tests": workloads.iter().map(|(n, a)| serde_json::json!({"name": n, "about": a})).collect::<Vec<_>>(),
                "checks": checks.iter().map(|(n, a)| serde_json::json!({"name": n, "about": a})).collect::<Vec<_>>(),
                "clouds": scenario::KNOWN_CLOUDS,
                "backends": backends,
            });
            crate::outln!("{doc}");
        }
        Format::Human => {
            crate::outln!("scenarios ({}):", common.scenarios_path.display());
            for (s, why) in scenarios.iter().zip(&runnable) {
                crate::outln!(
                    "  {:<28} {}:{}  tests [{}]  checks [{}]",
                    s.name,
                    s.origin.file,
                    s.origin.line,
                    s.tests.join(", "),
                    s.checks.join(", ")
                );
                if let Some(why) = why {
                    crate::outln!("  {:<28} skipped on this config: {why}", "");
                }
            }
            crate::outln!("tests (workloads):");
            for (name, about) in &workloads {
                crate::outln!("  {name:<24} {about}");
            }
            crate::outln!("checks:");
            for (name, about) in &checks {
                crate::outln!("  {name:<24} {about}");
            }
            crate::outln!("clouds: {}", scenario::KNOWN_CLOUDS.join(", "));
            crate::outln!("backends:");
            for b in &backends {
                crate::outln!("  {} ({})", b.name, b.cloud);
            }
        }
    }
    Ok(ExitCode::Pass)
}

async fn clean(journal: &Path, common: &CommonArgs) -> Result<ExitCode, Fatal> {
    let config = load_config(common)?;
    let reader = crate::journal::JournalReader::open(journal).map_err(|e| Fatal::bad_input(e.to_string()))?;
    let target =
        Target::connect(common.endpoint.as_deref(), common.region.as_deref(), &config, embedded_faults(common)?)
            .await?;
    let left = crate::replay::clean(
        &target,
        &reader.plan,
        &common.journal_dir,
        common.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
    )
    .await
    .map_err(Fatal::harness)?;
    if left.is_empty() {
        crate::outln!(
            "removed the buckets of {} (seed {}, scenario '{}')",
            journal.display(),
            reader.header.seed,
            reader.header.scenario
        );
        Ok(ExitCode::Pass)
    } else {
        Err(Fatal::harness(format!("could not remove: {}", left.join(", "))))
    }
}

async fn selftest(seeds: u64, common: &CommonArgs) -> Result<ExitCode, Fatal> {
    // Journals (and the shrunk repros) stay under the journal dir, out of the corpus: they document faults sfko
    // injected itself, not bugs of a target.
    let dir = common.journal_dir.join("selftest");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Fatal::harness(format!("cannot create {}: {e}", dir.display())))?;
    let result = crate::selftest::run(seeds.max(1), &dir).await.map_err(Fatal::harness)?;
    match common.format {
        Format::Json => crate::outln!("{}", serde_json::to_string(&result).unwrap_or_default()),
        Format::Human => crate::outln!("{}", crate::selftest::human(&result)),
    }
    Ok(if result.passed { ExitCode::Pass } else { ExitCode::BugsFound })
}

/// The faults `--embedded-faults` asks for, if any.
pub(crate) fn embedded_faults(common: &CommonArgs) -> Result<Option<crate::target::faults::FaultPlan>, Fatal> {
    use crate::target::faults::{Fault, FaultPlan};
    if common.embedded_faults.is_empty() {
        return Ok(None);
    }
    let faults =
        Fault::parse_list(&common.embedded_faults).map_err(|e| Fatal::bad_input(format!("--embedded-faults: {e}")))?;
    Ok(Some(FaultPlan { seed: common.embedded_fault_seed, faults, one_in: common.embedded_fault_one_in.max(1) }))
}

async fn serve(args: &ServeArgs) -> Result<ExitCode, Fatal> {
    use crate::target::embedded::{EmbeddedServer, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY};
    use crate::target::faults::{Fault, FaultPlan, FaultyFs};
    let faults = Fault::parse_list(&args.faults).map_err(|e| Fatal::bad_input(format!("--faults: {e}")))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Fatal::harness(format!("cannot listen on {}: {e}", args.listen)))?;
    let tempdir;
    let root = match &args.root {
        Some(root) => root.clone(),
        None => {
            tempdir = tempfile::Builder::new()
                .prefix("sfko-serve-")
                .tempdir()
                .map_err(|e| Fatal::harness(format!("cannot create a data dir: {e}")))?;
            tempdir.path().to_path_buf()
        }
    };
    let access = std::env::var("SFKO_ACCESS_KEY").unwrap_or_else(|_| EMBEDDED_ACCESS_KEY.into());
    let secret = std::env::var("SFKO_SECRET_KEY").unwrap_or_else(|_| EMBEDDED_SECRET_KEY.into());
    let plan = FaultPlan { seed: args.fault_seed, faults, one_in: args.fault_one_in.max(1) };
    let lifecycle = match &args.lifecycle_day {
        Some(day) => {
            let secs =
                scenario::parse_duration_secs(day).map_err(|e| Fatal::bad_input(format!("--lifecycle-day: {e}")))?;
            Some(crate::target::fixtures::Lifecycle::new(std::time::Duration::from_secs(secs), plan.clone()))
        }
        None => None,
    };
    let replicator = match &args.replicate_to {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let lag = std::time::Duration::from_millis(args.replicate_lag_ms);
            Some(crate::target::fixtures::Replicator::new(url, &access, &secret, lag))
        }
        Some(url) => {
            return Err(Fatal::bad_input(format!("--replicate-to '{url}': expected an http:// or https:// URL")))
        }
        None => None,
    };
    let wrap_lifecycle = lifecycle.clone();
    let wrap = move |fs, root: &Path| {
        let mut faulty = FaultyFs::new(fs, root, plan);
        if let Some(replicator) = replicator {
            faulty = faulty.replicate_to(replicator);
        }
        if let Some(lifecycle) = wrap_lifecycle {
            faulty = faulty.expire_with(lifecycle);
        }
        faulty
    };
    let server = EmbeddedServer::serve(listener, &root, wrap, &access, &secret)
        .map_err(|e| Fatal::harness(format!("cannot start the server: {e}")))?;
    if let Some(lifecycle) = &lifecycle {
        lifecycle.start(server.root());
    }
    crate::outln!("endpoint {}", server.endpoint());
    eprintln!("sfko serve: data in {}; Ctrl-C to stop", server.root().display());
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitCode::Pass)
}
