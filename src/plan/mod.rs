//! Resolving a scenario and a seed into a [`Plan`]: every random choice of a run, made up front.
//!
//! Resolution is pure: no I/O, no clock, no OS randomness, no hash-map order. Two machines resolving the same scenario,
//! seed and backend list get byte-identical plans, which is what `plan_digest` (blake3 of the plan's bincode bytes)
//! lets a user verify. Every choice draws from a stream derived from the seed and a label (see [`crate::seed`]).

pub mod nemesis;
mod objects;
mod size;

pub use objects::Objects;

use serde::{Deserialize, Serialize};

use crate::content::{ContentKey, PartLayout};
use crate::scenario::{BucketSpec, RandomOpsSpec, Replication, Scenario};
use crate::seed::Seed;

/// Bump when the plan's shape or any resolution rule changes (it changes plan digests of old seeds).
pub const PLAN_FORMAT: u32 = 9;

/// A place where buckets can live: the target itself, or a cloud location the target places data on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// The target's location name for it (`LocationConstraint`); `target` for the target itself.
    pub name: String,
    /// AWS | GCP | AZR | S3C | SPD | ZNK | S3.
    pub cloud: String,
    /// Whether checks can read this backend directly (it has its own endpoint in the config).
    pub readable: bool,
    /// Cloud-side bucket; `None` = the same name as the target bucket.
    pub bucket: Option<String>,
    /// Cloud-side key layout, with `{key}` and `{bucket}` placeholders; `None` = `{key}`.
    pub key: Option<String>,
}

/// What a configured backend is for: where buckets may live (`home`), where replicas are read (`replica`), or both
/// (the default). A multisite zone that only receives replicas is `replica`, so no bucket is created there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Home,
    Replica,
    #[default]
    Both,
}

impl Role {
    pub fn home(self) -> bool {
        matches!(self, Role::Home | Role::Both)
    }

    pub fn replica(self) -> bool {
        matches!(self, Role::Replica | Role::Both)
    }
}

/// A backend with its role: what placement chooses from. The role decides the choice but is not part of the plan
/// (only the chosen backends are), so a config without roles resolves the plans it always did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    #[serde(flatten)]
    pub backend: Backend,
    pub role: Role,
}

impl Placement {
    /// The target itself as its own only backend.
    pub fn target_itself() -> Placement {
        Placement { backend: Backend::target_itself(), role: Role::Both }
    }
}

impl Backend {
    /// The only backend when nothing is configured: the target stores the data itself.
    pub fn target_itself() -> Backend {
        Backend { name: "target".into(), cloud: "S3".into(), readable: false, bucket: None, key: None }
    }

    /// Where an object of target bucket `bucket` lives on this backend.
    pub fn locate(&self, bucket: &str, key: &str) -> (String, String) {
        let cloud_bucket = self.bucket.clone().unwrap_or_else(|| bucket.to_string());
        let cloud_key = match &self.key {
            Some(layout) => layout.replace("{bucket}", bucket).replace("{key}", key),
            None => key.to_string(),
        };
        (cloud_bucket, cloud_key)
    }
}

/// How the target is set up for the scenario's bucket options: resolved from the config, recorded in the plan so a
/// replay knows the deadlines from the journal alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSetup {
    /// `aws`, `zenko` or `zone` (see the config's `replication.mode`).
    pub replication_mode: Option<String>,
    /// IAM role for `aws` mode replication.
    pub replication_role: Option<String>,
    /// How long checks wait for replication.
    pub replication_deadline_secs: u64,
    /// Length of a lifecycle "day" on this target.
    pub lifecycle_day_secs: Option<u64>,
    /// How long after an object is due checks wait for it to disappear.
    pub lifecycle_deadline_secs: u64,
    /// Location of transient-source buckets.
    pub transient_location: Option<String>,
    /// The checksum algorithms writes may send (config `checksums:`); `None` = all of them.
    pub checksums: Option<Vec<crate::checksum::Algorithm>>,
    /// The checksum every scripted single PutObject sends as a header (config `write_checksum:`).
    pub write_checksum: Option<crate::checksum::Algorithm>,
}

