//! Throughput and latency of a run: bytes moved, ops, and an HDR histogram of op latencies, mergeable exactly across
//! runs and across workers ([`LatencyHistogram`] travels as HdrHistogram V2 bytes).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::journal::{Outcome, Request};

/// Live counters behind a mutex (held for a few hundred nanoseconds per op).
pub struct Stats {
    started: Instant,
    inner: Mutex<Live>,
}

/// The run's tallies, whose latency is what a user waited (from the intended start under `--rate`), and the
/// service time alone (from when the op was sent), which differ only in a paced run.
struct Live {
    tallies: Tallies,
    service_us: Histogram<u64>,
}

/// Counters of some ops: a whole run's ([`Stats`]) or one interval's ([`super::timeseries::TimeSeries`]).
pub(super) struct Tallies {
    pub ops: u64,
    pub errors: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub latency_us: Histogram<u64>,
    /// Per S3 operation ([`Request::name`]): a few dozen names at most, whatever the run length.
    by_operation: BTreeMap<&'static str, Tally>,
}

/// One operation's counters. Its histogram keeps 2 significant digits (percentiles exact to 1 %), a tenth of the
/// whole-run histogram's size, since there is one per operation.
struct Tally {
    ops: u64,
    errors: u64,
    latency_us: Histogram<u64>,
}

impl Tallies {
    pub fn new() -> Tallies {
        Tallies {
            ops: 0,
            errors: 0,
            bytes_written: 0,
            bytes_read: 0,
            latency_us: new_histogram(),
            by_operation: BTreeMap::new(),
        }
    }

    /// Counts one finished op: bytes moved if it succeeded, an error otherwise, and its latency either way.
    pub fn record(&mut self, request: &Request, outcome: &Outcome, us: u64) {
        self.ops += 1;
        if outcome.succeeded() {
            self.bytes_written += request.body_len();
            self.bytes_read += outcome.body_digest.and(outcome.size).unwrap_or(0);
        } else {
            self.errors += 1;
        }
        self.latency_us.saturating_record(us);
        let tally = self.by_operation.entry(request.name()).or_insert_with(|| Tally {
            ops: 0,
            errors: 0,
            latency_us: histogram_with(OPERATION_DIGITS),
        });
        tally.ops += 1;
        tally.errors += u64::from(!outcome.succeeded());
        tally.latency_us.saturating_record(us);
    }

    /// Each operation's count, errors and percentiles, in name order.
    pub fn operations(&self) -> Vec<OperationStats> {
        self.by_operation
            .iter()
            .map(|(name, tally)| OperationStats {
                operation: name.to_string(),
                ops: tally.ops,
                errors: tally.errors,
                latency_ms: summary_of(&tally.latency_us),
            })
            .collect()
    }

    /// MiB/s over `elapsed_s`.
    pub fn mib_per_s(&self, elapsed_s: f64) -> f64 {
        (self.bytes_written + self.bytes_read) as f64 / (1024.0 * 1024.0) / elapsed_s
    }
}

