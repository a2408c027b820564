//! The adversity rows of `sfko selftest`: what a healthy cluster under stress does — slow networks, dropped and
//! reset connections, throttling, a node killed with SIGKILL and restarted — must give **no** data-bug report, and a
//! node that loses writes it had acknowledged when it crashes must be caught.
//!
//! Network faults come from the nemesis's own proxy in front of a healthy embedded server; throttling from the
//! embedded server's `slow-down` fault; the crash from a real `sfko serve` process killed and restarted on the same
//! data dir by the nemesis's user actions, exactly as a user's config kills a node.

use std::path::Path;

use serde::Serialize;

use super::{faulty, healthy, run_once};
use crate::config::NemesisConfig;
use crate::journal::Verdict;
use crate::plan::nemesis::NetFault;
use crate::scenario::Scenario;
use crate::target::faults::{Fault, FaultPlan};
use crate::target::process::ServeProcess;
use crate::target::Target;

/// Something a cluster does to its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adversity {
    /// A network fault of the nemesis proxy.
    Net(NetFault),
    /// `503 SlowDown` on one object request in [`SLOW_DOWN_ONE_IN`].
    SlowDown,
    /// `sfko serve` killed with SIGKILL mid-run and restarted on its data dir.
    KillRestart,
    /// The same, on a server that loses the writes it acknowledged without making them durable (`lost-on-crash`).
    LostOnCrash,
}

/// One object request in this many is throttled: a retrying client (4 attempts) is then left without an answer
/// about once in 4,000 ops, which the checks report as unverified, never as a bug.
const SLOW_DOWN_ONE_IN: u64 = 8;
/// Network fault windows: `LENGTH` of every `EVERY` op positions.
const NET_EVERY: u64 = 12;
const NET_LENGTH: u64 = 4;
/// Kill windows: a kill, ops against a dead node, then a restart.
const KILL_EVERY: u64 = 20;
const KILL_LENGTH: u64 = 6;
/// Seeds each benign adversity runs every scenario with.
const BENIGN_SEEDS: u64 = 1;

impl Adversity {
    pub const ALL: [Adversity; 11] = [
        Adversity::Net(NetFault::Latency),
        Adversity::Net(NetFault::ResetBefore),
        Adversity::Net(NetFault::ResetDuring),
        Adversity::Net(NetFault::ResetAfter),
        Adversity::Net(NetFault::Truncate),
        Adversity::Net(NetFault::Stall),
        Adversity::Net(NetFault::Bandwidth),
        Adversity::Net(NetFault::Refuse),
        Adversity::SlowDown,
        Adversity::KillRestart,
        Adversity::LostOnCrash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Adversity::Net(fault) => fault.name(),
            Adversity::SlowDown => Fault::SlowDown.name(),
            Adversity::KillRestart => "kill-restart",
            Adversity::LostOnCrash => Fault::LostOnCrash.name(),
        }
    }

    pub fn parse(name: &str) -> Option<Adversity> {
        Adversity::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether runs must report it (a lossy server) rather than pass (a benign one).
    pub fn must_detect(self) -> bool {
        self == Adversity::LostOnCrash
    }

    /// A fresh target that does this to sfko's runs of `seed` (and the server process it runs on, to keep alive).
    async fn target(self, seed: u64) -> Result<(Target, Option<ServeProcess>), String> {
        match self {
            Adversity::Net(fault) => {
                let mut target = healthy().await?;
                target.nemesis = Some(NemesisConfig {
                    network: vec![fault.name().to_string()],
                    every: Some(NET_EVERY),
                    length: Some(NET_LENGTH),
                    actions: Vec::new(),
                });
                target.route_through_proxy().await.map_err(|e| e.message)?;
                Ok((target, None))
            }
            Adversity::SlowDown => {
                let plan = FaultPlan { seed, faults: vec![Fault::SlowDown], one_in: SLOW_DOWN_ONE_IN };
                Ok((faulty(plan).await?, None))
            }
            Adversity::KillRestart | Adversity::LostOnCrash => {
                let faults = match self {
                    Adversity::LostOnCrash => FaultPlan { seed, faults: vec![Fault::LostOnCrash], one_in: 2 },
                    _ => FaultPlan::none(),
                };
                let server = ServeProcess::start(&faults).await?;
                let mut target = Target::sfko_serve(server.endpoint(), "selftest".into());
                target.nemesis = Some(NemesisConfig {
                    network: Vec::new(),
                    every: Some(KILL_EVERY),
                    length: Some(KILL_LENGTH),
                    actions: vec![server.kill_restart()],
                });
                Ok((target, Some(server)))
            }
        }
    }
}

