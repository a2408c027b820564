//! Shared by the integration tests: the built `sfko` binary, scratch dirs, and real S3 servers started per test
//! (`sfko serve`, optionally with seeded faults, and moto).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Credentials the tests' servers accept; passed to sfko through its documented env vars.
pub const ACCESS_KEY: &str = "sfko-test-access";
pub const SECRET_KEY: &str = "sfko-test-secret-do-not-log";

/// A scratch directory that sfko runs in (scenarios/, corpus/, .sfko/ live here).
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir { dir: tempfile::Builder::new().prefix("sfko-test-").tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `scenarios/test.yaml`.
    pub fn scenarios(&self, yaml: &str) -> &Self {
        let dir = self.path().join("scenarios");
        std::fs::create_dir_all(&dir).expect("mkdir scenarios");
        std::fs::write(dir.join("test.yaml"), yaml).expect("write scenario");
        self
    }

    /// `sfko ARGS` in this dir, with the test credentials in the environment.
    pub fn sfko(&self, args: &[&str]) -> Output {
        sfko_command(self.path()).args(args).output().expect("run sfko")
    }

    pub fn corpus_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path().join("corpus"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

pub fn sfko_command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sfko"));
    cmd.current_dir(dir)
        .env("SFKO_ACCESS_KEY", ACCESS_KEY)
        .env("SFKO_SECRET_KEY", SECRET_KEY)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// stdout parsed as the one JSON document sfko prints with `--format json`.
pub fn json(output: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("stdout is not one JSON document ({e}):\n{text}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
    })
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// A real S3 server process that is killed when dropped.
pub struct Server {
    pub endpoint: String,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `sfko serve` (s3s-fs in its own process), with `faults` (e.g. `corrupt-byte`) hitting one object in `one_in`.
    pub fn s3s_fs(faults: &[&str], fault_seed: u64, one_in: u64) -> Server {
        Self::s3s_fs_with(faults, fault_seed, one_in, &[])
    }

    /// `sfko serve` with extra flags (replication and lifecycle fixtures).
    pub fn s3s_fs_with(faults: &[&str], fault_seed: u64, one_in: u64, extra: &[&str]) -> Server {
        let mut cmd = sfko_command(Path::new("."));
        cmd.args(["serve", "--fault-seed", &fault_seed.to_string(), "--fault-one-in", &one_in.to_string()]);
        if !faults.is_empty() {
            cmd.args(["--faults", &faults.join(",")]);
        }
        cmd.args(extra);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn sfko serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read endpoint line");
        let endpoint = line
            .trim()
            .strip_prefix("endpoint ")
            .unwrap_or_else(|| panic!("unexpected serve output: {line}"))
            .to_string();
        Server { endpoint, child }
    }

    /// moto's S3 server on a free port. moto comes from `pip install 'moto[server]'` (`.ci/run` installs it).
    pub fn moto() -> Server {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server not found: install it with pip install 'moto[server]' (.ci/run does this)");
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_port(port, Duration::from_secs(30));
        Server { endpoint, child }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on port {port} after {limit:?}");
}
