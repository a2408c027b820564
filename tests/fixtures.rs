//! Replication and expiration, proven on fixtures that stand in for a replicating / expiring cluster: two real
//! s3s-fs processes (`sfko serve`) where the first copies every write to the second after a seeded lag, or honours
//! lifecycle rules with a one-second day — each with fault modes the checks must catch.

mod support;

use support::{code, json, stderr, Server, Workdir};

const REPLICATION: &str = "\
- name: replicate small
  required: {buckets: [{replication: [AWS], clouds: [S3]}]}
  objects: {count: 12, size: {min: 0B, max: 64K}}
  tests: [put-replication]
  checks: [check-replication]
- name: replicate mpu
  required: {buckets: [{replication: [AWS], clouds: [S3]}]}
  objects: {count: 4, size: {min: 6M, max: 11M}}
  tests: [put-mpu]
  checks: [check-replication, check-replication-mpu]
";

/// A target that replicates to `remote`, and a config that says so.
fn replicating(work: &Workdir, faults: &[&str]) -> (Server, Server) {
    let remote = Server::s3s_fs(&[], 0, 1);
    let target = Server::s3s_fs_with(faults, 7, 2, &["--replicate-to", &remote.endpoint, "--replicate-lag-ms", "300"]);
    let config = format!(
        "target: {{endpoint: {}}}\nreplication: {{mode: zone, deadline: 15s}}\nbackends:\n  - {{name: local, cloud: S3}}\n  - {{name: remote, cloud: AWS, endpoint: {}}}\n",
        target.endpoint, remote.endpoint
    );
    std::fs::write(work.path().join("sfko.yaml"), config).expect("write config");
    (target, remote)
}

fn run(work: &Workdir, scenario: &str) -> (i32, serde_json::Value) {
    let out = work.sfko(&["--seed", "2", "--scenario", scenario, "--config", "sfko.yaml", "--format", "json"]);
    let exit = code(&out);
    assert!(exit == 0 || exit == 1, "{}", stderr(&out));
    (exit, json(&out))
}

#[test]
fn healthy_replication_passes_and_reports_time_to_replicate() {
    let work = Workdir::new();
    work.scenarios(REPLICATION);
    let _servers = replicating(&work, &[]);
    for scenario in ["replicate small", "replicate mpu"] {
        let (exit, doc) = run(&work, scenario);
        assert_eq!(exit, 0, "{doc}");
        let notes = doc["runs"][0]["notes"].to_string();
        assert!(notes.contains("time-to-replicate"), "{doc}");
    }
}