/// What one adversity did to the selftest scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct AdversityRow {
    pub fault: String,
    /// `true`: runs must report it (the server lost acknowledged writes); `false`: runs must not report anything.
    pub must_detect: bool,
    pub runs: u64,
    /// Requests hit (network faults), kills, or the server's refusals are not counted: throttling is per request.
    pub injected: u64,
    /// Workload ops under faults left without an answer, and left ambiguous (unjudged either way).
    pub unanswered: u64,
    pub ambiguous: u64,
    /// Runs whose checks could not verify everything (no answer after retries): unverified, not a bug — but
    /// nothing proven either, so only throttling (which may exhaust an op's retries) may leave any.
    pub incomplete: u64,
    /// Kill or restart commands that failed, and restarts after which the server never listened again.
    pub actions_failed: u64,
    /// Failures reported: must be 0 for a benign adversity, and more than 0 for a lossy one.
    pub reports: u64,
    /// The checks (or workloads) that reported, and the seed that did.
    pub by: Vec<String>,
    pub seed: Option<u64>,
    pub ok: bool,
}

/// Runs every scenario against `adversity` (a lossy one seed after seed until it is reported, at most
/// `max_seeds`).
pub async fn row(
    adversity: Adversity,
    scenarios: &[Scenario],
    max_seeds: u64,
    workdir: &Path,
) -> Result<AdversityRow, String> {
    let mut row = AdversityRow {
        fault: adversity.name().into(),
        must_detect: adversity.must_detect(),
        runs: 0,
        injected: 0,
        unanswered: 0,
        ambiguous: 0,
        incomplete: 0,
        reports: 0,
        actions_failed: 0,
        by: Vec::new(),
        seed: None,
        ok: false,
    };
    let seeds = if adversity.must_detect() { max_seeds } else { BENIGN_SEEDS };
    for seed in 1..=seeds {
        for scenario in scenarios {
            let (target, _server) = adversity.target(seed).await?;
            let report = run_once(&target, scenario, seed, workdir).await?;
            row.runs += 1;
            row.incomplete += u64::from(report.verdict == Verdict::Incomplete);
            if let Some(nemesis) = &report.nemesis {
                row.injected += nemesis.injected.values().sum::<u64>();
                row.unanswered += nemesis.unanswered_in_faults;
                row.ambiguous += nemesis.ambiguous_in_faults;
                row.actions_failed += nemesis.actions_failed + nemesis.unhealthy;
            }
            if report.counts.failed > 0 {
                row.reports += report.counts.failed;
                row.seed = row.seed.or(Some(seed));
                row.by.extend(report.failures.iter().map(|f| f.by.clone()));
                if !adversity.must_detect() {
                    // (A lossy row caught by a false alarm would pass; the kill-restart row, the same kills on a
                    // server that loses nothing, must then fail.)
                    for failure in &report.failures {
                        tracing::warn!(fault = adversity.name(), scenario = %scenario.name, seed, "false alarm: {}",
                            crate::report::failure_lines(std::slice::from_ref(failure), 1).trim());
                    }
                }
            }
        }
        if adversity.must_detect() && row.reports > 0 {
            break;
        }
    }
    row.by.sort();
    row.by.dedup();
    // A benign row proves nothing unless the fault actually happened (throttling is counted by the server only).
    let happened = row.injected > 0 || adversity == Adversity::SlowDown;
    // An incomplete run verified less than it set out to: that undermines a benign row's "no false alarm" (except
    // under throttling, which may exhaust an op's retries), not a lossy row's detection, which its reports prove.
    let tolerates_incomplete = adversity == Adversity::SlowDown || adversity.must_detect();
    let proven = row.actions_failed == 0 && (row.incomplete == 0 || tolerates_incomplete);
    row.ok = happened && proven && (row.reports > 0) == adversity.must_detect();
    Ok(row)
}
