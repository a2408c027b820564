//! The S3 server under test: the embedded one when nothing is configured, or an external endpoint.

pub mod client;
mod conditions;
mod drain;
pub mod embedded;
pub mod faults;
pub mod fixtures;
mod fs_layout;
pub mod http_layer;
mod listing;
mod multipart;
mod null_versions;
mod part_checksums;
mod parts;
pub mod process;
pub mod request_shape;
mod rollback;
mod stripes;
mod upload_listing;
mod version_log;
pub mod versioned;

use aws_sdk_s3::Client;

use crate::config::{Config, CredentialSource};
use crate::exit::Fatal;
use client::ClientCredentials;
use embedded::EmbeddedServer;

/// What the target is known to support; a scenario that needs more is skipped with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `None` = unknown until tried (external servers): setup probes it.
    pub versioning: Option<bool>,
    pub lifecycle: bool,
    pub replication: bool,
    pub transient: bool,
}

impl Capabilities {
    /// What a config says its target can do, before connecting (`embedded`: no endpoint, so sfko's own s3s-fs,
    /// versioned by [`versioned`]).
    pub fn from_config(config: &Config, embedded: bool) -> Capabilities {
        Capabilities {
            versioning: if embedded { Some(true) } else { None },
            lifecycle: config.lifecycle.is_some(),
            // Judging replication means reading the cloud-side copy: a `replication:` section and a backend with
            // its own endpoint to read.
            replication: config.replication.is_some() && config.backends.iter().any(|b| b.endpoint.is_some()),
            transient: config.transient_location.is_some(),
        }
    }
}

/// A connected target.
pub struct Target {
    pub client: Client,
    /// Endpoint URL (no credentials), or `embedded (http://127.0.0.1:PORT)`.
    pub label: String,
    pub capabilities: Capabilities,
    pub config_digest: String,
    /// Clients of the backends that have their own endpoint, by config name (checks read them directly).
    pub backend_clients: std::collections::BTreeMap<String, Client>,
    /// How long to wait when the target stops answering (`--stall-timeout`, `--stall-wait`); every driver over
    /// this target watches with it.
    pub stall: crate::driver::StallPolicy,
    /// The URL the client sends to (before any proxy).
    endpoint: String,
    /// The nemesis each run over this target carries out (config merged with the command line).
    pub nemesis: Option<crate::config::NemesisConfig>,
    /// sfko's fault proxy, when the target is reached through it (the client then talks to the proxy).
    pub proxy: Option<std::sync::Arc<crate::nemesis::proxy::Proxy>>,
    /// Keeps the embedded server alive as long as the target.
    embedded: Option<EmbeddedServer>,
}

impl Target {
    /// Connects to the configured endpoint, or starts the embedded server (with `faults`, if any).
    pub async fn connect(
        endpoint: Option<&str>,
        region: Option<&str>,
        config: &Config,
        faults: Option<faults::FaultPlan>,
    ) -> Result<Target, Fatal> {
        let target_config = config.target.clone().unwrap_or_default();
        let endpoint = endpoint.map(str::to_string).or(target_config.endpoint.clone());
        let region = region.map(str::to_string).or(target_config.region.clone()).unwrap_or_else(|| "us-east-1".into());
        let capabilities = Capabilities::from_config(config, false);
        if endpoint.is_some() && faults.is_some() {
            return Err(Fatal::bad_input(
                "--embedded-faults applies to the embedded target only; drop --endpoint (and the config's target endpoint)",
            ));
        }
        let Some(endpoint) = endpoint else {
            let described = faults.as_ref().map(|f| f.describe());
            let server = match faults {
                Some(plan) => EmbeddedServer::start_with(move |fs, root| faults::FaultyFs::new(fs, root, plan)).await,
                None => EmbeddedServer::start().await,
            }
            .map_err(|e| Fatal::harness(format!("cannot start the embedded S3 server: {e}")))?;
            let mut target = Self::embedded(server, config.digest()).await;
            if let Some(described) = described {
                target.label = format!("{} with faults {described}", target.label);
            }
            target.backend_clients = backend_clients(config, &region).await?;
            target.capabilities.replication = capabilities.replication;
            target.capabilities.lifecycle = capabilities.lifecycle;
            return Ok(target);
        };
        validate_endpoint(&endpoint)?;
        let credentials = resolve_credentials(target_config.credentials.as_ref())?;
        client::check_credentials(&credentials).await.map_err(Fatal::bad_input)?;
        let client = client::build(&endpoint, &region, &credentials);
        let backend_clients = backend_clients(config, &region).await?;
        Ok(Target {
            client,
            label: endpoint.clone(),
            endpoint,
            capabilities,
            config_digest: config.digest(),
            backend_clients,
            stall: crate::driver::StallPolicy::default(),
            nemesis: None,
            proxy: None,
            embedded: None,
        })
    }

    /// A target over an already running embedded server (tests, `sfko selftest`).
    pub async fn embedded(server: EmbeddedServer, config_digest: String) -> Target {
        let mut target = Self::sfko_serve(server.endpoint(), config_digest);
        target.label = format!("embedded ({})", server.endpoint());
        target.embedded = Some(server);
        target
    }

