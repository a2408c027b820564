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
fn duration_and_rate_refuse_what_they_cannot_honour() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    for args in [
        &["--duration", "1s", "--runs", "2"][..],
        &["--duration", "1s", "--journal", "one.bin"][..],
        &["--duration", "1s", "--dry-run"][..],
        &["--duration", "soon"][..],
        &["--rate", "0/s"][..],
        &["--rate", "5/day"][..],
        &["--rate", "5/s", "--dry-run"][..],
        &["diff", "--endpoint", "http://127.0.0.1:9", "--rate", "5/s"][..],
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

#[test]
fn a_paced_run_says_intended_against_achieved_and_where_latency_counts_from() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "6", "--rate", "2400/m", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let rate = &doc["timings"]["rate"];
    assert_eq!(rate["intended_ops_per_s"].as_f64(), Some(40.0), "{doc}");
    assert_eq!(rate["latency_from"], "intended start");
    // Open loop: ops wait for their arrivals, so the run cannot outpace its schedule by much (a Poisson schedule of
    // a few dozen arrivals spans its mean within tens of percent), whatever the target's speed.
    let achieved = rate["achieved_ops_per_s"].as_f64().unwrap_or(f64::MAX);
    assert!(achieved > 0.0 && achieved < 80.0, "{rate}");
    assert!(rate["service_latency_ms"]["p50"].as_f64().is_some(), "{rate}");
    // An unpaced run says nothing about a rate.
    let out = work.sfko(&["--seed", "6", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(json(&out)["timings"].get("rate").is_none());
}
