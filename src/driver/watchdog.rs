//! The progress watchdog: when nothing moves for the stall timeout — no op completes, no body byte goes through —
//! it says which ops are in flight and what each is waiting on, and after the stall wait it gives up: every op in
//! flight or still to come is abandoned at once (answered `SfkoAbandoned`, never sent), so whatever drives the
//! driver — a run, a replay, a cleanup — ends promptly with a readable journal instead of hanging.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::inflight::InFlightOps;

/// How long sfko waits on a target that stopped moving.
/// How the reason a run gave up on its target begins (a run that ends so says the target is gone, not that a
/// scenario failed).
pub const STOPPED_ANSWERING: &str = "the target stopped answering";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallPolicy {
    /// Nothing moved this long: report what is in flight.
    pub timeout: Duration,
    /// Then keep waiting this much longer (reporting again every `timeout`) before giving up; zero gives up at once.
    pub wait: Duration,
}

/// The default `--stall-timeout`.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy { timeout: DEFAULT_STALL_TIMEOUT, wait: Duration::ZERO }
    }
}

/// Ops listed in a stall report.
const REPORTED_OPS: usize = 8;

/// Watches `ops` until the driver is dropped or the target is given up on (then `give_up` carries why).
pub fn spawn(ops: Weak<InFlightOps>, policy: Arc<Mutex<StallPolicy>>, give_up: watch::Sender<Option<String>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        let mut reported_at: Option<Duration> = None;
        loop {
            let current = policy.lock().map(|p| *p).unwrap_or_default();
            let tick = (current.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
            tokio::time::sleep(tick).await;
            let Some(ops) = ops.upgrade() else { return };
            let Some(stalled) = ops.stalled_for() else {
                reported_at = None;
                continue;
            };
            if stalled < current.timeout {
                reported_at = None;
                continue;
            }
            let (lines, count) = ops.report(REPORTED_OPS);
            let due = reported_at.is_none_or(|at| stalled >= at.saturating_add(current.timeout));
            let give_up_at = current.timeout.saturating_add(current.wait);
            if stalled >= give_up_at {
                let reason = format!(
                    "{STOPPED_ANSWERING}: nothing moved for {} (--stall-timeout {}, --stall-wait {}); \
                     {count} ops in flight, gave up on them: {}",
                    secs(stalled),
                    secs(current.timeout),
                    secs(current.wait),
                    lines.join("; ")
                );
                tracing::error!("{reason}");
                let _ = give_up.send(Some(reason));
                return;
            }
            if due {
                reported_at = Some(stalled);
                let more = count.saturating_sub(lines.len());
                tracing::warn!(
                    "nothing moved for {}; {count} ops in flight (waiting up to {} more):\n  {}{}",
                    secs(stalled),
                    secs(give_up_at.saturating_sub(stalled)),
                    lines.join("\n  "),
                    if more > 0 { format!("\n  … and {more} more") } else { String::new() }
                );
            }
        }
    });
}

/// `3s`, `1.5s`: durations as people write them.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
