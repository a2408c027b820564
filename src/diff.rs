//! What `sfko diff` found: every request on which the target and a reference server answered differently, each
//! classified by the model — which side, if either, broke an expectation the run set on that op.
//!
//! The reference runs the plan first and is recorded; the target then replays that recording (the same requests in
//! the same order and overlap, see [`crate::replay`]). So every difference is between two answers to one request,
//! compared field by field by [`crate::replay::differences`], with ids and timings ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};

use crate::journal::Verdict;
use crate::replay::{Divergence, Judged, ReplayReport};

/// How a divergence is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The target broke an expectation on this op that the reference met: a bug in the target, by the model.
    TargetWrong,
    /// The reference broke an expectation the target met.
    ReferenceWrong,
    /// Both broke it, with different answers.
    BothWrong,
    /// The model has no expectation on this op, or none on a field that differs: the two servers differ, and sfko
    /// cannot say which is right.
    Differ,
    /// Both answers meet every expectation on this op, and those expectations speak to every field that differs: a
    /// difference S3 allows (e.g. a quiet DeleteObjects answer that lists the deleted keys anyway, 404 or 412 for
    /// If-Match on a missing key). Or the model made no prediction for an op that raced another on the same object
    /// in the recording: the order in which racing requests take effect is the server's to choose.
    Allowed,
    /// One side gave no usable answer (unavailable, or ambiguous after a retry): nothing to say about what it stored.
    Unanswered,
}

impl Class {
    pub const ALL: [Class; 6] =
        [Class::TargetWrong, Class::ReferenceWrong, Class::BothWrong, Class::Differ, Class::Allowed, Class::Unanswered];

    /// The name used in output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::TargetWrong => "target-wrong",
            Class::ReferenceWrong => "reference-wrong",
            Class::BothWrong => "both-wrong",
            Class::Differ => "differ",
            Class::Allowed => "allowed",
            Class::Unanswered => "unanswered",
        }
    }

    /// Whether it counts as a finding (exit 1): a side the model finds wrong, or a difference it cannot judge. A
    /// difference S3 allows, or one side not answering, is shown but is not one.
    pub fn is_finding(self) -> bool {
        !matches!(self, Class::Allowed | Class::Unanswered)
    }
}

/// Which side broke the expectations `judged` on a divergent op.
pub fn classify(divergence: &Divergence, judged: &[Judged]) -> Class {
    if divergence.unanswered {
        return Class::Unanswered;
    }
    let target = judged.iter().any(|j| j.replayed.is_some());
    let reference = judged.iter().any(|j| j.recorded.is_some());
    if judged.is_empty() && divergence.raced {
        return Class::Allowed;
    }
    match (target, reference) {
        (true, false) => Class::TargetWrong,
        (false, true) => Class::ReferenceWrong,
        (true, true) => Class::BothWrong,
        // Both met every expectation: allowed only if the expectations speak to every field that differs.
        (false, false) => {
            let fields =
                std::iter::once(divergence.field.as_str()).chain(divergence.more.iter().map(|f| f.field.as_str()));
            let covered = |field: &str| judged.iter().any(|j| j.fields.contains(&field));
            // Answers of different statuses (a racing read's 404 beside a 200), or of different content (two
            // versions a racing read may see), differ in every field that follows (ETag, size, body, metadata):
            // when the expectations speak to the status or the content, both answers fit them whole.
            let decisive = |f: &str| matches!(f, "status" | "body_digest") && covered(f);
            let by_status = fields.clone().any(decisive);
            let all_covered = by_status || fields.clone().all(covered);
            if all_covered && !judged.is_empty() {
                Class::Allowed
            } else {
                Class::Differ
            }
        }
    }
}

/// One field the two answers disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub field: String,
    pub reference: String,
    pub target: String,
}

/// One op on which the answers differ.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub op: u64,
    pub request: String,
    pub subject: String,
    pub class: Class,
    pub fields: Vec<Field>,
    /// The run's expectations on this op, as each side's answer met them (`None`: met).
    pub judged: Vec<JudgedBoth>,
    /// The first earlier divergent op on the same key (or, for a listing, in the same bucket): from there on the two
    /// servers hold different state, and this op's difference may only follow from that one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follows: Option<u64>,
    /// `bucket/key` of the objects the answer depends on.
    #[serde(skip)]
    pub depends_on: Vec<String>,
}

/// An expectation, judged on both answers.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedBoth {
    pub by: String,
    pub expected: String,
    pub reference: Option<String>,
    pub target: Option<String>,
}

