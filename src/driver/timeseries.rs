//! `--timeseries FILE`: throughput, errors and latency per interval, as JSON lines, so a long run shows *when* it
//! slowed down or failed, not only its averages.
//!
//! Every driver of the invocation (one per run, run after run) records into the same [`TimeSeries`]; a ticker
//! task closes an interval every `--timeseries-interval` and appends its line. An interval with no op is written
//! too: a stalled target shows as a row of zeros, not as a gap. Each line carries its latency histogram as
//! HdrHistogram V2 bytes (base64), so intervals of several files (workers, reps) merge exactly, as whole runs do.
//!
//! The file is a measurement, not evidence: a write error is reported once and the run goes on (the journal is
//! what replays a failure).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::stats::{micros_of, LatencyHistogram, LatencySummary, OperationStats, Tallies};
use crate::journal::{Outcome, Request};

/// One interval's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// End of the interval, in seconds since the invocation started.
    pub t_s: f64,
    /// Its length in seconds (the last one may be short).
    pub interval_s: f64,
    pub ops: u64,
    /// Ops that did not succeed (after retries).
    pub errors: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    /// Latency of the ops that finished in this interval.
    pub latency_ms: LatencySummary,
    /// The same per S3 operation, in name order.
    pub operations: Vec<OperationStats>,
    /// The interval's latency histogram (µs), HdrHistogram V2, base64: what merging intervals needs.
    pub histogram: String,
}

impl Interval {
    /// The interval's latency histogram, decoded.
    pub fn latency_histogram(&self) -> Result<LatencyHistogram, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.histogram)
            .map_err(|e| format!("histogram: not base64: {e}"))?;
        LatencyHistogram::decode(&bytes)
    }
}

/// The intervals being recorded, and the file they go to.
pub struct TimeSeries {
    started: Instant,
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    window: Tallies,
    window_started: Instant,
    file: std::io::BufWriter<std::fs::File>,
    /// Set after the first write error, which is reported once.
    broken: bool,
}

impl std::fmt::Debug for TimeSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeSeries").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A running time series: the sink drivers record into, and the ticker that closes intervals.
pub struct Recording {
    pub sink: Arc<TimeSeries>,
    ticker: tokio::task::JoinHandle<()>,
}

impl TimeSeries {
    /// Creates (truncates) `path` and starts closing an interval every `interval`.
    pub fn start(path: &Path, interval: Duration) -> Result<Recording, String> {
        let file = std::fs::File::create(path).map_err(|e| format!("--timeseries {}: {e}", path.display()))?;
        let now = Instant::now();
        let sink = Arc::new(TimeSeries {
            started: now,
            path: path.to_path_buf(),
            state: Mutex::new(State {
                window: Tallies::new(),
                window_started: now,
                file: std::io::BufWriter::new(file),
                broken: false,
            }),
        });
        let ticking = Arc::clone(&sink);
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                ticking.close_interval();
            }
        });
        Ok(Recording { sink, ticker })
    }

    /// Counts one finished op in the current interval.
    pub fn record(&self, request: &Request, outcome: &Outcome, latency: Duration) {
        if let Ok(mut state) = self.state.lock() {
            state.window.record(request, outcome, micros_of(latency));
        }
    }

    /// Ends the current interval: writes its line and starts the next one.
    fn close_interval(&self) {
        let Ok(mut state) = self.state.lock() else { return };
        let now = Instant::now();
        let window = std::mem::replace(&mut state.window, Tallies::new());
        let interval_s = now.duration_since(state.window_started).as_secs_f64().max(1e-9);
        state.window_started = now;
        let line = interval_line(&window, now.duration_since(self.started).as_secs_f64(), interval_s);
        let written = serde_json::to_writer(&mut state.file, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| state.file.write_all(b"\n"))
            .and_then(|()| state.file.flush());
        if let Err(e) = written {
            if !state.broken {
                state.broken = true;
                tracing::warn!("--timeseries {}: {e}; the run goes on without it", self.path.display());
            }
        }
    }
}

impl Recording {
    /// Stops the ticker and writes the last (partial) interval.
    pub fn finish(self) {
        self.ticker.abort();
        self.sink.close_interval();
    }
}

fn interval_line(window: &Tallies, t_s: f64, interval_s: f64) -> Interval {
    let histogram = LatencyHistogram(window.latency_us.clone());
    Interval {
        t_s: round3(t_s),
        // A last interval cut right after a tick is shorter than the rounding: never written as 0 (a reader divides).
        interval_s: round3(interval_s).max(0.001),
        ops: window.ops,
        errors: window.errors,
        bytes_written: window.bytes_written,
        bytes_read: window.bytes_read,
        ops_per_s: round3(window.ops as f64 / interval_s),
        mib_per_s: round3(window.mib_per_s(interval_s)),
        latency_ms: histogram.summary(),
        operations: window.operations(),
        histogram: base64::engine::general_purpose::STANDARD.encode(histogram.encode()),
    }
}

/// Milliseconds of precision are all a per-second series can claim.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Reads a time series file: every line an [`Interval`], errors naming the line.
pub fn read(path: &Path) -> Result<Vec<Interval>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Parses time series text (JSON lines; blank lines are skipped).
pub fn parse(text: &str) -> Result<Vec<Interval>, String> {
    let mut intervals = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let interval: Interval = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: not a time series interval: {e}", n + 1, e.column()))?;
        intervals.push(interval);
    }
    Ok(intervals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_op_lands_in_exactly_one_interval_and_lines_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ts.jsonl");
        let recording = TimeSeries::start(&path, Duration::from_millis(20)).unwrap();
        let head = Request::HeadObject { bucket: "b".into(), key: "k".into() };
        let ok = Outcome { status: 200, ..Outcome::default() };
        for i in 0..50u64 {
            recording.sink.record(&head, &ok, Duration::from_micros(100 + i));
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }
        recording.finish();
        let intervals = read(&path).unwrap();
        assert!(intervals.len() >= 2, "{intervals:?}");
        assert_eq!(intervals.iter().map(|i| i.ops).sum::<u64>(), 50);
        let mut merged = LatencyHistogram::new();
        for interval in &intervals {
            merged.merge(&interval.latency_histogram().unwrap());
            assert!(interval.t_s > 0.0 && interval.interval_s > 0.0);
        }
        assert_eq!(merged.len(), 50, "the intervals' histograms add up to every op");
        assert!(intervals.windows(2).all(|w| w[0].t_s <= w[1].t_s));
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse("\n{\"t_s\": 1}\n").unwrap_err();
        assert!(e.starts_with("2:"), "{e}");
    }
}
