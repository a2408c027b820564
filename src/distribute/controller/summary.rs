//! What the controller shows: live progress on stderr, each failing job as it arrives, and the run's summary (human
//! or JSON) with its exit code — rendered through [`crate::report`], as a standalone run's are.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::gather::{Accepted, Counters, Gather};
use super::live::Live;
use super::prepare::Setup;
use crate::cli::Format;
use crate::distribute::nats::NatsSettings;
use crate::exit::Exit;
use crate::journal::Verdict;
use crate::report;

/// A failing or incomplete job, as standalone runs show one.
pub fn human_job(accepted: &Accepted) -> String {
    let r = &accepted.result;
    let mut out = format!(
        "{}  {}  seed {}  plan {}  job {}  worker {}  {} ops",
        report::tag(r.verdict),
        r.scenario,
        r.seed,
        &r.plan_digest[..12.min(r.plan_digest.len())],
        r.job,
        r.worker,
        r.counts.ops
    );
    if let Some(reason) = &r.reason {
        out.push_str(&format!("\n      reason: {reason}"));
    }
    out.push_str(&report::failure_lines(&r.failures, r.counts.failed));
    out.push_str(&format!("\n      repro:   {}", accepted.repro));
    match (&accepted.corpus, &r.journal) {
        (Some(path), _) => out.push_str(&format!("\n      replay:  sfko replay {}", path.display())),
        (None, Some(journal)) => out.push_str(&format!(
            "\n      journal: {} ({} bytes, over the --journal-cap; kept on the worker)",
            journal.kept_at, journal.size
        )),
        (None, None) => {}
    }
    if !r.left_behind.is_empty() {
        out.push_str(&format!(
            "\n      left on the target for inspection (by worker {}): {}",
            r.worker,
            r.left_behind.join(", ")
        ));
        if let Some(path) = &accepted.corpus {
            out.push_str(&format!("\n      remove with: sfko clean {}", path.display()));
        }
    }
    out
}

/// The run's verdict: any failed job fails it; otherwise a lost or incomplete job, or a run cut short, leaves it
/// incomplete (abandoned broadcast jobs do not: their worker went away, which the summary says).
pub fn verdict(counters: &Counters, aborted: bool) -> Verdict {
    let incomplete = counters.incomplete > 0 || counters.lost > 0 || aborted;
    let verdicts = [
        (counters.failed > 0).then_some(Verdict::Fail),
        incomplete.then_some(Verdict::Incomplete),
        Some(Verdict::Pass),
    ];
    report::overall(verdicts.into_iter().flatten())
}

