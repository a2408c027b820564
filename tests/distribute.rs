//! Controller and workers over a real nats-server (started here on a free port with its own JetStream store): jobs
//! run once each with the verdicts standalone runs give, survive a SIGKILLed worker and a broker restart, bad job
//! messages are rejected without taking a worker down, no credential crosses NATS, and a controller never hangs.

#[path = "support/nats.rs"]
mod nats;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats::{publish_raw, Capture, Nats};
use serde_json::Value;
use support::{code, json, sfko_command, stderr, Server, Workdir, ACCESS_KEY, SECRET_KEY};

const TINY: &str =
    "- name: tiny\n  objects: {count: 5, size: 1K}\n  tests: [put, get]\n  checks: [check-backend, check-etag]\n";
const LONGER: &str =
    "- name: longer\n  objects: {count: 40, size: 1K}\n  tests: [put, get]\n  checks: [check-backend]\n";

/// A background sfko process; its stderr lines are collected as they come, its stdout at the end.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Proc {
    fn spawn(work: &Workdir, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let mut cmd = sfko_command(work.path());
        cmd.args(args).envs(envs.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sfko");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        Proc { child, lines, stdout: Some(stdout) }
    }

    /// `sfko -w` with this id, once it says it is ready.
    fn worker(work: &Workdir, nats: &Nats, id: &str, extra: &[&str], envs: &[(&str, &str)]) -> Proc {
        let url = nats.url();
        let mut args = vec!["-w", "--nats", &url, "--worker-id", id];
        args.extend_from_slice(extra);
        let worker = Proc::spawn(work, &args, envs);
        worker.wait_for("the worker to be ready", |l| l.contains(": ready on NATS"), Duration::from_secs(60));
        worker
    }

    fn text(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines.lock().expect("lines").iter().filter(|l| pred(l)).count()
    }

    /// The first stderr line matching `pred`, waiting up to `limit`.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool, limit: Duration) -> String {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(line) = self.lines.lock().expect("lines").iter().find(|l| pred(l)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}; stderr so far:\n{}", self.text());
    }

    /// Waits up to `limit` for `cond` (which may look at this process's lines).
    fn wait_until(&self, what: &str, cond: impl Fn() -> bool, limit: Duration) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < limit, "timed out waiting for {what}; stderr so far:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status =
            std::process::Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the exit (killing the process and failing the test after `limit`): (exit code, stdout, stderr).
    fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("still running after {limit:?} (sfko must not hang); stderr:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        std::thread::sleep(Duration::from_millis(50)); // the stderr reader drains the pipe
        (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), self.text())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn controller(work: &Workdir, nats: &Nats, args: &[&str]) -> Proc {
    let url = nats.url();
    let mut all = vec!["-c", "--nats", &url, "--format", "json"];
    all.extend_from_slice(args);
    Proc::spawn(work, &all, &[])
}

/// The controller's JSON summary, checked for the one invariant every run keeps: each job counted exactly once.
fn summary(exit: i32, stdout: &str, stderr: &str, jobs: u64) -> Value {
    let doc: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("controller stdout is not JSON ({e}), exit {exit}:\n{stdout}\nstderr:\n{stderr}"));
    let results = doc["jobs"].as_array().expect("jobs");
    let ids: BTreeSet<(u64, String)> = results
        .iter()
        .map(|r| {
            let worker =
                if doc["broadcast"] == true { r["worker"].as_str().unwrap_or("").to_string() } else { "".into() };
            (r["job"].as_u64().expect("job id"), worker)
        })
        .collect();
    assert_eq!(ids.len(), results.len(), "a job was counted twice: {doc}");
    assert_eq!(doc["jobs_total"], jobs, "{doc}");
    assert_eq!(results.len() as u64, jobs, "every job has exactly one result:\n{stderr}\n{doc}");
    doc
}

