//! Counting a distributed run's results, exactly once each: a pure state machine, no NATS, no clock.
//!
//! What is counted is a [`Key`]: a job (`(index, "")`), or in broadcast mode a job on one worker (`(index, worker)`).
//! Keys become *expected* when their jobs are published; each expected key is *resolved* once, by its first result
//! (later ones are duplicates) or by being lost or abandoned. The run is complete when every expected key is
//! resolved. Expected keys are held as ranges, not listed, so a run of millions of jobs costs memory only for the
//! results that came back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use crate::distribute::protocol::JobResult;
use crate::driver::LatencyHistogram;
use crate::journal::Verdict;

/// A job, or in broadcast mode a (job, worker) pair: what one result is counted against.
pub type Key = (u64, String);

/// A counted result.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub result: JobResult,
    /// Where its failing journal was written in the corpus.
    pub corpus: Option<PathBuf>,
    /// The command that runs the job again standalone.
    pub repro: String,
}

/// Why a key resolved without a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// It ran out of deliveries, or the run ended before anyone ran it.
    Lost(String),
    /// Broadcast: its worker went away, so nobody else will run it (it was for that worker only).
    Abandoned(String),
}

impl Lost {
    pub fn why(&self) -> &str {
        match self {
            Lost::Lost(why) | Lost::Abandoned(why) => why,
        }
    }
}

/// What became of a result handed to [`Gather::result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Counted,
    Duplicate,
}

/// The run's counters, as the summary reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub expected: u64,
    pub done: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub incomplete: u64,
    pub lost: u64,
    pub abandoned: u64,
    pub duplicates: u64,
    pub redeliveries: u64,
    pub rejected: u64,
}

/// Results gathered so far.
pub struct Gather {
    jobs_total: u64,
    /// Shared mode: jobs `0..shared` are expected (all of them once published).
    shared: u64,
    /// Broadcast: workers for which every job was published.
    workers: BTreeSet<String>,
    /// Broadcast: single keys expected because a result came back for them (a worker not assigned all jobs).
    extra: BTreeSet<Key>,
    resolved_count: u64,
    accepted: BTreeMap<Key, Accepted>,
    lost: BTreeMap<Key, Lost>,
    /// Highest delivery count seen per key (redeliveries = that minus one).
    delivered: HashMap<Key, u64>,
    duplicates: u64,
    rejected: u64,
    /// Merged latencies of every counted result.
    pub histogram: LatencyHistogram,
    pub ops: u64,
    pub bytes: u64,
}

impl Gather {
    pub fn new(jobs_total: u64) -> Gather {
        Gather {
            jobs_total,
            shared: 0,
            workers: BTreeSet::new(),
            extra: BTreeSet::new(),
            resolved_count: 0,
            accepted: BTreeMap::new(),
            lost: BTreeMap::new(),
            delivered: HashMap::new(),
            duplicates: 0,
            rejected: 0,
            histogram: LatencyHistogram::new(),
            ops: 0,
            bytes: 0,
        }
    }

    fn expected(&self, key: &Key) -> bool {
        let (job, worker) = key;
        if worker.is_empty() {
            *job < self.shared
        } else {
            (*job < self.jobs_total && self.workers.contains(worker)) || self.extra.contains(key)
        }
    }

    fn resolved(&self, key: &Key) -> bool {
        self.accepted.contains_key(key) || self.lost.contains_key(key)
    }

    fn expected_count(&self) -> u64 {
        self.shared + self.jobs_total * self.workers.len() as u64 + self.extra.len() as u64
    }

    /// Every job was published to the shared queue.
    pub fn expect_shared(&mut self) {
        self.expect_shared_upto(self.jobs_total);
    }

    /// Jobs `0..upto` were published to the shared queue (a run fed as workers go publishes a block at a time).
    pub fn expect_shared_upto(&mut self, upto: u64) {
        let before = self.shared;
        self.shared = upto.min(self.jobs_total).max(before);
        let range = (before, String::new())..(self.shared, String::new());
        let shared = |key: &&Key| key.1.is_empty();
        let newly = self.accepted.range(range.clone()).map(|(k, _)| k).chain(self.lost.range(range).map(|(k, _)| k));
        self.resolved_count += newly.filter(shared).count() as u64;
    }

    /// Expected keys not resolved yet (the jobs published and still queued or running).
    pub fn open(&self) -> u64 {
        self.expected_count().saturating_sub(self.resolved_count)
    }

    /// Broadcast: every job was published for `worker`.
    pub fn expect_worker(&mut self, worker: &str) {
        if !self.workers.insert(worker.to_string()) {
            return;
        }
        let jobs_total = self.jobs_total;
        // Keys expected one by one so far are now part of the worker's range (and were counted already).
        let singles: Vec<Key> = self.extra.iter().filter(|k| k.1 == worker && k.0 < jobs_total).cloned().collect();
        for key in &singles {
            self.extra.remove(key);
        }
        let resolved = self.resolved_keys().filter(|(job, w)| w == worker && *job < jobs_total).count() as u64;
        let counted = singles.iter().filter(|k| self.resolved(k)).count() as u64;
        self.resolved_count += resolved.saturating_sub(counted);
    }

