//! A `sfko serve` child process on its own data dir, with the shell commands that kill it (SIGKILL) and start it
//! again on the same dir: the crash target `sfko selftest` kills mid-run through the nemesis's user actions, exactly
//! as a user's config kills a node of a real cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::embedded::{EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY};
use super::faults::FaultPlan;
use crate::config::ActionConfig;

/// How long the first start may take before the process counts as not started.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `sfko serve`; killed, and its data dir removed, when dropped.
pub struct ServeProcess {
    endpoint: String,
    port: u16,
    pidfile: PathBuf,
    /// The `sh -c` command that starts it (in the background) on its data dir.
    start: String,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts this very executable as `sfko serve` on a free loopback port, with `faults`.
    pub async fn start(faults: &FaultPlan) -> Result<ServeProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find sfko's own executable: {e}"))?;
        let dir = tempfile::Builder::new()
            .prefix("sfko-crash-")
            .tempdir()
            .map_err(|e| format!("cannot create a data dir: {e}"))?;
        let port = crash_port()?;
        let pidfile = dir.path().join("serve.pid");
        let mut args = format!(
            "serve --listen 127.0.0.1:{port} --root {} --exit-with {}",
            quote(&dir.path().join("data")),
            std::process::id()
        );
        if !faults.faults.is_empty() {
            let names: Vec<&str> = faults.faults.iter().map(|f| f.name()).collect();
            args.push_str(&format!(
                " --faults {} --fault-seed {} --fault-one-in {}",
                names.join(","),
                faults.seed,
                faults.one_in
            ));
        }
        // The loopback-only default keys of `sfko serve`, whatever this process's environment says.
        let start = format!(
            "SFKO_ACCESS_KEY={EMBEDDED_ACCESS_KEY} SFKO_SECRET_KEY={EMBEDDED_SECRET_KEY} nohup {} {args} \
             >/dev/null 2>&1 & echo $! > {}",
            quote(&exe),
            quote(&pidfile)
        );
        let server = ServeProcess { endpoint: format!("http://127.0.0.1:{port}"), port, pidfile, start, _dir: dir };
        let (status, _) = crate::nemesis::shell(&server.start).await;
        if status != Some(0) {
            return Err(format!("cannot start `sfko serve` ({status:?}): {}", server.start));
        }
        let deadline = Instant::now() + START_LIMIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if Instant::now() >= deadline {
                return Err(format!("`sfko serve` does not listen on port {port} after {START_LIMIT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The user action that kills the process with SIGKILL, starts it again on the same data dir when the window
    /// heals, and counts it healthy once it listens.
    pub fn kill_restart(&self) -> ActionConfig {
        ActionConfig {
            name: "kill-restart".into(),
            run: format!("kill -9 $(cat {})", quote(&self.pidfile)),
            heal: Some(self.start.clone()),
            health: Some(format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{}'", self.port)),
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = std::process::Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

/// Ports for crash targets, below Linux's ephemeral range (32768–60999), where no listener bound to port 0 and no
/// outgoing connection lands: a killed server's port stays free for its restart. Each one is used once per process
/// (a killed server's port must not go to another crash target either); the start depends on the pid so that two
/// sfko processes rarely meet.
static NEXT_PORT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
const PORTS: std::ops::Range<u32> = 20_000..32_000;

fn crash_port() -> Result<u16, String> {
    let span = PORTS.end - PORTS.start;
    let base = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..200 {
        let n = NEXT_PORT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = u16::try_from(PORTS.start + (base + n) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(format!("no free port in {}..{} for a crash target", PORTS.start, PORTS.end))
}

/// `path` as one single-quoted shell word.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_one_shell_word() {
        assert_eq!(super::quote(std::path::Path::new("/tmp/a b/it's")), r"'/tmp/a b/it'\''s'");
    }
}
