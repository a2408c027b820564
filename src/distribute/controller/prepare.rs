//! Everything the controller fixes before it sends anything: the scenarios (with their file texts, which jobs
//! carry), the job count and seeds, the options every job runs with, and how to reach NATS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{CommonArgs, ControllerArgs, Format};
use crate::distribute::nats::NatsSettings;
use crate::distribute::protocol::{self, Job, JobOptions, JobScenario, PROTOCOL_VERSION};
use crate::exit::Fatal;
use crate::scenario::{self, Scenario};
use crate::seed::Seed;

/// Everything fixed for the run.
pub struct Setup {
    pub run: String,
    pub seed: Seed,
    pub jobs_total: u64,
    /// Seeds per job message (`--seeds-per-job`).
    pub seeds_per_job: u64,
    /// `--duration`: jobs are published as workers need them until this much time after the first worker appeared
    /// (then the running ones finish); `jobs_total` is only the bound on job indices.
    pub duration: Option<Duration>,
    /// `--rate`: ops per second across the run, split across the live workers as each job is published.
    pub rate: Option<f64>,
    pub broadcast: bool,
    pub scenarios: Vec<JobScenario>,
    pub options: JobOptions,
    /// `--scenarios-path` as given, for repro lines.
    pub scenarios_path: PathBuf,
    pub corpus: PathBuf,
    pub format: Format,
    pub quiet: bool,
    pub worker_wait: Duration,
    pub run_timeout: Option<Duration>,
    /// `--junit`: where the JUnit report goes.
    pub junit: Option<PathBuf>,
}

impl Setup {
    /// Job `index`: seed `N + index / S` on scenario `index mod S` — the runs `sfko --seed N --runs K` makes, in the
    /// same order.
    pub fn job(&self, index: u64) -> Job {
        self.message(index, 1)
    }

    /// The message for up to `seeds` jobs from `index` on, one scenario's consecutive seeds (a stride of `S`
    /// indices), cut short at the run's last job.
    fn message(&self, index: u64, seeds: u64) -> Job {
        let stride = self.scenarios.len().max(1) as u64;
        let left = (self.jobs_total.saturating_sub(index)).div_ceil(stride);
        Job {
            v: PROTOCOL_VERSION,
            run: self.run.clone(),
            job: index,
            seed: self.seed.0 + index / stride,
            seeds: seeds.min(left).max(1),
            stride,
            scenario: self.scenarios[(index % stride) as usize].clone(),
            options: self.options.clone(),
        }
    }

    /// Every job message of the run, in job order: `--seeds-per-job` seeds of the first scenario, the same seeds of
    /// the next, and so on. Each job index is in exactly one message.
    pub fn messages(&self) -> impl Iterator<Item = Job> + '_ {
        self.blocks().flat_map(|(messages, _)| messages)
    }

    /// The job messages in blocks that each cover a contiguous range of job indices (one message per scenario), with
    /// the index just past each block: what the controller publishes at a time when it feeds workers as they go.
    pub fn blocks(&self) -> impl Iterator<Item = (Vec<Job>, u64)> + '_ {
        let stride = self.scenarios.len().max(1) as u64;
        let block = self.seeds_per_job.max(1).saturating_mul(stride);
        (0..self.jobs_total.div_ceil(block)).map(move |b| {
            let first = b * block;
            let messages = (first..first.saturating_add(stride))
                .filter(|index| *index < self.jobs_total)
                .map(|index| self.message(index, self.seeds_per_job))
                .collect();
            (messages, first.saturating_add(block).min(self.jobs_total))
        })
    }

    /// Whether jobs are published as workers need them rather than all at once: with `--duration` (the run ends
    /// on the clock) and with `--rate` (each job's share of the rate depends on the workers live when it is sent).
    pub fn paced(&self) -> bool {
        !self.broadcast && (self.duration.is_some() || self.rate.is_some())
    }

    /// A progress line on stderr (unless `-q`).
    pub fn say(&self, line: &str) {
        if !self.quiet {
            eprintln!("sfko: {line}");
        }
    }
}

