//! `sfko show JOURNAL`: a journal in readable form — header, plan summary, every op with its outcome, every failed
//! expectation, the trailer. Truncated journals are shown up to the cut, then the cut is named.

use std::fmt::Write as _;
use std::path::Path;

use crate::journal::{Frame, JournalError, JournalReader, OpRecord};

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
    if op.attempts.len() > 1 {
        let _ = write!(line, " ({} attempts)", op.attempts.len());
    }
    let _ = writeln!(line, " {:.1} ms", op.latency_us as f64 / 1000.0);
    line
}

/// `sfko show --format json`: the journal as JSON lines, one object per frame — `{"header": …}`, `{"plan": …}`,
/// then `{"op": …}` and `{"expectation": …}` in file order, and `{"trailer": …}` (or `{"truncated": "why"}` for a
/// journal cut short) — for `jq` and scripts. `failures_only` keeps failed ops and expectations only.
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
