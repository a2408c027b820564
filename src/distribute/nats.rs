//! Reaching NATS the way NATS users expect — `nats://user:pass@host`, `nats://token@host`, `tls://host`, a
//! credentials file, a token, NATS_URL — and the JetStream layout sfko uses:
//!
//! | what | where |
//! |---|---|
//! | jobs any worker may take | stream `SFKO_JOBS`, subject `sfko.jobs.any.<run>`, shared durable pull consumer `sfko-workers` |
//! | broadcast jobs for one worker | stream `SFKO_JOBS`, subject `sfko.jobs.to.<worker>.<run>`, durable `sfko-w-<worker>` |
//! | results | stream `SFKO_RESULTS`, subject `sfko.results.<run>`, durable `sfko-results-<run>` (the controller's) |
//! | heartbeats | core `sfko.heartbeat.<worker>` |
//! | run control | core `sfko.control.<run>` |
//!
//! Both streams are work queues on file storage: a message lives until it is acknowledged, so neither a dead worker
//! nor a broker restart loses a job or a result. Job consumers ack explicitly with an ack wait (workers send
//! in-progress acks while a job runs) and a bounded number of deliveries.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream, Context};
use async_nats::{Client, ConnectErrorKind, ConnectOptions, ServerAddr};

use crate::cli::NatsArgs;
use crate::exit::Fatal;

/// Stream of jobs.
pub const JOBS_STREAM: &str = "SFKO_JOBS";
/// Stream of results.
pub const RESULTS_STREAM: &str = "SFKO_RESULTS";
/// The durable consumer every worker pulls shared jobs from.
pub const SHARED_CONSUMER: &str = "sfko-workers";
/// How long a delivered job may go without an ack or an in-progress ack before it is delivered again.
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// How often a worker sends an in-progress ack while a job runs.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Deliveries of one job before JetStream gives up on it (the controller then reports it lost).
pub const MAX_DELIVER: i64 = 5;
/// Queued jobs and results of a vanished controller expire after this.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Subject of shared jobs of `run`.
pub fn shared_subject(run: &str) -> String {
    format!("sfko.jobs.any.{run}")
}

/// Subject of broadcast jobs of `run` for `worker`.
pub fn direct_subject(worker: &str, run: &str) -> String {
    format!("sfko.jobs.to.{worker}.{run}")
}

/// Subject of results of `run`.
pub fn results_subject(run: &str) -> String {
    format!("sfko.results.{run}")
}

/// Subject of `worker`'s heartbeats.
pub fn heartbeat_subject(worker: &str) -> String {
    format!("sfko.heartbeat.{worker}")
}

/// Subject of control messages of `run`.
pub fn control_subject(run: &str) -> String {
    format!("sfko.control.{run}")
}

/// JetStream's advisory when a job of the shared consumer ran out of deliveries.
pub fn max_deliveries_advisory() -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS_STREAM}.{SHARED_CONSUMER}")
}

/// How to reach NATS; built once from the flags. The URLs it keeps carry no credentials.
#[derive(Clone)]
pub struct NatsSettings {
    urls: Vec<ServerAddr>,
    /// The URLs with any credentials removed: safe for messages.
    pub display: String,
    user: Option<(String, String)>,
    token: Option<String>,
    creds: Option<std::path::PathBuf>,
    ca: Option<std::path::PathBuf>,
    client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// How long NATS may stay unreachable before the command gives up.
    pub retry_for: Duration,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings").field("urls", &self.display).finish_non_exhaustive()
    }
}