/// An op's latency as the histograms count it: whole µs, at least 1.
pub(super) fn micros_of(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Count, errors and latency of one S3 operation in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationStats {
    /// As S3 calls it (`PutObject`, `GetObject(version)`, …).
    pub operation: String,
    pub ops: u64,
    /// Ops that did not succeed (after retries); many are expected (reads of deleted keys).
    pub errors: u64,
    pub latency_ms: LatencySummary,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub ops: u64,
    /// Ops that did not succeed (after retries).
    pub op_errors: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub elapsed_s: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub latency_ms: LatencySummary,
    /// The same per S3 operation, in name order.
    pub operations: Vec<OperationStats>,
    /// Latency from when each op was sent; differs from `latency_ms` only under `--rate`, which counts from the
    /// intended start.
    pub service_latency_ms: LatencySummary,
    /// The full latency distribution (µs), for merging with other runs; not part of the JSON output.
    #[serde(skip)]
    pub histogram: LatencyHistogram,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    /// Counters starting now (the run's clock for ops/s).
    pub fn new() -> Stats {
        Stats {
            started: Instant::now(),
            inner: Mutex::new(Live { tallies: Tallies::new(), service_us: new_histogram() }),
        }
    }

    /// Counts one finished op: `waited` from its intended start, `service` from when it was sent.
    pub fn record(&self, request: &Request, outcome: &Outcome, waited: Duration, service: Duration) {
        let Ok(mut live) = self.inner.lock() else { return };
        live.tallies.record(request, outcome, micros_of(waited));
        live.service_us.saturating_record(micros_of(service));
    }

    /// Totals, rates and the latency histogram so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let Ok(live) = self.inner.lock() else {
            return StatsSnapshot {
                ops: 0,
                op_errors: 0,
                bytes_written: 0,
                bytes_read: 0,
                elapsed_s: elapsed,
                ops_per_s: 0.0,
                mib_per_s: 0.0,
                latency_ms: LatencySummary::default(),
                operations: Vec::new(),
                service_latency_ms: LatencySummary::default(),
                histogram: LatencyHistogram::new(),
            };
        };
        let inner = &live.tallies;
        let histogram = LatencyHistogram(inner.latency_us.clone());
        StatsSnapshot {
            ops: inner.ops,
            op_errors: inner.errors,
            bytes_written: inner.bytes_written,
            bytes_read: inner.bytes_read,
            elapsed_s: elapsed,
            ops_per_s: inner.ops as f64 / elapsed,
            mib_per_s: inner.mib_per_s(elapsed),
            latency_ms: histogram.summary(),
            operations: inner.operations(),
            service_latency_ms: summary_of(&live.service_us),
            histogram,
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

fn new_histogram() -> Histogram<u64> {
    histogram_with(SIGNIFICANT_DIGITS)
}

fn histogram_with(digits: u8) -> Histogram<u64> {
    // 1 µs .. 1 h at 2 or 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, HIGHEST_US, digits)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Significant digits of the per-operation histograms.
const OPERATION_DIGITS: u8 = 2;

/// p50/p90/p99/max in milliseconds (zeros when empty).
fn summary_of(histogram: &Histogram<u64>) -> LatencySummary {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    LatencySummary { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), max: histogram.max() as f64 / 1000.0 }
}

/// Highest latency a histogram tracks: one hour, in µs.
const HIGHEST_US: u64 = 3_600_000_000;
/// Significant digits kept: values are exact to 0.1 %.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Op latencies in µs. Workers ship it as HdrHistogram V2 bytes and the controller adds the histograms bucket by
/// bucket, so merged percentiles are exactly what one process recording every op would report — averaging
/// per-worker percentiles would not be.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(pub(super) Histogram<u64>);

impl LatencyHistogram {
    /// An empty histogram with sfko's bounds (1 µs .. 1 h, 3 significant digits).
    pub fn new() -> LatencyHistogram {
        LatencyHistogram(new_histogram())
    }

    /// Records one latency (µs); values beyond an hour count as an hour.
    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// p50/p90/p99/max in milliseconds (zeros when empty).
    pub fn summary(&self) -> LatencySummary {
        summary_of(&self.0)
    }

    /// HdrHistogram V2 bytes (uncompressed; zero runs are already packed).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Serializing into a Vec cannot fail for a histogram within its own bounds.
        if V2Serializer::new().serialize(&self.0, &mut bytes).is_err() {
            bytes.clear();
        }
        bytes
    }

    /// Reads V2 bytes from another process. The header is checked before anything is allocated, so a hostile
    /// message cannot make the reader allocate a histogram wider than sfko's own.
    pub fn decode(bytes: &[u8]) -> Result<LatencyHistogram, String> {
        let field = |range: std::ops::Range<usize>| -> u64 {
            bytes.get(range).map(|b| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))).unwrap_or(0)
        };
        if bytes.len() < 40 {
            return Err(format!("histogram: {} bytes is shorter than a V2 header", bytes.len()));
        }
        let (digits, lowest, highest) = (field(12..16), field(16..24), field(24..32));
        if digits > u64::from(SIGNIFICANT_DIGITS) || lowest != 1 || highest > HIGHEST_US {
            return Err(format!(
                "histogram: bounds {lowest}..{highest} with {digits} digits are not sfko's (1..{HIGHEST_US}, 3)"
            ));
        }
        let histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| format!("histogram: not HdrHistogram V2 bytes: {e:?}"))?;
        let mut ours = new_histogram();
        ours.add(&histogram).map_err(|e| format!("histogram: {e:?}"))?;
        Ok(LatencyHistogram(ours))
    }

    /// Adds every count of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both have sfko's bounds (decode enforces it), so adding cannot go out of range.
        if self.0.add(&other.0).is_err() {
            for value in other.0.iter_recorded() {
                self.0.saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_travel_as_v2_bytes_and_merge_exactly() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        let mut all = LatencyHistogram::new();
        for i in 1..=1000u64 {
            let us = i * i % 97_531 + 1;
            if i % 3 == 0 {
                a.record(us)
            } else {
                b.record(us)
            }
            all.record(us);
        }
        let mut merged = LatencyHistogram::decode(&a.encode()).unwrap();
        merged.merge(&LatencyHistogram::decode(&b.encode()).unwrap());
        assert_eq!(merged.len(), 1000);
        assert_eq!(merged.0, all.0, "merging shipped histograms equals recording everything in one place");
    }

    #[test]
    fn each_operation_is_counted_apart_in_name_order() {
        let stats = Stats::new();
        let head = Request::HeadObject { bucket: "b".into(), key: "k".into() };
        let delete = Request::DeleteObject { bucket: "b".into(), key: "k".into() };
        let ok = Outcome { status: 200, ..Outcome::default() };
        let missing = Outcome { status: 404, error_code: Some("NoSuchKey".into()), ..Outcome::default() };
        stats.record(&head, &ok, Duration::from_millis(2), Duration::from_millis(1));
        stats.record(&head, &missing, Duration::from_millis(4), Duration::from_millis(1));
        stats.record(&delete, &ok, Duration::from_millis(10), Duration::from_millis(1));
        let snapshot = stats.snapshot();
        let names: Vec<&str> = snapshot.operations.iter().map(|o| o.operation.as_str()).collect();
        assert_eq!(names, ["DeleteObject", "HeadObject"]);
        // Waited (from the intended start) and service time (from sending) are kept apart.
        assert!(snapshot.latency_ms.max >= 9.9 && snapshot.service_latency_ms.max < 1.1, "{snapshot:?}");
        let head = &snapshot.operations[1];
        assert_eq!((head.ops, head.errors), (2, 1));
        assert!((head.latency_ms.max - 4.0).abs() < 0.1, "{head:?}");
        assert_eq!(snapshot.ops, 3);
    }

    #[test]
    fn hostile_histogram_bytes_are_rejected() {
        assert!(LatencyHistogram::decode(b"short").is_err());
        let mut bytes = LatencyHistogram::new().encode();
        bytes[24..32].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(LatencyHistogram::decode(&bytes).is_err());
        let mut bytes = LatencyHistogram::new().encode();
        bytes[40..].iter_mut().for_each(|b| *b = 0xff);
        let _ = LatencyHistogram::decode(&bytes); // must not panic
    }
}
