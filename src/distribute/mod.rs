//! Distributed runs over NATS: when one machine cannot load a cluster hard enough, a controller (`sfko -c`) hands
//! seeded jobs to any number of workers (`sfko -w`) and gathers what they found.
//!
//! Delivery is at least once and counting is exactly once: jobs sit in a JetStream work queue until a worker acks
//! them after its result is stored; a job whose worker dies is delivered again (at once, when the controller sees the
//! worker's heartbeats stop; after the ack wait otherwise), and the controller keeps the first result per job (per
//! job and worker in broadcast mode). Nothing is lost across a broker restart because jobs and results both live in
//! file-backed streams until acknowledged. See [`nats`] for the subjects and streams, [`protocol`] for the messages.

pub mod controller;
pub mod nats;
pub mod protocol;
pub mod worker;

/// How often workers send heartbeats.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// A worker silent this long (while the controller itself is connected) is taken for dead.
pub const DEAD_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Random hex digits (run ids, worker id suffixes): OS randomness, the clock and the pid, hashed.
pub(crate) fn random_hex(digits: usize) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&crate::seed::Seed::from_os().0.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    hasher.update(&nanos.to_le_bytes());
    hasher.finalize().to_hex()[..digits.min(64)].to_string()
}

/// This machine's name, reduced to subject-safe characters.
pub(crate) fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .take(32)
        .collect();
    if clean.is_empty() {
        "host".into()
    } else {
        clean
    }
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A watch that turns true on SIGTERM or Ctrl-C (the count of signals received so far is its value).
pub(crate) fn stop_signal() -> tokio::sync::watch::Receiver<u32> {
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let terminated = async {
                match term.as_mut() {
                    Some(term) => term.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let terminated = std::future::pending::<Option<()>>();
            let interrupted = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = interrupted => {}
                _ = terminated => {}
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    rx
}
