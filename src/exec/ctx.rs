//! What a workload or check gets to work with: the plan, the believed state, a recording driver, its own random
//! stream, and a way to state expectations.

use std::sync::Mutex;

use futures::StreamExt;

use crate::driver::{Driver, Op};
use crate::exec::state::RunState;
use crate::journal::{Assertion, Expectation, JournalSink, Phase, Request};
use crate::plan::{BucketPlan, ObjectPlan, Plan};
use crate::seed::Stream;

/// At most this many failures are kept in memory for the report; all of them are in the journal.
pub const KEPT_FAILURES: usize = 200;

/// A failed expectation, for reports (and, unchanged, in the results workers send over NATS).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// The check or workload that found it.
    pub by: String,
    /// `bucket/key`.
    pub subject: String,
    /// Journal op index.
    pub op: u64,
    /// S3 operation name.
    pub request: String,
    pub expected: String,
    pub got: String,
    /// Ops that raced this one on a key (see `Expectation::raced_with`); empty for most.
    #[serde(default)]
    pub raced_with: Vec<u64>,
}

/// Everything found wrong so far.
#[derive(Default)]
pub struct Findings {
    inner: Mutex<(Vec<Failure>, u64, u64)>,
    /// Operations the target answered 501 NotImplemented, with how often.
    unsupported: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Measurements checks report (e.g. time-to-replicate percentiles).
    notes: Mutex<Vec<String>>,
    /// Ops that got no usable answer (see `Outcome::unavailable`), in workloads and in checks.
    unavailable: Mutex<Unavailable>,
}

/// Ops left unjudged because the target gave no usable answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unavailable {
    /// In workloads: what they would have written or read is unknown from then on.
    pub workload: u64,
    /// In checks: what they would have verified is unverified.
    pub check: u64,
}

impl Findings {
    fn add(&self, failure: Option<Failure>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.2 += 1;
            if let Some(failure) = failure {
                inner.1 += 1;
                if inner.0.len() < KEPT_FAILURES {
                    inner.0.push(failure);
                }
            }
        }
    }

    /// (kept failures, total failures, total expectations).
    pub fn take(&self) -> (Vec<Failure>, u64, u64) {
        self.inner.lock().map(|i| (i.0.clone(), i.1, i.2)).unwrap_or_default()
    }

    pub fn failed(&self) -> u64 {
        self.inner.lock().map(|i| i.1).unwrap_or(0)
    }

    fn unsupported(&self, request: &str) {
        if let Ok(mut map) = self.unsupported.lock() {
            *map.entry(request.to_string()).or_default() += 1;
        }
    }

    /// How many ops got no usable answer.
    pub fn unavailable(&self) -> Unavailable {
        self.unavailable.lock().map(|u| *u).unwrap_or_default()
    }

    /// What checks measured, in the order they said it.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// `("ListMultipartUploads", 9)`: what the target does not implement.
    pub fn unsupported_ops(&self) -> Vec<(String, u64)> {
        self.unsupported.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
    }
}

/// Handed to every workload and check.
pub struct Ctx<'a> {
    pub driver: &'a Driver,
    pub plan: &'a Plan,
    pub state: &'a RunState,
    pub phase: Phase,
    /// How many requests the workload should keep in flight.
    pub concurrency: usize,
    /// This workload's or check's position in the scenario, for its random stream.
    pub position: usize,
    pub(crate) sink: JournalSink,
    pub(crate) findings: &'a Findings,
}

impl<'a> Ctx<'a> {
    /// Issues a recorded S3 op.
    pub async fn call(&self, request: Request) -> Op {
        self.driver.call(&self.phase, request).await
    }

    /// Judges `op` by `assertion`, records the verdict in the journal, and says whether it held. A failure names
    /// the S3 operation the op sent.
    pub async fn judge(&self, op: &Op, subject: &str, assertion: Assertion) -> bool {
        self.judge_racing(op, subject, assertion, Vec::new()).await
    }

    /// [`judge`](Self::judge) an op that raced `raced_with` (op indices) on a key.
    pub async fn judge_racing(&self, op: &Op, subject: &str, assertion: Assertion, raced_with: Vec<u64>) -> bool {
        self.judge_among(op, subject, assertion, raced_with, &[]).await
    }

