//! What CI reads: `--junit FILE` parsed by a real JUnit parser (Python's junitparser), and `sfko replay --times N`
//! telling how often a failure comes back.

mod support;

use std::process::Command;

use support::{code, json, stderr, Workdir};

const SCENARIOS: &str = "\
- name: puts
  objects: {count: 24, size: {min: 1K, max: 64K}}
  tests: [put]
  checks: [check-backend]
- name: small listing
  objects: {count: 3, size: 1K}
  tests: [put]
  checks: [check-list]
- name: needs replication
  required: {buckets: [{replication: true}]}
  tests: [put-replication]
  checks: [check-replication]
";

const FAULTS: [&str; 4] = ["--embedded-faults", "corrupt-byte", "--embedded-fault-one-in", "4"];

/// Every testcase of a JUnit file as junitparser reads it: (name, classname, result kind, message, text).
fn parse_junit(path: &std::path::Path) -> serde_json::Value {
    let script = r#"
import json, sys
from junitparser import JUnitXml, TestSuite
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
cases = []
for suite in suites:
    for case in suite:
        result = case.result[0] if case.result else None
        cases.append({"suite": suite.name, "name": case.name, "classname": case.classname, "time": case.time,
                      "kind": type(result).__name__ if result else "passed",
                      "message": result.message if result else None, "text": result.text if result else None})
print(json.dumps({"tests": sum(s.tests for s in suites), "failures": sum(s.failures for s in suites),
                  "skipped": sum(s.skipped for s in suites), "errors": sum(s.errors for s in suites), "cases": cases}))
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3");
    assert!(
        out.status.success(),
        "junitparser (bash tests/run.sh installs it) could not read the file:\n{}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("parser output")
}

#[test]
fn a_junit_report_holds_a_testcase_per_run_that_a_real_parser_reads() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let mut args = vec!["--seed", "3", "--junit", "reports/sfko.xml", "-q"];
    args.extend(FAULTS);
    let out = work.sfko(&args);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = parse_junit(&work.path().join("reports/sfko.xml"));
    assert_eq!(doc["tests"], 3, "{doc}");
    assert_eq!(doc["failures"], 1, "{doc}");
    assert_eq!(doc["skipped"], 1, "{doc}");
    assert_eq!(doc["errors"], 0, "{doc}");
    let cases = doc["cases"].as_array().expect("cases");
    let case = |name: &str| cases.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}: {doc}"));
    let failed = case("puts seed 3");
    assert_eq!(failed["kind"], "Failure", "{failed}");
    assert_eq!(failed["classname"], "sfko.puts");
    let message = failed["message"].as_str().unwrap_or("");
    assert!(message.contains("expected blake3") && message.contains("got blake3"), "{failed}");
    let text = failed["text"].as_str().unwrap_or("");
    assert!(text.contains("repro: sfko --seed 3 --scenario 'puts'"), "the repro line: {failed}");
    assert!(text.contains("replay: sfko replay corpus/"), "the journal: {failed}");
    assert_eq!(case("small listing seed 3")["kind"], "passed");
    let skipped = case("needs replication seed 3");
    assert_eq!(skipped["kind"], "Skipped");
    assert!(skipped["message"].as_str().unwrap_or("").contains("no second backend"), "{skipped}");
}

#[test]
fn replay_times_counts_how_often_the_failure_came_back() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let mut args = vec!["--seed", "3", "--scenario", "puts", "-q"];
    args.extend(FAULTS);
    assert_eq!(code(&work.sfko(&args)), 1);
    let corpus = work.corpus_files();
    let journal = corpus[0].to_string_lossy().to_string();

    // The same faulty target: a deterministic fault comes back every time.
    let mut replay = vec!["replay", journal.as_str(), "--times", "3", "--format", "json", "-q"];
    replay.extend(FAULTS);
    let out = work.sfko(&replay);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["times"], 3, "{doc}");
    assert_eq!(doc["reproduced"], 3, "{doc}");
    assert_eq!(doc["replays"].as_array().map(Vec::len), Some(3), "{doc}");
    for (i, one) in doc["replays"].as_array().into_iter().flatten().enumerate() {
        let path = one["journal"].as_str().unwrap_or("");
        assert!(path.ends_with(&format!("-{}.bin", i + 1)), "each replay keeps its own journal: {path}");
    }

    // A healthy target: it never comes back, and the human summary says where each replay diverged.
    let out = work.sfko(&["replay", journal.as_str(), "--times", "2", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the recorded failure came back in 0 of 2 replays"), "{text}");
    assert_eq!(text.matches("first divergence op").count(), 2, "{text}");
}

#[test]
fn compare_names_the_new_failure_against_a_baseline_and_exits_1() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let baseline = work.sfko(&["--seed", "3", "--format", "json", "-q"]);
    assert_eq!(code(&baseline), 0, "{}", stderr(&baseline));
    std::fs::write(work.path().join("old.json"), &baseline.stdout).expect("write");
    let mut args = vec!["--seed", "3", "--format", "json", "-q"];
    args.extend(FAULTS);
    let broken = work.sfko(&args);
    assert_eq!(code(&broken), 1);
    std::fs::write(work.path().join("new.json"), &broken.stdout).expect("write");

    // Throughput of tiny runs on a shared machine is noise: a huge threshold keeps this about verdicts.
    let out = work.sfko(&["compare", "old.json", "new.json", "--threshold", "100000", "--format", "json"]);
    assert_eq!(code(&out), 1, "a new failure is a regression: {}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["matched"], 3, "{doc}");
    assert_eq!(doc["new_failures"][0]["scenario"], "puts", "{doc}");
    assert_eq!(doc["fixed"].as_array().map(Vec::len), Some(0), "{doc}");

    let back = work.sfko(&["compare", "new.json", "old.json", "--threshold", "100000"]);
    assert_eq!(code(&back), 0, "a fix is not a regression: {}", stderr(&back));
    assert!(String::from_utf8_lossy(&back.stdout).contains("FIXED  puts seed 3: fail → pass"));

    std::fs::write(work.path().join("junk.json"), "{\"runs\": [1,").expect("write");
    let junk = work.sfko(&["compare", "old.json", "junk.json"]);
    assert_eq!(code(&junk), 2, "{}", stderr(&junk));
    assert!(stderr(&junk).contains("junk.json:1:"), "names file, line and column: {}", stderr(&junk));
}
