//! Baselines: two saved `--format json` results (a standalone run's document or a controller's) compared run by run,
//! so that a team can gate an upgrade of their cluster on "nothing new fails and nothing got much slower".
//!
//! Runs are matched by (scenario, seed): the plan is a function of the two, so the same pair is the same work. A run
//! only one side has is listed, not judged.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One run as a result file describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSide {
    pub verdict: String,
    /// The first failure, `request subject: expected …, got …`.
    pub first_failure: Option<String>,
    pub ops_per_s: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A figure that moved beyond the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub scenario: String,
    pub seed: u64,
    /// `ops_per_s` or `p99_ms`.
    pub figure: &'static str,
    pub old: f64,
    pub new: f64,
    /// Signed, relative to the old value.
    pub percent: f64,
    /// The change is for the worse.
    pub worse: bool,
}

/// A run that changed verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub scenario: String,
    pub seed: u64,
    pub old: RunSide,
    pub new: RunSide,
}

/// Everything that differs between the two results.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub matched: usize,
    /// Passed (or was skipped) before, fails now.
    pub new_failures: Vec<Flip>,
    /// Failed before, passes now.
    pub fixed: Vec<Flip>,
    /// Fails in both.
    pub still_failing: Vec<Flip>,
    /// Any other verdict change (a run now incomplete or skipped).
    pub other_changes: Vec<Flip>,
    pub changes: Vec<Change>,
    /// (scenario, seed) only in the old result, or only in the new one.
    pub only_old: Vec<(String, u64)>,
    pub only_new: Vec<(String, u64)>,
}

impl Comparison {
    /// Something got worse: a new failure, a run that no longer completes, or a figure beyond the threshold.
    pub fn regressed(&self) -> bool {
        !self.new_failures.is_empty()
            || self.other_changes.iter().any(|f| f.new.verdict == "incomplete")
            || self.changes.iter().any(|c| c.worse)
    }
}

/// The runs of one result document, by (scenario, seed).
pub fn runs(doc: &Value) -> Result<BTreeMap<(String, u64), RunSide>, String> {
    let list = doc
        .get("runs")
        .or_else(|| doc.get("jobs"))
        .and_then(Value::as_array)
        .ok_or("not an sfko result: expected a JSON object with a \"runs\" (or, from sfko -c, \"jobs\") list")?;
    let mut out = BTreeMap::new();
    for (i, run) in list.iter().enumerate() {
        let scenario = run.get("scenario").and_then(Value::as_str).ok_or(format!("run {i}: no \"scenario\""))?;
        let seed = run.get("seed").and_then(Value::as_u64).ok_or(format!("run {i}: no \"seed\""))?;
        let verdict = run.get("verdict").and_then(Value::as_str).ok_or(format!("run {i}: no \"verdict\""))?;
        let first_failure = run.get("failures").and_then(Value::as_array).and_then(|f| f.first()).map(|f| {
            let field = |name: &str| f.get(name).and_then(Value::as_str).unwrap_or("?").to_string();
            format!("{} {}: expected {}, got {}", field("request"), field("subject"), field("expected"), field("got"))
        });
        let timings = run.get("timings");
        let side = RunSide {
            verdict: verdict.to_string(),
            first_failure,
            ops_per_s: timings.and_then(|t| t.get("ops_per_s")).and_then(Value::as_f64),
            p99_ms: timings.and_then(|t| t.pointer("/latency_ms/p99")).and_then(Value::as_f64),
        };
        // Broadcast jobs run one (scenario, seed) on every worker: the worst verdict stands for the pair.
        let key = (scenario.to_string(), seed);
        match out.get(&key) {
            Some(RunSide { verdict, .. }) if rank(verdict) >= rank(&side.verdict) => {}
            _ => {
                out.insert(key, side);
            }
        }
    }
    Ok(out)
}

fn rank(verdict: &str) -> u8 {
    match verdict {
        "fail" => 3,
        "incomplete" => 2,
        "pass" => 1,
        _ => 0,
    }
}

/// Compares `new` with the baseline `old`; `threshold` is in percent.
pub fn compare(old: &Value, new: &Value, threshold: f64) -> Result<Comparison, String> {
    let old_runs = runs(old).map_err(|e| format!("the baseline: {e}"))?;
    let new_runs = runs(new).map_err(|e| format!("the new result: {e}"))?;
    let mut out = Comparison::default();
    for (key, before) in &old_runs {
        let Some(after) = new_runs.get(key) else {
            out.only_old.push(key.clone());
            continue;
        };
        out.matched += 1;
        let flip = || Flip { scenario: key.0.clone(), seed: key.1, old: before.clone(), new: after.clone() };
        match (before.verdict == "fail", after.verdict == "fail") {
            (false, true) => out.new_failures.push(flip()),
            (true, false) if after.verdict == "pass" => out.fixed.push(flip()),
            (true, true) => out.still_failing.push(flip()),
            _ if before.verdict != after.verdict => out.other_changes.push(flip()),
            _ => {}
        }
        if before.verdict == "pass" && after.verdict == "pass" {
            let figures = [
                ("ops_per_s", before.ops_per_s, after.ops_per_s, false),
                ("p99_ms", before.p99_ms, after.p99_ms, true),
            ];
            for (figure, old_value, new_value, higher_is_worse) in figures {
                let (Some(o), Some(n)) = (old_value, new_value) else { continue };
                if o <= 0.0 {
                    continue;
                }
                let percent = (n - o) / o * 100.0;
                if percent.abs() > threshold {
                    let worse = if higher_is_worse { percent > 0.0 } else { percent < 0.0 };
                    out.changes.push(Change {
                        scenario: key.0.clone(),
                        seed: key.1,
                        figure,
                        old: o,
                        new: n,
                        percent,
                        worse,
                    });
                }
            }
        }
    }
    out.only_new = new_runs.keys().filter(|k| !old_runs.contains_key(*k)).cloned().collect();
    Ok(out)
}

