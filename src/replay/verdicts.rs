//! Judging a recording's expectations against the replay's answers as both arrive, so a replay holds an answer only
//! while an expectation still has to read it — never every answer of a run of millions of ops.
//!
//! A first pass over the journal counts, for every op, the expectations that read its answer (its own, and a race's
//! winner read by the racers' expectation: [`crate::journal::Assertion::ops_read`]). The replay then keeps an answer until that many
//! expectations have been judged with it, and drops the answers no expectation reads as soon as they come: memory
//! follows the ops in flight and the expectations waiting for them, plus two bytes per op for the counts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::exec::Failure;
use crate::exit::Fatal;
use crate::journal::{Expectation, Frame, JournalReader, JournalSink, Outcome};

use super::Judged;

/// How many expectations read each op's answer, by op index.
#[derive(Debug, Default)]
pub struct Readers {
    dense: Vec<u16>,
    /// Op indices far beyond the journal's op count (only a hand-made journal has them): counted aside.
    sparse: BTreeMap<u64, u16>,
    frames: u64,
}

impl Readers {
    /// Counts the readers of every op in the journal at `source` (one pass, frame by frame).
    pub fn count(source: &Path) -> Result<Readers, Fatal> {
        let mut reader = JournalReader::open(source)?;
        let mut readers = Readers::default();
        while let Some(frame) = reader.next_frame()? {
            readers.frames += 1;
            if let Frame::Expect(expectation) = frame {
                readers.add(expectation.op);
                for op in expectation.assertion.ops_read() {
                    readers.add(op);
                }
            }
        }
        Ok(readers)
    }

    fn add(&mut self, op: u64) {
        let count = match usize::try_from(op).ok().filter(|&i| (i as u64) < 16 * self.frames + 65_536) {
            Some(i) => {
                if self.dense.len() <= i {
                    self.dense.resize(i + 1, 0);
                }
                &mut self.dense[i]
            }
            None => self.sparse.entry(op).or_default(),
        };
        *count = count.saturating_add(1);
    }

    fn get(&self, op: u64) -> u16 {
        match usize::try_from(op).ok().and_then(|i| self.dense.get(i)) {
            Some(&count) => count,
            None => self.sparse.get(&op).copied().unwrap_or(0),
        }
    }

    /// One expectation reading `op` was judged; true when none is left (a saturated count never runs out).
    fn judged(&mut self, op: u64) -> bool {
        let count = match usize::try_from(op).ok().and_then(|i| self.dense.get_mut(i)) {
            Some(count) => count,
            None => match self.sparse.get_mut(&op) {
                Some(count) => count,
                None => return true,
            },
        };
        if *count == u16::MAX {
            return false;
        }
        *count = count.saturating_sub(1);
        *count == 0
    }
}

/// A replayed op's answer, with what judging its expectations needs to say about it.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub outcome: Outcome,
    /// It may only echo an earlier try (see `Op::ambiguous`).
    pub ambiguous: bool,
    /// The S3 operation, as failures name it.
    pub request: &'static str,
    /// A check issued it (a check that could not read leaves the replay incomplete).
    pub check: bool,
    /// Its answer differs from the recording's: its expectations are judged on both sides for the report.
    pub divergent: bool,
}

/// The replayed judgement so far.
pub struct Verdicts {
    readers: Readers,
    answers: BTreeMap<u64, Answer>,
    /// Expectations read from the recording whose answers (the op's, a race's) have not all come yet.
    waiting: Vec<Expectation>,
    sink: JournalSink,
    pub expectations: u64,
    pub recorded_failures: u64,
    pub failures: Vec<Failure>,
    pub failures_total: u64,
    /// Every expectation failed or held as it did in the recording.
    pub same: bool,
    /// Check expectations the replay had no usable answer for.
    pub unjudged_checks: u64,
    /// The expectations on each divergent op, judged on both sides.
    pub judged: BTreeMap<u64, Vec<Judged>>,
}

impl Verdicts {
    pub fn new(readers: Readers, sink: JournalSink) -> Verdicts {
        Verdicts {
            readers,
            answers: BTreeMap::new(),
            waiting: Vec::new(),
            sink,
            expectations: 0,
            recorded_failures: 0,
            failures: Vec::new(),
            failures_total: 0,
            same: true,
            unjudged_checks: 0,
            judged: BTreeMap::new(),
        }
    }

    /// A recorded expectation: judged once the answers it reads are in.
    pub async fn recorded(&mut self, expectation: Expectation) {
        self.waiting.push(expectation);
        self.judge_ready(false).await;
    }

    /// A replayed op's answer: kept while an expectation still has to read it.
    pub async fn answered(&mut self, op: u64, answer: Answer) {
        if self.readers.get(op) > 0 {
            self.answers.insert(op, answer);
            self.judge_ready(false).await;
        }
    }

    /// The replay is over: what still waits is judged with what came (an op with no answer has no usable one).
    pub async fn finish(&mut self) {
        self.judge_ready(true).await;
    }

    async fn judge_ready(&mut self, at_end: bool) {
        let mut index = 0;
        while index < self.waiting.len() {
            let ready = {
                let expectation = &self.waiting[index];
                at_end
                    || (self.answers.contains_key(&expectation.op)
                        && expectation.assertion.ops_read().iter().all(|op| self.answers.contains_key(op)))
            };
            if ready {
                let expectation = self.waiting.swap_remove(index);
                self.judge(expectation).await;
            } else {
                index += 1;
            }
        }
    }

