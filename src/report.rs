//! Rendering results: a human summary or one JSON document on stdout. Standalone runs, replays and the controller's
//! jobs all render through here, from the same report values; how verdicts add up to an exit code is decided here
//! once.

use std::path::Path;

use serde_json::{json, Value};

use crate::exec::{Failure, RunReport};
use crate::exit::Exit;
use crate::journal::Verdict;
use crate::replay::ReplayReport;
use crate::target::faults::FaultPlan;

/// Everything that decides a run, so that its repro line makes the same run again.
#[derive(Debug, Clone, Copy)]
pub struct Repro<'a> {
    pub seed: u64,
    pub scenario: &'a str,
    /// `--scenarios-path`, when not the default.
    pub scenarios_path: Option<&'a Path>,
    /// `--bucket-prefix`, when not the default.
    pub bucket_prefix: Option<&'a str>,
    /// The embedded target's seeded faults, when the run had any.
    pub faults: Option<&'a FaultPlan>,
    /// `--rate`, when the run was paced: the ops are the seed's at any rate, but a timing-dependent failure wants
    /// the same pace again.
    pub rate: Option<f64>,
    /// The command line's nemesis flags (`--nemesis all --nemesis-every 10`), when it gave any: the faults decide
    /// the run too. (A config's nemesis travels with the config the user passes again.)
    pub nemesis: Option<&'a str>,
}

impl Repro<'_> {
    /// One line that reproduces the run, as the user would type it.
    pub fn line(&self) -> String {
        self.line_for("sfko")
    }

    /// The same line for another command that takes a run's flags (`sfko diff`).
    pub fn line_for(&self, command: &str) -> String {
        // The scenario is always quoted, as the README and DESIGN spell the line.
        let mut line = format!("{command} --seed {} --scenario '{}'", self.seed, self.scenario.replace('\'', r"'\''"));
        if let Some(path) = self.scenarios_path.filter(|p| *p != Path::new(crate::cli::DEFAULT_SCENARIOS_PATH)) {
            line.push_str(&format!(" --scenarios-path {}", shell_quote(&path.display().to_string())));
        }
        if let Some(prefix) = self.bucket_prefix.filter(|p| *p != crate::plan::DEFAULT_BUCKET_PREFIX) {
            line.push_str(&format!(" --bucket-prefix {}", shell_quote(prefix)));
        }
        if let Some(faults) = self.faults.filter(|f| !f.faults.is_empty()) {
            line.push(' ');
            line.push_str(&faults.flags());
        }
        if let Some(per_s) = self.rate {
            line.push_str(&format!(" --rate {per_s}/s"));
        }
        if let Some(nemesis) = self.nemesis.filter(|n| !n.is_empty()) {
            line.push(' ');
            line.push_str(nemesis);
        }
        line
    }
}

/// `'text'` for a POSIX shell: plain words stay as they are, anything else is single-quoted.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,:=@".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The live line of a step whose length is not known: `⠋ [00:00:03] Random ops [1/2 random-ops]: 1,204 ops …`.
pub fn progress_spinner() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
}

/// The live line of a step that goes through a known number of objects: a bar, the count and the time left.
pub fn progress_bar() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        // The bar takes what the terminal's width leaves, so the line does not wrap where the text itself fits.
        "{spinner} [{elapsed_precise}] {prefix} {wide_bar} {human_pos}/{human_len} objects, {eta} left; {msg}",
    )
    .map(|style| style.progress_chars("=>-"))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}

/// Ops so far, their rate and the bytes moved, rounded as a person reads them (`12,345 ops (1234 ops/s), 8.5 MiB`),
/// where indicatif's own `{per_sec}` prints four decimals.
pub fn progress_message(ops: u64, per_s: f64, bytes: u64) -> String {
    let rate = if per_s >= 10.0 { format!("{per_s:.0}") } else { format!("{per_s:.1}") };
    format!("{} ops ({rate} ops/s), {:.1} MiB", indicatif::HumanCount(ops), bytes as f64 / (1024.0 * 1024.0))
}

/// The verdict of several runs: fail beats incomplete beats pass; skipped runs count as passing (their reason is
/// printed).
pub fn overall(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let mut overall = Verdict::Pass;
    for verdict in verdicts {
        match verdict {
            Verdict::Fail => return Verdict::Fail,
            Verdict::Incomplete => overall = Verdict::Incomplete,
            Verdict::Pass | Verdict::Skipped => {}
        }
    }
    overall
}

/// The exit code of an overall verdict: 0 pass (or skipped), 1 bugs found, 3 incomplete.
pub fn exit_for(verdict: Verdict) -> Exit {
    match verdict {
        Verdict::Pass | Verdict::Skipped => Exit::Pass,
        Verdict::Fail => Exit::BugsFound,
        Verdict::Incomplete => Exit::Harness,
    }
}