    fn resolved_keys(&self) -> impl Iterator<Item = &Key> {
        self.accepted.keys().chain(self.lost.keys())
    }

    /// Marks `key` resolved, counting it if it is expected.
    fn resolve(&mut self, key: &Key) {
        if !self.resolved(key) && self.expected(key) {
            self.resolved_count += 1;
        }
    }

    /// A result that failed validation.
    pub fn reject(&mut self) {
        self.rejected += 1;
    }

    /// Records that `key` was delivered `delivered` times (the result's own count, or JetStream's).
    pub fn delivered(&mut self, key: &Key, delivered: u64) {
        let seen = self.delivered.entry(key.clone()).or_insert(0);
        *seen = (*seen).max(delivered);
    }

    /// A result for `key` arrived that was already counted: note its delivery and count the duplicate. False (and
    /// nothing noted) when `key` has no result yet.
    pub fn duplicate(&mut self, key: &Key, delivered: u64) -> bool {
        if !self.accepted.contains_key(key) {
            return false;
        }
        self.delivered(key, delivered);
        self.duplicates += 1;
        true
    }

    /// Counts the first result for `key`; any later one is a duplicate. A result for a key that was given up as
    /// lost still counts: the job did run.
    pub fn result(&mut self, key: Key, accepted: Accepted, histogram: Option<&LatencyHistogram>) -> Taken {
        self.delivered(&key, accepted.result.delivered);
        if self.accepted.contains_key(&key) {
            self.duplicates += 1;
            return Taken::Duplicate;
        }
        if !key.1.is_empty() && !self.expected(&key) {
            self.extra.insert(key.clone());
            if self.lost.contains_key(&key) {
                self.resolved_count += 1;
            }
        }
        if !self.lost.contains_key(&key) {
            self.resolve(&key);
        }
        self.lost.remove(&key);
        self.ops += accepted.result.counts.ops;
        self.bytes += accepted.result.counts.bytes_written + accepted.result.counts.bytes_read;
        if let Some(histogram) = histogram {
            self.histogram.merge(histogram);
        }
        let mut accepted = accepted;
        // The histogram is merged; its text is not needed again.
        accepted.result.histogram = None;
        self.accepted.insert(key, accepted);
        Taken::Counted
    }

    /// Gives `key` up without a result (unless it already has one).
    pub fn lose(&mut self, key: Key, why: Lost) {
        if self.resolved(&key) {
            return;
        }
        self.resolve(&key);
        self.lost.insert(key, why);
    }

    /// Broadcast: `worker` went away; its unresolved jobs are abandoned. Returns how many.
    pub fn abandon_worker(&mut self, worker: &str, why: &str) -> u64 {
        let open: Vec<Key> = self.unresolved().filter(|k| k.1 == worker).collect();
        for key in &open {
            self.lose(key.clone(), Lost::Abandoned(why.to_string()));
        }
        open.len() as u64
    }