/// Flags, scenarios and options, checked before anything is sent.
pub fn prepare(args: &ControllerArgs, common: &CommonArgs) -> Result<(Setup, NatsSettings), Fatal> {
    let select = &args.select;
    let all = crate::catalogue::load_scenarios(&common.scenarios_path)?;
    let selected: Vec<&Scenario> =
        scenario::select(&all, &select.scenarios).map_err(|e| Fatal::bad_input(e.to_string()))?;
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut scenarios = Vec::new();
    for chosen in &selected {
        let file = &chosen.origin.file;
        if !texts.contains_key(file) {
            let text = std::fs::read_to_string(file).map_err(|e| Fatal::bad_input(format!("{file}: {e}")))?;
            texts.insert(file.clone(), text);
        }
        let text = texts.get(file).cloned().unwrap_or_default();
        let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
        if digest != chosen.origin.source_digest {
            return Err(Fatal::bad_input(format!("{file} changed while it was being read; try again")));
        }
        if text.len() > protocol::MAX_SCENARIO_TEXT {
            return Err(Fatal::bad_input(format!(
                "{file}: {} bytes; a job carries at most {} bytes of scenario text (split the file)",
                text.len(),
                protocol::MAX_SCENARIO_TEXT
            )));
        }
        scenarios.push(JobScenario { name: chosen.name.clone(), file: file.clone(), yaml: text, digest });
    }
    crate::plan::validate_bucket_prefix(&select.bucket_prefix)
        .map_err(|e| Fatal::bad_input(format!("--bucket-prefix: {e}")))?;
    if args.broadcast && select.bucket_prefix != crate::plan::DEFAULT_BUCKET_PREFIX {
        return Err(Fatal::bad_input("--bucket-prefix: with --broadcast every worker uses a prefix of its own"));
    }
    if args.broadcast && (select.rate.is_some() || select.duration.is_some()) {
        return Err(Fatal::bad_input(
            "--broadcast publishes every job to every worker up front; --duration and --rate feed a shared queue as \
             workers go: drop --broadcast or them",
        ));
    }
    if select.duration.is_some() && args.jobs.is_some() {
        return Err(Fatal::bad_input("--duration runs jobs until the time is up; --jobs fixes their number: give one"));
    }
    let count = scenarios.len() as u64;
    let jobs_total = match select.duration {
        Some(_) => crate::cli::MAX_JOBS - crate::cli::MAX_JOBS % count.max(1),
        None => args.jobs.unwrap_or_else(|| select.runs.saturating_mul(count)),
    };
    if jobs_total > crate::cli::MAX_JOBS {
        return Err(Fatal::bad_input(format!(
            "--runs {} over {count} scenarios makes {jobs_total} jobs; one run publishes at most {} (split it by seed)",
            select.runs,
            crate::cli::MAX_JOBS
        )));
    }
    let seed = select.seed.map(Seed).unwrap_or_else(Seed::from_os);
    if jobs_total == 0 || seed.0.checked_add((jobs_total - 1) / count.max(1)).is_none() {
        return Err(Fatal::bad_input(format!("--seed {seed} with {jobs_total} jobs runs past the largest seed")));
    }
    if args.journal_cap > protocol::MAX_JOURNAL_CAP {
        return Err(Fatal::bad_input(format!("--journal-cap: at most {} bytes", protocol::MAX_JOURNAL_CAP)));
    }
    let concurrency = common.concurrency().unwrap_or(crate::exec::DEFAULT_CONCURRENCY);
    if concurrency > protocol::MAX_CONCURRENCY as usize {
        return Err(Fatal::bad_input(format!("--concurrency: at most {}", protocol::MAX_CONCURRENCY)));
    }
    let settings = NatsSettings::from_args(&args.nats)?;
    let options = JobOptions {
        concurrency: concurrency as u32,
        keep: select.keep,
        bucket_prefix: (!args.broadcast).then(|| select.bucket_prefix.clone()),
        broadcast: args.broadcast,
        deadline_unix_ms: args
            .run_timeout
            .map(|t| crate::distribute::unix_ms().saturating_add(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)))
            .unwrap_or(0),
        journal_cap: args.journal_cap,
        rate: None,
    };
    let setup = Setup {
        run: format!("r{}", crate::distribute::random_hex(12)),
        seed,
        jobs_total,
        seeds_per_job: args.seeds_per_job,
        duration: select.duration,
        rate: select.rate,
        broadcast: args.broadcast,
        scenarios,
        options,
        scenarios_path: common.scenarios_path.clone(),
        corpus: common.corpus.clone(),
        format: common.format,
        quiet: common.quiet,
        worker_wait: args.worker_wait,
        run_timeout: args.run_timeout,
        junit: select.junit.clone(),
    };
    Ok((setup, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(jobs_total: u64, scenarios: usize, seeds_per_job: u64) -> Setup {
        let scenario = |i: usize| JobScenario {
            name: format!("s{i}"),
            file: "f.yaml".into(),
            yaml: String::new(),
            digest: String::new(),
        };
        Setup {
            run: "r1".into(),
            seed: Seed(100),
            jobs_total,
            seeds_per_job,
            duration: None,
            rate: None,
            broadcast: false,
            scenarios: (0..scenarios).map(scenario).collect(),
            options: JobOptions {
                concurrency: 1,
                keep: false,
                bucket_prefix: Some("sfko".into()),
                broadcast: false,
                deadline_unix_ms: 0,
                journal_cap: 0,
                rate: None,
            },
            scenarios_path: PathBuf::new(),
            corpus: PathBuf::new(),
            format: Format::Json,
            quiet: true,
            worker_wait: Duration::ZERO,
            run_timeout: None,
            junit: None,
        }
    }

    #[test]
    fn messages_cover_every_job_once_with_the_seed_and_scenario_it_has_alone() {
        for (jobs, scenarios, per_job) in [(10, 1, 1), (10, 1, 3), (11, 3, 2), (7, 3, 100), (1, 1, 5), (12, 4, 3)] {
            let setup = setup(jobs, scenarios, per_job);
            let mut seen = Vec::new();
            for message in setup.messages() {
                assert!(message.seeds >= 1 && message.seeds <= per_job, "{message:?}");
                for (index, seed) in message.runs() {
                    let alone = setup.job(index);
                    assert_eq!((seed, &message.scenario.name), (alone.seed, &alone.scenario.name), "job {index}");
                    seen.push(index);
                }
            }
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, (0..jobs).collect::<Vec<_>>(), "{jobs} jobs, {scenarios} scenarios, {per_job} per job");
            assert_eq!(seen.len() as u64, jobs, "no job twice");
            // Blocks are contiguous index ranges, so publishing them one by one keeps "expected" a prefix.
            let mut from = 0;
            for (messages, end) in setup.blocks() {
                let mut indices: Vec<u64> = messages.iter().flat_map(|m| m.runs().map(|(i, _)| i)).collect();
                indices.sort_unstable();
                assert_eq!(indices, (from..end).collect::<Vec<_>>());
                from = end;
            }
        }
    }
}
