//! The config file (`--config FILE`): which S3 endpoint to test, how to authenticate, where it places data.
//!
//! Secrets are never in this file's values: it names environment variables or an AWS profile, and only those names —
//! never the secrets — may show up in a journal or log. Errors carry `file:line:column`.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{Backend, Placement, Role, TargetSetup};

/// The parsed config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub target: Option<TargetConfig>,
    /// The clouds the target places or replicates data on. Empty = the target is its own single `S3` backend.
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    #[serde(default)]
    pub replication: Option<ReplicationConfig>,
    #[serde(default)]
    pub lifecycle: Option<LifecycleConfig>,
    /// The target's transient-source location (Zenko): buckets with `transient: true` are created there.
    #[serde(default)]
    pub transient_location: Option<String>,
    /// Faults sfko injects while workloads run: network faults through its own proxy, and user actions.
    #[serde(default)]
    pub nemesis: Option<NemesisConfig>,
    /// The flexible checksum algorithms writes may send (`[crc32, crc32c, crc64nvme, sha1, sha256]`, the default);
    /// `[]` sends none, for a target that does not implement them.
    #[serde(default)]
    pub checksums: Option<Vec<String>>,
    /// A flexible checksum every scripted single PutObject sends as an `x-amz-checksum-*` header (e.g. `crc64nvme`),
    /// as an SDK configured with that algorithm does; none when absent (`random-ops` draws its own per write).
    #[serde(default)]
    pub write_checksum: Option<String>,
}

/// The nemesis section:
/// `nemesis: {network: [reset-after, truncate], every: 40, length: 8, actions: [{name: kill-2, run: "...", heal: "...", health: "..."}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NemesisConfig {
    /// Network faults (names, or `all`).
    #[serde(default)]
    pub network: Vec<String>,
    /// Op positions between the starts of two fault windows (default 40).
    #[serde(default)]
    pub every: Option<u64>,
    /// Op positions a window lasts (default 8).
    #[serde(default)]
    pub length: Option<u64>,
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
}

/// A user action: `run` breaks something, `heal` repairs it when the window ends, `health` (exit 0 = healthy) is
/// polled after the heal; checks start only once it passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub name: String,
    pub run: String,
    #[serde(default)]
    pub heal: Option<String>,
    #[serde(default)]
    pub health: Option<String>,
}

/// The S3 endpoint under test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialSource>,
}

/// Where credentials come from: two environment variables, or an AWS profile. Absent = the AWS default chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSource {
    #[serde(default)]
    pub access_key_env: Option<String>,
    #[serde(default)]
    pub secret_key_env: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

/// One cloud location of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    pub cloud: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialSource>,
    /// `home` (buckets may live here), `replica` (replicas are read here; no bucket is created here) or `both`.
    #[serde(default)]
    pub role: Role,
}

/// How replication is switched on and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplicationConfig {
    /// `aws` (PutBucketReplication to the destination bucket's ARN), `zenko` (destination StorageClass = location
    /// name), `zone` (nothing to switch on: the cluster replicates every bucket).
    pub mode: String,
    #[serde(default)]
    pub deadline: Option<String>,
    /// IAM role ARN for `aws` mode.
    #[serde(default)]
    pub role: Option<String>,
}

/// The JSON Schema (draft 2020-12) of the config file, derived from the types it is parsed into.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<Config>();
    schema.insert("title".into(), "sfko config file".into());
    schema.to_value()
}

/// How long expiration checks wait past an object's due time when the config does not say.
pub const DEFAULT_LIFECYCLE_DEADLINE_SECS: u64 = 60;

/// How long replication checks wait when the config does not say.
pub const DEFAULT_REPLICATION_DEADLINE_SECS: u64 = 120;

/// How long a lifecycle "day" lasts on this target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    pub day: String,
    /// How long after an object is due checks wait for it to be gone (default 60s).
    #[serde(default)]
    pub deadline: Option<String>,
}

/// A config error, located.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A config sfko cannot use is the user's input to fix: exit 2, with the located message.
impl From<ConfigError> for crate::exit::Fatal {
    fn from(e: ConfigError) -> crate::exit::Fatal {
        crate::exit::Fatal::bad_input(e.0)
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read config: {e}", path.display())))?;
        Config::parse(&path.display().to_string(), &text)
    }

