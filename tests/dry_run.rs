//! `--dry-run` resolves plans without I/O: the same seed gives the same plan_digest on every run and machine.

mod support;

use support::{code, json, stderr, Workdir};

const SCENARIOS: &str = "\
clouds:
  AWS: &AWS aws
scenarios:
  - name: mixed
    required: {buckets: 2}
    objects: {count: 50, size: {min: 0B, max: 20M}}
    tests: [put, get, delete]
    checks: [check-backend, check-etag]
  - name: replicated
    required: {buckets: [{replication: [*AWS]}]}
    tests: [put-replication]
";

fn digest(work: &Workdir, seed: &str) -> String {
    let out = work.sfko(&["--seed", seed, "--dry-run", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out)["plan_digest"].as_str().expect("plan_digest").to_string()
}

#[test]
fn same_seed_same_plan_digest_different_seed_different() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let a = digest(&work, "42");
    assert_eq!(a, digest(&work, "42"));
    assert_ne!(a, digest(&work, "43"));
}

/// Pins seed → plan digest. A deliberate change to plan resolution must update this and bump the journal format.
#[test]
fn golden_plan_digest() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "42", "--dry-run", "--format", "json", "--scenario", "mixed"]);
    let doc = json(&out);
    assert_eq!(doc["plans"][0]["plan_digest"], doc["plan_digest"]);
    assert_eq!(doc["plan_digest"].as_str(), Some(GOLDEN_PLAN_DIGEST), "plan resolution changed");
}

const GOLDEN_PLAN_DIGEST: &str = "8118ae93cd0dbc526b69de1f52619830f893585ad0898e0d623a4fa1f00937ad";

#[test]
fn dry_run_touches_nothing() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    // An endpoint nobody listens on: a dry run must not even try it.
    let out = work.sfko(&["--seed", "1", "--dry-run", "--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!work.path().join(".sfko").exists());
    assert!(!work.path().join("corpus").exists());
}

#[test]
fn plan_digest_ignores_comments_and_other_scenarios() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let before = {
        let out = work.sfko(&["--seed", "42", "--dry-run", "--format", "json", "--scenario", "mixed"]);
        json(&out)["plan_digest"].clone()
    };
    let edited = format!("# a comment\n{}  - name: another\n    tests: [get]\n", SCENARIOS);
    work.scenarios(&edited);
    let out = work.sfko(&["--seed", "42", "--dry-run", "--format", "json", "--scenario", "mixed"]);
    assert_eq!(json(&out)["plan_digest"], before);
}

/// A `random-ops` plan shows its whole program before anything is sent — every checksum, precondition, date
/// condition, part number and listing option is drawn from the seed — and the same seed shows the same program.
#[test]
fn a_dry_run_shows_the_random_ops_program() {
    let work = Workdir::new();
    work.scenarios(
        "- name: r\n  required: {buckets: [{versioning: true}, {}]}\n  tests: [random-ops]\n  random_ops: {ops: 400}\n",
    );
    let program = |seed: &str| {
        let doc = json(&work.sfko(&["--seed", seed, "--dry-run", "--format", "json"]));
        doc["plans"][0]["random_ops_programs"][0]["steps"].clone()
    };
    let steps = program("1");
    assert_eq!(steps.as_array().map(Vec::len), Some(400), "{steps}");
    let text = steps.to_string();
    for needle in [
        "\"checksum\":{\"algorithm\"",
        "\"precondition\":\"Absent\"",
        "\"date\":\"",
        "\"part_number\":",
        "\"start_after\":\"",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert_eq!(steps, program("1"));
    assert_ne!(steps, program("2"));
}
