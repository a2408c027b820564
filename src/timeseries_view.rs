//! `sfko show FILE` for a `--timeseries` file: a table of its intervals, or (`--plot OUT.svg`) a self-contained SVG
//! a person looks at — throughput and errors, latency percentiles, and p99 per S3 operation, over time.

use std::fmt::Write as _;

use crate::driver::timeseries::Interval;

/// Whether `bytes` look like a time series (JSON lines) rather than a journal (bincode, which starts with a magic).
pub fn looks_like_timeseries(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// One row per interval, then the whole file's totals.
pub fn table(intervals: &[Interval]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "t (s)", "ops/s", "MiB/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for i in intervals {
        let l = &i.latency_ms;
        let _ = writeln!(
            out,
            "{:>8.1} {:>9.1} {:>9.2} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            i.t_s, i.ops_per_s, i.mib_per_s, i.errors, l.p50, l.p90, l.p99, l.max
        );
    }
    let ops: u64 = intervals.iter().map(|i| i.ops).sum();
    let errors: u64 = intervals.iter().map(|i| i.errors).sum();
    let span = intervals.last().map_or(0.0, |i| i.t_s);
    let idle = intervals.iter().filter(|i| i.ops == 0).count();
    let _ = write!(
        out,
        "{} intervals over {span:.1} s: {ops} ops, {errors} errors{}",
        intervals.len(),
        if idle > 0 { format!(", {idle} intervals with no op finished") } else { String::new() }
    );
    out
}

const WIDTH: f64 = 960.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 30.0;
const GAP: f64 = 50.0;
/// Operations drawn in the per-operation panel: the busiest ones (more lines would not be readable).
const MAX_OPERATIONS: usize = 6;
const COLOURS: [&str; MAX_OPERATIONS] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

/// The SVG: three panels sharing the time axis.
pub fn svg(intervals: &[Interval], title: &str) -> String {
    let t_max = intervals.last().map_or(1.0, |i| i.t_s).max(1e-3);
    let x = |t: f64| LEFT + (WIDTH - LEFT - RIGHT) * t / t_max;
    let height = TOP + 3.0 * PANEL + 3.0 * GAP;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="18" font-size="14">{}</text>"#, escape(title));

    // Panel 1: ops/s (left axis) and MiB/s (right axis), errors/s as red bars.
    let top = TOP;
    let nominal = intervals.iter().map(|i| i.interval_s).fold(0.0f64, f64::max);
    let ops_max = nice_max(intervals.iter().filter(|i| i.interval_s >= nominal / 4.0).map(|i| i.ops_per_s));
    let mib_max = nice_max(intervals.iter().filter(|i| i.interval_s >= nominal / 4.0).map(|i| i.mib_per_s));
    frame(&mut out, top, "ops/s", &linear_ticks(ops_max), |v| v / ops_max, x, t_max);
    for i in intervals.iter().filter(|i| i.errors > 0) {
        let rate = i.errors as f64 / i.interval_s;
        let h = PANEL * (rate / ops_max).min(1.0);
        let w = (x(i.t_s) - x(i.t_s - i.interval_s)).max(1.0);
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="#d62728" opacity="0.5"/>"##,
            x(i.t_s - i.interval_s),
            top + PANEL - h
        );
    }
    // The last interval is usually a fraction of one: its rate over a few milliseconds would draw a spike.
    let full = || intervals.iter().filter(move |i| i.interval_s >= nominal / 4.0);
    line(&mut out, full().map(|i| (x(i.t_s), top + PANEL * (1.0 - i.ops_per_s / ops_max))), "#1f77b4");
    line(&mut out, full().map(|i| (x(i.t_s), top + PANEL * (1.0 - i.mib_per_s / mib_max))), "#2ca02c");
    for v in linear_ticks(mib_max) {
        let y = top + PANEL * (1.0 - v / mib_max);
        let _ = writeln!(out, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, WIDTH - RIGHT + 6.0, y + 4.0, short(v));
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" fill="#1f77b4">ops/s</text><text x="{:.1}" y="{:.1}" fill="#2ca02c">MiB/s</text><text x="{:.1}" y="{:.1}" fill="#d62728">errors/s</text>"##,
        LEFT + 8.0,
        top + 14.0,
        LEFT + 60.0,
        top + 14.0,
        LEFT + 112.0,
        top + 14.0
    );

    // Panel 2: whole-run latency percentiles, log scale.
    let top = TOP + PANEL + GAP;
    let (lo, hi) = log_bounds(intervals.iter().flat_map(|i| [i.latency_ms.p50, i.latency_ms.max]));
    let scale = |v: f64| (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10());
    frame(&mut out, top, "latency (ms)", &log_ticks(lo, hi), scale, x, t_max);
    let series: [Series; 3] = [
        ("p50", "#1f77b4", |i| i.latency_ms.p50),
        ("p99", "#ff7f0e", |i| i.latency_ms.p99),
        ("max", "#d62728", |i| i.latency_ms.max),
    ];
    for (n, (name, colour, value)) in series.iter().enumerate() {
        let points = intervals.iter().filter(|i| i.ops > 0).map(|i| (x(i.t_s), top + PANEL * (1.0 - scale(value(i)))));
        line(&mut out, points, colour);
        legend(&mut out, n, top, name, colour);
    }

    // Panel 3: p99 of the busiest operations, log scale.
    let top = TOP + 2.0 * (PANEL + GAP);
    let busiest = busiest_operations(intervals);
    let (lo, hi) = log_bounds(
        intervals
            .iter()
            .flat_map(|i| i.operations.iter())
            .filter(|o| busiest.contains(&o.operation))
            .map(|o| o.latency_ms.p99),
    );
    let scale = |v: f64| (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10());
    frame(&mut out, top, "p99 by operation (ms)", &log_ticks(lo, hi), scale, x, t_max);
    for (n, name) in busiest.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let points = intervals.iter().filter_map(|i| {
            let op = i.operations.iter().find(|o| &o.operation == name)?;
            Some((x(i.t_s), top + PANEL * (1.0 - scale(op.latency_ms.p99))))
        });
        line(&mut out, points, colour);
        legend(&mut out, n, top, name, colour);
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        height - 8.0
    );
    out.push_str("</svg>\n");
    out
}

