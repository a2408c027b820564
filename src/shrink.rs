//! `sfko shrink JOURNAL`: delta-debugging a failing run down to a repro small enough to read.
//!
//! Shrinking works on the *plan*, not on the recorded ops: it drops checks, workloads, buckets and objects, shortens
//! objects, and narrows the `random-ops` program, then runs each candidate plan for real. Workloads and checks
//! re-derive their expectations from the smaller plan, so every expectation in the result is justified by the ops
//! that are in it (dropping a PUT cannot leave behind a GET that "expects" its bytes). A candidate is kept when the
//! run fails the same way: a failed expectation by the same workload or check, on the same S3 operation, of the same
//! kind (for `random-ops`, the same model rule).
//!
//! Before anything is dropped, shrinking tries to make the failure **deterministic**: the same plan with one request
//! in flight at a time (and `random-ops` issuing one op per round). When that still fails, every later candidate runs
//! that way, so the minimal journal has no race left to lose. When it does not, the failure needs ops to overlap, and
//! the report says so. Last, the minimal journal is replayed `verify` times, and the report says how often the
//! failure came back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio::sync::watch;

use crate::exec::{run_plan, RunOptions};
use crate::exit::Fatal;
use crate::journal::{Assertion, Frame, JournalReader, Phase};
use crate::plan::Plan;
use crate::target::Target;

/// How a failure is recognised across candidate runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Signature {
    pub by: String,
    pub request: String,
    pub kind: String,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {} ({})", self.by, self.request, self.kind)
    }
}

/// What shrinking did.
#[derive(Debug, Clone, Serialize)]
pub struct ShrinkReport {
    pub signature: Signature,
    /// Workload and check ops (setup and cleanup not counted) before and after.
    pub ops_before: u64,
    pub ops_after: u64,
    /// Candidate runs tried.
    pub runs: u64,
    /// The minimal journal, in the corpus.
    pub journal: PathBuf,
    /// The minimal run's workload and check ops, readable.
    pub ops: Vec<String>,
    /// Its failed expectations, readable.
    pub failures: Vec<String>,
    /// The minimal run issued one request at a time: no race is left in it.
    pub serialized: bool,
    /// Why it could not be serialized (the failure did not come back with one request at a time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_serialized: Option<String>,
    /// Replays of the minimal journal, and how many of them failed the same way again.
    pub replays: u64,
    pub reproduced: u64,
}

/// How a shrink ended when it could be carried out.
#[derive(Debug)]
pub enum Shrunk {
    /// The failure came back and was shrunk to the journal in the report (exit 1: the bug stands).
    Minimal(ShrinkReport),
    /// The failure did not come back on this target, so there is nothing to shrink (exit 0), and why.
    NotReproduced(String),
}

/// Where candidate runs keep their journals, and how many to try at most.
pub struct ShrinkOptions {
    pub workdir: PathBuf,
    pub corpus: PathBuf,
    pub max_runs: u64,
    pub concurrency: Option<usize>,
    /// Replays of the minimal journal that measure how reproducible it is (0: none).
    pub verify: u64,
}

/// What one recorded run shows: its failure signatures, op count, and readable ops and failures.
struct Evidence {
    signatures: Vec<Signature>,
    ops: u64,
    lines: Vec<String>,
    failures: Vec<String>,
}

fn kind_of(assertion: &Assertion) -> String {
    match assertion {
        Assertion::Model { rule, .. } => rule.clone(),
        other => format!("{other:?}").split(['(', ' ', '{']).next().unwrap_or("").to_string(),
    }
}