    /// Every expected key without a result or a loss yet.
    pub fn unresolved(&self) -> impl Iterator<Item = Key> + '_ {
        let shared = (0..self.shared).map(|job| (job, String::new()));
        let broadcast = self.workers.iter().flat_map(move |w| (0..self.jobs_total).map(move |job| (job, w.clone())));
        let extra = self.extra.iter().cloned();
        shared.chain(broadcast).chain(extra).filter(move |k| !self.resolved(k))
    }

    /// Whether `key`'s job has been counted or given up.
    pub fn is_resolved(&self, key: &Key) -> bool {
        self.resolved(key)
    }

    /// Whether a key is resolved for every expected one (and at least one is expected).
    pub fn complete(&self) -> bool {
        self.expected_count() > 0 && self.resolved_count == self.expected_count()
    }

    /// Counted results, in key order.
    pub fn accepted(&self) -> impl Iterator<Item = &Accepted> {
        self.accepted.values()
    }

    /// Keys given up, in key order.
    pub fn lost(&self) -> impl Iterator<Item = (&Key, &Lost)> {
        self.lost.iter()
    }

    pub fn counters(&self) -> Counters {
        let count = |v: Verdict| self.accepted.values().filter(|a| a.result.verdict == v).count() as u64;
        let abandoned = self.lost.values().filter(|l| matches!(l, Lost::Abandoned(_))).count() as u64;
        Counters {
            expected: self.expected_count(),
            done: self.resolved_count,
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            skipped: count(Verdict::Skipped),
            incomplete: count(Verdict::Incomplete),
            lost: self.lost.len() as u64 - abandoned,
            abandoned,
            duplicates: self.duplicates,
            redeliveries: self.delivered.values().map(|d| d.saturating_sub(1)).sum(),
            rejected: self.rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribute::protocol::PROTOCOL_VERSION;
    use crate::exec::{Counts, Timings};

    fn result(job: u64, worker: &str, verdict: Verdict, delivered: u64) -> Accepted {
        Accepted {
            result: JobResult {
                v: PROTOCOL_VERSION,
                run: "r1".into(),
                job,
                seed: 1 + job,
                scenario: "tiny".into(),
                worker: worker.into(),
                delivered,
                verdict,
                reason: None,
                plan_digest: "ab".into(),
                bucket_prefix: "sfko".into(),
                faults: None,
                rate: None,
                counts: Counts { ops: 10, ..Counts::default() },
                timings: Timings::default(),
                histogram: None,
                failures: vec![],
                journal: None,
                left_behind: vec![],
            },
            corpus: None,
            repro: String::new(),
        }
    }

    fn shared(job: u64) -> Key {
        (job, String::new())
    }

    #[test]
    fn each_shared_job_counts_once_whatever_arrives() {
        let mut g = Gather::new(4);
        assert!(!g.complete(), "nothing published, nothing complete");
        g.expect_shared();
        assert_eq!(g.result(shared(0), result(0, "w1", Verdict::Pass, 1), None), Taken::Counted);
        assert_eq!(g.result(shared(0), result(0, "w2", Verdict::Fail, 2), None), Taken::Duplicate);
        g.result(shared(1), result(1, "w1", Verdict::Fail, 3), None);
        g.delivered(&shared(2), 2);
        g.lose(shared(2), Lost::Lost("delivered 2 times without a result".into()));
        assert!(!g.complete());
        assert_eq!(g.unresolved().collect::<Vec<_>>(), vec![shared(3)]);
        g.result(shared(3), result(3, "w2", Verdict::Incomplete, 1), None);
        g.reject();
        assert!(g.complete());
        let c = g.counters();
        assert_eq!(
            c,
            Counters {
                expected: 4,
                done: 4,
                passed: 1,
                failed: 1,
                skipped: 0,
                incomplete: 1,
                lost: 1,
                abandoned: 0,
                duplicates: 1,
                redeliveries: 1 + 2 + 1,
                rejected: 1,
            }
        );
        assert_eq!(g.ops, 30, "duplicates add no ops");
    }

    #[test]
    fn a_late_result_replaces_a_loss() {
        let mut g = Gather::new(1);
        g.expect_shared();
        g.lose(shared(0), Lost::Lost("run ended".into()));
        assert!(g.complete());
        g.result(shared(0), result(0, "w1", Verdict::Pass, 1), None);
        assert!(g.complete());
        let c = g.counters();
        assert_eq!((c.passed, c.lost, c.done), (1, 0, 1));
    }

    #[test]
    fn results_before_publishing_finishes_are_counted_when_it_does() {
        let mut g = Gather::new(2);
        g.result(shared(1), result(1, "w1", Verdict::Pass, 1), None);
        assert_eq!(g.counters().done, 0);
        g.expect_shared();
        assert_eq!(g.counters().done, 1);
        g.result(shared(0), result(0, "w1", Verdict::Pass, 1), None);
        assert!(g.complete());
    }

    #[test]
    fn a_run_fed_block_by_block_is_complete_only_for_what_was_published() {
        let mut g = Gather::new(10);
        g.expect_shared_upto(4);
        assert_eq!(g.open(), 4);
        for job in 0..4 {
            g.result(shared(job), result(job, "w1", Verdict::Pass, 1), None);
        }
        assert!(g.complete() && g.open() == 0);
        g.result(shared(5), result(5, "w1", Verdict::Pass, 1), None);
        g.expect_shared_upto(6);
        assert_eq!((g.open(), g.counters().done), (1, 5));
        g.expect_shared_upto(3);
        assert_eq!(g.counters().expected, 6, "expectations never shrink");
    }

    #[test]
    fn broadcast_counts_per_worker_and_abandons_a_gone_worker() {
        let mut g = Gather::new(3);
        g.expect_worker("a");
        g.result((0, "b".into()), result(0, "b", Verdict::Pass, 1), None);
        g.expect_worker("b");
        g.expect_worker("b");
        assert_eq!(g.counters().expected, 6);
        assert_eq!(g.counters().done, 1);
        for job in 0..3 {
            g.result((job, "a".into()), result(job, "a", Verdict::Pass, 1), None);
        }
        assert!(!g.complete());
        assert_eq!(g.abandon_worker("b", "worker b went away"), 2);
        assert!(g.complete());
        let c = g.counters();
        assert_eq!((c.passed, c.abandoned, c.lost, c.done), (4, 2, 0, 6));
        let (_, why) = g.lost().next().expect("an abandoned key");
        assert_eq!(why, &Lost::Abandoned("worker b went away".into()));
    }

    #[test]
    fn a_result_from_a_worker_never_assigned_is_counted_alone() {
        let mut g = Gather::new(5);
        g.expect_worker("a");
        g.result((2, "z".into()), result(2, "z", Verdict::Fail, 1), None);
        let c = g.counters();
        assert_eq!((c.expected, c.done, c.failed), (6, 1, 1));
    }
}