/// The comparison for a person.
pub fn human(c: &Comparison, threshold: f64) -> String {
    let mut out = String::new();
    let flips = |out: &mut String, tag: &str, list: &[Flip]| {
        for f in list {
            out.push_str(&format!("{tag}  {} seed {}: {} → {}", f.scenario, f.seed, f.old.verdict, f.new.verdict));
            if let Some(failure) = f.new.first_failure.as_ref().or(f.old.first_failure.as_ref()) {
                out.push_str(&format!("\n      {failure}"));
            }
            out.push('\n');
        }
    };
    flips(&mut out, "NEW", &c.new_failures);
    flips(&mut out, "FIXED", &c.fixed);
    flips(&mut out, "STILL", &c.still_failing);
    flips(&mut out, "CHANGED", &c.other_changes);
    for change in &c.changes {
        out.push_str(&format!(
            "{}  {} seed {}: {} {:.1} → {:.1} ({:+.0} %)\n",
            if change.worse { "SLOWER" } else { "FASTER" },
            change.scenario,
            change.seed,
            change.figure,
            change.old,
            change.new,
            change.percent
        ));
    }
    for (scenario, seed) in &c.only_old {
        out.push_str(&format!("GONE  {scenario} seed {seed}: only in the baseline\n"));
    }
    for (scenario, seed) in &c.only_new {
        out.push_str(&format!("ADDED  {scenario} seed {seed}: only in the new result\n"));
    }
    let slower = c.changes.iter().filter(|x| x.worse).count();
    out.push_str(&format!(
        "sfko: {} runs compared: {} new failures, {} fixed, {} still failing, {} beyond ±{threshold} % slower; {}",
        c.matched,
        c.new_failures.len(),
        c.fixed.len(),
        c.still_failing.len(),
        slower,
        if c.regressed() { "worse than the baseline" } else { "no worse than the baseline" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(scenario: &str, seed: u64, verdict: &str, ops: f64, p99: f64) -> Value {
        json!({"scenario": scenario, "seed": seed, "verdict": verdict,
               "failures": if verdict == "fail" { json!([{"request": "GetObject", "subject": "b/k", "expected": "x", "got": "y"}]) } else { json!([]) },
               "timings": {"ops_per_s": ops, "latency_ms": {"p99": p99}}})
    }

    #[test]
    fn new_failures_fixes_and_slowdowns_are_told_apart() {
        let old = json!({"runs": [run("a", 1, "pass", 100.0, 10.0), run("b", 1, "fail", 100.0, 10.0),
                                  run("c", 1, "pass", 100.0, 10.0), run("d", 1, "pass", 100.0, 10.0)]});
        let new = json!({"runs": [run("a", 1, "fail", 100.0, 10.0), run("b", 1, "pass", 100.0, 10.0),
                                  run("c", 1, "pass", 70.0, 10.0), run("e", 1, "pass", 1.0, 1.0)]});
        let c = compare(&old, &new, 20.0).unwrap();
        assert_eq!(c.matched, 3);
        assert_eq!(c.new_failures.len(), 1);
        assert_eq!(c.new_failures[0].scenario, "a");
        assert_eq!(c.fixed.len(), 1);
        assert_eq!(c.changes.len(), 1);
        assert!(c.changes[0].worse && c.changes[0].figure == "ops_per_s");
        assert_eq!(c.only_old, vec![("d".to_string(), 1)]);
        assert_eq!(c.only_new, vec![("e".to_string(), 1)]);
        assert!(c.regressed());
        let same = compare(&old, &old, 20.0).unwrap();
        assert!(!same.regressed(), "{same:?}");
        assert!(human(&c, 20.0).contains("NEW  a seed 1: pass → fail\n      GetObject b/k: expected x, got y"));
    }

    #[test]
    fn a_file_that_is_not_a_result_is_named_as_such() {
        let e = compare(&json!({"x": 1}), &json!({"runs": []}), 20.0).unwrap_err();
        assert!(e.starts_with("the baseline: not an sfko result"), "{e}");
    }
}