    /// A target over sfko's reference server at `endpoint` (in this process or a `sfko serve` with its default
    /// keys): versioned, nothing else configured.
    pub fn sfko_serve(endpoint: &str, config_digest: String) -> Target {
        let credentials = ClientCredentials::Static {
            access_key: embedded::EMBEDDED_ACCESS_KEY.into(),
            secret_key: embedded::EMBEDDED_SECRET_KEY.into(),
        };
        let client = client::build(endpoint, "us-east-1", &credentials);
        Target {
            client,
            label: format!("sfko serve ({endpoint})"),
            endpoint: endpoint.to_string(),
            capabilities: Capabilities {
                // s3s-fs has none; the versioning layer in `versioned` adds it.
                versioning: Some(true),
                lifecycle: false,
                replication: false,
                transient: false,
            },
            config_digest,
            backend_clients: std::collections::BTreeMap::new(),
            stall: crate::driver::StallPolicy::default(),
            nemesis: None,
            proxy: None,
            embedded: None,
        }
    }

    /// Puts sfko's fault proxy between the client and the target (once; later calls keep the first proxy).
    pub async fn route_through_proxy(&mut self) -> Result<(), Fatal> {
        if self.proxy.is_some() {
            return Ok(());
        }
        let endpoint = self.endpoint.clone();
        let Some(upstream) = endpoint.strip_prefix("http://") else {
            return Err(Fatal::bad_input(format!(
                "the network nemesis needs a plain-HTTP endpoint (its proxy forwards bytes, and TLS would not \
                 verify through it); {endpoint} is not one"
            )));
        };
        let upstream = upstream.split('/').next().unwrap_or_default();
        let upstream = if upstream.contains(':') { upstream.to_string() } else { format!("{upstream}:80") };
        let proxy = crate::nemesis::proxy::Proxy::start(upstream)
            .await
            .map_err(|e| Fatal::harness(format!("cannot start the nemesis proxy: {e}")))?;
        // Workload requests name their op, so the proxy hits the same requests in a run and in its replay.
        let config =
            self.client.config().to_builder().endpoint_url(proxy.endpoint()).interceptor(crate::driver::OpTag).build();
        self.client = Client::from_conf(config);
        self.proxy = Some(std::sync::Arc::new(proxy));
        Ok(())
    }

    /// Whether this target is the in-process server.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// Clients for every backend with its own endpoint (credentials: its own, else the target's resolution order).
async fn backend_clients(config: &Config, region: &str) -> Result<std::collections::BTreeMap<String, Client>, Fatal> {
    let mut clients = std::collections::BTreeMap::new();
    for backend in &config.backends {
        let Some(endpoint) = &backend.endpoint else { continue };
        validate_endpoint(endpoint)?;
        let credentials = resolve_credentials(backend.credentials.as_ref())?;
        client::check_credentials(&credentials).await.map_err(Fatal::bad_input)?;
        clients.insert(backend.name.clone(), client::build(endpoint, region, &credentials));
    }
    Ok(clients)
}

fn validate_endpoint(endpoint: &str) -> Result<(), Fatal> {
    let ok = (endpoint.starts_with("http://") || endpoint.starts_with("https://")) && endpoint.len() > "https://".len();
    if !ok {
        return Err(Fatal::bad_input(format!(
            "--endpoint '{endpoint}': expected an http:// or https:// URL, e.g. http://127.0.0.1:9000"
        )));
    }
    if endpoint.contains('@') {
        return Err(Fatal::bad_input(
            "--endpoint must not carry credentials; set SFKO_ACCESS_KEY/SFKO_SECRET_KEY or name them in --config",
        ));
    }
    Ok(())
}

/// Config-named env vars or profile first, then SFKO_ACCESS_KEY/SFKO_SECRET_KEY, then the AWS default chain.
fn resolve_credentials(source: Option<&CredentialSource>) -> Result<ClientCredentials, Fatal> {
    let from_env = |access: &str, secret: &str| -> Result<Option<ClientCredentials>, Fatal> {
        match (std::env::var(access), std::env::var(secret)) {
            (Ok(access_key), Ok(secret_key)) => Ok(Some(ClientCredentials::Static { access_key, secret_key })),
            _ => Ok(None),
        }
    };
    if let Some(source) = source {
        if let (Some(access), Some(secret)) = (&source.access_key_env, &source.secret_key_env) {
            return from_env(access, secret)?.ok_or_else(|| {
                Fatal::bad_input(format!(
                    "config names credentials in ${access} and ${secret}, but they are not both set"
                ))
            });
        }
        if let Some(profile) = &source.profile {
            return Ok(ClientCredentials::AwsChain { profile: Some(profile.clone()) });
        }
    }
    Ok(from_env("SFKO_ACCESS_KEY", "SFKO_SECRET_KEY")?.unwrap_or(ClientCredentials::AwsChain { profile: None }))
}
