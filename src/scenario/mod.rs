//! Scenario files: what to run, on which buckets, with which objects.
//!
//! A scenario file is YAML, either a bare list of scenarios or a mapping with
//! a `scenarios:` list and an optional `clouds:` mapping that only exists to
//! hold anchors (`AWS: &AWS aws`). Parsing validates everything up front —
//! unknown keys, unknown test/check/cloud names, sizes, durations — and
//! reports each problem as `path:line:col: message`, so a long run never
//! starts from a file that cannot mean what its author intended.
//!
//! The parsed [`Scenario`] values are plain data (serde round-trippable) so a
//! run can record exactly which scenario it executed, and
//! [`Origin::source_digest`] pins the file text it came from.

mod error;
mod lines;
mod load;
mod random_ops;
mod schema;
mod units;

#[cfg(test)]
mod tests;

pub use error::ScenarioError;
pub use load::{load_path, parse_str, select};
pub use random_ops::{
    NastyKeys, RandomOpsSpec, MAX_KEYS as RANDOM_OPS_MAX_KEYS, MAX_OPS as RANDOM_OPS_MAX_OPS, OP_KINDS,
};
pub use schema::{json_schema, MAX_BUCKETS, MAX_OBJECT_COUNT};
pub use units::{format_size, parse_duration_secs, parse_size, MAX_OBJECT_SIZE};

use serde::{Deserialize, Serialize};

/// Cloud (backend) names a scenario may mention, in canonical upper case.
///
/// Scenario files may use any case (`aws`); names are normalised to these.
pub const KNOWN_CLOUDS: &[&str] = &["AWS", "GCP", "AZR", "S3C", "SPD", "ZNK", "S3"];

/// The test and check names the caller can run; anything else in a file is
/// an error, caught at load time instead of minutes into a run.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// Workload names allowed under `tests:`.
    pub tests: &'a [&'a str],
    /// Check names allowed under `checks:`.
    pub checks: &'a [&'a str],
}

/// One validated scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// Unique among everything loaded together; how users select scenarios.
    pub name: String,
    /// Buckets to create; at least one, at most [`MAX_BUCKETS`].
    pub buckets: Vec<BucketSpec>,
    /// Objects to write into each bucket.
    pub objects: ObjectSpec,
    /// Workloads to run, in order; never empty.
    pub tests: Vec<String>,
    /// Checks to run afterwards, in order; may be empty.
    pub checks: Vec<String>,
    /// How `random-ops` draws its operations (defaults when the section is absent).
    pub random_ops: RandomOpsSpec,
    /// Where the scenario was defined, for messages and reproducibility.
    pub origin: Origin,
}

/// Where a scenario came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The file path as given by the caller (or the label passed to [`parse_str`]).
    pub file: String,
    /// 1-based line of the scenario's `name:` key; 0 if it could not be determined.
    pub line: usize,
    /// blake3 hex digest of the whole file text, so a recorded run can tell
    /// whether the scenario file changed since.
    pub source_digest: String,
}

/// Requirements for one bucket of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BucketSpec {
    /// Whether (and to where) the bucket replicates.
    pub replication: Replication,
    /// Clouds the bucket itself may live on (upper case); empty means any.
    pub clouds: Vec<String>,
    /// A transient bucket (data may be dropped once replicated).
    pub transient: bool,
    /// Lifecycle expiration in seconds, if any (always > 0).
    pub expiration_secs: Option<u64>,
    /// Whether the bucket has versioning enabled.
    pub versioning: bool,
}

/// Replication requirement of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Replication {
    /// No replication (`false` or absent).
    #[default]
    Off,
    /// Replicate to any cloud other than the bucket's own (`true`).
    AnyOtherCloud,
    /// Replicate to one of these clouds (upper case, distinct, non-empty).
    Clouds(Vec<String>),
}

/// The objects a scenario writes per bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSpec {
    /// Objects per bucket (default 1); the knob users turn to scale a run.
    pub count: u64,
    /// Object size (default 0 bytes).
    pub size: SizeSpec,
}

impl Default for ObjectSpec {
    fn default() -> Self {
        ObjectSpec { count: 1, size: SizeSpec::Fixed(0) }
    }
}

/// Object size: fixed, or drawn from an inclusive range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SizeSpec {
    /// Every object has exactly this many bytes.
    Fixed(u64),
    /// Sizes lie in `min..=max` bytes (`min <= max` is guaranteed by parsing).
    Range { min: u64, max: u64 },
}

impl SizeSpec {
    /// Smallest possible object size in bytes.
    pub fn min(&self) -> u64 {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::Range { min, .. } => min,
        }
    }

    /// Largest possible object size in bytes; what buffers must be sized for.
    pub fn max(&self) -> u64 {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::Range { max, .. } => max,
        }
    }
}

impl std::fmt::Display for SizeSpec {
    /// `10M`, or `0B..2M` for a range — the same notation files use.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match *self {
            SizeSpec::Fixed(n) => f.write_str(&format_size(n)),
            SizeSpec::Range { min, max } => write!(f, "{}..{}", format_size(min), format_size(max)),
        }
    }
}
