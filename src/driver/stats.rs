//! Throughput and latency of a run: bytes moved, ops, and an HDR histogram of op latencies (mergeable across runs
//! and, later, across workers).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::journal::{Outcome, Request};

/// Live counters behind a mutex (held for a few hundred nanoseconds per op).
pub struct Stats {
    started: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    ops: u64,
    errors: u64,
    bytes_written: u64,
    bytes_read: u64,
    latency_us: Histogram<u64>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub ops: u64,
    pub errors: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub elapsed_s: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub latency_ms: LatencySummary,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Instant::now(),
            inner: Mutex::new(Inner {
                ops: 0,
                errors: 0,
                bytes_written: 0,
                bytes_read: 0,
                latency_us: new_histogram(),
            }),
        }
    }

    pub fn record(&self, request: &Request, outcome: &Outcome, latency: Duration) {
        let Ok(mut inner) = self.inner.lock() else { return };
        inner.ops += 1;
        if outcome.succeeded() {
            inner.bytes_written += request.body_len();
            inner.bytes_read += outcome.body_digest.and(outcome.size).unwrap_or(0);
        } else {
            inner.errors += 1;
        }
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        inner.latency_us.saturating_record(us);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let Ok(inner) = self.inner.lock() else {
            return StatsSnapshot {
                ops: 0,
                errors: 0,
                bytes_written: 0,
                bytes_read: 0,
                elapsed_s: elapsed,
                ops_per_s: 0.0,
                mib_per_s: 0.0,
                latency_ms: LatencySummary::default(),
            };
        };
        let ms = |q: f64| inner.latency_us.value_at_quantile(q) as f64 / 1000.0;
        StatsSnapshot {
            ops: inner.ops,
            errors: inner.errors,
            bytes_written: inner.bytes_written,
            bytes_read: inner.bytes_read,
            elapsed_s: elapsed,
            ops_per_s: inner.ops as f64 / elapsed,
            mib_per_s: (inner.bytes_written + inner.bytes_read) as f64 / (1024.0 * 1024.0) / elapsed,
            latency_ms: LatencySummary {
                p50: ms(0.5),
                p90: ms(0.9),
                p99: ms(0.99),
                max: inner.latency_us.max() as f64 / 1000.0,
            },
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}
