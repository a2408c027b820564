//! The default: no endpoint, no config — sfko runs against its embedded S3 server, journals the run, and the journal
//! replays to the same outcome.

mod support;

use support::{code, json, stderr, Workdir};

const SCENARIOS: &str = "\
- name: small mixed
  required: {buckets: 2}
  objects: {count: 30, size: {min: 0B, max: 9M}}
  tests: [put, get, delete]
  checks: [check-backend, check-etag]
- name: multipart
  objects: {count: 2, size: 11M}
  tests: [put-mpu, get]
  checks: [check-backend, check-etag]
- name: versioned
  required: {buckets: [{versioning: true}]}
  objects: {count: 3, size: 1K}
  tests: [put]
";

#[test]
fn runs_pass_including_versioning() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "11", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["verdict"], "pass");
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 3);
    for run in &runs[..2] {
        assert_eq!(run["verdict"], "pass", "{run}");
        assert!(run["counts"]["expectations"].as_u64().unwrap_or(0) > 0, "{run}");
        assert!(run["timings"]["latency_ms"]["p99"].as_f64().is_some(), "{run}");
        // One shape: the numbers live in `counts` and `timings` only.
        for repeated in ["stats", "expectations", "failures_total"] {
            assert!(run.get(repeated).is_none(), "{repeated} repeats counts/timings: {run}");
        }
    }
    // The embedded target versions objects (src/target/versioned.rs): versioned scenarios run, not skipped.
    assert_eq!(runs[2]["verdict"], "pass", "{}", runs[2]);
    assert!(work.corpus_files().is_empty(), "passing runs do not go to the corpus");
}

#[test]
fn journal_replays_to_the_same_outcome() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "12", "--scenario", "small mixed", "--journal", "run.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["journal"].as_str().map(|j| j.ends_with("run.bin")), Some(true));
    let out = work.sfko(&["replay", "run.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["reproduced"], true, "{doc}");
    assert_eq!(doc["first_divergence"], serde_json::Value::Null, "{doc}");
    assert_eq!(doc["verdict"], "pass");
    assert!(doc["ops"].as_u64().unwrap_or(0) > 60, "{doc}");

    let out = work.sfko(&["show", "run.bin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("scenario 'small mixed'") && text.contains("PutObject") && text.contains("end       pass"),
        "{text}"
    );
}

#[test]
fn several_seeds_each_get_a_journal() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "20", "--runs", "3", "--scenario", "multipart", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let journals = std::fs::read_dir(work.path().join(".sfko/journals")).expect("journal dir").count();
    assert_eq!(journals, 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for seed in ["20", "21", "22"] {
        assert!(stdout.contains(&format!("seed {seed}")), "{stdout}");
    }
}

/// `list-uploads` on the reference server: some 100 uploads listed in small pages by key and upload-id marker, each
/// once, then all aborted and none listed; the replay, whose upload ids are new, judges the same pages the same way.
#[test]
fn uploads_are_listed_page_by_page_and_replayed() {
    let work = Workdir::new();
    work.scenarios("- name: uploads\n  objects: {count: 40, size: 0B}\n  tests: [list-uploads]\n");
    let out = work.sfko(&["--seed", "3", "--journal", "uploads.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let listings = doc["runs"][0]["timings"]["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["operation"] == "ListMultipartUploads"))
        .and_then(|o| o["ops"].as_u64())
        .unwrap_or(0);
    assert!(listings > 3, "the walk went page by page: {doc}");
    let out = work.sfko(&["replay", "uploads.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["reproduced"], true, "{doc}");
    assert_eq!(doc["verdict"], "pass");
}

/// A part re-upload racing its upload's completion or abort: on the reference server both orders happen within one
/// run (completions that won and completions refused InvalidPart), every race settles as S3 requires, and a replay —
/// in which races may go the other way — passes too, judged by its own answers.
#[test]
fn part_races_settle_either_way_and_replay() {
    let work = Workdir::new();
    work.scenarios(
        "- name: part race\n  required: {buckets: [{}, {versioning: true}]}\n  objects: {count: 12, size: {min: 8B, max: 256K}}\n  \
         tests: [part-race, part-race]\n  checks: [check-backend, check-etag, check-versions]\n",
    );
    let out = work.sfko(&["--seed", "2", "--journal", "race.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let shown = work.sfko(&["show", "race.bin"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    let completions = |answer: &str| {
        text.lines()
            .filter(|l| l.contains("part-race") && l.contains("CompleteMultipartUpload") && l.contains(answer))
            .count()
    };
    assert!(completions("→ 200") > 0 && completions("InvalidPart") > 0, "both orders happened:\n{text}");
    let out = work.sfko(&["replay", "race.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["verdict"], "pass");
}
