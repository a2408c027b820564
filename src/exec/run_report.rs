//! What one run found, in the one shape every reporter renders and every worker result carries: [`RunReport`] with
//! its [`Counts`] and [`Timings`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::driver::{LatencyHistogram, LatencySummary, OperationStats, StatsSnapshot};
use crate::exec::Failure;
use crate::journal::Verdict;

/// What one run found.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub scenario: String,
    pub plan_digest: String,
    pub verdict: Verdict,
    /// Why the run was skipped or incomplete.
    pub reason: Option<String>,
    /// The first [`crate::exec::KEPT_FAILURES`] failures; `counts.failed` counts all (every one is in the journal).
    pub failures: Vec<Failure>,
    pub counts: Counts,
    /// `None` when the run was skipped before its first request.
    pub timings: Option<Timings>,
    pub journal: Option<PathBuf>,
    /// Where the failing journal was copied.
    pub corpus: Option<PathBuf>,
    /// Buckets that could not be removed (or were kept).
    pub left_behind: Vec<String>,
    /// Operations the target answered 501 NotImplemented, with counts: not bugs, but not verified either.
    pub unsupported: Vec<(String, u64)>,
    /// What checks measured (time-to-replicate, time-to-expire...).
    pub notes: Vec<String>,
    /// What the nemesis injected and what it did to the ops, when the run had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<crate::nemesis::NemesisSummary>,
    /// Every op's latency, for merging across runs (workers ship it to the controller); not in the JSON.
    #[serde(skip)]
    pub histogram: Option<LatencyHistogram>,
}

/// How much a run did and found. The same type travels in worker results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Every op, setup and cleanup included.
    pub ops: u64,
    /// Ops that did not succeed (after retries); many are expected (reads of deleted keys).
    pub op_errors: u64,
    /// Expectations judged.
    pub expectations: u64,
    /// Expectations that failed.
    pub failed: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
}

impl Counts {
    /// The driver's totals with the expectations judged and failed.
    pub fn new(stats: &StatsSnapshot, expectations: u64, failed: u64) -> Counts {
        Counts {
            ops: stats.ops,
            op_errors: stats.op_errors,
            expectations,
            failed,
            bytes_written: stats.bytes_written,
            bytes_read: stats.bytes_read,
        }
    }
}

/// How fast a run went. The same type travels in worker results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    pub elapsed_s: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub latency_ms: LatencySummary,
    /// Count, errors and latency per S3 operation, in name order.
    #[serde(default)]
    pub operations: Vec<OperationStats>,
    /// Under `--rate`: the intended and achieved rates. `latency_ms` then counts from each op's intended start
    /// (coordinated omission corrected); `service_latency_ms` from when it was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateTimings>,
}

/// How a paced (`--rate`) run kept to its schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTimings {
    pub intended_ops_per_s: f64,
    pub achieved_ops_per_s: f64,
    /// Always `"intended start"`: what `latency_ms` is measured from.
    pub latency_from: String,
    pub service_latency_ms: LatencySummary,
}

impl Timings {
    /// A paced run's timings: says the rate it was asked for beside the one it achieved.
    pub fn paced(mut self, intended: Option<f64>, stats: &StatsSnapshot) -> Timings {
        self.rate = intended.map(|intended_ops_per_s| RateTimings {
            intended_ops_per_s,
            achieved_ops_per_s: stats.ops_per_s,
            latency_from: "intended start".into(),
            service_latency_ms: stats.service_latency_ms.clone(),
        });
        self
    }
}

impl From<&StatsSnapshot> for Timings {
    fn from(stats: &StatsSnapshot) -> Timings {
        Timings {
            elapsed_s: stats.elapsed_s,
            ops_per_s: stats.ops_per_s,
            mib_per_s: stats.mib_per_s,
            latency_ms: stats.latency_ms.clone(),
            operations: stats.operations.clone(),
            rate: None,
        }
    }
}