/// Prints the summary (human or JSON) and returns the exit code.
pub fn summarize(setup: &Setup, gather: &Gather, live: &Live, settings: &NatsSettings) -> Exit {
    let c = gather.counters();
    let verdict = verdict(&c, live.abort.is_some());
    let elapsed = live.started.elapsed().as_secs_f64().max(1e-9);
    let ops_per_s = gather.ops as f64 / elapsed;
    let latency = gather.histogram.summary();
    match setup.format {
        Format::Json => {
            let jobs: Vec<Value> = gather
                .accepted()
                .map(|a| {
                    let r = &a.result;
                    json!({
                        "job": r.job, "seed": r.seed, "scenario": r.scenario, "worker": r.worker,
                        "verdict": r.verdict, "reason": r.reason, "plan_digest": r.plan_digest,
                        "bucket_prefix": r.bucket_prefix, "delivered": r.delivered, "counts": r.counts,
                        "timings": r.timings, "elapsed_s": r.timings.elapsed_s, "failures": r.failures,
                        "repro": a.repro, "corpus": a.corpus,
                        "journal_kept_at": r.journal.as_ref().map(|j| &j.kept_at), "left_behind": r.left_behind,
                    })
                })
                .collect();
            let lost_jobs: Vec<Value> = gather
                .lost()
                .map(|((job, worker), why)| {
                    json!({"job": job, "worker": (!worker.is_empty()).then_some(worker), "reason": why.why()})
                })
                .collect();
            let failures: Vec<Value> = gather
                .accepted()
                .filter(|a| a.result.verdict == Verdict::Fail)
                .flat_map(|a| {
                    a.result.failures.iter().map(move |f| {
                        json!({
                            "job": a.result.job, "seed": a.result.seed, "scenario": a.result.scenario,
                            "worker": a.result.worker, "by": f.by, "subject": f.subject, "op": f.op,
                            "request": f.request, "expected": f.expected, "got": f.got,
                            "repro": a.repro, "corpus": a.corpus,
                        })
                    })
                })
                .collect();
            let workers: Vec<Value> = live
                .workers
                .iter()
                .map(|(id, w)| {
                    json!({"id": id, "host": w.host, "jobs": w.jobs, "ops": w.ops, "alive": !w.dead && !w.stopping})
                })
                .collect();
            let doc = json!({
                "sfko_version": env!("CARGO_PKG_VERSION"),
                "mode": "controller",
                "run": setup.run,
                "seed": setup.seed.0,
                "broadcast": setup.broadcast,
                "nats": settings.display,
                "verdict": verdict,
                "reason": live.abort,
                "jobs_total": c.expected,
                "jobs_done": c.passed + c.failed + c.skipped + c.incomplete,
                "jobs_passed": c.passed,
                "jobs_failed": c.failed,
                "jobs_skipped": c.skipped,
                "jobs_incomplete": c.incomplete,
                "jobs_lost": c.lost,
                "jobs_abandoned": c.abandoned,
                "redeliveries": c.redeliveries,
                "duplicates": c.duplicates,
                "rejected": c.rejected,
                "workers": live.workers.len(),
                "per_worker": workers,
                "elapsed_s": elapsed,
                "ops": gather.ops,
                "ops_per_s": ops_per_s,
                "duration_s": setup.duration.map(|d| d.as_secs_f64()),
                // As in a standalone run's timings: under --rate, latency counts from each op's intended start.
                "rate": setup.rate.map(|intended| json!({
                    "intended_ops_per_s": intended,
                    "achieved_ops_per_s": ops_per_s,
                    "latency_from": "intended start",
                })),
                "mib_per_s": gather.bytes as f64 / (1024.0 * 1024.0) / elapsed,
                "latency_ms": latency,
                "failures": failures,
                "jobs": jobs,
                "lost": lost_jobs,
            });
            crate::outln!("{doc}");
        }
        Format::Human => {
            let lost: Vec<_> = gather.lost().collect();
            for ((job, worker), why) in lost.iter().take(20) {
                let on = if worker.is_empty() { String::new() } else { format!(" (worker {worker})") };
                crate::outln!("LOST  job {job}{on}: {}", why.why());
            }
            if lost.len() > 20 {
                crate::outln!("LOST  ... {} in all", lost.len());
            }
            for (id, w) in &live.workers {
                crate::outln!("      worker {id} ({}): {} jobs, {} ops", w.host, w.jobs, w.ops);
            }
            crate::outln!(
                "sfko: run {} from seed {}: {} jobs on {} workers: {} passed, {} failed, {} skipped, {} incomplete, \
                 {} lost{}; {} redeliveries; {:.0} ops/s merged{}, p50 {:.1} ms, p99 {:.1} ms",
                setup.run,
                setup.seed,
                c.expected,
                live.workers.len(),
                c.passed,
                c.failed,
                c.skipped,
                c.incomplete,
                c.lost,
                if c.abandoned > 0 { format!(", {} abandoned", c.abandoned) } else { String::new() },
                c.redeliveries,
                ops_per_s,
                setup.rate.map(|r| format!(" (intended {r}/s)")).unwrap_or_default(),
                latency.p50,
                latency.p99
            );
        }
    }
    if let Some(why) = &live.abort {
        eprintln!("sfko: error: {why}");
    }
    if let Some(path) = &setup.junit {
        if let Err(e) = write_junit(path, setup, gather) {
            eprintln!("sfko: error: {e}");
            return Exit::Harness;
        }
    }
    report::exit_for(verdict)
}