/// `PASS`, `FAIL`, `SKIP`, `STOP`: the tag a run's human line starts with.
pub fn tag(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Skipped => "SKIP",
        Verdict::Incomplete => "STOP",
    }
}

/// One indented line per failure, and how many more the journal holds.
pub fn failure_lines(failures: &[Failure], total: u64) -> String {
    let mut out = String::new();
    for f in failures {
        out.push_str(&format!(
            "\n      {}: {} op {} {}: expected {}, got {}",
            f.by, f.subject, f.op, f.request, f.expected, f.got
        ));
        if !f.raced_with.is_empty() {
            let ops: Vec<String> = f.raced_with.iter().map(|op| format!("op {op}")).collect();
            out.push_str(&format!(" (racing {}: may depend on their order)", ops.join(", ")));
        }
    }
    if total > failures.len() as u64 {
        out.push_str(&format!("\n      ... {total} failures in all (every one is in the journal)"));
    }
    out
}

/// Human summary of one run; `by_operation` adds a line per S3 operation (count, errors, latency percentiles).
pub fn human_run(report: &RunReport, repro: &str, by_operation: bool) -> String {
    let mut out = format!(
        "{}  {}  seed {}  plan {}",
        tag(report.verdict),
        report.scenario,
        report.seed,
        &report.plan_digest[..12.min(report.plan_digest.len())]
    );
    if let Some(timings) = &report.timings {
        out.push_str(&format!(
            "  {} ops  {:.0} ops/s  {:.1} MiB/s  p50 {:.1} ms  p99 {:.1} ms",
            report.counts.ops, timings.ops_per_s, timings.mib_per_s, timings.latency_ms.p50, timings.latency_ms.p99
        ));
        if let Some(rate) = &timings.rate {
            out.push_str(&format!(
                "\n      rate: {:.1}/s intended, {:.1}/s achieved; latency from each op's intended start (coordinated \
                 omission corrected); sent to answered p50 {:.1} ms  p99 {:.1} ms",
                rate.intended_ops_per_s,
                rate.achieved_ops_per_s,
                rate.service_latency_ms.p50,
                rate.service_latency_ms.p99
            ));
        }
    }
    if let (true, Some(timings)) = (by_operation, &report.timings) {
        for op in &timings.operations {
            let l = &op.latency_ms;
            out.push_str(&format!(
                "\n      {:<28} {:>8} ops {:>6} errors  p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1} ms",
                op.operation, op.ops, op.errors, l.p50, l.p90, l.p99, l.max
            ));
        }
    }
    if let Some(reason) = &report.reason {
        out.push_str(&format!("\n      reason: {reason}"));
    }
    out.push_str(&failure_lines(&report.failures, report.counts.failed));
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

/// JSON of one run: its report's fields and its repro line.
pub fn json_run(report: &RunReport, repro: &str) -> Value {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("repro".into(), json!(repro));
    }
    value
}

/// The human summary line of a standalone invocation.
pub fn summary_line(seed: u64, runs: &[(RunReport, String)]) -> String {
    let count = |v: Verdict| runs.iter().filter(|(r, _)| r.verdict == v).count();
    format!(
        "sfko: {} runs from seed {seed}: {} passed, {} failed, {} skipped, {} incomplete",
        runs.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skipped),
        count(Verdict::Incomplete)
    )
}

/// The one JSON document of a standalone invocation: overall verdict, every run, and — when there is exactly one
/// run — its fields at the top level too, so simple scripts can read `.plan_digest` or `.verdict` directly.
pub fn json_document(seed: u64, runs: &[(RunReport, String)], verdict: Verdict) -> Value {
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
    let count = |v: Verdict| runs.iter().filter(|(r, _)| r.verdict == v).count();
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
        "passed": count(Verdict::Pass),
        "failed": count(Verdict::Fail),
        "skipped": count(Verdict::Skipped),
        "incomplete": count(Verdict::Incomplete),
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
        Some(d) => {
            out.push_str(&format!("\n      first divergence: {} ({} ops differ)", d.describe(), report.divergent_ops))
        }
        None => out.push_str("\n      every outcome matched the recording"),
    }
    out.push_str(&failure_lines(&report.failures, report.counts.failed));
    if let Some(journal) = &report.journal {
        out.push_str(&format!("\n      replay journal: {}", journal.display()));
    }
    out
}

/// JSON of a replay.
pub fn json_replay(report: &ReplayReport) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}