#[test]
fn three_workers_run_sixty_jobs_with_the_verdicts_of_standalone_runs() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let nats = Nats::start();
    let faulty = Server::s3s_fs(&["corrupt-byte"], 5, 20);
    let endpoint = ["--endpoint", faulty.endpoint.as_str()];
    let _workers: Vec<Proc> = (1..=3).map(|i| Proc::worker(&work, &nats, &format!("w{i}"), &endpoint, &[])).collect();
    let (exit, out, err) = controller(&work, &nats, &["--seed", "42", "--jobs", "60", "--junit", "ctl.xml"])
        .finish(Duration::from_secs(180));
    let doc = summary(exit, &out, &err, 60);
    let results = doc["jobs"].as_array().expect("jobs");
    let failed = doc["jobs_failed"].as_u64().unwrap_or(0);
    assert!(failed > 0 && failed < 60, "the faulty server should fail some seeds and not others: {doc}");
    // One JUnit testcase per job (tests/ci_output.rs reads the format with a real parser).
    let junit = std::fs::read_to_string(work.path().join("ctl.xml")).expect("--junit file");
    assert_eq!(junit.matches("<testcase ").count(), 60, "{junit}");
    assert_eq!(junit.matches("<failure ").count() as u64, failed, "{junit}");
    assert!(junit.contains("(job 0)"), "{junit}");
    assert_eq!(exit, 1, "failures found → exit 1:\n{err}");
    assert_eq!(doc["workers"], 3, "{doc}");
    let per_worker: u64 =
        doc["per_worker"].as_array().expect("per_worker").iter().filter_map(|w| w["jobs"].as_u64()).sum();
    assert_eq!(per_worker, 60);
    assert!(doc["latency_ms"]["p99"].as_f64().unwrap_or(0.0) > 0.0, "merged histogram: {doc}");

    // Every failing job's journal is in the controller's corpus, with a repro line, and replays here.
    let mut corpus = None;
    for result in results.iter().filter(|r| r["verdict"] == "fail") {
        let path = result["corpus"].as_str().unwrap_or_else(|| panic!("no corpus file: {result}"));
        assert!(work.path().join(path).is_file(), "{path}");
        let seed = result["seed"].as_u64().expect("seed");
        assert_eq!(result["repro"], format!("sfko --seed {seed} --scenario 'tiny'"));
        corpus.get_or_insert(path.to_string());
    }
    let corpus = corpus.expect("a failing job");
    let replayed = work.sfko(&["replay", &corpus, "--endpoint", &faulty.endpoint, "--format", "json", "-q"]);
    assert_eq!(json(&replayed)["reproduced"], true, "{}", stderr(&replayed));

    // The same seeds run standalone give the same verdicts and the same plans (on a fresh server with the same
    // faults: failing runs keep their buckets for inspection).
    let fresh = Server::s3s_fs(&["corrupt-byte"], 5, 20);
    let standalone =
        work.sfko(&["--seed", "42", "--runs", "60", "--endpoint", &fresh.endpoint, "--format", "json", "-q"]);
    let alone = json(&standalone);
    let by_seed = |runs: &[Value]| -> BTreeMap<u64, (String, String)> {
        runs.iter()
            .map(|r| {
                let verdict = r["verdict"].as_str().unwrap_or("").to_string();
                (r["seed"].as_u64().expect("seed"), (verdict, r["plan_digest"].as_str().unwrap_or("").to_string()))
            })
            .collect()
    };
    assert_eq!(by_seed(results), by_seed(alone["runs"].as_array().expect("runs")));
}

#[test]
fn no_credential_from_the_worker_config_crosses_nats() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let nats = Nats::start();
    let faulty = Server::s3s_fs(&["corrupt-byte"], 5, 20);
    let config = format!(
        "target:\n  endpoint: {}\n  credentials: {{ access_key_env: WORKER_AK, secret_key_env: WORKER_SK }}\n",
        faulty.endpoint
    );
    std::fs::write(work.path().join("worker.yaml"), config).expect("worker config");
    let capture = Capture::start(nats.port);
    let secrets = [("WORKER_AK", ACCESS_KEY), ("WORKER_SK", SECRET_KEY)];
    let _worker = Proc::worker(&work, &nats, "wcred", &["--config", "worker.yaml"], &secrets);
    let (exit, out, err) = controller(&work, &nats, &["--seed", "42", "--jobs", "12"]).finish(Duration::from_secs(120));
    let doc = summary(exit, &out, &err, 12);
    assert!(doc["jobs_failed"].as_u64().unwrap_or(0) > 0, "a failing journal must have crossed NATS too: {doc}");
    std::thread::sleep(Duration::from_millis(300));
    let captured = capture.finish();
    let text = String::from_utf8_lossy(&captured);
    for expected in ["sfko.jobs.any.", "sfko.results.", "sfko.heartbeat.wcred", "\"journal\":{"] {
        assert!(text.contains(expected), "the capture missed {expected}: {} bytes", captured.len());
    }
    for secret in [ACCESS_KEY, SECRET_KEY] {
        assert!(!text.contains(secret), "{secret} crossed NATS");
    }
}