/// One plan's diff.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub seed: u64,
    pub scenario: String,
    pub plan_digest: String,
    /// The reference run's verdict (its own judgement by the model).
    pub reference_verdict: Verdict,
    /// The target's verdict on the same expectations.
    pub target_verdict: Verdict,
    /// Why nothing was compared (the reference skipped or could not finish the plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Ops compared (setup, workloads and checks; cleanup is each side's own).
    pub ops: u64,
    /// Divergent ops by class.
    pub classes: BTreeMap<&'static str, u64>,
    pub divergences: Vec<Entry>,
    pub reference_journal: Option<PathBuf>,
    pub target_journal: Option<PathBuf>,
    pub repro: String,
}

impl DiffReport {
    /// The diff a replay of the reference's recording on the target amounts to.
    pub fn from_replay(replay: &ReplayReport, reference_journal: PathBuf, repro: String) -> DiffReport {
        let no_judgement = Vec::new();
        let divergences: Vec<Entry> = replay
            .divergences
            .iter()
            .map(|d| {
                let judged = replay.judged.get(&d.op).unwrap_or(&no_judgement);
                let first = Field { field: d.field.clone(), reference: d.recorded.clone(), target: d.replayed.clone() };
                let more = d.more.iter().map(|f| Field {
                    field: f.field.clone(),
                    reference: f.recorded.clone(),
                    target: f.replayed.clone(),
                });
                Entry {
                    op: d.op,
                    request: d.request.clone(),
                    subject: d.subject.clone(),
                    class: classify(d, judged),
                    fields: std::iter::once(first).chain(more).collect(),
                    judged: judged
                        .iter()
                        .map(|j| JudgedBoth {
                            by: j.by.clone(),
                            expected: j.expected.clone(),
                            reference: j.recorded.clone(),
                            target: j.replayed.clone(),
                        })
                        .collect(),
                    follows: None,
                    depends_on: d.depends_on.clone(),
                }
            })
            .collect();
        let divergences = follow_roots(divergences);
        DiffReport {
            seed: replay.seed,
            scenario: replay.scenario.clone(),
            plan_digest: replay.plan_digest.clone(),
            reference_verdict: replay.recorded_verdict,
            target_verdict: replay.verdict,
            skipped: None,
            ops: replay.ops,
            classes: count(&divergences),
            divergences,
            reference_journal: Some(reference_journal),
            target_journal: replay.journal.clone(),
            repro,
        }
    }

    /// A plan the reference did not run to the end: nothing compared.
    pub fn not_compared(seed: u64, scenario: &str, plan_digest: &str, verdict: Verdict, why: String) -> DiffReport {
        DiffReport {
            seed,
            scenario: scenario.to_string(),
            plan_digest: plan_digest.to_string(),
            reference_verdict: verdict,
            target_verdict: verdict,
            skipped: Some(why),
            ops: 0,
            classes: BTreeMap::new(),
            divergences: Vec::new(),
            reference_journal: None,
            target_journal: None,
            repro: String::new(),
        }
    }

    /// What this plan's diff adds to the exit code: differing answers are findings (except those S3 allows and
    /// those one side did not answer); a reference that could not finish is a harness failure; a skip is neither.
    pub fn verdict(&self) -> Verdict {
        let findings = self.divergences.iter().any(|d| d.class.is_finding());
        match (&self.skipped, findings) {
            (Some(_), _) if self.reference_verdict == Verdict::Skipped => Verdict::Skipped,
            (Some(_), _) => Verdict::Incomplete,
            (None, false) => Verdict::Pass,
            (None, true) => Verdict::Fail,
        }
    }
}

/// Links each divergence to the first earlier divergent *write* on the same key (a listing: in the same bucket). The model's
/// expectations were set by the reference's run: once the reference went wrong on a key (or the two differed where
/// the model has no opinion), its later expectations on that key describe a state the target never had, so a later
/// "wrong" there is only a difference. When the first one was the target's fault, what follows stays its fault.
fn follow_roots(mut entries: Vec<Entry>) -> Vec<Entry> {
    let bucket = |subject: &str| subject.split('/').next().unwrap_or("").to_string();
    // The first finding on each object, and in each bucket: (op, class).
    let mut by_object: BTreeMap<String, (u64, Class)> = BTreeMap::new();
    let mut by_bucket: BTreeMap<String, (u64, Class)> = BTreeMap::new();
    for entry in &mut entries {
        if !entry.class.is_finding() {
            continue;
        }
        let root = if entry.request.starts_with("List") {
            by_bucket.get(&bucket(&entry.subject)).copied()
        } else {
            entry.depends_on.iter().filter_map(|o| by_object.get(o).copied()).min_by_key(|(op, _)| *op)
        };
        match root {
            Some((op, class)) => {
                entry.follows = Some(op);
                if class != Class::TargetWrong {
                    entry.class = Class::Differ;
                }
            }
            // A read changes nothing: only a write that answered differently can leave the servers apart.
            None if is_read(&entry.request) => {}
            None => {
                for object in &entry.depends_on {
                    by_object.entry(object.clone()).or_insert((entry.op, entry.class));
                }
                by_bucket.entry(bucket(&entry.subject)).or_insert((entry.op, entry.class));
            }
        }
    }
    entries
}

