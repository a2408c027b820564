//! Time-driven load against the embedded target: `--duration` keeps drawing runs until the time is up, and
//! `--timeseries` records every op into per-interval rows that `sfko show` tabulates and plots. No timed assertions:
//! the checks are on counts (every op lands in exactly one interval) and on what the flags refuse.

mod support;

use support::{code, json, stderr, Workdir};

const SCENARIOS: &str = "\
- name: tiny
  objects: {count: 5, size: {min: 0B, max: 4K}}
  tests: [put, get]
  checks: [check-backend, check-etag]
";

#[test]
fn duration_runs_and_the_time_series_accounts_for_every_op() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "4", "--duration", "2s", "--timeseries", "ts.jsonl", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let runs = doc["runs"].as_array().expect("runs");
    assert!(!runs.is_empty(), "{doc}");
    let report_ops: u64 = runs.iter().map(|run| run["counts"]["ops"].as_u64().unwrap_or(0)).sum();

    let text = std::fs::read_to_string(work.path().join("ts.jsonl")).expect("time series written");
    let rows: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).expect("each line is JSON")).collect();
    assert!(!rows.is_empty());
    let series_ops: u64 = rows.iter().map(|row| row["ops"].as_u64().unwrap_or(0)).sum();
    assert_eq!(series_ops, report_ops, "every op of every run lands in exactly one interval");
    for row in &rows {
        assert!(row["histogram"].is_string(), "{row}");
        assert!(row["t_s"].is_number(), "{row}");
    }

    let out = work.sfko(&["show", "ts.jsonl"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ops/s"));
    let out = work.sfko(&["show", "ts.jsonl", "--plot", "ts.svg"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let svg = std::fs::read_to_string(work.path().join("ts.svg")).expect("plot written");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(80)]);
    assert!(!svg.contains("NaN"));
}

#[test]
fn duration_refuses_what_it_cannot_honour() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    for args in [
        &["--duration", "1s", "--runs", "2"][..],
        &["--duration", "1s", "--journal", "one.bin"][..],
        &["--duration", "1s", "--dry-run"][..],
        &["--duration", "soon"][..],
    ] {
        let out = work.sfko(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_broken_time_series_is_named_by_line_and_a_journal_does_not_plot() {
    let work = Workdir::new();
    std::fs::write(work.path().join("bad.jsonl"), "{\"t_s\": 0}\n{not json\n").expect("write");
    let out = work.sfko(&["show", "bad.jsonl"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.jsonl"), "{}", stderr(&out));

    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "5", "--journal", "run.bin", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = work.sfko(&["show", "run.bin", "--plot", "x.svg"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
