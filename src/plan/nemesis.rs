//! The nemesis schedule: which fault is injected at which op positions, as a pure function of the seed.
//!
//! Positions are op indices, not wall-clock times, so a replay re-applies each fault around the same requests. Window
//! `k` covers op indices in `[k·every + jitter, … + length)`, with the jitter and the fault drawn from the seed's
//! `nemesis` stream for `k`: nothing is precomputed, so a run of any length holds no schedule in memory.
//! The schedule is a run condition like `--embedded-faults`, not part of the plan's digest: the same plan can run
//! with and without it.

use serde::{Deserialize, Serialize};

use crate::seed::Seed;

/// A network fault sfko's own TCP proxy injects between itself and the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetFault {
    /// 50–250 ms added before a request is forwarded.
    Latency,
    /// The connection is reset before any byte of the request reaches the target.
    ResetBefore,
    /// Part of the request is forwarded, then the connection is reset (a body cut off midway).
    ResetDuring,
    /// The whole request reaches the target, and the connection is reset when its answer arrives: the write may
    /// have applied, the client cannot know.
    ResetAfter,
    /// Part of the answer is forwarded, then the connection is closed.
    Truncate,
    /// The answer is held back for a few seconds (below the stall timeout), then forwarded.
    Stall,
    /// Both directions are capped at 1 MiB/s.
    Bandwidth,
    /// As a load balancer with no live node behind it: the request's connection is closed (FIN) before a byte
    /// reaches the target.
    Refuse,
}

impl NetFault {
    /// Every network fault, in the order `--nemesis all` lists them.
    pub const ALL: [NetFault; 8] = [
        NetFault::Latency,
        NetFault::ResetBefore,
        NetFault::ResetDuring,
        NetFault::ResetAfter,
        NetFault::Truncate,
        NetFault::Stall,
        NetFault::Bandwidth,
        NetFault::Refuse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NetFault::Latency => "latency",
            NetFault::ResetBefore => "reset-before",
            NetFault::ResetDuring => "reset-during",
            NetFault::ResetAfter => "reset-after",
            NetFault::Truncate => "truncate",
            NetFault::Stall => "stall",
            NetFault::Bandwidth => "bandwidth",
            NetFault::Refuse => "refuse",
        }
    }

    /// The fault named `name`, or an error listing the known names.
    pub fn parse(name: &str) -> Result<NetFault, String> {
        NetFault::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let known: Vec<&str> = NetFault::ALL.iter().map(|f| f.name()).collect();
            format!("unknown network fault '{name}'; known: {}", known.join(", "))
        })
    }
}

/// What one window injects: a network fault, or a user action from the config (by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Injection {
    Net(NetFault),
    Action(String),
}

impl Injection {
    pub fn name(&self) -> &str {
        match self {
            Injection::Net(fault) => fault.name(),
            Injection::Action(name) => name,
        }
    }
}

/// The schedule of a run: recorded in its journal, so a replay re-applies it from the file alone. User actions are
/// recorded by name only (their commands may hold secrets); a replay runs them when its config names them too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisPlan {
    pub seed: Seed,
    /// Op positions between the starts of two windows.
    pub every: u64,
    /// Op positions a window lasts (≤ `every`).
    pub length: u64,
    pub injections: Vec<Injection>,
}

/// The most attempts of one op a network fault hits: as many as the driver makes, so the last draw leaves the op
/// without an answer.
pub const MAX_ATTEMPTS_HIT: u64 = 4;

/// One window of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub number: u64,
    /// First op index inside.
    pub start: u64,
    /// First op index after.
    pub end: u64,
    /// Index into [`NemesisPlan::injections`].
    pub injection: usize,
}

impl NemesisPlan {
    /// Window `k`.
    pub fn window(&self, k: u64) -> Window {
        let every = self.every.max(1);
        let length = self.length.clamp(1, every);
        let mut stream = self.seed.stream("nemesis", &[k]);
        let start = k.saturating_mul(every).saturating_add(stream.below(every - length + 1));
        let injection = stream.below(self.injections.len().max(1) as u64) as usize;
        Window { number: k, start, end: start.saturating_add(length), injection }
    }

    /// The window op `index` falls in, if any.
    pub fn at(&self, index: u64) -> Option<Window> {
        if self.injections.is_empty() {
            return None;
        }
        let window = self.window(index / self.every.max(1));
        (window.start..window.end).contains(&index).then_some(window)
    }

    /// How many of op `index`'s first attempts a network fault hits: 1 to [`MAX_ATTEMPTS_HIT`], drawn per op, so
    /// some ops recover on a retry (and a retried write may have applied twice) and some never get an answer.
    pub fn attempts_hit(&self, index: u64) -> u64 {
        1 + self.seed.stream("nemesis-attempts", &[index]).below(MAX_ATTEMPTS_HIT)
    }

    pub fn injection(&self, window: &Window) -> Option<&Injection> {
        self.injections.get(window.injection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> NemesisPlan {
        NemesisPlan {
            seed: Seed(7),
            every: 20,
            length: 5,
            injections: vec![Injection::Net(NetFault::ResetAfter), Injection::Action("kill".into())],
        }
    }

    #[test]
    fn windows_stay_inside_their_stride_and_are_a_function_of_the_seed() {
        let plan = plan();
        for k in 0..500 {
            let w = plan.window(k);
            assert!(w.start >= k * 20 && w.end <= (k + 1) * 20, "{w:?}");
            assert_eq!(w.end - w.start, 5);
            assert_eq!(plan.window(k), w, "pure");
        }
        let covered = (0..10_000).filter(|&i| plan.at(i).is_some()).count();
        assert_eq!(covered, 2_500, "a quarter of the positions are under a fault");
        let other = NemesisPlan { seed: Seed(8), ..plan.clone() };
        assert_ne!((0..50).map(|k| plan.window(k).start).collect::<Vec<_>>(), {
            (0..50).map(|k| other.window(k).start).collect::<Vec<_>>()
        });
    }

    /// Golden: seed 7's first windows. A change here changes which requests every recorded nemesis run hit.
    #[test]
    fn the_schedule_of_seed_7_is_pinned() {
        let plan = plan();
        let first: Vec<(u64, usize)> = (0..4).map(|k| (plan.window(k).start, plan.window(k).injection)).collect();
        assert_eq!(first, GOLDEN);
    }

    const GOLDEN: [(u64, usize); 4] = [(7, 0), (25, 0), (42, 1), (69, 0)];

    #[test]
    fn attempts_hit_are_drawn_per_op_and_cover_every_count() {
        let plan = plan();
        let counts: Vec<u64> = (0..400).map(|op| plan.attempts_hit(op)).collect();
        for n in 1..=MAX_ATTEMPTS_HIT {
            assert!(counts.contains(&n), "{n} attempts hit somewhere");
        }
        assert!(counts.iter().all(|&n| (1..=MAX_ATTEMPTS_HIT).contains(&n)));
        assert_eq!(counts[..8], GOLDEN_ATTEMPTS, "pinned: which attempts a recorded run's faults hit");
    }

    const GOLDEN_ATTEMPTS: [u64; 8] = [3, 2, 1, 4, 2, 2, 4, 3];

    #[test]
    fn unknown_fault_names_list_the_known_ones() {
        let e = NetFault::parse("reset").err().unwrap_or_default();
        assert!(e.contains("reset-before") && e.contains("refuse"), "{e}");
    }
}
