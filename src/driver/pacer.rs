//! `--rate N/s`: open-loop arrivals. Op n's intended start is the n-th point of a Poisson schedule drawn from the
//! run's seed, counted from the run's start; an op waits for its point, then for a concurrency slot. When the target
//! falls behind, ops start late and their latency still counts from the intended start — so a stall shows as the
//! latency every waiting user would have seen, not as one slow op (coordinated omission corrected, as wrk2 and
//! HdrHistogram define it). Which ops run, and in which order, is the seed's as always; only timing follows the rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::seed::{Seed, Stream};

/// The arrival schedule of one run.
pub struct Pacer {
    per_s: f64,
    origin: Instant,
    next: Mutex<Schedule>,
}

struct Schedule {
    gaps: Stream,
    /// Offset of the last arrival handed out, in seconds from `origin`.
    at_s: f64,
}

impl Pacer {
    /// A schedule at `per_s` arrivals per second (positive; the flag parser checks), drawn from `seed`.
    pub fn new(per_s: f64, seed: Seed) -> Pacer {
        Pacer {
            per_s,
            origin: Instant::now(),
            next: Mutex::new(Schedule { gaps: seed.stream("rate", &[]), at_s: 0.0 }),
        }
    }

    /// The intended rate, in ops per second.
    pub fn per_s(&self) -> f64 {
        self.per_s
    }

    /// Takes the next arrival and waits until it is due; returns when it was due (the op's intended start).
    pub async fn arrive(&self) -> Instant {
        let due = self.origin + self.next_offset();
        tokio::time::sleep_until(due.into()).await;
        due
    }

    /// The next arrival's offset from the run's start.
    fn next_offset(&self) -> Duration {
        let Ok(mut schedule) = self.next.lock() else { return Duration::ZERO };
        let gap = exponential_gap(&mut schedule.gaps, self.per_s);
        schedule.at_s += gap;
        Duration::try_from_secs_f64(schedule.at_s).unwrap_or(Duration::MAX)
    }
}

/// An exponentially distributed gap with mean `1 / per_s` (inverse transform of a uniform in [0, 1) with 53 bits).
fn exponential_gap(stream: &mut Stream, per_s: f64) -> f64 {
    let uniform = (stream.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    -(1.0 - uniform).ln() / per_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(seed: u64, per_s: f64, n: usize) -> Vec<Duration> {
        let pacer = Pacer::new(per_s, Seed(seed));
        (0..n).map(|_| pacer.next_offset()).collect()
    }

    #[test]
    fn the_schedule_is_the_seeds_and_keeps_the_rate() {
        assert_eq!(offsets(7, 100.0, 50), offsets(7, 100.0, 50));
        assert_ne!(offsets(7, 100.0, 50), offsets(8, 100.0, 50));
        let all = offsets(7, 100.0, 20_000);
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "arrivals never go back in time");
        // 20,000 arrivals at 100/s span about 200 s (the mean of exponential gaps; 3 sigma is about 2 %).
        let span = all.last().map(Duration::as_secs_f64).unwrap_or(0.0);
        assert!((194.0..206.0).contains(&span), "{span}");
    }
}