/// How often `replays` of one journal reproduced its recorded judgement, and how the others diverged: the closing
/// lines of `sfko replay --times N`.
pub fn human_reproducibility(replays: &[ReplayReport]) -> String {
    let Some(first) = replays.first() else { return "sfko: no replays".into() };
    let came_back = replays.iter().filter(|r| r.reproduced).count();
    let what = match first.recorded_verdict {
        Verdict::Fail => "the recorded failure came back",
        _ => "the recorded verdict held",
    };
    let mut out = format!("sfko: {what} in {came_back} of {} replays of {}", replays.len(), first.source.display());
    if came_back == replays.len() {
        out.push_str(" (deterministic here)");
    } else if came_back > 0 {
        out.push_str(" (it depends on timing: a race, or a server that answers differently run to run)");
    }
    for (i, replay) in replays.iter().enumerate().filter(|(_, r)| !r.reproduced) {
        let place = match &replay.first_divergence {
            Some(d) => d.describe(),
            None => "every outcome matched, yet the judgement differed".into(),
        };
        out.push_str(&format!("\n      replay {}: {} — first divergence {place}", i + 1, replay.verdict.as_str()));
    }
    if let Some(failed) = replays.iter().find(|r| r.verdict == Verdict::Fail) {
        out.push_str(&failure_lines(&failed.failures, failed.counts.failed));
    }
    out
}

/// JSON of `sfko replay --times N`: the count and every replay.
pub fn json_replays(replays: &[ReplayReport]) -> Value {
    let came_back = replays.iter().filter(|r| r.reproduced).count();
    let first = replays.first();
    json!({
        "source": first.map(|r| r.source.clone()),
        "seed": first.map(|r| r.seed),
        "scenario": first.map(|r| r.scenario.clone()),
        "recorded_verdict": first.map(|r| r.recorded_verdict),
        "times": replays.len(),
        "reproduced": came_back,
        "verdict": overall(replays.iter().map(|r| r.verdict)),
        "replays": replays.iter().map(json_replay).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::faults::Fault;

    #[test]
    fn the_progress_counts_are_rounded_for_a_person() {
        assert_eq!(progress_message(1_481_240, 3611.47, 0), "1,481,240 ops (3611 ops/s), 0.0 MiB");
        assert_eq!(progress_message(12, 8.46, 3 << 19), "12 ops (8.5 ops/s), 1.5 MiB");
    }

    #[test]
    fn a_repro_line_carries_everything_that_decides_the_run() {
        let plain = Repro {
            seed: 7,
            scenario: "Write 0B",
            scenarios_path: None,
            bucket_prefix: None,
            faults: None,
            rate: None,
            nemesis: None,
        };
        assert_eq!(plain.line(), "sfko --seed 7 --scenario 'Write 0B'");
        let broken = Repro { nemesis: Some("--nemesis all --nemesis-every 10"), ..plain };
        assert_eq!(broken.line(), "sfko --seed 7 --scenario 'Write 0B' --nemesis all --nemesis-every 10");
        let defaults = Repro {
            scenarios_path: Some(Path::new("scenarios")),
            bucket_prefix: Some(crate::plan::DEFAULT_BUCKET_PREFIX),
            ..plain
        };
        assert_eq!(defaults.line(), plain.line(), "defaults are not spelled out");
        let paced = Repro { rate: Some(40.0), ..plain };
        assert_eq!(paced.line(), "sfko --seed 7 --scenario 'Write 0B' --rate 40/s");
        let faults = FaultPlan { seed: 3, faults: vec![Fault::CorruptByte, Fault::LostWrite], one_in: 4 };
        let full = Repro {
            scenario: "it's",
            scenarios_path: Some(Path::new("my scenarios/x.yaml")),
            bucket_prefix: Some("ci-1"),
            faults: Some(&faults),
            ..plain
        };
        assert_eq!(
            full.line(),
            concat!(
                r"sfko --seed 7 --scenario 'it'\''s' --scenarios-path 'my scenarios/x.yaml' --bucket-prefix ci-1",
                " --embedded-faults corrupt-byte,lost-write --embedded-fault-seed 3 --embedded-fault-one-in 4"
            )
        );
    }

    #[test]
    fn fail_beats_incomplete_beats_pass() {
        use Verdict::*;
        assert_eq!(overall([Pass, Skipped]), Pass);
        assert_eq!(overall([Pass, Incomplete, Skipped]), Incomplete);
        assert_eq!(overall([Incomplete, Fail, Pass]), Fail);
        assert_eq!(overall([]), Pass);
        assert_eq!(
            [Pass, Skipped, Fail, Incomplete].map(exit_for),
            [Exit::Pass, Exit::Pass, Exit::BugsFound, Exit::Harness]
        );
    }
}