#[test]
fn a_worker_killed_while_holding_a_job_costs_a_redelivery_not_a_job() {
    let work = Workdir::new();
    work.scenarios(LONGER);
    let nats = Nats::start();
    let victim = Proc::worker(&work, &nats, "victim", &[], &[]);
    let polite = Proc::worker(&work, &nats, "polite", &[], &[]);
    let _other = Proc::worker(&work, &nats, "w3", &[], &[]);
    let ctl = controller(&work, &nats, &["--seed", "7", "--jobs", "18", "--concurrency", "2"]);
    let line = victim.wait_for("the victim to take a job", |l| l.contains("): started"), Duration::from_secs(60));
    let mut victim = victim;
    victim.child.kill().expect("SIGKILL the worker");
    let held: u64 = line
        .split(" job ")
        .nth(1)
        .and_then(|rest| rest.split(['/', ' ']).nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no job id in {line}"));
    // SIGTERM another worker in the middle of a job: it finishes the job (or hands it back) and exits 0.
    let started = |w: &Proc| w.count(|l| l.contains("): started"));
    let before = started(&polite);
    polite.wait_until("another job on the polite worker", || started(&polite) > before, Duration::from_secs(60));
    polite.signal("-TERM");
    let (exit, _, log) = polite.finish(Duration::from_secs(30));
    assert_eq!(exit, 0, "{log}");
    assert!(log.contains("polite: stopped"), "{log}");
    let (exit, out, err) = ctl.finish(Duration::from_secs(180));
    let doc = summary(exit, &out, &err, 18);
    assert_eq!(exit, 0, "{err}");
    assert!(doc["redeliveries"].as_u64().unwrap_or(0) >= 1, "{doc}");
    let result = doc["jobs"].as_array().expect("jobs").iter().find(|r| r["job"] == held).cloned().expect("held job");
    assert_ne!(result["worker"], "victim", "{result}");
    assert!(result["delivered"].as_u64().unwrap_or(0) >= 2, "{result}");
    assert!(err.contains("worker victim has been silent"), "{err}");
}

#[test]
fn seed_ranges_count_every_seed_once_through_a_killed_worker() {
    let work = Workdir::new();
    work.scenarios(&format!("{TINY}{LONGER}"));
    let nats = Nats::start();
    let victim = Proc::worker(&work, &nats, "victim", &[], &[]);
    let _steady = Proc::worker(&work, &nats, "steady", &[], &[]);
    // 2 scenarios × 12 seeds in messages of 5 seeds: 3 messages per scenario, the last ones of 2 seeds.
    let args = ["--seed", "11", "--runs", "12", "--seeds-per-job", "5", "--concurrency", "2"];
    let ctl = controller(&work, &nats, &args);
    victim.wait_for("the victim to take a job", |l| l.contains("): started"), Duration::from_secs(60));
    let mut victim = victim;
    victim.child.kill().expect("SIGKILL the worker");
    let (exit, out, err) = ctl.finish(Duration::from_secs(180));
    let doc = summary(exit, &out, &err, 24);
    assert_eq!(exit, 0, "{err}");
    assert_eq!((doc["jobs_passed"].as_u64(), doc["jobs_lost"].as_u64()), (Some(24), Some(0)), "{doc}");
    // Each job index ran the seed and scenario it runs alone: seed 11 + i/2 on scenario i mod 2.
    for result in doc["jobs"].as_array().expect("jobs") {
        let index = result["job"].as_u64().expect("job");
        assert_eq!(result["seed"].as_u64(), Some(11 + index / 2), "{result}");
        assert_eq!(result["scenario"], ["tiny", "longer"][(index % 2) as usize], "{result}");
    }
    assert!(doc["redeliveries"].as_u64().unwrap_or(0) >= 1, "the victim's message ran again: {doc}");
}

#[test]
fn a_controller_duration_and_rate_are_split_across_the_live_workers() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let nats = Nats::start();
    let _workers: Vec<Proc> = ["w1", "w2"].iter().map(|id| Proc::worker(&work, &nats, id, &[], &[])).collect();
    let ctl = controller(&work, &nats, &["--seed", "5", "--duration", "4s", "--rate", "40/s"]);
    let (exit, out, err) = ctl.finish(Duration::from_secs(120));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    let total = doc["jobs_total"].as_u64().expect("jobs_total");
    let doc = summary(exit, &out, &err, total);
    assert_eq!(exit, 0, "{err}");
    assert!(total >= 2, "jobs kept coming while the time lasted: {doc}");
    assert_eq!((doc["jobs_passed"].as_u64(), doc["jobs_lost"].as_u64()), (Some(total), Some(0)), "{doc}");
    // The jobs are a prefix of the run, each on its standalone seed, each paced at its share of the rate.
    for result in doc["jobs"].as_array().expect("jobs") {
        let index = result["job"].as_u64().expect("job");
        assert!(index < total, "{result}");
        assert_eq!(result["seed"].as_u64(), Some(5 + index), "{result}");
        let repro = result["repro"].as_str().unwrap_or("");
        assert!(repro.contains("--rate 20/s") || repro.contains("--rate 40/s"), "{repro}");
    }
    let rate = &doc["rate"];
    assert_eq!(rate["intended_ops_per_s"], 40.0, "{doc}");
    assert_eq!(rate["latency_from"], "intended start", "{doc}");
    // Paced, not flat out: a run of TINY unpaced goes at hundreds of ops/s. (Poisson arrivals over short runs
    // wander around the rate, hence the margin; slower only when the target or the machine cannot keep up.)
    let achieved = rate["achieved_ops_per_s"].as_f64().unwrap_or(f64::MAX);
    assert!(achieved > 0.0 && achieved <= 40.0 * 1.5, "{doc}");

    for (args, expected) in [
        (&["--duration", "2s", "--broadcast"][..], "--broadcast"),
        (&["--duration", "2s", "--jobs", "3"][..], "--jobs"),
    ] {
        let (exit, _, err) = controller(&work, &nats, args).finish(Duration::from_secs(30));
        assert_eq!(exit, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn a_broker_restart_mid_run_loses_and_doubles_nothing() {
    let work = Workdir::new();
    work.scenarios(LONGER);
    let mut nats = Nats::start();
    let workers: Vec<Proc> = ["w1", "w2"].iter().map(|id| Proc::worker(&work, &nats, id, &[], &[])).collect();
    let ctl = controller(&work, &nats, &["--seed", "100", "--jobs", "30", "--concurrency", "4"]);
    let start = Instant::now();
    let done = |ws: &[Proc]| ws.iter().map(|w| w.count(|l| l.contains("': pass ("))).sum::<usize>();
    while done(&workers) < 6 {
        assert!(start.elapsed() < Duration::from_secs(90), "no progress:\n{}", workers[0].text());
        std::thread::sleep(Duration::from_millis(20));
    }
    nats.kill();
    std::thread::sleep(Duration::from_secs(1));
    nats.restart();
    let (exit, out, err) = ctl.finish(Duration::from_secs(180));
    assert!(done(&workers) < 30 + 30, "sanity");
    let doc = summary(exit, &out, &err, 30);
    assert_eq!(exit, 0, "{err}\n{}", workers[0].text());
    assert_eq!(doc["jobs_passed"], 30, "{doc}");
    assert_eq!(doc["jobs_lost"], 0, "{doc}");
}

#[test]
fn malformed_job_messages_are_rejected_and_the_worker_keeps_serving() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let nats = Nats::start();
    let worker = Proc::worker(&work, &nats, "wbad", &[], &[]);
    publish_raw(nats.port, "sfko.jobs.any.rbogus", b"this is not a job");
    let yaml = TINY.replace("[put, get]", "[format-disk]");
    let digest = blake3_hex(&yaml);
    let unknown_workload = serde_json::json!({
        "v": sfko::distribute::protocol::PROTOCOL_VERSION, "run": "rbogus", "job": 0, "seed": 1, "seeds": 1, "stride": 1,
        "scenario": {"name": "tiny", "file": "x.yaml", "yaml": yaml, "digest": digest},
        "options": {"concurrency": 1, "keep": false, "bucket_prefix": "sfko", "broadcast": false,
                    "deadline_unix_ms": 0, "journal_cap": 0},
    });
    publish_raw(nats.port, "sfko.jobs.any.rbogus", unknown_workload.to_string().as_bytes());
    let mut wrong_digest = unknown_workload.clone();
    wrong_digest["scenario"]["yaml"] = Value::from(TINY);
    publish_raw(nats.port, "sfko.jobs.any.rbogus", wrong_digest.to_string().as_bytes());
    let rejections = || worker.count(|l| l.contains("rejecting job message")) >= 3;
    worker.wait_until("three rejections", rejections, Duration::from_secs(30));
    let log = worker.text();
    assert!(log.contains("not valid JSON"), "{log}");
    assert!(log.contains("format-disk"), "{log}");
    assert!(log.contains("digest"), "{log}");

    let (exit, out, err) = controller(&work, &nats, &["--seed", "3", "--jobs", "3"]).finish(Duration::from_secs(120));
    summary(exit, &out, &err, 3);
    assert_eq!(exit, 0, "the worker still serves: {err}");

    worker.signal("-TERM");
    let (exit, _, log) = worker.finish(Duration::from_secs(30));
    assert_eq!(exit, 0, "SIGTERM stops a worker cleanly:\n{log}");
    assert!(log.contains("wbad: stopped"), "{log}");
}

#[test]
fn broadcast_runs_every_job_on_every_worker_in_buckets_of_its_own() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let nats = Nats::start();
    let _workers: Vec<Proc> = ["b1", "b2"].iter().map(|id| Proc::worker(&work, &nats, id, &[], &[])).collect();
    let (exit, out, err) =
        controller(&work, &nats, &["--seed", "9", "--jobs", "3", "--broadcast"]).finish(Duration::from_secs(120));
    let doc = summary(exit, &out, &err, 6);
    assert_eq!(exit, 0, "{err}");
    let results = doc["jobs"].as_array().expect("jobs");
    let prefixes: BTreeSet<&str> = results.iter().filter_map(|r| r["bucket_prefix"].as_str()).collect();
    assert_eq!(prefixes.len(), 2, "one bucket prefix per worker: {doc}");
    for result in results {
        let prefix = result["bucket_prefix"].as_str().unwrap_or("");
        assert!(prefix.starts_with("sfko-w"), "{result}");
        assert!(result["repro"].as_str().unwrap_or("").ends_with(&format!("--bucket-prefix {prefix}")), "{result}");
    }
}

#[test]
fn a_controller_without_workers_or_without_nats_exits_3_with_a_reason() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let nats = Nats::start();
    let (exit, _, err) = controller(&work, &nats, &["--seed", "1", "--jobs", "2", "--worker-wait", "2s"])
        .finish(Duration::from_secs(60));
    assert_eq!(exit, 3, "{err}");
    assert!(err.contains("no worker showed up"), "{err}");

    let closed = support::free_port();
    let out =
        work.sfko(&["-c", "--nats", &format!("nats://127.0.0.1:{closed}"), "--nats-retry-for", "1s", "--jobs", "1"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
}

#[test]
fn workers_and_controllers_reach_nats_over_tls_with_a_token() {
    let work = Workdir::new();
    work.scenarios(TINY);
    let certs = work.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(&certs).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sfko test CA",
    ]);
    std::fs::write(certs.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("san");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    ]);
    let (cert, key) = (certs.join("srv.pem"), certs.join("srv.key"));
    let nats = Nats::start_with(&[
        "--tls",
        "--tlscert",
        cert.to_str().expect("path"),
        "--tlskey",
        key.to_str().expect("path"),
        "--auth",
        "s3cret-t0ken",
    ]);
    let url = format!("tls://s3cret-t0ken@127.0.0.1:{}", nats.port);
    let ca = certs.join("ca.pem").display().to_string();
    let worker = Proc::spawn(&work, &["-w", "--nats", &url, "--nats-ca", &ca, "--worker-id", "wtls"], &[]);
    worker.wait_for("the worker to be ready", |l| l.contains(": ready on NATS"), Duration::from_secs(60));
    assert!(!worker.text().contains("s3cret-t0ken"), "the token is never printed: {}", worker.text());
    let ctl = Proc::spawn(&work, &["-c", "--nats", &url, "--nats-ca", &ca, "--jobs", "2", "--format", "json"], &[]);
    let (exit, out, err) = ctl.finish(Duration::from_secs(60));
    let doc = summary(exit, &out, &err, 2);
    assert_eq!(exit, 0, "{err}");
    assert_eq!(doc["nats"], format!("tls://127.0.0.1:{}", nats.port));

    let wrong = format!("tls://wrong@127.0.0.1:{}", nats.port);
    let out = work.sfko(&["-c", "--nats", &wrong, "--nats-ca", &ca, "--jobs", "1"]);
    assert_eq!(code(&out), 2, "wrong credentials are bad input: {}", stderr(&out));
    let out = work.sfko(&["-c", "--nats", &url, "--nats-retry-for", "1s", "--jobs", "1"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("--nats-ca"), "an untrusted certificate names the fix: {}", stderr(&out));
}

fn blake3_hex(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}
