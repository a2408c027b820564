//! Rendering results: a human summary or one JSON document on stdout. Both render the same report values.

use serde_json::{json, Value};

use crate::exec::RunReport;
use crate::journal::Verdict;
use crate::replay::ReplayReport;

/// One line that reproduces a run, as the user would type it.
pub fn repro_line(seed: u64, scenario: &str, scenarios_path: Option<&str>) -> String {
    let mut line = format!("sfko --seed {seed} --scenario '{}'", scenario.replace('\'', r"'\''"));
    if let Some(path) = scenarios_path {
        line.push_str(&format!(" --scenarios-path {path}"));
    }
    line
}

/// One indented line per failure, and how many more the journal holds.
pub fn failure_lines(failures: &[crate::exec::Failure], total: u64) -> String {
    let mut out = String::new();
    for f in failures {
        out.push_str(&format!(
            "\n      {}: {} op {} {}: expected {}, got {}",
            f.by, f.subject, f.op, f.request, f.expected, f.got
        ));
    }
    if total > failures.len() as u64 {
        out.push_str(&format!("\n      ... {total} failures in all (every one is in the journal)"));
    }
    out
}

/// Human summary of one run.
pub fn human_run(report: &RunReport, repro: &str) -> String {
    let tag = match report.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Skipped => "SKIP",
        Verdict::Incomplete => "STOP",
    };
    let mut out = format!(
        "{tag}  {}  seed {}  plan {}",
        report.scenario,
        report.seed,
        &report.plan_digest[..12.min(report.plan_digest.len())]
    );
    if let Some(stats) = &report.stats {
        out.push_str(&format!(
            "  {} ops  {:.0} ops/s  {:.1} MiB/s  p50 {:.1} ms  p99 {:.1} ms",
            stats.ops, stats.ops_per_s, stats.mib_per_s, stats.latency_ms.p50, stats.latency_ms.p99
        ));
    }
    if let Some(reason) = &report.reason {
        out.push_str(&format!("\n      reason: {reason}"));
    }
    out.push_str(&failure_lines(&report.failures, report.failures_total));
    for note in &report.notes {
        out.push_str(&format!("\n      {note}"));
    }
    if !report.unsupported.is_empty() {
        let ops: Vec<String> = report.unsupported.iter().map(|(op, n)| format!("{op} ×{n}")).collect();
        out.push_str(&format!("\n      not implemented by the target (not verified): {}", ops.join(", ")));
    }
    if let Some(journal) = &report.journal {
        out.push_str(&format!("\n      journal: {}", journal.display()));
    }
    if report.verdict == Verdict::Fail || report.verdict == Verdict::Incomplete {
        out.push_str(&format!("\n      repro:   {repro}"));
        if let Some(corpus) = &report.corpus {
            out.push_str(&format!("\n      replay:  sfko replay {}", corpus.display()));
        }
    }
    if !report.left_behind.is_empty() && report.verdict != Verdict::Skipped {
        out.push_str(&format!("\n      left on the target for inspection: {}", report.left_behind.join(", ")));
        if let Some(journal) = &report.journal {
            out.push_str(&format!("\n      remove with: sfko clean {}", journal.display()));
        }
    }
    out
}

/// JSON of one run.
pub fn json_run(report: &RunReport, repro: &str) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("verdict".into(), json!(report.verdict.as_str()));
        map.insert("repro".into(), json!(repro));
        map.insert("counts".into(), counts(report));
        map.insert("timings".into(), timings(report));
    }
    value
}

fn counts(report: &RunReport) -> Value {
    let stats = report.stats.as_ref();
    json!({
        "ops": stats.map(|s| s.ops).unwrap_or(0),
        "op_errors": stats.map(|s| s.errors).unwrap_or(0),
        "expectations": report.expectations,
        "failed": report.failures_total,
        "bytes_written": stats.map(|s| s.bytes_written).unwrap_or(0),
        "bytes_read": stats.map(|s| s.bytes_read).unwrap_or(0),
    })
}

fn timings(report: &RunReport) -> Value {
    match &report.stats {
        Some(s) => json!({
            "elapsed_s": s.elapsed_s,
            "ops_per_s": s.ops_per_s,
            "mib_per_s": s.mib_per_s,
            "latency_ms": s.latency_ms,
        }),
        None => Value::Null,
    }
}

/// The one JSON document of a standalone invocation: overall verdict, every run, and — when there is exactly one
/// run — its fields at the top level too, so simple scripts can read `.plan_digest` or `.verdict` directly.
pub fn json_document(seed: u64, runs: &[(RunReport, String)], verdict: &str) -> Value {
    let run_values: Vec<Value> = runs.iter().map(|(r, repro)| json_run(r, repro)).collect();
    let failures: Vec<Value> = runs
        .iter()
        .flat_map(|(r, _)| {
            r.failures.iter().map(move |f| {
                let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut v {
                    map.insert("seed".into(), json!(r.seed));
                    map.insert("scenario".into(), json!(r.scenario));
                }
                v
            })
        })
        .collect();
    let single = (runs.len() == 1).then(|| &run_values[0]);
    let pick = |field: &str| single.and_then(|v| v.get(field)).cloned().unwrap_or(Value::Null);
    json!({
        "sfko_version": env!("CARGO_PKG_VERSION"),
        "seed": seed,
        "verdict": verdict,
        "scenario": pick("scenario"),
        "plan_digest": pick("plan_digest"),
        "journal": pick("journal"),
        "counts": pick("counts"),
        "timings": pick("timings"),
        "failures": failures,
        "runs": run_values,
        "passed": runs.iter().filter(|(r, _)| r.verdict == Verdict::Pass).count(),
        "failed": runs.iter().filter(|(r, _)| r.verdict == Verdict::Fail).count(),
        "skipped": runs.iter().filter(|(r, _)| r.verdict == Verdict::Skipped).count(),
        "incomplete": runs.iter().filter(|(r, _)| r.verdict == Verdict::Incomplete).count(),
    })
}

/// Human summary of a replay.
pub fn human_replay(report: &ReplayReport) -> String {
    let mut out = format!(
        "{}  replay of {} (seed {}, scenario {}): {} ops, recorded {}, replayed {}",
        if report.reproduced { "REPRODUCED" } else { "DIVERGED" },
        report.source.display(),
        report.seed,
        report.scenario,
        report.ops,
        report.recorded_verdict.as_str(),
        report.verdict.as_str()
    );
    match &report.first_divergence {
        Some(d) => out.push_str(&format!(
            "\n      first divergence: op {} {} {}: {} recorded {}, replayed {} ({} ops differ)",
            d.op, d.request, d.subject, d.field, d.recorded, d.replayed, report.divergent_ops
        )),
        None => out.push_str("\n      every outcome matched the recording"),
    }
    out.push_str(&failure_lines(&report.failures, report.failures_total));
    if let Some(journal) = &report.journal {
        out.push_str(&format!("\n      replay journal: {}", journal.display()));
    }
    out
}

/// JSON of a replay.
pub fn json_replay(report: &ReplayReport) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("verdict".into(), json!(report.verdict.as_str()));
        map.insert("recorded_verdict".into(), json!(report.recorded_verdict.as_str()));
    }
    value
}