impl NatsSettings {
    /// Reads the NATS flags. Credentials may come in the URL (`user:pass@`, `token@`) or in flags/env; the URL kept
    /// for connecting and for messages has them removed.
    pub fn from_args(args: &NatsArgs) -> Result<NatsSettings, Fatal> {
        let mut urls = Vec::new();
        let mut shown = Vec::new();
        let mut user = match (&args.nats_user, &args.nats_password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (Some(u), None) => Some((u.clone(), String::new())),
            (None, Some(_)) => return Err(Fatal::bad_input("--nats-password needs --nats-user")),
            (None, None) => None,
        };
        let mut token = args.nats_token.clone();
        for raw in args.nats.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let with_scheme = if raw.contains("://") { raw.to_string() } else { format!("nats://{raw}") };
            let addr: ServerAddr =
                with_scheme.parse().map_err(|e| Fatal::bad_input(format!("--nats: {}: {e}", redact(raw))))?;
            match (addr.username(), addr.password()) {
                (Some(u), Some(p)) => user = user.or(Some((percent_decode(u), percent_decode(p)))),
                (Some(t), None) => token = token.or(Some(percent_decode(t))),
                _ => {}
            }
            let host = addr.host();
            let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
            let clean = format!("{}://{host}:{}", addr.scheme(), addr.port());
            shown.push(clean.clone());
            urls.push(clean.parse().map_err(|e| Fatal::bad_input(format!("--nats: {}: {e}", redact(raw))))?);
        }
        if urls.is_empty() {
            return Err(Fatal::bad_input("--nats: no server URL given (e.g. nats://127.0.0.1:4222)"));
        }
        if let Some(path) = &args.nats_creds {
            if !path.is_file() {
                return Err(Fatal::bad_input(format!("--nats-creds: {} is not a readable file", path.display())));
            }
        }
        let retry_for = args.nats_retry_for;
        Ok(NatsSettings {
            urls,
            display: shown.join(","),
            user,
            token,
            creds: args.nats_creds.clone(),
            ca: args.nats_ca.clone(),
            client_cert: args.nats_cert.clone().zip(args.nats_key.clone()),
            retry_for,
        })
    }

    async fn options(&self, name: &str) -> Result<ConnectOptions, Fatal> {
        let mut options = match &self.creds {
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| Fatal::bad_input(format!("--nats-creds {}: {e}", path.display())))?,
            None => ConnectOptions::new(),
        };
        if let Some((user, password)) = &self.user {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &self.ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone()).require_tls(true);
        }
        let shown = self.display.clone();
        Ok(options
            .name(name)
            .connection_timeout(Duration::from_secs(3))
            .request_timeout(Some(Duration::from_secs(5)))
            .ping_interval(Duration::from_secs(10))
            // Reconnect forever at the client level; each command decides how long an outage may last.
            .max_reconnects(None)
            .event_callback(move |event| {
                let shown = shown.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => tracing::warn!("NATS {shown}: disconnected; reconnecting"),
                        async_nats::Event::Connected => tracing::info!("NATS {shown}: connected"),
                        other => tracing::debug!("NATS {shown}: {other}"),
                    }
                }
            }))
    }

    /// Connects, retrying for `retry_for`. Wrong credentials are bad input (exit 2) and are not retried; a server
    /// that cannot be reached in time is a harness failure (exit 3).
    pub async fn connect(&self, name: &str) -> Result<Client, Fatal> {
        // rustls cannot pick a crypto provider on its own when two are compiled in (the AWS SDK brings aws-lc-rs,
        // async-nats ring) and panics on the first tls:// connection; the SDK names its provider explicitly, NATS
        // uses the process default, so that is ring. An error only means a default is already installed.
        let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
        let started = Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let options = self.options(name).await?;
            match options.connect(self.urls.clone()).await {
                Ok(client) => return Ok(client),
                Err(e) => {
                    let kind = e.kind();
                    if matches!(kind, ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication) {
                        return Err(Fatal::bad_input(format!("NATS {}: authentication failed: {e}", self.display)));
                    }
                    if started.elapsed() >= self.retry_for {
                        let text = e.to_string();
                        let hint = if text.contains("certificate") || matches!(kind, ConnectErrorKind::Tls) {
                            "TLS: --nats-ca names the CA that signed the server's certificate"
                        } else {
                            "is nats-server running, with -js?"
                        };
                        return Err(Fatal::harness(format!(
                            "NATS {} is unreachable after {attempts} attempts over {:.0?} (last error: {text}); \
                             {hint} (--nats-retry-for sets how long to keep trying)",
                            self.display,
                            started.elapsed()
                        )));
                    }
                    tracing::warn!("NATS {}: {e}; retrying", self.display);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// `nats://user:secret@host` → `nats://***@host`, for messages about a URL that failed to parse.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &url[..scheme + 3], &url[at..]),
        (None, Some(at)) => format!("***{}", &url[at..]),
        _ => url.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `op` until it succeeds or NATS has been failing for `limit`; errors in between are logged at debug level.
pub async fn retry<T, E, F, Fut>(what: &str, limit: Duration, mut op: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if started.elapsed() >= limit => {
                return Err(format!("{what}: still failing after {:.0?}: {e}", started.elapsed()))
            }
            Err(e) => {
                tracing::debug!("{what}: {e}; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Creates the two work-queue streams when they do not exist yet (every controller and worker calls this; the first
/// one creates them).
pub async fn ensure_streams(js: &Context, limit: Duration) -> Result<(stream::Stream, stream::Stream), String> {
    let config = |name: &str, subject: &str| stream::Config {
        name: name.to_string(),
        subjects: vec![subject.to_string()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        max_age: MAX_AGE,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    let jobs = retry("creating the JetStream stream SFKO_JOBS", limit, || {
        js.get_or_create_stream(config(JOBS_STREAM, "sfko.jobs.>"))
    })
    .await?;
    let results = retry("creating the JetStream stream SFKO_RESULTS", limit, || {
        js.get_or_create_stream(config(RESULTS_STREAM, "sfko.results.>"))
    })
    .await?;
    Ok((jobs, results))
}

/// A job consumer: explicit acks, [`ACK_WAIT`], [`MAX_DELIVER`].
fn job_consumer_config(name: &str, filter: String, inactive: Duration) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(name.to_string()),
        filter_subject: filter,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_deliver: MAX_DELIVER,
        // Jobs held at once, and idle workers' pull requests waiting at once (the server's defaults: 1000 and 512).
        max_ack_pending: 10_000,
        max_waiting: 10_000,
        inactive_threshold: inactive,
        ..Default::default()
    }
}

/// The shared durable consumer all workers pull from.
pub async fn shared_consumer(jobs: &stream::Stream, limit: Duration) -> Result<consumer::PullConsumer, String> {
    retry("creating the shared job consumer", limit, || {
        jobs.get_or_create_consumer(
            SHARED_CONSUMER,
            job_consumer_config(SHARED_CONSUMER, "sfko.jobs.any.>".into(), Duration::ZERO),
        )
    })
    .await
}

/// `worker`'s own durable consumer for broadcast jobs; removed by the server after a day unused.
pub async fn direct_consumer(
    jobs: &stream::Stream,
    worker: &str,
    limit: Duration,
) -> Result<consumer::PullConsumer, String> {
    let name = format!("sfko-w-{worker}");
    retry("creating the worker's broadcast consumer", limit, || {
        jobs.get_or_create_consumer(
            &name,
            job_consumer_config(&name, format!("sfko.jobs.to.{worker}.>"), Duration::from_secs(24 * 3600)),
        )
    })
    .await
}

/// The controller's durable consumer of its run's results; removed by the server ten minutes after the controller
/// stops pulling (a controller that finishes deletes it at once).
pub async fn results_consumer(
    results: &stream::Stream,
    run: &str,
    limit: Duration,
) -> Result<consumer::PullConsumer, String> {
    let name = format!("sfko-results-{run}");
    let config = consumer::pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: results_subject(run),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 10_000,
        inactive_threshold: Duration::from_secs(600),
        ..Default::default()
    };
    retry("creating the results consumer", limit, || results.get_or_create_consumer(&name, config.clone())).await
}

/// Pulls at most `max` messages, waiting up to `wait` for the first; never hangs (a pull request lost in a broker
/// restart ends by the local deadline).
pub async fn pull(consumer: &consumer::PullConsumer, max: usize, wait: Option<Duration>) -> Vec<jetstream::Message> {
    use futures::StreamExt;
    let deadline = wait.unwrap_or(Duration::ZERO) + Duration::from_secs(2);
    let mut out = Vec::new();
    let _ = tokio::time::timeout(deadline, async {
        let batch = match wait {
            Some(wait) => consumer.batch().max_messages(max).expires(wait).messages().await,
            None => consumer.fetch().max_messages(max).messages().await,
        };
        let Ok(mut batch) = batch else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        };
        while let Some(item) = batch.next().await {
            match item {
                Ok(message) => out.push(message),
                Err(e) => {
                    tracing::debug!("pull: {e}");
                    break;
                }
            }
        }
    })
    .await;
    out
}

/// Like [`pull`], but hands each message to `tx` the moment it arrives instead of when the batch ends (a batch
/// that is not filled lasts until `wait` expires). False once the receiver is gone.
pub async fn pull_into(
    consumer: &consumer::PullConsumer,
    max: usize,
    wait: Duration,
    tx: &tokio::sync::mpsc::Sender<jetstream::Message>,
) -> bool {
    use futures::StreamExt;
    let Ok(mut batch) = consumer.batch().max_messages(max).expires(wait).messages().await else {
        tokio::time::sleep(Duration::from_millis(200)).await;
        return !tx.is_closed();
    };
    // The server ends the batch by `wait`; the extra time only guards against a connection that went quiet.
    let deadline = tokio::time::Instant::now() + wait + Duration::from_secs(2);
    while let Ok(Some(item)) = tokio::time::timeout_at(deadline, batch.next()).await {
        match item {
            Ok(message) => {
                if tx.send(message).await.is_err() {
                    return false;
                }
            }
            Err(e) => {
                tracing::debug!("pull: {e}");
                break;
            }
        }
    }
    !tx.is_closed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> NatsArgs {
        use clap::Parser;
        match crate::cli::Cli::parse_from(["sfko", "-w", "--nats", url]).mode {
            Some(crate::cli::Mode::Worker(worker)) => worker.nats,
            other => panic!("not the worker: {other:?}"),
        }
    }

    #[test]
    fn url_credentials_are_used_and_never_shown() {
        let s = NatsSettings::from_args(&args("nats://alice:s%40cret@127.0.0.1:4333")).unwrap();
        assert_eq!(s.display, "nats://127.0.0.1:4333");
        assert_eq!(s.user, Some(("alice".into(), "s@cret".into())));
        assert!(!format!("{s:?}").contains("cret"));
        let s = NatsSettings::from_args(&args("tls://tok3n@nats.example:4222,nats://b:4223")).unwrap();
        assert_eq!(s.display, "tls://nats.example:4222,nats://b:4223");
        assert_eq!(s.token.as_deref(), Some("tok3n"));
        let s = NatsSettings::from_args(&args("127.0.0.1")).unwrap();
        assert_eq!(s.display, "nats://127.0.0.1:4222");
        assert_eq!(redact("nats://u:p@h:1"), "nats://***@h:1");
    }
}