/// A line of the latency panel: its name, colour and value per interval.
type Series = (&'static str, &'static str, fn(&Interval) -> f64);

/// The operations with the most ops over the file, most first.
fn busiest_operations(intervals: &[Interval]) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for op in intervals.iter().flat_map(|i| i.operations.iter()) {
        *counts.entry(op.operation.as_str()).or_default() += op.ops;
    }
    let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.into_iter().take(MAX_OPERATIONS).map(|(name, _)| name.to_string()).collect()
}

/// A panel's box, its y ticks (at `scale(tick)` ∈ 0..1) and the time ticks.
fn frame(
    out: &mut String,
    top: f64,
    label: &str,
    ticks: &[f64],
    scale: impl Fn(f64) -> f64,
    x: impl Fn(f64) -> f64,
    t_max: f64,
) {
    let w = WIDTH - LEFT - RIGHT;
    let _ = writeln!(out, r##"<rect x="{LEFT}" y="{top}" width="{w}" height="{PANEL}" fill="none" stroke="#999"/>"##);
    let _ = writeln!(
        out,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        top + PANEL / 2.0,
        top + PANEL / 2.0,
        escape(label)
    );
    for &v in ticks {
        let y = top + PANEL * (1.0 - scale(v));
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short(v)
        );
    }
    for t in linear_ticks(t_max) {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(t),
            top + PANEL + 14.0,
            short(t)
        );
    }
}

fn line(out: &mut String, points: impl Iterator<Item = (f64, f64)>, colour: &str) {
    let points: Vec<String> = points.map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    if points.is_empty() {
        return;
    }
    let _ =
        writeln!(out, r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#, points.join(" "));
}

fn legend(out: &mut String, n: usize, top: f64, name: &str, colour: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
        LEFT + 8.0 + 130.0 * n as f64,
        top + 14.0,
        escape(name)
    );
}

/// A round upper bound for a linear axis (at least 1).
fn nice_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0f64, f64::max).max(1.0);
    let step = 10f64.powf(max.log10().floor());
    (max / step).ceil() * step
}

fn linear_ticks(max: f64) -> Vec<f64> {
    let step = 10f64.powf((max / 2.0).log10().floor()).max(1e-9);
    let step = if max / step > 8.0 { step * 2.0 } else { step };
    (0..=20).map(|k| k as f64 * step).take_while(|v| *v <= max * 1.0001).collect()
}

/// Decades around the values (ms), at least one decade wide.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| *v > 0.0).fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi <= 0.0 {
        return (0.01, 1.0);
    }
    let lo = 10f64.powf(lo.log10().floor());
    let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
    (lo, hi)
}

fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut v = lo;
    while v <= hi * 1.0001 {
        ticks.push(v);
        v *= 10.0;
    }
    ticks
}

fn short(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{LatencySummary, OperationStats};

    fn interval(t: f64, ops: u64, p99: f64) -> Interval {
        Interval {
            t_s: t,
            interval_s: 1.0,
            ops,
            errors: u64::from(t > 2.0),
            bytes_written: ops * 4096,
            bytes_read: 0,
            ops_per_s: ops as f64,
            mib_per_s: ops as f64 * 4096.0 / 1048576.0,
            latency_ms: LatencySummary { p50: p99 / 4.0, p90: p99 / 2.0, p99, max: p99 * 2.0 },
            operations: vec![OperationStats {
                operation: "PutObject".into(),
                ops,
                errors: 0,
                latency_ms: LatencySummary { p50: 1.0, p90: 2.0, p99, max: p99 },
            }],
            histogram: String::new(),
        }
    }

    #[test]
    fn the_plot_is_one_svg_with_a_line_per_series_and_the_table_counts_idle_intervals() {
        let intervals = [interval(1.0, 900, 3.0), interval(2.0, 0, 0.0), interval(3.0, 1200, 40.0)];
        let svg = svg(&intervals, "sfko <run>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("sfko &lt;run&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 6, "ops/s, MiB/s, p50, p99, max, PutObject p99");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let table = table(&intervals);
        assert!(
            table.contains("3 intervals over 3.0 s: 2100 ops, 1 errors, 1 intervals with no op finished"),
            "{table}"
        );
        assert!(looks_like_timeseries(b"\n {\"t_s\":1}") && !looks_like_timeseries(b"SFKO\x00"));
    }

    #[test]
    fn an_empty_file_plots_without_dividing_by_zero() {
        let svg = svg(&[], "empty");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}
