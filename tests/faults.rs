//! The checks prove themselves against a real s3s-fs process with seeded faults: each fault is caught by the check
//! made for it, the failing journal lands in the corpus, replay against the same faulty server reproduces the failure,
//! and replay against a healthy server reports the first divergence.

mod support;

use support::{code, json, stderr, Server, Workdir};

const SCENARIOS: &str = "\
- name: single puts
  objects: {count: 24, size: {min: 1K, max: 256K}}
  tests: [put]
  checks: [check-backend, check-etag]
- name: multipart puts
  objects: {count: 6, size: {min: 5M, max: 12M}}
  tests: [put-mpu]
  checks: [check-backend, check-etag]
";

fn run(work: &Workdir, server: &Server, scenario: &str) -> serde_json::Value {
    let out = work.sfko(&["--seed", "3", "--scenario", scenario, "--endpoint", &server.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "the fault must be found:\n{}", stderr(&out));
    json(&out)
}

fn replay(work: &Workdir, server: &Server, journal: &str) -> (i32, serde_json::Value) {
    let out = work.sfko(&["replay", journal, "--endpoint", &server.endpoint, "--format", "json"]);
    (code(&out), json(&out))
}

#[test]
fn check_backend_catches_a_corrupted_byte_and_replay_reproduces_it() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let faulty = Server::s3s_fs(&["corrupt-byte"], 9, 4);
    let doc = run(&work, &faulty, "single puts");
    let failures = doc["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    for failure in failures {
        assert_eq!(failure["by"], "check-backend", "only check-backend may see silent bit rot: {failure}");
        assert!(failure["expected"].as_str().unwrap_or("").starts_with("blake3 "), "{failure}");
        assert!(failure["subject"].as_str().unwrap_or("").contains("/obj-"), "names the object: {failure}");
    }
    let corpus = work.corpus_files();
    assert_eq!(corpus.len(), 1, "the failing journal is copied into the corpus");
    assert!(doc["runs"][0]["repro"].as_str().unwrap_or("").contains("--seed 3 --scenario 'single puts'"));
    let corpus = corpus[0].to_string_lossy().to_string();
    let kept = doc["runs"][0]["left_behind"].as_array().map(|b| b.len()).unwrap_or(0);
    assert_eq!(kept, 1, "a failing run keeps its bucket for inspection: {doc}");

    // The replay starts by removing what the failing run kept.
    let (exit, same) = replay(&work, &faulty, &corpus);
    assert_eq!(exit, 1, "{same}");
    assert_eq!(same["reproduced"], true, "{same}");
    assert_eq!(same["counts"]["failed"], doc["runs"][0]["counts"]["failed"], "{same}");
    assert!(same["counts"]["failed"].as_u64().unwrap_or(0) > 0, "{same}");

    let healthy = Server::s3s_fs(&[], 0, 1);
    let (exit, diverged) = replay(&work, &healthy, &corpus);
    assert_eq!(exit, 0, "a healthy server passes the replayed checks: {diverged}");
    assert_eq!(diverged["reproduced"], false);
    let first = &diverged["first_divergence"];
    assert_eq!(first["request"], "GetObject", "{first}");
    assert_eq!(first["field"], "body_digest", "{first}");

    let out = work.sfko(&["--seed", "3", "--scenario", "single puts", "--endpoint", &faulty.endpoint]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let out = work.sfko(&["clean", &corpus, "--endpoint", &faulty.endpoint]);
    assert_eq!(code(&out), 0, "sfko clean removes what a failing run kept: {}", stderr(&out));
}

#[test]
fn check_etag_catches_a_wrong_multipart_etag() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let faulty = Server::s3s_fs(&["wrong-mpu-etag"], 5, 2);
    let doc = run(&work, &faulty, "multipart puts");
    let failures = doc["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    for failure in failures {
        assert_eq!(failure["by"], "check-etag", "{failure}");
        assert_eq!(failure["request"], "CompleteMultipartUpload", "{failure}");
        assert!(
            failure["expected"].as_str().unwrap_or("").ends_with(&format!("-{}", 1))
                || failure["expected"].as_str().unwrap_or("").contains('-'),
            "{failure}"
        );
    }
    let corpus = work.corpus_files();
    let corpus = corpus[0].to_string_lossy().to_string();
    let (exit, same) = replay(&work, &faulty, &corpus);
    assert_eq!((exit, &same["reproduced"]), (1, &serde_json::Value::Bool(true)), "{same}");

    let healthy = Server::s3s_fs(&[], 0, 1);
    let (exit, diverged) = replay(&work, &healthy, &corpus);
    assert_eq!(exit, 0, "{diverged}");
    assert_eq!(diverged["first_divergence"]["request"], "CompleteMultipartUpload", "{diverged}");
    assert_eq!(diverged["first_divergence"]["field"], "etag", "{diverged}");
}

#[test]
fn a_healthy_external_s3s_fs_passes() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let healthy = Server::s3s_fs(&[], 0, 1);
    let out = work.sfko(&["--seed", "3", "--endpoint", &healthy.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["verdict"], "pass");
}

const RACE: &str = "\
- name: race
  required:
    buckets:
      - {}
      - versioning: true
  objects: {count: 6, size: {min: 16B, max: 4K}}
  tests: [conditional-race]
  checks: [check-backend, check-etag, check-versions, check-list]
";

/// Crowds of conditional writers race each key: a healthy server lets exactly one win, and a replay passes too
/// although other writers win in it; a server that ignores the preconditions lets several win, which the race's
/// read names, and its replay reproduces.
#[test]
fn conditional_race_has_one_winner_and_replays_whoever_wins() {
    let work = Workdir::new();
    work.scenarios(RACE);
    let healthy = Server::s3s_fs(&[], 0, 1);
    let out = work.sfko(&["--seed", "3", "--endpoint", &healthy.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let journal = doc["runs"][0]["journal"].as_str().expect("journal").to_string();
    let (exit, again) = replay(&work, &healthy, &journal);
    assert_eq!(exit, 0, "whoever wins in the replay, the checks after see the same: {again}");
    assert_eq!(again["reproduced"], true, "{again}");

    let faulty = Server::s3s_fs(&["conditional-ignored"], 1, 1);
    let doc = run(&work, &faulty, "race");
    let failures = doc["failures"].as_array().expect("failures");
    let sole = |f: &&serde_json::Value| f["got"].as_str().unwrap_or("").contains("writers won: ops");
    assert!(failures.iter().any(|f| sole(&f)), "several winners are named: {doc}");
    let corpus = work.corpus_files()[0].to_string_lossy().to_string();
    let (exit, same) = replay(&work, &faulty, &corpus);
    assert_eq!(exit, 1, "{same}");
    assert_eq!(same["reproduced"], true, "{same}");
}
