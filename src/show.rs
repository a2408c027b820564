//! `sfko show JOURNAL`: a journal in readable form — header, plan summary, every op with its outcome, every failed
//! expectation, the nemesis's schedule and every fault window it opened, the trailer. Truncated journals are shown up to the cut, then the cut is named.

use std::fmt::Write as _;
use std::path::Path;

use crate::journal::{FaultWindow, Frame, JournalError, JournalReader, NemesisRecord, OpRecord};

/// Writes the readable form of a journal to `out`; `failures_only` leaves out passing ops and expectations.
pub fn show(path: &Path, failures_only: bool, out: &mut impl std::io::Write) -> Result<(), JournalError> {
    let mut reader = JournalReader::open(path)?;
    let h = &reader.header;
    let mut text = String::new();
    let _ = writeln!(text, "journal   {}", path.display());
    let _ = writeln!(text, "sfko      {} (format {})", h.sfko_version, h.format_version);
    let _ = writeln!(text, "run       seed {}  scenario '{}'  plan {}", h.seed, h.scenario, h.plan_digest);
    let _ = writeln!(text, "target    {}  concurrency {}", h.target, h.concurrency);
    let (objects, bytes) = reader.plan.totals();
    let _ = writeln!(
        text,
        "plan      {} buckets, {objects} objects, {}; tests [{}]; checks [{}]",
        reader.plan.buckets.len(),
        crate::scenario::format_size(bytes),
        reader.plan.workloads.join(", "),
        reader.plan.checks.join(", ")
    );
    let _ = out.write_all(text.as_bytes());
    let ended = loop {
        let frame = match reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        let line = match frame {
            Frame::Op(op) if !failures_only || !op.outcome.succeeded() => op_line(&op),
            Frame::Expect(e) if e.violation.is_some() => format!(
                "  FAIL  {}: {} op {}: expected {}, got {}\n",
                e.by,
                e.subject,
                e.op,
                e.assertion.describe(),
                e.violation.as_deref().unwrap_or("")
            ),
            // Faults are the context of every failure near them: shown with `--failures` too.
            Frame::Nemesis(NemesisRecord::Schedule(plan)) => {
                let faults: Vec<&str> = plan.injections.iter().map(|i| i.name()).collect();
                format!(
                    "nemesis   a window of {} op positions in every {}: {}\n",
                    plan.length,
                    plan.every,
                    faults.join(", ")
                )
            }
            Frame::Nemesis(NemesisRecord::Window(w)) => window_line(&w),
            _ => continue,
        };
        let _ = out.write_all(line.as_bytes());
    };
    let tail = match (reader.trailer(), ended) {
        (Some(t), _) => format!(
            "end       {} — {} ops, {} expectations, {} failed{}\n",
            t.verdict.as_str(),
            t.ops,
            t.expectations,
            t.failed,
            t.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        ),
        (None, Some(e)) => format!("end       {e}\n"),
        (None, None) => "end       (no trailer)\n".into(),
    };
    let _ = out.write_all(tail.as_bytes());
    Ok(())
}

/// `  FAULT  reset-after ops 40..44: 7 requests hit, 4 ops (1 unanswered, 2 ambiguous)`, and an action's commands.
fn window_line(w: &FaultWindow) -> String {
    let mut line = format!(
        "  FAULT  {} ops {}..{}: {} {}, {} ops ({} unanswered, {} ambiguous)",
        w.fault,
        w.start,
        w.end,
        w.injected,
        if w.action.is_some() { "run" } else { "requests hit" },
        w.ops,
        w.unanswered,
        w.ambiguous
    );
    if let Some(a) = &w.action {
        let status = |s: Option<i32>| s.map_or("killed or not started".to_string(), |s| format!("exit {s}"));
        let _ = write!(
            line,
            "; run {} in {} ms, heal {} in {} ms, {}",
            status(a.run_status),
            a.run_ms,
            status(a.heal_status),
            a.heal_ms,
            if a.healthy { "healthy after" } else { "NOT healthy after" }
        );
    }
    line.push('\n');
    line
}

pub(crate) fn op_line(op: &OpRecord) -> String {
    let mut line =
        format!("  #{:<6} {:<10} {:<26} {}", op.index, op.phase.to_string(), op.request.name(), op.request.subject());
    if let Some(backend) = &op.backend {
        let _ = write!(line, " @{backend}");
    }
    let _ = write!(line, "  → {}", op.outcome.brief());
    if let Some(etag) = &op.outcome.etag {
        let _ = write!(line, " etag {}", crate::content::normalize_etag(etag));
    }
    if let Some(size) = op.outcome.size {
        let _ = write!(line, " {size}B");
    }
    if let Some(checksum) = &op.outcome.checksum {
        let _ = write!(line, " {}", checksum.describe());
        if let Some(kind) = &checksum.kind {
            let _ = write!(line, " {kind}");
        }
    }
    if op.attempts.len() > 1 {
        let _ = write!(line, " ({} attempts)", op.attempts.len());
    }
    let _ = writeln!(line, " {:.1} ms", op.latency_us as f64 / 1000.0);
    line
}

/// `sfko show --format json`: the journal as JSON lines, one object per frame — `{"header": …}`, `{"plan": …}`,
/// then `{"op": …}`, `{"expectation": …}` and `{"nemesis": {"Schedule" | "Window": …}}` in file order, and
/// `{"trailer": …}` (or `{"truncated": "why"}` for a journal cut short) — for `jq` and scripts. `failures_only`
/// keeps failed ops and expectations only (and the nemesis's frames, the context of failures).
pub fn show_json(path: &Path, failures_only: bool, out: &mut impl std::io::Write) -> Result<(), JournalError> {
    let mut reader = JournalReader::open(path)?;
    let mut line = |value: serde_json::Value| {
        let _ = writeln!(out, "{value}");
    };
    line(serde_json::json!({ "header": reader.header }));
    line(serde_json::json!({ "plan": reader.plan }));
    loop {
        match reader.next_frame() {
            Ok(Some(Frame::Op(op))) if !failures_only || !op.outcome.succeeded() => {
                line(serde_json::json!({ "op": op }))
            }
            Ok(Some(Frame::Expect(e))) if !failures_only || e.violation.is_some() => {
                line(serde_json::json!({ "expectation": e }))
            }
            Ok(Some(Frame::Nemesis(record))) => line(serde_json::json!({ "nemesis": record })),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                line(serde_json::json!({ "truncated": e.to_string() }));
                return Ok(());
            }
        }
    }
    if let Some(trailer) = reader.trailer() {
        line(serde_json::json!({ "trailer": trailer }));
    }
    Ok(())
}