    /// Parses config text; `label` names the file in errors.
    pub fn parse(label: &str, text: &str) -> Result<Config, ConfigError> {
        let config: Config = serde_norway::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!("{}:{}", l.line(), l.column())).unwrap_or_else(|| "1:1".into());
            ConfigError(format!("{label}:{at}: {}", strip_location(&e.to_string())))
        })?;
        config.validate(label)?;
        Ok(config)
    }

    fn validate(&self, label: &str) -> Result<(), ConfigError> {
        if !self.backends.is_empty() && !self.backends.iter().any(|b| b.role.home()) {
            return Err(ConfigError(format!(
                "{label}: backends: every backend is `role: replica`, so no bucket has a home; mark where buckets \
                 live `role: home` (name it `target` for the target's own default location)"
            )));
        }
        for (i, backend) in self.backends.iter().enumerate() {
            let cloud = backend.cloud.to_ascii_uppercase();
            if !crate::scenario::KNOWN_CLOUDS.contains(&cloud.as_str()) {
                return Err(ConfigError(format!(
                    "{label}: backends[{i}] ({}): unknown cloud '{}'; expected one of {}",
                    backend.name,
                    backend.cloud,
                    crate::scenario::KNOWN_CLOUDS.join(", ")
                )));
            }
        }
        if let Some(nemesis) = &self.nemesis {
            for name in nemesis.network.iter().filter(|n| n.as_str() != "all") {
                crate::plan::nemesis::NetFault::parse(name)
                    .map_err(|e| ConfigError(format!("{label}: nemesis.network: {e}")))?;
            }
            let (every, length) = (nemesis.every.unwrap_or(1), nemesis.length.unwrap_or(1));
            if every == 0 || length == 0 {
                return Err(ConfigError(format!("{label}: nemesis: every and length must be at least 1")));
            }
        }
        if let Some(replication) = &self.replication {
            if !["aws", "zenko", "zone"].contains(&replication.mode.as_str()) {
                return Err(ConfigError(format!(
                    "{label}: replication.mode: unknown mode '{}'; expected aws, zenko or zone",
                    replication.mode
                )));
            }
        }
        self.target_setup().map_err(|e| ConfigError(format!("{label}: {}", e.0)))?;
        if let Some(source) = self.target.as_ref().and_then(|t| t.credentials.as_ref()) {
            if source.access_key_env.is_some() != source.secret_key_env.is_some() {
                return Err(ConfigError(format!(
                    "{label}: target.credentials: access_key_env and secret_key_env go together"
                )));
            }
        }
        Ok(())
    }

    /// The backends a plan places buckets and replicas on, with their roles.
    pub fn plan_backends(&self) -> Vec<Placement> {
        if self.backends.is_empty() {
            return vec![Placement::target_itself()];
        }
        self.backends
            .iter()
            .map(|b| Placement {
                backend: Backend {
                    name: b.name.clone(),
                    cloud: b.cloud.to_ascii_uppercase(),
                    readable: b.endpoint.is_some(),
                    bucket: b.bucket.clone(),
                    key: b.key.clone(),
                },
                role: b.role,
            })
            .collect()
    }

    /// The target-side settings a plan records (replication mode and deadline, lifecycle day).
    pub fn target_setup(&self) -> Result<TargetSetup, ConfigError> {
        let parse = |what: &str, text: &str| {
            crate::scenario::parse_duration_secs(text).map_err(|e| ConfigError(format!("{what}: {e}")))
        };
        let mut setup =
            TargetSetup { replication_deadline_secs: DEFAULT_REPLICATION_DEADLINE_SECS, ..TargetSetup::default() };
        if let Some(replication) = &self.replication {
            setup.replication_mode = Some(replication.mode.clone());
            setup.replication_role = replication.role.clone();
            if let Some(deadline) = &replication.deadline {
                setup.replication_deadline_secs = parse("replication.deadline", deadline)?;
            }
        }
        setup.lifecycle_deadline_secs = DEFAULT_LIFECYCLE_DEADLINE_SECS;
        setup.transient_location = self.transient_location.clone();
        if let Some(names) = &self.checksums {
            let parsed: Result<Vec<_>, String> = names.iter().map(|n| crate::checksum::Algorithm::parse(n)).collect();
            setup.checksums = Some(parsed.map_err(|e| ConfigError(format!("checksums: {e}")))?);
        }
        if let Some(name) = &self.write_checksum {
            let algorithm = crate::checksum::Algorithm::parse(name);
            setup.write_checksum = Some(algorithm.map_err(|e| ConfigError(format!("write_checksum: {e}")))?);
        }
        if let Some(lifecycle) = &self.lifecycle {
            setup.lifecycle_day_secs = Some(parse("lifecycle.day", &lifecycle.day)?);
            if let Some(deadline) = &lifecycle.deadline {
                setup.lifecycle_deadline_secs = parse("lifecycle.deadline", deadline)?;
            }
        }
        Ok(setup)
    }

    /// blake3 of the config with every credential reference removed: identifies the setup in a journal.
    pub fn digest(&self) -> String {
        let mut public = self.clone();
        if let Some(target) = public.target.as_mut() {
            target.credentials = None;
        }
        for backend in &mut public.backends {
            backend.credentials = None;
        }
        // Action commands may carry secrets; their names identify them.
        if let Some(nemesis) = public.nemesis.as_mut() {
            for action in &mut nemesis.actions {
                (action.run, action.heal, action.health) = (String::new(), None, None);
            }
        }
        let json = serde_json::to_vec(&public).unwrap_or_default();
        blake3::hash(&json).to_hex()[..16].to_string()
    }
}

/// serde_norway appends " at line X column Y"; we print the location up front instead.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located() {
        let err = Config::parse("c.yaml", "target:\n  endpoint: http://x\n  regoin: eu\n").unwrap_err();
        assert!(err.0.starts_with("c.yaml:3:3: "), "{}", err.0);
        assert!(err.0.contains("regoin"), "{}", err.0);
    }

    #[test]
    fn digest_ignores_credentials() {
        let a = Config::parse("a", "target:\n  endpoint: http://x\n  credentials: {profile: prod}\n").unwrap();
        let b = Config::parse("b", "target:\n  endpoint: http://x\n").unwrap();
        assert_eq!(a.digest(), b.digest());
    }
}
