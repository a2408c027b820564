//! A real nats-server per test — JetStream on a temp store dir, on a free loopback port — that can be killed and
//! started again on the same port and store; and a raw NATS-protocol client that publishes by hand and captures every
//! message on the server (`SUB >`), so tests can inspect exactly what went over the wire.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{free_port, wait_for_port};

/// A nats-server process with JetStream, killed when dropped.
pub struct Nats {
    pub port: u16,
    store: tempfile::TempDir,
    extra: Vec<String>,
    child: Option<Child>,
}

/// Debian installs nats-server in /usr/sbin, which is not on every PATH.
fn binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nats-server")
    }
}

impl Nats {
    pub fn start() -> Nats {
        Nats::start_with(&[])
    }

    /// With extra server flags (auth, TLS).
    pub fn start_with(extra: &[&str]) -> Nats {
        let store = tempfile::Builder::new().prefix("sfko-nats-").tempdir().expect("nats store dir");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut nats = Nats { port: free_port(), store, extra, child: None };
        nats.restart();
        nats
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): nothing is flushed on purpose.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port with the same store dir.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(binary())
            .args(["-js", "-sd"])
            .arg(self.store.path())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server not found: install Debian's nats-server (tests/run.sh does this)");
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(20));
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
    let mut info = String::new();
    BufReader::new(stream.try_clone().expect("clone")).read_line(&mut info).expect("INFO line");
    assert!(info.starts_with("INFO"), "unexpected greeting {info}");
    stream.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n").expect("CONNECT");
    stream
}

/// Waits for the server's PONG to our PING (everything sent before it has been processed).
fn ping(stream: &mut TcpStream) {
    stream.write_all(b"PING\r\n").expect("PING");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(6).any(|w| w == b"PONG\r\n") {
        let n = stream.read(&mut buf).expect("read PONG");
        assert!(n > 0, "nats-server closed the connection: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Publishes `payload` on `subject` with the plain protocol, as a person with `nats pub` would.
pub fn publish_raw(port: u16, subject: &str, payload: &[u8]) {
    let mut stream = connect(port);
    stream.write_all(format!("PUB {subject} {}\r\n", payload.len()).as_bytes()).expect("PUB");
    stream.write_all(payload).expect("payload");
    stream.write_all(b"\r\n").expect("CRLF");
    ping(&mut stream);
}

/// Every byte the server sends to a `SUB >` subscriber: all core messages, JetStream API traffic, stored and
/// delivered stream messages, acks, heartbeats.
pub struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    pub fn start(port: u16) -> Capture {
        let mut stream = connect(port);
        stream.write_all(b"SUB > 1\r\n").expect("SUB");
        ping(&mut stream);
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, halt) = (bytes.clone(), stop.clone());
        stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !halt.load(Ordering::Relaxed) {
                match stream.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if buf[..n].windows(6).any(|w| w == b"PING\r\n") {
                            let _ = stream.write_all(b"PONG\r\n");
                        }
                        sink.lock().expect("capture lock").extend_from_slice(&buf[..n]);
                    }
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        });
        Capture { bytes, stop, thread: Some(thread) }
    }

    /// Stops capturing and returns everything captured.
    pub fn finish(mut self) -> Vec<u8> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let bytes = self.bytes.lock().expect("capture lock").clone();
        bytes
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