/// GET, HEAD and listing requests (including their version, part and conditional forms).
fn is_read(request: &str) -> bool {
    ["Get", "Head", "List"].iter().any(|prefix| request.starts_with(prefix))
}

fn count(entries: &[Entry]) -> BTreeMap<&'static str, u64> {
    let mut classes = BTreeMap::new();
    for entry in entries {
        *classes.entry(entry.class.as_str()).or_insert(0) += 1;
    }
    classes
}

/// Divergences shown per plan in the human output (JSON has them all).
const SHOWN: usize = 20;

/// `DIFF  Random ops  seed 7: 3 of 812 ops differ (2 target-wrong, 1 differ)`, then one block per divergent op.
pub fn human(report: &DiffReport) -> String {
    let head = |tag: &str| format!("{tag}  {}  seed {}", report.scenario, report.seed);
    if let Some(why) = &report.skipped {
        let tag = if report.verdict() == Verdict::Skipped { "SKIP" } else { "STOP" };
        return format!("{}: {why}", head(tag));
    }
    if report.divergences.is_empty() {
        return format!("{}: all {} answers agree", head("SAME"), report.ops);
    }
    let mut out = format!(
        "{}: {} of {} ops differ ({})",
        head("DIFF"),
        report.divergences.len(),
        report.ops,
        classes_text(&report.classes)
    );
    for entry in report.divergences.iter().take(SHOWN) {
        let follows = entry.follows.map(|op| format!(" (after op {op} on the same key)")).unwrap_or_default();
        out.push_str(&format!(
            "\n      op {} {} {}  {}{follows}",
            entry.op,
            entry.request,
            entry.subject,
            entry.class.as_str()
        ));
        for field in &entry.fields {
            out.push_str(&format!(
                "\n          {}: reference {}, target {}",
                field.field,
                clip(&field.reference),
                clip(&field.target)
            ));
        }
        for judged in entry.judged.iter().filter(|j| j.reference.is_some() || j.target.is_some()) {
            let side = |v: &Option<String>| {
                v.as_deref().map_or_else(|| "met it".to_string(), |got| format!("got {}", clip(got)))
            };
            out.push_str(&format!(
                "\n          {} expected {}: reference {}, target {}",
                judged.by,
                clip(&judged.expected),
                side(&judged.reference),
                side(&judged.target)
            ));
        }
    }
    if report.divergences.len() > SHOWN {
        out.push_str(&format!("\n      ... {} more (--format json lists them all)", report.divergences.len() - SHOWN));
    }
    for (what, path) in [("reference", &report.reference_journal), ("target", &report.target_journal)] {
        if let Some(path) = path {
            out.push_str(&format!("\n      {what} journal: {}", path.display()));
        }
    }
    out.push_str(&format!("\n      repro: {}", report.repro));
    out
}

/// The closing line: how many plans differed, and how, over all of them.
pub fn summary_line(reports: &[DiffReport], target: &str, reference: &str) -> String {
    let differing = reports.iter().filter(|r| !r.divergences.is_empty()).count();
    let mut classes = BTreeMap::new();
    for report in reports {
        for (class, n) in &report.classes {
            *classes.entry(*class).or_insert(0) += n;
        }
    }
    let ops: u64 = classes.values().sum();
    let mut line = format!("sfko diff: {} plans, {differing} differ", reports.len());
    if ops > 0 {
        line.push_str(&format!(" ({ops} ops: {})", classes_text(&classes)));
    }
    line.push_str(&format!("; target {target}, reference {reference}"));
    line
}

/// The whole diff as one JSON document.
pub fn json_document(reports: &[DiffReport], target: &str, reference: &str, verdict: Verdict) -> Value {
    json!({
        "target": target,
        "reference": reference,
        "verdict": verdict.as_str(),
        "plans": reports,
    })
}