/// The JUnit report of a distributed run: one testcase per job, lost ones as errors.
fn write_junit(path: &std::path::Path, setup: &Setup, gather: &Gather) -> Result<(), crate::exit::Fatal> {
    let accepted = gather.accepted().map(|a| {
        let r = &a.result;
        crate::junit::Case {
            scenario: &r.scenario,
            seed: r.seed,
            job: Some(r.job),
            verdict: r.verdict,
            reason: r.reason.as_deref(),
            failures: &r.failures,
            failed: r.counts.failed,
            elapsed_s: r.timings.elapsed_s,
            repro: &a.repro,
            journal: a
                .corpus
                .as_ref()
                .map(|p| p.display().to_string())
                .or_else(|| r.journal.as_ref().map(|j| j.kept_at.clone())),
        }
    });
    let lost: Vec<(crate::distribute::protocol::Job, String, String)> = gather
        .lost()
        .map(|((job, _), why)| {
            let job = setup.job(*job);
            let repro = report::Repro {
                seed: job.seed,
                scenario: &job.scenario.name,
                scenarios_path: Some(&setup.scenarios_path),
                bucket_prefix: setup.options.bucket_prefix.as_deref(),
                faults: None,
                rate: None,
                nemesis: None,
            }
            .line();
            (job, why.why().to_string(), repro)
        })
        .collect();
    let lost = lost.iter().map(|(job, why, repro)| crate::junit::Case {
        scenario: &job.scenario.name,
        seed: job.seed,
        job: Some(job.job),
        verdict: Verdict::Incomplete,
        reason: Some(why),
        failures: &[],
        failed: 0,
        elapsed_s: 0.0,
        repro,
        journal: None,
    });
    let xml = crate::junit::document(&format!("sfko run {} seed {}", setup.run, setup.seed), accepted.chain(lost))
        .map_err(crate::exit::Fatal::harness)?;
    crate::junit::write(path, &xml)
}

/// Live progress on stderr: a bar on a terminal, a line every few seconds otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    quiet: bool,
}

impl Progress {
    pub fn new(setup: &Setup) -> Progress {
        let bar = (!setup.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(setup.jobs_total);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, last_line: Instant::now(), quiet: setup.quiet }
    }

    pub fn show(&mut self, setup: &Setup, gather: &Gather, live: &Live) {
        let c = gather.counters();
        let in_flight =
            live.workers.values().filter(|w| !w.dead && w.busy.as_ref().is_some_and(|b| b.run == setup.run)).count();
        let elapsed = live.started.elapsed().as_secs_f64().max(1e-9);
        let total = if setup.broadcast || setup.paced() { c.expected } else { setup.jobs_total };
        let line = format!(
            "{}/{} jobs done ({} failed), {} in flight, {} workers, {:.0} ops/s, {} redeliveries",
            c.done,
            total,
            c.failed,
            in_flight,
            live.live_workers(),
            gather.ops as f64 / elapsed,
            c.redeliveries
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(5) {
            self.last_line = Instant::now();
            eprintln!("sfko: {line}");
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_verdict_follows_its_jobs() {
        let c = Counters { passed: 3, ..Counters::default() };
        assert_eq!(verdict(&c, false), Verdict::Pass);
        assert_eq!(verdict(&c, true), Verdict::Incomplete);
        assert_eq!(verdict(&Counters { lost: 1, ..c }, false), Verdict::Incomplete);
        assert_eq!(verdict(&Counters { abandoned: 1, ..c }, false), Verdict::Pass);
        assert_eq!(verdict(&Counters { failed: 1, lost: 1, ..c }, true), Verdict::Fail);
    }
}