impl TargetSetup {
    /// The checksum algorithms writes may send.
    pub fn checksum_algorithms(&self) -> Vec<crate::checksum::Algorithm> {
        self.checksums.clone().unwrap_or_else(|| crate::checksum::Algorithm::ALL.to_vec())
    }
}

/// Everything a run will do, resolved from (scenario, seed, backends). It holds what the scenario *means*, not its
/// text: editing a comment or another scenario in the same file leaves the plan (and its digest) unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub seed: Seed,
    pub scenario: String,
    pub buckets: Vec<BucketPlan>,
    /// Workload names in scenario order (the scenario's `tests:`).
    pub workloads: Vec<String>,
    /// Check names in scenario order.
    pub checks: Vec<String>,
    /// Why the plan cannot run on these backends, if it cannot.
    pub unsatisfiable: Option<String>,
    pub setup: TargetSetup,
    /// The `random-ops` program, when the scenario runs that workload.
    pub random_ops: Option<RandomOpsPlan>,
}

impl Plan {
    /// Whether a workload sends `If-Match` with an ETag an earlier write got back (the driver then keeps those).
    pub fn sends_if_match(&self) -> bool {
        self.random_ops.is_some() || self.workloads.iter().any(|w| w == "conditional-race")
    }
}

/// What the `random-ops` workload draws: the scenario's options, and which of the drawn operations to issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomOpsPlan {
    pub spec: RandomOpsSpec,
    /// Positions (in the drawn sequence) of the operations to issue; `None` = all. `sfko shrink` narrows this; an
    /// operation whose upload, version or page it refers to is not issued is left out too.
    pub keep: Option<Vec<u32>>,
}

/// One bucket of the plan with its options and objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPlan {
    pub index: u32,
    pub name: String,
    pub backend: Backend,
    pub replication: Option<Backend>,
    pub versioning: bool,
    pub transient: bool,
    pub expiration_secs: Option<u64>,
    pub clouds: Vec<String>,
    /// Drawn from the seed on demand (see [`Objects`]).
    pub objects: Objects,
}

/// One object: where it goes, how big it is, and the key its bytes derive from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPlan {
    pub index: u32,
    pub key: String,
    pub size: u64,
    pub content: ContentKey,
    /// Part layout used whenever this object is written by multipart upload.
    pub parts: PartLayout,
}

impl Plan {
    /// blake3 (hex) of the plan's canonical bincode bytes.
    pub fn digest(&self) -> String {
        // Encoded straight into the hash: a plan of a million objects is never held as bytes too.
        let mut hasher = std::io::BufWriter::with_capacity(1 << 16, blake3::Hasher::new());
        let encoded = bincode::serde::encode_into_std_write(self, &mut hasher, bincode::config::standard());
        match encoded.map_err(std::io::Error::other).and_then(|_| hasher.into_inner().map_err(|e| e.into_error())) {
            Ok(hasher) => hasher.finalize().to_hex().to_string(),
            // Encoding a plain struct into a hasher cannot fail; keep a stable marker rather than panicking.
            Err(_) => "unencodable-plan".into(),
        }
    }

    /// Total objects and bytes the plan writes once.
    pub fn totals(&self) -> (u64, u64) {
        self.buckets.iter().flat_map(|b| b.objects.sizes()).fold((0, 0), |(n, bytes), size| (n + 1, bytes + size))
    }

    /// Stream key for a workload or check's own randomness, by position in the scenario.
    pub fn stream(&self, label: &str, position: usize) -> crate::seed::Stream {
        self.seed.stream(label, &[position as u64])
    }
}

/// Bucket names start with this unless `--bucket-prefix` says otherwise.
pub const DEFAULT_BUCKET_PREFIX: &str = "sfko";

/// Checks a bucket prefix: lowercase letters, digits and hyphens, starting with a letter, at most 20 characters
/// (bucket names must stay within S3's 63).
pub fn validate_bucket_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 20
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bucket prefix '{prefix}': expected 1-20 lowercase letters, digits or hyphens, starting with a letter"
        ))
    }
}

