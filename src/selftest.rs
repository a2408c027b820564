//! `sfko selftest`: the oracles prove themselves. For each fault kind the embedded target can inject, run a scenario
//! made to expose it against a faulty embedded server, seed after seed, until a check reports it — then run the same
//! scenarios against a healthy server, which must pass without a single false alarm.

use std::path::Path;

use serde::Serialize;
use tokio::sync::watch;

use crate::exec::{run_plan, RunOptions, RunReport};
use crate::journal::Verdict;
use crate::plan::{resolve, Backend, TargetSetup, DEFAULT_BUCKET_PREFIX};
use crate::scenario::{parse_str, Known, Scenario};
use crate::seed::Seed;
use crate::target::embedded::EmbeddedServer;
use crate::target::faults::{Fault, FaultPlan, FaultyFs};
use crate::target::Target;

/// The scenarios that expose each fault; the clean run uses all of them.
const SCENARIOS: &str = "\
- name: selftest single puts
  objects: {count: 12, size: {min: 1K, max: 64K}}
  tests: [put, get]
  checks: [check-backend, check-etag, check-list]
- name: selftest multipart
  objects: {count: 2, size: {min: 5M, max: 7M}}
  tests: [put-mpu]
  checks: [check-backend, check-etag]
- name: selftest versions
  required: {buckets: [{versioning: true}]}
  objects: {count: 8, size: {min: 1K, max: 16K}}
  tests: [put-versions, delete-versions]
  checks: [check-versions, check-list]
";

/// Which scenario exposes which fault (the ones the embedded server can inject on its own).
const CASES: &[(Fault, &str)] = &[
    (Fault::CorruptByte, "selftest single puts"),
    (Fault::WrongMpuEtag, "selftest multipart"),
    (Fault::ListDrop, "selftest single puts"),
    (Fault::VersionLost, "selftest versions"),
];

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub fault: String,
    pub detected: bool,
    /// The checks (or workloads) that reported it.
    pub by: Vec<String>,
    /// Seeds tried until it was detected (or all of them).
    pub seeds: u64,
    /// Ops in the run that detected it.
    pub ops: u64,
}

/// The whole self-test.
#[derive(Debug, Clone, Serialize)]
pub struct SelfTest {
    pub rows: Vec<Row>,
    /// Failures reported against the healthy server (must be 0).
    pub false_alarms: u64,
    pub clean_runs: u64,
    pub passed: bool,
}

/// Runs the self-test, trying up to `max_seeds` seeds per fault; journals go under `workdir`.
pub async fn run(max_seeds: u64, workdir: &Path) -> Result<SelfTest, String> {
    let (tests, checks) = (crate::workload::names(), crate::check::names());
    let scenarios =
        parse_str("selftest", SCENARIOS, &Known { tests: &tests, checks: &checks }).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (fault, scenario) in CASES {
        let scenario = scenarios.iter().find(|s| s.name == *scenario).ok_or("selftest scenario missing")?;
        let mut row = Row { fault: fault.name().into(), detected: false, by: Vec::new(), seeds: 0, ops: 0 };
        for seed in 1..=max_seeds {
            row.seeds = seed;
            let plan = FaultPlan { seed, faults: vec![*fault], one_in: 4 };
            let report = run_once(scenario, seed, Some(plan), workdir).await?;
            if report.failures_total > 0 {
                row.detected = true;
                row.by = report.failures.iter().map(|f| f.by.clone()).collect();
                row.by.sort();
                row.by.dedup();
                row.ops = report.stats.as_ref().map(|s| s.ops).unwrap_or(0);
                break;
            }
        }
        rows.push(row);
    }
    let mut false_alarms = 0;
    let mut clean_runs = 0;
    for scenario in &scenarios {
        for seed in 1..=max_seeds.min(3) {
            let report = run_once(scenario, seed, None, workdir).await?;
            clean_runs += 1;
            false_alarms += report.failures_total + u64::from(report.verdict == Verdict::Incomplete);
        }
    }
    let passed = false_alarms == 0 && rows.iter().all(|r| r.detected);
    Ok(SelfTest { rows, false_alarms, clean_runs, passed })
}

async fn run_once(
    scenario: &Scenario,
    seed: u64,
    faults: Option<FaultPlan>,
    workdir: &Path,
) -> Result<RunReport, String> {
    let server = match faults {
        Some(plan) => EmbeddedServer::start_with(move |fs, root| FaultyFs::new(fs, root, plan)).await,
        None => EmbeddedServer::start().await,
    }
    .map_err(|e| format!("cannot start the embedded server: {e}"))?;
    let target = Target::embedded(server, "selftest".into()).await;
    let plan =
        resolve(scenario, Seed(seed), &[Backend::target_itself()], DEFAULT_BUCKET_PREFIX, &TargetSetup::default());
    let opts = RunOptions {
        scenario_digest: scenario.origin.source_digest.clone(),
        concurrency: 8,
        journal_path: workdir.join(format!("{seed}-{}.bin", plan.digest().get(..12).unwrap_or("plan"))),
        corpus_dir: workdir.join("corpus"),
        keep: false,
        progress: false,
    };
    let (_tx, cancel) = watch::channel(false);
    run_plan(&target, &plan, &opts, cancel).await.map_err(|e| e.0)
}

/// The table, for people.
pub fn human(result: &SelfTest) -> String {
    let mut out = format!("{:<18} {:<9} {:<28} {:>6} {:>6}\n", "fault", "detected", "by", "seeds", "ops");
    for row in &result.rows {
        out.push_str(&format!(
            "{:<18} {:<9} {:<28} {:>6} {:>6}\n",
            row.fault,
            if row.detected { "yes" } else { "NO" },
            row.by.join(", "),
            row.seeds,
            row.ops
        ));
    }
    out.push_str(&format!(
        "clean runs: {} against a healthy server, {} false alarms\nselftest: {}",
        result.clean_runs,
        result.false_alarms,
        if result.passed { "PASS" } else { "FAIL" }
    ));
    out
}
