//! No silent hang: against a target that accepts connections and then never reads, or reads and never answers, a
//! run and a replay end with exit 3 within twice `--stall-timeout`, naming the op in flight and what it waited on;
//! the journal stays readable.

mod support;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::{code, json, stderr, Workdir};

const SCENARIOS: &str = "\
- name: single puts
  objects: {count: 4, size: 8M}
  tests: [put]
  checks: [check-backend]
";

/// How a stuck target treats what it is sent.
#[derive(Clone, Copy)]
enum Stuck {
    /// Accepts the connection and never reads a byte.
    NeverReads,
    /// Reads everything it is sent and never answers.
    NeverAnswers,
}

/// A loopback listener that misbehaves as `how`, for as long as the test runs; returns its endpoint.
fn stuck_target(how: Stuck) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            match how {
                Stuck::NeverReads => held.push(stream),
                Stuck::NeverAnswers => {
                    std::thread::spawn(move || {
                        let mut stream = stream;
                        let mut buf = [0u8; 64 * 1024];
                        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    });
                }
            }
        }
    });
    endpoint
}

const STALL: Duration = Duration::from_secs(3);

fn assert_gave_up(out: &std::process::Output, took: Duration, what: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 3, "{what}: a stuck target is a harness failure:\n{err}");
    assert!(took < STALL * 2, "{what}: took {took:?}, more than twice the stall timeout:\n{err}");
    assert!(err.contains("the target stopped answering") && err.contains("op 0 CreateBucket"), "{what}: {err}");
    err
}

#[test]
fn a_run_against_a_target_that_stops_answering_ends_with_exit_3_naming_the_op() {
    for how in [Stuck::NeverReads, Stuck::NeverAnswers] {
        let work = Workdir::new();
        work.scenarios(SCENARIOS);
        let endpoint = stuck_target(how);
        let started = Instant::now();
        let out = work.sfko(&[
            "--seed",
            "1",
            "--endpoint",
            &endpoint,
            "--stall-timeout",
            "3s",
            "--journal",
            "stuck.bin",
            "--format",
            "json",
        ]);
        let err = assert_gave_up(&out, started.elapsed(), "run");
        assert!(err.contains("waiting for the answer's headers") || err.contains("connecting"), "{err}");
        let doc = json(&out);
        assert_eq!(doc["verdict"], "incomplete", "{doc}");
        assert!(doc["runs"][0]["reason"].as_str().unwrap_or_default().contains("stopped answering"), "{doc}");
        // The journal is finished and readable, and says why it ends where it does.
        let shown = work.sfko(&["show", "stuck.bin"]);
        assert_eq!(code(&shown), 0, "{}", stderr(&shown));
        let text = String::from_utf8_lossy(&shown.stdout).to_string();
        assert!(text.contains("end       incomplete") && text.contains("stopped answering"), "{text}");
        assert!(text.contains("SfkoAbandoned"), "the abandoned op is recorded as such: {text}");
    }
}

/// Several runs against a target that stopped answering: the first gives up, the rest are not started (each would
/// wait out the stall timeout again), so the whole command still ends within twice the timeout.
#[test]
fn runs_after_the_target_stopped_answering_are_not_started() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let endpoint = stuck_target(Stuck::NeverAnswers);
    let started = Instant::now();
    let out = work.sfko(&[
        "--seed",
        "1",
        "--runs",
        "4",
        "--endpoint",
        &endpoint,
        "--stall-timeout",
        "3s",
        "--format",
        "json",
    ]);
    let err = assert_gave_up(&out, started.elapsed(), "runs");
    assert!(err.contains("the 3 remaining runs were not started"), "{err}");
    assert_eq!(json(&out)["runs"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_replay_against_a_target_that_stops_answering_ends_with_exit_3() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "1", "--journal", "good.bin", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for how in [Stuck::NeverReads, Stuck::NeverAnswers] {
        let endpoint = stuck_target(how);
        let started = Instant::now();
        let out = work.sfko(&["replay", "good.bin", "--endpoint", &endpoint, "--stall-timeout", "3s"]);
        let took = started.elapsed();
        let err = stderr(&out);
        assert_eq!(code(&out), 3, "{err}");
        assert!(took < STALL * 2, "took {took:?}:\n{err}");
        assert!(err.contains("the target stopped answering"), "{err}");
    }
}

#[test]
fn an_upload_the_target_never_reads_is_reported_as_sending_its_body() {
    let work = Workdir::new();
    // One 7 MiB object (a single PutObject): far more than the socket buffers hold, so the body is still being sent when the watchdog
    // looks. CreateBucket gets through because this target answers bodiless requests.
    work.scenarios("- name: big put\n  objects: {count: 1, size: 7M}\n  tests: [put]\n");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_bodiless_requests(stream));
        }
    });
    let started = Instant::now();
    let out = work.sfko(&["--seed", "1", "--endpoint", &endpoint, "--stall-timeout", "3s", "-q"]);
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(took < STALL * 2 + Duration::from_secs(2), "took {took:?}:\n{err}");
    assert!(err.contains("PutObject") && err.contains("sending the body"), "{err}");
    assert!(err.contains("of 7M taken by the connection"), "{err}");
}

/// Answers requests without a body `200 OK` with nothing in it (enough for setup to go on), and stops
/// reading — without answering — at the first request that carries one.
fn answer_bodiless_requests(mut stream: TcpStream) {
    use std::io::Write;
    let mut pending = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                _ => return,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
        pending.drain(..end + 4);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<u64>().unwrap_or(0)))
            .unwrap_or(0);
        if length > 0 {
            // Never read the body, never answer: hold the connection open until the test ends.
            std::thread::sleep(Duration::from_secs(600));
            return;
        }
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