    /// [`judge_racing`](Self::judge_racing) by an assertion that also reads other ops' answers
    /// ([`Assertion::SoleWinner`]): `others` are those ops; one with no usable answer counts as unknown.
    pub async fn judge_among(
        &self,
        op: &Op,
        subject: &str,
        assertion: Assertion,
        raced_with: Vec<u64>,
        others: &[&Op],
    ) -> bool {
        if op.outcome.error_code.as_deref() == Some(crate::driver::ABANDONED) {
            // Never sent, or cut off when the target stopped answering: nothing to judge, and not a held expectation.
            return false;
        }
        if op.outcome.unavailable() || op.ambiguous {
            // No usable answer after retries (a node down, a gateway timing out, throttling), or one that may only
            // echo an earlier try: the op may or may not have applied. Not a bug; the caller treats what it
            // touched as unknown.
            if let Ok(mut unavailable) = self.findings.unavailable.lock() {
                match self.phase {
                    Phase::Check(_) => unavailable.check += 1,
                    _ => unavailable.workload += 1,
                }
            }
            tracing::debug!(op = op.index, subject, outcome = %op.outcome.brief(), "no usable answer; not judged");
            return false;
        }
        let answer = |index: u64| others.iter().find(|o| o.index == index).filter(|o| o.usable()).map(|o| &o.outcome);
        let violation = assertion.violation_among(&op.outcome, &answer);
        if op.outcome.unsupported() {
            self.findings.unsupported(op.request);
        }
        let held = violation.is_none() && !op.outcome.unsupported();
        let failure = violation.as_ref().map(|got| Failure {
            by: self.phase.to_string(),
            subject: subject.to_string(),
            op: op.index,
            request: op.request.to_string(),
            expected: assertion.describe(),
            got: got.clone(),
            raced_with: raced_with.clone(),
        });
        if let Some(failure) = &failure {
            tracing::debug!(by = %failure.by, subject, op = op.index, expected = %failure.expected, got = %failure.got, "expectation failed");
        }
        self.findings.add(failure);
        self.sink
            .expectation(Expectation {
                by: self.phase.to_string(),
                subject: subject.to_string(),
                op: op.index,
                assertion,
                violation,
                raced_with,
            })
            .await;
        held
    }

    /// Adds a measurement to the run's report (and the log).
    /// Counts `what` among the things the target does not implement (reported as unverified, not as a bug), for an
    /// answer that says so other than with a 501.
    pub fn not_implemented(&self, what: &str) {
        self.findings.unsupported(what);
    }

    pub fn note(&self, text: String) {
        tracing::info!(by = %self.phase, "{text}");
        if let Ok(mut notes) = self.findings.notes.lock() {
            notes.push(format!("{}: {text}", self.phase));
        }
    }

    /// This workload's or check's own random stream (label = its name, index = its position).
    pub fn stream(&self) -> Stream {
        self.plan.stream(&self.phase.to_string(), self.position)
    }

    /// Runs `each` over every object of the plan with `self.concurrency` objects in flight. Objects are drawn from
    /// the seed as they are reached and handed over owned: a run holds only the ones in flight.
    pub async fn for_each_object<F, Fut>(&'a self, each: F)
    where
        F: Fn(&'a BucketPlan, ObjectPlan) -> Fut,
        Fut: std::future::Future<Output = ()> + 'a,
    {
        let total = self.plan.buckets.iter().map(|b| b.objects.len() as u64).sum();
        self.driver.count_objects(total);
        futures::stream::iter(self.objects())
            .for_each_concurrent(self.concurrency.max(1), |(bucket, object)| {
                let done = each(bucket, object);
                async move {
                    done.await;
                    self.driver.object_done();
                }
            })
            .await;
    }

    /// Every (bucket, object) pair of the plan, bucket by bucket, each object drawn as it is reached.
    pub fn objects(&self) -> impl Iterator<Item = (&'a BucketPlan, ObjectPlan)> + 'a {
        self.plan.buckets.iter().flat_map(|b| b.objects.iter().map(move |o| (b, o)))
    }

    /// Every (bucket index, object index) pair of the plan, without drawing the objects.
    pub fn object_ids(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.plan.buckets.iter().flat_map(|b| (0..b.objects.len() as u32).map(move |o| (b.index, o)))
    }
}

/// `bucket/key`.
pub fn subject(bucket: &BucketPlan, object: &ObjectPlan) -> String {
    format!("{}/{}", bucket.name, object.key)
}
