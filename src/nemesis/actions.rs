//! User actions: shell commands from the config that break the cluster (kill a node, fill a disk) and heal it, with a
//! health probe after healing. sfko runs them at the schedule's windows and records what they did.

use std::time::{Duration, Instant};

use crate::config::ActionConfig;
use crate::journal::ActionRecord;

/// Longest a `run` or `heal` command may take before it is killed.
const COMMAND_LIMIT: Duration = Duration::from_secs(120);
/// How long the health probe may keep failing after a heal.
const HEALTH_LIMIT: Duration = Duration::from_secs(120);

/// Runs `command` with `sh -c`; its exit status (`None`: could not start, killed or timed out) and duration.
pub async fn shell(command: &str) -> (Option<i32>, u64) {
    let started = Instant::now();
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let status = match child {
        Ok(mut child) => match tokio::time::timeout(COMMAND_LIMIT, child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        },
        Err(e) => {
            tracing::warn!("nemesis: cannot start `sh -c`: {e}");
            None
        }
    };
    (status, started.elapsed().as_millis() as u64)
}

/// The heal half of an action, then its health probe until it passes (or gives up).
pub async fn heal(action: &ActionConfig, mut record: ActionRecord) -> ActionRecord {
    if let Some(heal) = &action.heal {
        (record.heal_status, record.heal_ms) = shell(heal).await;
    }
    record.healthy = match &action.health {
        None => true,
        Some(probe) => {
            let deadline = Instant::now() + HEALTH_LIMIT;
            loop {
                if shell(probe).await.0 == Some(0) {
                    break true;
                }
                if Instant::now() >= deadline {
                    tracing::warn!(action = %action.name, "nemesis: the health probe still fails after the heal");
                    break false;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    record
}