/// `2 target-wrong, 1 differ`, in class order.
fn classes_text(classes: &BTreeMap<&'static str, u64>) -> String {
    Class::ALL
        .iter()
        .filter_map(|c| classes.get(c.as_str()).map(|n| format!("{n} {}", c.as_str())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A long answer, shortened for a table line.
fn clip(text: &str) -> String {
    const MAX: usize = 160;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn divergence(unanswered: bool) -> Divergence {
        Divergence {
            op: 3,
            request: "GetObject".into(),
            subject: "b/k".into(),
            field: "body_digest".into(),
            recorded: "a".into(),
            replayed: "b".into(),
            more: vec![],
            unanswered,
            depends_on: vec!["b/k".into()],
            raced: false,
        }
    }

    fn judged(recorded: Option<&str>, replayed: Option<&str>) -> Judged {
        Judged {
            by: "check-backend".into(),
            expected: "body blake3 a".into(),
            recorded: recorded.map(String::from),
            replayed: replayed.map(String::from),
            fields: vec!["status", "body_digest", "size"],
        }
    }

    #[test]
    fn the_side_that_broke_the_expectation_is_the_wrong_one() {
        assert_eq!(classify(&divergence(false), &[judged(None, Some("b"))]), Class::TargetWrong);
        assert_eq!(classify(&divergence(false), &[judged(Some("a"), None)]), Class::ReferenceWrong);
        assert_eq!(classify(&divergence(false), &[judged(Some("a"), Some("b"))]), Class::BothWrong);
        assert_eq!(classify(&divergence(false), &[judged(None, None)]), Class::Allowed);
        // Met, but by expectations that say nothing of the field that differs: only a difference.
        let etag_only = Divergence { field: "etag".into(), ..divergence(false) };
        assert_eq!(classify(&etag_only, &[judged(None, None)]), Class::Differ);
        assert_eq!(classify(&divergence(false), &[]), Class::Differ);
        let raced = Divergence { raced: true, ..divergence(false) };
        assert_eq!(classify(&raced, &[]), Class::Allowed, "racing ops, unjudged: the server's order");
        // A racing read: 206 on one side, 404 on the other, both fitting the model. The ETag (which the ranged-read
        // expectation does not name) differs only because the status does.
        let by_status = Divergence {
            field: "status".into(),
            more: vec![crate::replay::FieldDifference {
                field: "etag".into(),
                recorded: "e".into(),
                replayed: "none".into(),
            }],
            ..divergence(false)
        };
        assert_eq!(classify(&by_status, &[judged(None, None)]), Class::Allowed);
        // Two versions a racing GET may see: bodies and ETags differ; the expectation names the body.
        let by_body = Divergence {
            more: vec![crate::replay::FieldDifference {
                field: "etag".into(),
                recorded: "e".into(),
                replayed: "f".into(),
            }],
            ..divergence(false)
        };
        assert_eq!(classify(&by_body, &[judged(None, None)]), Class::Allowed);
        // No usable answer on one side says nothing about what either stored.
        assert_eq!(classify(&divergence(true), &[judged(None, Some("b"))]), Class::Unanswered);
    }

    fn entry(op: u64, request: &str, subject: &str, class: Class) -> Entry {
        let depends_on = if request.starts_with("List") { vec![] } else { vec![subject.to_string()] };
        Entry {
            op,
            request: request.into(),
            subject: subject.into(),
            class,
            fields: vec![],
            judged: vec![],
            follows: None,
            depends_on,
        }
    }

    #[test]
    fn what_follows_a_reference_error_on_the_same_key_is_only_a_difference() {
        let entries = follow_roots(vec![
            entry(3, "PutObject", "b/k", Class::ReferenceWrong),
            entry(8, "HeadObject", "b/k", Class::TargetWrong),
            entry(9, "PutObject", "b/other", Class::TargetWrong),
            entry(10, "GetObject", "b/read", Class::ReferenceWrong),
            entry(11, "HeadObject", "b/read", Class::TargetWrong),
            entry(12, "ListObjectsV2", "b/", Class::TargetWrong),
            entry(14, "GetObject", "b/other", Class::TargetWrong),
        ]);
        let shown: Vec<(u64, Class, Option<u64>)> = entries.iter().map(|e| (e.op, e.class, e.follows)).collect();
        assert_eq!(
            shown,
            vec![
                (3, Class::ReferenceWrong, None),
                (8, Class::Differ, Some(3)),
                (9, Class::TargetWrong, None),
                // A read that answered differently leaves nothing behind for later ops to follow.
                (10, Class::ReferenceWrong, None),
                (11, Class::TargetWrong, None),
                (12, Class::Differ, Some(3)),
                // The target went wrong on this key first: what follows stays its fault.
                (14, Class::TargetWrong, Some(9)),
            ]
        );
    }

    #[test]
    fn long_answers_are_clipped_on_a_char_boundary() {
        let long = "é".repeat(300);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), 161);
        assert_eq!(clip("short"), "short");
    }
}