/// Resolves `scenario` for `seed` on the given backends (the first is the default placement). Bucket names are
/// `<prefix>-<seed as 16 hex>-<scenario tag>-<index>`: runs that must not share buckets (say, several workers running
/// the same seed) use different prefixes; the prefix is part of the plan and so of its digest.
pub fn resolve(
    scenario: &Scenario,
    seed: Seed,
    backends: &[Placement],
    bucket_prefix: &str,
    setup: &TargetSetup,
) -> Plan {
    let scenario_tag = &blake3::hash(scenario.name.as_bytes()).to_hex()[..8];
    let mut unsatisfiable = None;
    let buckets = scenario
        .buckets
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let name = format!("{bucket_prefix}-{:016x}-{scenario_tag}-{index}", seed.0);
            let (backend, replication, why) = place(seed, index, spec, backends);
            if unsatisfiable.is_none() {
                unsatisfiable = why;
            }
            BucketPlan {
                index: index as u32,
                name,
                backend,
                // S3 (and Zenko) replicate only versioned buckets; `zone` replication needs nothing.
                versioning: spec.versioning
                    || (replication.is_some() && matches!(setup.replication_mode.as_deref(), Some("aws" | "zenko"))),
                replication,
                transient: spec.transient,
                expiration_secs: spec.expiration_secs,
                clouds: spec.clouds.clone(),
                objects: Objects::seeded(
                    seed,
                    index as u32,
                    u32::try_from(scenario.objects.count).unwrap_or(u32::MAX),
                    scenario.objects.size.clone(),
                ),
            }
        })
        .collect();
    Plan {
        format: PLAN_FORMAT,
        seed,
        scenario: scenario.name.clone(),
        buckets,
        workloads: scenario.tests.clone(),
        checks: scenario.checks.clone(),
        unsatisfiable,
        setup: setup.clone(),
        random_ops: scenario
            .tests
            .iter()
            .any(|t| t == "random-ops")
            .then(|| RandomOpsPlan { spec: scenario.random_ops.clone(), keep: None }),
    }
}

/// Chooses the bucket's home among the backends that may hold buckets and its `clouds` allow, and a replication
/// target of an allowed cloud among those that take replicas.
fn place(
    seed: Seed,
    index: usize,
    spec: &BucketSpec,
    placements: &[Placement],
) -> (Backend, Option<Backend>, Option<String>) {
    let mut stream = seed.stream("bucket-placement", &[index as u64]);
    let allowed = |b: &&Backend, clouds: &[String]| clouds.is_empty() || clouds.iter().any(|c| c == &b.cloud);
    let backends: Vec<Backend> = placements.iter().map(|p| p.backend.clone()).collect();
    let homes: Vec<&Backend> =
        placements.iter().filter(|p| p.role.home()).map(|p| &p.backend).filter(|b| allowed(b, &spec.clouds)).collect();
    let Some(home) = stream.index(homes.len()).map(|i| homes[i].clone()) else {
        let why = format!(
            "bucket {index} wants clouds [{}] but the configured backends are {}",
            spec.clouds.join(", "),
            describe(&backends)
        );
        return (Backend::target_itself(), None, Some(why));
    };
    let wanted: &[String] = match &spec.replication {
        Replication::Off => return (home, None, None),
        Replication::AnyOtherCloud => &[],
        Replication::Clouds(clouds) => clouds,
    };
    let targets: Vec<&Backend> = placements
        .iter()
        .filter(|p| p.role.replica())
        .map(|p| &p.backend)
        .filter(|b| b.name != home.name && allowed(b, wanted))
        .collect();
    match stream.index(targets.len()) {
        Some(i) => (home, Some(targets[i].clone()), None),
        None => {
            let why = format!(
                "bucket {index} replicates to {} but no second backend fits; configured backends: {}",
                if wanted.is_empty() { "any other cloud".to_string() } else { wanted.join(", ") },
                describe(&backends)
            );
            (home, None, Some(why))
        }
    }
}

fn describe(backends: &[Backend]) -> String {
    backends.iter().map(|b| format!("{} ({})", b.name, b.cloud)).collect::<Vec<_>>().join(", ")
}