#[test]
fn a_skipped_object_is_named_and_the_failure_replays() {
    let work = Workdir::new();
    work.scenarios(REPLICATION);
    let _servers = replicating(&work, &["replicate-skip"]);
    let (exit, doc) = run(&work, "replicate small");
    assert_eq!(exit, 1, "{doc}");
    let failure = &doc["failures"][0];
    assert_eq!(failure["by"], "check-replication", "{failure}");
    assert!(failure["subject"].as_str().unwrap_or("").ends_with("on remote"), "names object and backend: {failure}");
    let corpus = work.corpus_files()[0].to_string_lossy().to_string();
    let out = work.sfko(&["replay", &corpus, "--config", "sfko.yaml", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["reproduced"], true, "{}", json(&out));
}

#[test]
fn a_corrupted_copy_is_caught() {
    let work = Workdir::new();
    work.scenarios(REPLICATION);
    let _servers = replicating(&work, &["replicate-corrupt"]);
    let (exit, doc) = run(&work, "replicate small");
    assert_eq!(exit, 1, "{doc}");
    let failures = doc["failures"].as_array().expect("failures");
    assert!(failures.iter().all(|f| f["by"] == "check-replication"), "{doc}");
    assert!(failures.iter().any(|f| f["expected"].as_str().unwrap_or("").starts_with("blake3")), "{doc}");
    assert_replays(&work);
}

/// The corpus journal replays (with the recorded pacing) to the same failure.
fn assert_replays(work: &Workdir) {
    let corpus = work.corpus_files()[0].to_string_lossy().to_string();
    let out = work.sfko(&["replay", &corpus, "--config", "sfko.yaml", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["reproduced"], true, "{}", json(&out));
}

#[test]
fn a_multipart_object_replicated_as_one_part_is_caught_by_the_mpu_check_only() {
    let work = Workdir::new();
    work.scenarios(REPLICATION);
    let _servers = replicating(&work, &["replicate-single-part"]);
    let (exit, doc) = run(&work, "replicate mpu");
    assert_eq!(exit, 1, "{doc}");
    let failures = doc["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    for failure in failures {
        assert_eq!(failure["by"], "check-replication-mpu", "content is right, only the parts are not: {failure}");
        assert!(failure["expected"].as_str().unwrap_or("").starts_with("ETag"), "{failure}");
    }
    assert_replays(&work);
}

const EXPIRATION: &str = "\
- name: expire
  required: {buckets: [{expiration: 2s}, {}]}
  objects: {count: 6, size: 1K}
  tests: [put]
  checks: [check-expiration]
";

fn expiring(work: &Workdir, faults: &[&str]) -> Server {
    let target = Server::s3s_fs_with(faults, 3, 2, &["--lifecycle-day", "1s"]);
    let config = format!("target: {{endpoint: {}}}\nlifecycle: {{day: 1s, deadline: 4s}}\n", target.endpoint);
    std::fs::write(work.path().join("sfko.yaml"), config).expect("write config");
    target
}

#[test]
fn expiration_happens_on_schedule_and_a_survivor_is_named() {
    let work = Workdir::new();
    work.scenarios(EXPIRATION);
    {
        let _target = expiring(&work, &[]);
        let (exit, doc) = run(&work, "expire");
        assert_eq!(exit, 0, "{doc}");
        assert!(doc["runs"][0]["notes"].to_string().contains("time-to-expire"), "{doc}");
    }
    let _target = expiring(&work, &["expire-skip"]);
    let (exit, doc) = run(&work, "expire");
    assert_eq!(exit, 1, "{doc}");
    let failure = &doc["failures"][0];
    assert_eq!(failure["by"], "check-expiration", "{failure}");
    assert_eq!(failure["expected"], "404 NoSuchKey", "{failure}");
    assert_replays(&work);
}

/// moto stores replication and lifecycle rules and never acts on them: the checks must say so by failing at their
/// deadlines, not pass and not hang.
#[test]
fn on_moto_replication_and_expiration_time_out_as_failures() {
    let work = Workdir::new();
    work.scenarios(
        "- name: replicate\n  required: {buckets: [{replication: [AWS], clouds: [S3]}]}\n  objects: {count: 3, size: 1K}\n  tests: [put-replication]\n  checks: [check-replication]\n- name: expire\n  required: {buckets: [{expiration: 1s}]}\n  objects: {count: 3, size: 1K}\n  tests: [put]\n  checks: [check-expiration]\n",
    );
    let (moto, remote) = (Server::moto(), Server::moto());
    let config = format!(
        "target: {{endpoint: {}}}\nreplication: {{mode: aws, deadline: 2s, role: 'arn:aws:iam::123456789012:role/sfko'}}\nlifecycle: {{day: 1s, deadline: 2s}}\nbackends:\n  - {{name: local, cloud: S3}}\n  - {{name: remote, cloud: AWS, endpoint: {}}}\n",
        moto.endpoint, remote.endpoint
    );
    std::fs::write(work.path().join("sfko.yaml"), config).expect("write config");
    let out = work.sfko(&["--seed", "1", "--config", "sfko.yaml", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    for run in doc["runs"].as_array().expect("runs") {
        assert_eq!(run["verdict"], "fail", "{run}");
    }
    let by: Vec<&str> = doc["failures"].as_array().expect("failures").iter().filter_map(|f| f["by"].as_str()).collect();
    assert!(by.contains(&"check-replication") && by.contains(&"check-expiration"), "{doc}");
}

/// A multisite zone pair written the way the README says: the target (zone 1) is where buckets live, zone 2 only
/// receives replicas and is read through its own endpoint. The whole default scenario set runs: no bucket is created
/// in zone 2, the plain scenarios pass, and the replicating one passes and reports time-to-replicate.
#[test]
fn a_zone_pair_runs_the_default_scenarios_with_buckets_only_in_the_home_zone() {
    let work = Workdir::new();
    let zone2 = Server::s3s_fs(&[], 0, 1);
    let zone1 = Server::s3s_fs_with(&[], 0, 1, &["--replicate-to", &zone2.endpoint, "--replicate-lag-ms", "300"]);
    let config = format!(
        "target: {{endpoint: {}}}\nreplication: {{mode: zone, deadline: 30s}}\nbackends:\n  - {{name: target, cloud: S3, role: home}}\n  - {{name: z2, cloud: S3, endpoint: {}, role: replica}}\n",
        zone1.endpoint, zone2.endpoint
    );
    std::fs::write(work.path().join("sfko.yaml"), config).expect("write config");
    let defaults = format!("{}/scenarios/default.yaml", env!("CARGO_MANIFEST_DIR"));
    let listed = work.sfko(&["list", "--config", "sfko.yaml", "--scenarios-path", &defaults, "--format", "json"]);
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let listed = json(&listed);
    let roles: Vec<String> =
        listed["backends"].as_array().map(|b| b.iter().map(|b| b["role"].to_string()).collect()).unwrap_or_default();
    assert_eq!(roles, ["\"home\"", "\"replica\""], "{listed}");
    let out =
        work.sfko(&["--seed", "4", "--config", "sfko.yaml", "--scenarios-path", &defaults, "--format", "json", "-q"]);
    let doc = json(&out);
    assert_eq!(code(&out), 0, "{doc}\n{}", stderr(&out));
    let runs = doc["runs"].as_array().cloned().unwrap_or_default();
    let verdict = |name: &str| runs.iter().find(|r| r["scenario"] == name).map(|r| r["verdict"].clone());
    assert_eq!(verdict("Write 0B"), Some("pass".into()), "{doc}");
    assert_eq!(verdict("Random ops"), Some("pass".into()), "{doc}");
    let replicated = runs.iter().find(|r| r["scenario"] == "Replicate 0B").cloned().unwrap_or_default();
    assert_eq!(replicated["verdict"], "pass", "{replicated}");
    assert!(replicated["notes"].to_string().contains("time-to-replicate"), "{replicated}");
    // The other replicating default wants AWS clouds, which this pair does not have: skipped, saying so.
    let clouds = runs.iter().find(|r| r["scenario"] == "Replicate 10M").cloned().unwrap_or_default();
    assert_eq!(clouds["verdict"], "skipped", "{clouds}");
    assert!(clouds["reason"].as_str().unwrap_or_default().contains("AWS"), "{clouds}");
    // No bucket lives in zone 2: every plan homes its buckets on the target.
    let dry = work.sfko(&[
        "--seed",
        "4",
        "--config",
        "sfko.yaml",
        "--scenarios-path",
        &defaults,
        "--dry-run",
        "--format",
        "json",
    ]);
    let dry = json(&dry);
    let homes: Vec<String> = dry["plans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["plan"]["buckets"].as_array().cloned().unwrap_or_default())
        .map(|b| b["backend"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!homes.is_empty() && homes.iter().all(|h| h == "target"), "{homes:?}");
}