fn read_evidence(path: &Path) -> Result<Evidence, String> {
    let mut reader = JournalReader::open(path).map_err(|e| e.to_string())?;
    let mut requests: BTreeMap<u64, String> = BTreeMap::new();
    let mut evidence = Evidence { signatures: Vec::new(), ops: 0, lines: Vec::new(), failures: Vec::new() };
    while let Some(frame) = reader.next_frame().map_err(|e| e.to_string())? {
        match frame {
            Frame::Op(op) if !matches!(op.phase, Phase::Setup | Phase::Cleanup) => {
                evidence.ops += 1;
                requests.insert(op.index, op.request.name().to_string());
                evidence.lines.push(crate::show::op_line(&op).trim_end().to_string());
            }
            Frame::Expect(e) => {
                if let Some(got) = &e.violation {
                    let request = requests.get(&e.op).cloned().unwrap_or_default();
                    evidence.signatures.push(Signature { by: e.by.clone(), request, kind: kind_of(&e.assertion) });
                    evidence.failures.push(format!(
                        "{}: {} op {}: expected {}, got {got}",
                        e.by,
                        e.subject,
                        e.op,
                        e.assertion.describe()
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(evidence)
}

/// Runs candidate plans against one target, counting them.
struct Tester<'a> {
    target: &'a Target,
    signature: Signature,
    opts: &'a ShrinkOptions,
    concurrency: usize,
    /// Requests in flight while the target is emptied between candidates (the recorded concurrency: cleaning is
    /// not what is being shrunk, so it need not be serialized).
    clean_concurrency: usize,
    runs: u64,
    /// The smallest failing run so far: its journal and evidence.
    best: Option<(PathBuf, Evidence)>,
}

impl Tester<'_> {
    /// Whether `plan` still fails the same way (false once the run budget is spent).
    async fn fails(&mut self, plan: &Plan) -> Result<bool, String> {
        if self.runs >= self.opts.max_runs {
            return Ok(false);
        }
        // Workloads and checks find buckets and objects by position: keep indices equal to positions.
        let mut plan = plan.clone();
        for (b, bucket) in plan.buckets.iter_mut().enumerate() {
            bucket.index = b as u32;
            // A seeded list is numbered by position already (and drawing it would change the plan's digest).
            if let crate::plan::Objects::Listed(list) = &mut bucket.objects {
                for (o, object) in list.iter_mut().enumerate() {
                    object.index = o as u32;
                }
            }
        }
        let plan = &plan;
        self.runs += 1;
        let left = crate::replay::clean(self.target, plan, &self.opts.workdir, self.clean_concurrency).await?;
        if !left.is_empty() {
            return Err(format!(
                "cannot reset the target between candidate runs: {} could not be removed (the clean journals are under \
                 {}); shrinking needs a target whose buckets can be emptied and deleted",
                left.join(", "),
                self.opts.workdir.display()
            ));
        }
        let path = self.opts.workdir.join(format!("shrink-{}.bin", self.runs));
        let run_opts = RunOptions {
            scenario_digest: String::new(),
            concurrency: self.concurrency,
            journal_path: path.clone(),
            corpus_dir: self.opts.workdir.join("corpus"),
            keep: false,
            progress: false,
            timeseries: None,
            rate: None,
        };
        let (_stop, cancel) = watch::channel(false);
        let steps = crate::catalogue::steps(plan).map_err(|e| e.message)?;
        let report = run_plan(self.target, plan, &steps, &run_opts, cancel).await.map_err(|e| e.message)?;
        if report.verdict == crate::journal::Verdict::Incomplete {
            return Err(format!(
                "candidate run {} stopped early ({}); a shrink needs every candidate to run to the end",
                self.runs,
                report.reason.as_deref().unwrap_or("no reason given")
            ));
        }
        let Some(journal) = report.journal else { return Ok(false) };
        let evidence = read_evidence(&journal)?;
        let same = evidence.signatures.contains(&self.signature);
        let (objects, _) = plan.totals();
        tracing::info!(run = self.runs, objects, ops = evidence.ops, same, reason = ?report.reason, "shrink candidate");
        if same && self.best.as_ref().is_none_or(|(_, best)| evidence.ops <= best.ops) {
            self.best = Some((journal, evidence));
        }
        Ok(same)
    }
}

/// Shrinks the failing run recorded in `journal` against `target`.
pub async fn shrink(target: &Target, journal: &Path, opts: &ShrinkOptions) -> Result<Shrunk, Fatal> {
    let original = read_evidence(journal).map_err(Fatal::bad_input)?;
    let Some(signature) = original.signatures.first().cloned() else {
        return Err(Fatal::bad_input(format!(
            "{}: the run failed no expectation; there is nothing to shrink",
            journal.display()
        )));
    };
    let reader = JournalReader::open(journal)?;
    let mut plan = reader.plan.clone();
    let concurrency = opts.concurrency.unwrap_or(reader.header.concurrency.max(1) as usize);
    drop(reader);
    let mut tester = Tester {
        target,
        signature: signature.clone(),
        opts,
        concurrency,
        clean_concurrency: concurrency,
        runs: 0,
        best: None,
    };
    let serialized = shrink_plan(&mut plan, &mut tester, journal).await.map_err(Fatal::harness)?;
    let Some((minimal, evidence)) = tester.best.take() else {
        return Ok(Shrunk::NotReproduced(format!(
            "{} does not fail the same way ({signature}) when run again on {}: not reproducible here, so not shrinkable",
            journal.display(),
            target.label
        )));
    };
    let concurrency = tester.clean_concurrency;
    let mut report = finish(target, &plan, opts, concurrency, signature, &original, tester.runs, minimal, evidence)
        .await
        .map_err(Fatal::harness)?;
    match serialized {
        Ok(()) => report.serialized = true,
        Err(why) => report.not_serialized = Some(why),
    }
    report.replays = opts.verify;
    report.reproduced = verify(target, &report.journal, &opts.workdir, opts.verify).await?;
    Ok(Shrunk::Minimal(report))
}

/// Replays `journal` `times` times against `target` at its recorded concurrency (journals under `workdir`); how many
/// replays failed the same way again.
pub async fn verify(target: &Target, journal: &Path, workdir: &Path, times: u64) -> Result<u64, Fatal> {
    let concurrency = JournalReader::open(journal)?.header.concurrency.max(1) as usize;
    let mut reproduced = 0;
    for i in 1..=times {
        let replay_opts = crate::replay::ReplayOptions {
            concurrency,
            journal_path: workdir.join(format!("verify-{i}.bin")),
            progress: false,
            timeseries: None,
            nemesis: None,
        };
        let replayed = crate::replay::replay(target, journal, &replay_opts).await?;
        reproduced += u64::from(replayed.reproduced);
    }
    Ok(reproduced)
}

/// Re-runs the recorded plan, then shrinks it if it still fails: serialized first if it fails that way too. The
/// inner result says whether the minimal run is serialized, or why not.
async fn shrink_plan(plan: &mut Plan, tester: &mut Tester<'_>, journal: &Path) -> Result<Result<(), String>, String> {
    std::fs::create_dir_all(&tester.opts.workdir)
        .map_err(|e| format!("cannot create {}: {e}", tester.opts.workdir.display()))?;
    if !tester.fails(plan).await? {
        tracing::info!(journal = %journal.display(), "the recorded plan no longer fails the same way");
        return Ok(Err("the recorded plan no longer fails".into()));
    }
    let serialized = serialize(plan, tester).await?;
    shrink_steps(plan, tester).await?;
    Ok(serialized)
}

/// Makes every later candidate issue one request at a time (and `random-ops` one op per round), if the plan still
/// fails the same way like that.
async fn serialize(plan: &mut Plan, tester: &mut Tester<'_>) -> Result<Result<(), String>, String> {
    let mut candidate = plan.clone();
    if let Some(random_ops) = candidate.random_ops.as_mut() {
        random_ops.spec.concurrency = 1;
    }
    let already = tester.concurrency == 1 && candidate == *plan;
    if already {
        return Ok(Ok(()));
    }
    let (concurrency, best) = (tester.concurrency, tester.best.take());
    tester.concurrency = 1;
    if tester.fails(&candidate).await? {
        *plan = candidate;
        return Ok(Ok(()));
    }
    tester.concurrency = concurrency;
    tester.best = best;
    Ok(Err(format!(
        "it did not fail the same way with one request at a time: it needs ops to overlap (concurrency {concurrency})"
    )))
}

/// Cleans up and copies the minimal journal into the corpus.
#[allow(clippy::too_many_arguments)]
async fn finish(
    target: &Target,
    plan: &Plan,
    opts: &ShrinkOptions,
    concurrency: usize,
    signature: Signature,
    original: &Evidence,
    runs: u64,
    minimal: PathBuf,
    evidence: Evidence,
) -> Result<ShrinkReport, String> {
    let _ = crate::replay::clean(target, plan, &opts.workdir, concurrency).await;
    let digest =
        crate::journal::file_digest(&minimal).map_err(|e| format!("cannot read {}: {e}", minimal.display()))?;
    std::fs::create_dir_all(&opts.corpus).map_err(|e| format!("cannot create {}: {e}", opts.corpus.display()))?;
    let target_path = opts.corpus.join(format!("shrunk-{}.bin", &digest[..16.min(digest.len())]));
    std::fs::copy(&minimal, &target_path).map_err(|e| format!("cannot copy into {}: {e}", opts.corpus.display()))?;
    Ok(ShrinkReport {
        signature,
        ops_before: original.ops,
        ops_after: evidence.ops,
        runs,
        journal: target_path,
        ops: evidence.lines,
        failures: evidence.failures,
        serialized: false,
        not_serialized: None,
        replays: 0,
        reproduced: 0,
    })
}

/// The reductions, biggest first; each is kept only if the run still fails the same way.
async fn shrink_steps(plan: &mut Plan, tester: &mut Tester<'_>) -> Result<(), String> {
    // Checks and workloads, one at a time.
    for list in [true, false] {
        let mut i = 0;
        loop {
            let names = if list { &plan.checks } else { &plan.workloads };
            if i >= names.len() || (!list && names.len() == 1) {
                break;
            }
            let mut candidate = plan.clone();
            if list {
                candidate.checks.remove(i);
            } else {
                candidate.workloads.remove(i);
            }
            if tester.fails(&candidate).await? {
                *plan = candidate;
            } else {
                i += 1;
            }
        }
    }
    // Buckets, then objects.
    let buckets: Vec<usize> = (0..plan.buckets.len()).collect();
    let kept = ddmin(buckets, tester, plan, |plan, keep| {
        let mut candidate = plan.clone();
        candidate.buckets = keep.iter().map(|&i| plan.buckets[i].clone()).collect();
        candidate
    })
    .await?;
    plan.buckets = kept.iter().map(|&i| plan.buckets[i].clone()).collect();
    for b in 0..plan.buckets.len() {
        let objects: Vec<usize> = (0..plan.buckets[b].objects.len()).collect();
        let kept = ddmin(objects, tester, plan, |plan, keep| {
            let mut candidate = plan.clone();
            let objects = &plan.buckets[b].objects;
            candidate.buckets[b].objects = keep.iter().filter_map(|&i| objects.get(i)).collect::<Vec<_>>().into();
            candidate
        })
        .await?;
        let objects = &plan.buckets[b].objects;
        plan.buckets[b].objects = kept.iter().filter_map(|&i| objects.get(i)).collect::<Vec<_>>().into();
        // Shorter objects: halve while it still fails (parts follow the size).
        for o in 0..plan.buckets[b].objects.len() {
            for _ in 0..8 {
                let Some(size) = plan.buckets[b].objects.get(o).map(|object| object.size) else { break };
                if size == 0 {
                    break;
                }
                let mut candidate = plan.clone();
                let Some(object) = candidate.buckets[b].objects.list_mut().get_mut(o) else { break };
                object.size = size / 2;
                object.parts.size = size / 2;
                if !tester.fails(&candidate).await? {
                    break;
                }
                *plan = candidate;
            }
        }
    }
    // The random-ops program: one op at a time if the failure does not need a race (then dropping ops cannot turn
    // two ops into racing ones, which the model would excuse), then ddmin over its steps.
    if let Some(random_ops) = plan.random_ops.as_ref().filter(|r| r.spec.concurrency > 1) {
        let mut candidate = plan.clone();
        let mut serial = random_ops.clone();
        serial.spec.concurrency = 1;
        candidate.random_ops = Some(serial);
        if tester.fails(&candidate).await? {
            *plan = candidate;
        }
    }
    if plan.workloads.iter().any(|w| w == "random-ops") {
        let position = plan.workloads.iter().position(|w| w == "random-ops").unwrap_or(0);
        let steps: Vec<u32> = crate::workload::random_ops::program(plan, position).iter().map(|s| s.n).collect();
        let kept = ddmin(steps, tester, plan, |plan, keep| with_keep(plan, keep.to_vec())).await?;
        *plan = with_keep(plan, kept);
    }
    Ok(())
}

fn with_keep(plan: &Plan, keep: Vec<u32>) -> Plan {
    let mut candidate = plan.clone();
    if let Some(random_ops) = candidate.random_ops.as_mut() {
        random_ops.keep = Some(keep);
    }
    candidate
}

/// Zeller's ddmin over `items`: the smallest subset (1-minimal, within the run budget) for which `build`'s plan still
/// fails the same way. Tries dropping chunks, halving the chunk size whenever no chunk can go.
async fn ddmin<T: Clone>(
    items: Vec<T>,
    tester: &mut Tester<'_>,
    plan: &Plan,
    build: impl Fn(&Plan, &[T]) -> Plan,
) -> Result<Vec<T>, String> {
    let mut items = items;
    let mut chunks = 2usize;
    while items.len() >= 2 {
        let size = items.len().div_ceil(chunks);
        let mut reduced = false;
        for start in (0..items.len()).step_by(size.max(1)) {
            let complement: Vec<T> = items
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < start || *i >= start + size)
                .map(|(_, t)| t.clone())
                .collect();
            if complement.is_empty() {
                continue;
            }
            if tester.fails(&build(plan, &complement)).await? {
                items = complement;
                chunks = (chunks - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if chunks >= items.len() {
                break;
            }
            chunks = (chunks * 2).min(items.len());
        }
    }
    // A single item may still be droppable down to none at all (e.g. the only object was irrelevant).
    if items.len() == 1 && tester.fails(&build(plan, &[])).await? {
        items.clear();
    }
    Ok(items)
}

/// The report, for people.
pub fn human(report: &ShrinkReport) -> String {
    let mut out = format!(
        "shrunk {} ops to {} in {} runs, still failing as {}\n",
        report.ops_before, report.ops_after, report.runs, report.signature
    );
    for line in &report.ops {
        out.push_str(line);
        out.push('\n');
    }
    for failure in &report.failures {
        out.push_str("  FAIL  ");
        out.push_str(failure);
        out.push('\n');
    }
    match &report.not_serialized {
        None => out.push_str("deterministic: it fails with one request in flight at a time\n"),
        Some(why) => out.push_str(&format!("racing: {why}\n")),
    }
    if report.replays > 0 {
        out.push_str(&format!("replayed {} times: the failure came back in {}\n", report.replays, report.reproduced));
    }
    out.push_str(&format!(
        "minimal journal: {}\nreplay: sfko replay {}",
        report.journal.display(),
        report.journal.display()
    ));
    out
}