    async fn judge(&mut self, expectation: Expectation) {
        self.expectations += 1;
        self.recorded_failures += u64::from(expectation.violation.is_some());
        let missing = Answer::default();
        let answer = self.answers.get(&expectation.op).unwrap_or(&missing);
        let outcome = &answer.outcome;
        let unusable = outcome.unavailable() || outcome.not_issued() || answer.ambiguous;
        // Another op's answer, for the assertions that read several (a race's winner); none when it has no usable one.
        let other = |op: u64| {
            let answer = self.answers.get(&op)?;
            crate::driver::usable(&answer.outcome, answer.ambiguous).then_some(&answer.outcome)
        };
        let violation = (!unusable).then(|| expectation.assertion.violation_among(outcome, &other)).flatten();
        if answer.divergent {
            self.judged.entry(expectation.op).or_default().push(Judged {
                by: expectation.by.clone(),
                expected: expectation.assertion.describe(),
                recorded: expectation.violation.clone(),
                replayed: violation.clone(),
                fields: expectation.assertion.fields(),
            });
        }
        let (request, check) = (answer.request, answer.check);
        if unusable {
            // No usable answer this time: judged by nothing, as in a run. It contradicts a recorded pass in nothing,
            // but cannot reproduce a recorded failure; a check that could not read leaves the replay incomplete.
            self.same &= expectation.violation.is_none();
            self.unjudged_checks += u64::from(check);
        } else {
            self.same &= violation.is_some() == expectation.violation.is_some();
            if let Some(got) = &violation {
                self.failures_total += 1;
                if self.failures.len() < crate::exec::KEPT_FAILURES {
                    self.failures.push(Failure {
                        by: expectation.by.clone(),
                        subject: expectation.subject.clone(),
                        op: expectation.op,
                        request: request.to_string(),
                        expected: expectation.assertion.describe(),
                        got: got.clone(),
                        raced_with: expectation.raced_with.clone(),
                    });
                }
            }
            self.sink.expectation(Expectation { violation, ..expectation.clone() }).await;
        }
        for op in std::iter::once(expectation.op).chain(expectation.assertion.ops_read()) {
            if self.readers.judged(op) {
                self.answers.remove(&op);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Assertion, Header, JournalWriter, Verdict};
    use crate::plan::{Backend, BucketPlan, Plan};

    fn plan() -> Plan {
        Plan {
            format: crate::plan::PLAN_FORMAT,
            seed: crate::seed::Seed(1),
            scenario: "verdicts".into(),
            buckets: vec![BucketPlan {
                index: 0,
                name: "b".into(),
                backend: Backend::target_itself(),
                replication: None,
                versioning: false,
                transient: false,
                expiration_secs: None,
                clouds: vec![],
                objects: Vec::new().into(),
            }],
            workloads: vec![],
            checks: vec![],
            unsatisfiable: None,
            setup: Default::default(),
            random_ops: None,
        }
    }

    fn expectation(op: u64, assertion: Assertion) -> Expectation {
        Expectation { by: "check".into(), subject: "b/k".into(), op, assertion, violation: None, raced_with: vec![] }
    }

    fn answer(status: u16) -> Answer {
        Answer { outcome: Outcome { status, ..Outcome::default() }, request: "GetObject", ..Answer::default() }
    }

    #[test]
    fn an_op_is_counted_once_per_expectation_that_reads_it() {
        let mut readers = Readers { frames: 10, ..Readers::default() };
        for op in [3, 3, 5] {
            readers.add(op);
        }
        assert_eq!((readers.get(3), readers.get(4), readers.get(5)), (2, 0, 1));
        assert!(!readers.judged(3));
        assert!(readers.judged(3));
        assert!(readers.judged(5));
        // An index far past the journal's length is counted aside; a saturated count never runs out.
        readers.add(u64::MAX);
        assert_eq!(readers.get(u64::MAX), 1);
        assert!(readers.dense.len() < 100);
        for _ in 0..70_000 {
            readers.add(7);
        }
        assert!(!readers.judged(7));
    }

    /// A long replay holds the answers its waiting expectations read, not one per op.
    #[tokio::test]
    async fn answers_are_held_only_until_judged() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plan = plan();
        let header = Header::new(&plan, String::new(), "test", "", 1);
        let writer = JournalWriter::create(&dir.path().join("j.bin"), &header, &plan).expect("a journal");
        // Op 2n+1 is a racer whose answer the expectation on op 2n also reads; even ops are each read once.
        let mut readers = Readers { frames: 1, ..Readers::default() };
        let race = |n: u64| Assertion::SoleWinner { racers: vec![2 * n + 1], digests: vec![] };
        for n in 0..1000 {
            readers.add(2 * n);
            for op in race(n).ops_read() {
                readers.add(op);
            }
        }
        let mut verdicts = Verdicts::new(readers, writer.sink());
        for n in 0..1000 {
            verdicts.answered(2 * n, answer(200)).await;
            verdicts.answered(10_000 + n, answer(200)).await; // read by nothing: never held
            verdicts.recorded(expectation(2 * n, race(n))).await;
            assert_eq!((verdicts.answers.len(), verdicts.waiting.len()), (1, 1), "op {n}");
            verdicts.answered(2 * n + 1, answer(412)).await;
            assert_eq!((verdicts.answers.len(), verdicts.waiting.len()), (0, 0), "op {n}");
        }
        verdicts.recorded(expectation(5000, Assertion::Succeeded)).await;
        verdicts.finish().await;
        assert_eq!(verdicts.expectations, 1001);
        assert!(verdicts.answers.is_empty() && verdicts.waiting.is_empty());
        drop(verdicts);
        writer.finish(Verdict::Pass, None).await.expect("finished");
    }
}
