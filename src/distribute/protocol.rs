//! What travels over NATS: jobs (controller → workers), results (workers → controller), heartbeats (workers → anyone
//! listening) and run control (controller → workers).
//!
//! Every message is one JSON document with a protocol version `v`, bounded in size, and decoded with
//! `deny_unknown_fields`: a worker or controller validates everything it is about to rely on (sizes, names, digests,
//! the scenario schema, the workloads and checks it knows), so a malformed or hostile message becomes a logged
//! rejection, never a crash. No message has a field for credentials: each worker authenticates to its target with its
//! own config and secrets, which is what lets one controller drive workers in different security domains.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::driver::LatencyHistogram;
use crate::exec::{Counts, Timings};
use crate::journal::Verdict;
use crate::scenario::{self, Known, Scenario};

/// Bumped whenever a message changes shape; a peer speaking another version is rejected with a reason.
pub const PROTOCOL_VERSION: u32 = 3;
/// Most seeds one job message may cover (`--seeds-per-job`).
pub const MAX_SEEDS_PER_JOB: u64 = 100_000;
/// Largest job message accepted (a job carries its scenario file's text).
pub const MAX_JOB_BYTES: usize = 256 * 1024;
/// Largest scenario file text a job may carry.
pub const MAX_SCENARIO_TEXT: usize = 128 * 1024;
/// Largest result accepted, whatever the server allows (results carry size-capped journals).
pub const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;
/// Largest journal that may travel inside a result.
pub const MAX_JOURNAL_CAP: u64 = 8 * 1024 * 1024;
/// Failures listed in a result (the journal has every one).
pub const MAX_FAILURES_IN_RESULT: usize = 20;
/// Bucket names a result may list as left on the target.
pub const MAX_LEFT_BEHIND: usize = 1024;
/// Requests in flight a job may ask for.
pub const MAX_CONCURRENCY: u32 = 4096;
/// Longest run id, worker id or other name used as a NATS subject token.
pub const MAX_TOKEN: usize = 48;

/// One job message: `seeds` seeded runs of one scenario for a worker, with everything needed to resolve the same
/// plans the controller would, and nothing secret.
///
/// Run `k` of the message (`0 <= k < seeds`) is the run's job `job + k * stride` and runs seed `seed + k`: the
/// controller counts and deduplicates results by that job index, exactly as if each run had been a message of its
/// own, so one JetStream round trip can cover many short runs without changing what is counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub v: u32,
    /// The controller's run this job belongs to (a subject token).
    pub run: String,
    /// 0-based index within the run of the message's first seed; results are deduplicated by index.
    pub job: u64,
    /// The first seed this message runs (derived from the controller's master seed).
    pub seed: u64,
    /// How many consecutive seeds the message covers (1..=[`MAX_SEEDS_PER_JOB`]).
    pub seeds: u64,
    /// Job indices between consecutive seeds of the message (the run's number of scenarios).
    pub stride: u64,
    pub scenario: JobScenario,
    pub options: JobOptions,
}

/// The scenario of a job: the whole file it came from (so `file:line` messages and the source digest are the same as
/// on the controller) and which scenario of that file to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobScenario {
    pub name: String,
    /// The file's path on the controller, for messages.
    pub file: String,
    pub yaml: String,
    /// blake3 (hex) of `yaml`: what the journal header records as the scenario digest.
    pub digest: String,
}

/// How to run a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Requests in flight (a worker's own `--concurrency` wins).
    pub concurrency: u32,
    /// Leave buckets in place after the run.
    pub keep: bool,
    /// Bucket name prefix; `None` in broadcast mode, where each worker uses its own (see [`broadcast_prefix`]).
    pub bucket_prefix: Option<String>,
    pub broadcast: bool,
    /// After this (Unix ms) the controller has stopped waiting: a worker drops the job unrun. 0 = no deadline.
    pub deadline_unix_ms: u64,
    /// Failing journals up to this many bytes travel back inside the result.
    pub journal_cap: u64,
    /// Ops per second each run of the job issues on its open-loop schedule (`--rate`): the controller's rate split
    /// across the workers live when the job was published. `None` runs closed-loop, as fast as it goes.
    pub rate: Option<f64>,
}

/// A job that passed validation, with its scenario parsed.
#[derive(Debug, Clone)]
pub struct ValidJob {
    pub job: Job,
    pub scenario: Scenario,
}

/// The results a worker stores in one message: runs of one job message, in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultBatch {
    pub v: u32,
    pub run: String,
    pub worker: String,
    pub results: Vec<JobResult>,
}

/// One finished run (a job index) as a worker reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    pub v: u32,
    pub run: String,
    pub job: u64,
    pub seed: u64,
    pub scenario: String,
    pub worker: String,
    /// Which delivery of the job this was (1 = first): `delivered - 1` redeliveries preceded it.
    pub delivered: u64,
    /// `pass`, `fail`, `skipped` or `incomplete`.
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub plan_digest: String,
    /// The bucket prefix the worker ran with (part of the repro line in broadcast mode).
    pub bucket_prefix: String,
    /// The embedded target's seeded faults on this worker (`--embedded-faults …` flags), part of the repro line.
    pub faults: Option<String>,
    /// The rate the run was paced at (its job's `rate`), part of the repro line.
    pub rate: Option<f64>,
    pub counts: Counts,
    pub timings: Timings,
    /// Op latencies (µs) as base64 HdrHistogram V2 bytes; merged exactly by the controller.
    pub histogram: Option<String>,
    /// The first [`MAX_FAILURES_IN_RESULT`] failures.
    pub failures: Vec<FailureMsg>,
    /// The failing run's journal (only for failures).
    pub journal: Option<JournalMsg>,
    /// Buckets the run left on the target (failing runs keep theirs for inspection; `sfko clean JOURNAL` removes
    /// them).
    pub left_behind: Vec<String>,
}

/// One failed expectation, as reports show it: the report's own type.
pub type FailureMsg = crate::exec::Failure;

/// A failing journal: its bytes when within the cap, else where the worker keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalMsg {
    /// blake3 (hex) of the file: its corpus name is the first 16 digits.
    pub digest: String,
    pub size: u64,
    /// base64 of the file, when it is at most the job's journal cap.
    pub data: Option<String>,
    /// `<worker id>:<path>` on the worker.
    pub kept_at: String,
}

/// A worker's periodic sign of life, also sent when it takes or finishes a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub v: u32,
    pub worker: String,
    pub host: String,
    pub pid: u32,
    pub jobs_done: u64,
    pub ops_done: u64,
    /// Takes broadcast jobs on its own subject.
    pub direct: bool,
    /// Got SIGTERM: takes no new jobs.
    pub stopping: bool,
    pub busy: Option<Busy>,
}

/// The job a worker holds. `ack` is the job message's JetStream reply subject: a controller that sees the worker
/// go silent NAKs it there, so the job goes to another worker at once instead of after the ack wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Busy {
    pub run: String,
    pub job: u64,
    pub seed: u64,
    pub ack: String,
}

/// Run control from a controller: `cancel` (stop running its jobs) or `done` (drop any still queued).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub v: u32,
    pub run: String,
    pub kind: String,
}

/// Whether `s` can be one NATS subject token and a consumer name: letters, digits, `-`, `_`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_TOKEN && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The bucket prefix a worker uses in broadcast mode, where every worker runs the same seed against one cluster:
/// `sfko-w` + 6 hex digits of blake3(worker id), so their CreateBuckets never collide.
pub fn broadcast_prefix(worker: &str) -> String {
    format!("sfko-w{}", &blake3::hash(worker.as_bytes()).to_hex()[..6])
}

/// base64 (standard alphabet, padded).
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Inverse of [`b64`].
pub fn unb64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("bad base64: {e}"))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // These types hold only strings, numbers, booleans and options: serialization cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8], limit: usize, what: &str) -> Result<T, String> {
    if bytes.len() > limit {
        return Err(format!("{what} of {} bytes exceeds the {limit}-byte limit", bytes.len()));
    }
    let value: T = serde_json::from_slice(bytes).map_err(|e| format!("{what} is not valid JSON of this shape: {e}"))?;
    Ok(value)
}

fn check_version(v: u32, what: &str) -> Result<(), String> {
    if v != PROTOCOL_VERSION {
        return Err(format!("{what} speaks protocol v{v}; this sfko speaks v{PROTOCOL_VERSION}"));
    }
    Ok(())
}

impl Job {
    /// The JSON message a controller publishes.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decodes and validates a job message: size, version, names, digest, the scenario against the schema and the
    /// workloads and checks this build knows, options within bounds.
    pub fn decode(bytes: &[u8], known: &Known) -> Result<ValidJob, String> {
        let job: Job = from_json(bytes, MAX_JOB_BYTES, "job message")?;
        check_version(job.v, "job")?;
        if !is_token(&job.run) {
            return Err(format!("run id {:?} is not a name of 1-{MAX_TOKEN} letters, digits, '-' or '_'", job.run));
        }
        if job.seeds == 0 || job.seeds > MAX_SEEDS_PER_JOB {
            return Err(format!("{} seeds in one job is outside 1..={MAX_SEEDS_PER_JOB}", job.seeds));
        }
        let last = job.seeds - 1;
        let fits = job.seed.checked_add(last).is_some()
            && job.stride > 0
            && job.stride.checked_mul(last).and_then(|span| job.job.checked_add(span)).is_some();
        if !fits {
            return Err(format!(
                "job {} with {} seeds from {} at stride {} runs past the largest index or seed",
                job.job, job.seeds, job.seed, job.stride
            ));
        }
        let text = &job.scenario.yaml;
        if text.len() > MAX_SCENARIO_TEXT {
            return Err(format!("scenario text of {} bytes exceeds {MAX_SCENARIO_TEXT}", text.len()));
        }
        let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
        if digest != job.scenario.digest {
            return Err(format!("scenario text does not match its digest {}", job.scenario.digest));
        }
        let label: String = job.scenario.file.chars().take(200).collect();
        let scenarios = scenario::parse_str(&label, text, known).map_err(|e| format!("scenario: {e}"))?;
        let scenario = scenarios
            .into_iter()
            .find(|s| s.name == job.scenario.name)
            .ok_or_else(|| format!("scenario {:?} is not in the job's scenario text", job.scenario.name))?;
        let options = &job.options;
        if options.concurrency == 0 || options.concurrency > MAX_CONCURRENCY {
            return Err(format!("concurrency {} is outside 1..={MAX_CONCURRENCY}", options.concurrency));
        }
        if let Some(prefix) = &options.bucket_prefix {
            crate::plan::validate_bucket_prefix(prefix)?;
        }
        if options.broadcast != options.bucket_prefix.is_none() {
            return Err("a broadcast job has no bucket prefix, any other job has one".into());
        }
        if options.journal_cap > MAX_JOURNAL_CAP {
            return Err(format!("journal cap {} exceeds {MAX_JOURNAL_CAP}", options.journal_cap));
        }
        if options.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err(format!("rate {:?} is not a positive number of ops per second", options.rate));
        }
        Ok(ValidJob { job, scenario })
    }
}

impl Job {
    /// The message's runs, in order: (job index, seed). Within bounds once [`Job::decode`] accepted the message.
    pub fn runs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        indices(self.job, self.seeds, self.stride).zip((0..self.seeds).map(|k| self.seed.saturating_add(k)))
    }
}

/// The job indices of a message whose first job is `first`, covering `seeds` seeds `stride` indices apart.
pub fn indices(first: u64, seeds: u64, stride: u64) -> impl Iterator<Item = u64> {
    (0..seeds).map(move |k| first.saturating_add(k.saturating_mul(stride)))
}

impl ResultBatch {
    /// The JSON message a worker stores in the results stream.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decodes a batch of `run` and validates every result in it (see [`JobResult::check`]); one bad result rejects
    /// the batch, since its sender cannot be trusted with the others.
    pub fn decode(bytes: &[u8], run: &str) -> Result<Vec<Checked>, String> {
        let batch: ResultBatch = from_json(bytes, MAX_RESULT_BYTES, "result message")?;
        check_version(batch.v, "result")?;
        if batch.run != run {
            return Err(format!("result belongs to run {:?}, not {run:?}", batch.run));
        }
        if !is_token(&batch.worker) {
            return Err(format!("worker id {:?} is not a valid name", batch.worker));
        }
        batch
            .results
            .into_iter()
            .map(|result| {
                if result.worker != batch.worker || result.run != batch.run {
                    return Err(format!("a result of {:?} inside a batch of worker {:?}", result.worker, batch.worker));
                }
                result.check(run)
            })
            .collect()
    }
}

impl JobResult {
    /// Bytes this result takes inside a [`ResultBatch`] (the batch's own fields add a few dozen).
    pub fn encoded_len(&self) -> usize {
        to_json(self).len()
    }

    /// Validates a result of `run`: version, names, verdict, histogram and journal bytes.
    pub fn check(self, run: &str) -> Result<Checked, String> {
        let result = self;
        check_version(result.v, "result")?;
        if result.run != run {
            return Err(format!("result belongs to run {:?}, not {run:?}", result.run));
        }
        if !is_token(&result.worker) {
            return Err(format!("worker id {:?} is not a valid name", result.worker));
        }
        if result.left_behind.len() > MAX_LEFT_BEHIND {
            return Err(format!("{} buckets left behind exceeds {MAX_LEFT_BEHIND}", result.left_behind.len()));
        }
        let histogram = match &result.histogram {
            Some(text) => Some(LatencyHistogram::decode(&unb64(text)?)?),
            None => None,
        };
        let journal = match result.journal.as_ref().and_then(|j| j.data.as_ref().map(|d| (j, d))) {
            Some((meta, data)) => {
                let bytes = unb64(data)?;
                if blake3::hash(&bytes).to_hex().as_str() != meta.digest || meta.digest.len() != 64 {
                    return Err("journal bytes do not match their digest".into());
                }
                Some(bytes)
            }
            None => None,
        };
        if result.faults.as_ref().is_some_and(|f| f.len() > 1024) {
            return Err("the faults line exceeds 1024 bytes".into());
        }
        Ok(Checked { result, histogram, journal })
    }
}

/// A result that passed validation, with its histogram and journal decoded.
#[derive(Debug, Clone)]
pub struct Checked {
    pub result: JobResult,
    pub histogram: Option<LatencyHistogram>,
    pub journal: Option<Vec<u8>>,
}

impl Heartbeat {
    /// The JSON message a worker publishes every second.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decodes a heartbeat; anything malformed is ignored by the caller (the next one will do).
    pub fn decode(bytes: &[u8]) -> Result<Heartbeat, String> {
        let beat: Heartbeat = from_json(bytes, 16 * 1024, "heartbeat")?;
        check_version(beat.v, "heartbeat")?;
        if !is_token(&beat.worker) {
            return Err(format!("worker id {:?} is not a valid name", beat.worker));
        }
        Ok(beat)
    }
}

impl Control {
    /// The JSON message a controller publishes when its run ends.
    pub fn encode(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Decodes a control message: a known kind for a valid run id, or an error to log.
    pub fn decode(bytes: &[u8]) -> Result<Control, String> {
        let control: Control = from_json(bytes, 4 * 1024, "control message")?;
        check_version(control.v, "control message")?;
        if !is_token(&control.run) || !matches!(control.kind.as_str(), "cancel" | "done") {
            return Err(format!("control message for run {:?} of kind {:?}", control.run, control.kind));
        }
        Ok(control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "- name: tiny\n  objects: {count: 2, size: 1K}\n  tests: [put]\n  checks: [check-backend]\n";

    fn job() -> Job {
        Job {
            v: PROTOCOL_VERSION,
            run: "r0123".into(),
            job: 3,
            seed: 45,
            seeds: 1,
            stride: 1,
            scenario: JobScenario {
                name: "tiny".into(),
                file: "scenarios/t.yaml".into(),
                yaml: YAML.into(),
                digest: blake3::hash(YAML.as_bytes()).to_hex().to_string(),
            },
            options: JobOptions {
                concurrency: 4,
                keep: false,
                bucket_prefix: Some("sfko".into()),
                broadcast: false,
                deadline_unix_ms: 0,
                journal_cap: 1024,
                rate: None,
            },
        }
    }

    fn decode(job: &Job) -> Result<ValidJob, String> {
        Job::decode(&job.encode(), &crate::catalogue::known())
    }

    #[test]
    fn a_valid_job_round_trips() {
        let valid = decode(&job()).unwrap();
        assert_eq!(valid.job, job());
        assert_eq!(valid.scenario.name, "tiny");
        assert_eq!(valid.scenario.origin.source_digest, job().scenario.digest);
    }

    #[test]
    fn bad_jobs_are_rejected_with_a_reason() {
        let known = crate::catalogue::known();
        assert!(Job::decode(b"not json", &known).unwrap_err().contains("not valid JSON"));
        assert!(Job::decode(&vec![b' '; MAX_JOB_BYTES + 1], &known).unwrap_err().contains("limit"));
        let mut j = job();
        j.v = 99;
        assert!(decode(&j).unwrap_err().contains("protocol v99"));
        let mut j = job();
        j.run = "a.b".into();
        assert!(decode(&j).unwrap_err().contains("run id"));
        let mut j = job();
        j.scenario.yaml.push('\n');
        assert!(decode(&j).unwrap_err().contains("digest"));
        let mut j = job();
        j.scenario.yaml = YAML.replace("[put]", "[rm-rf]");
        j.scenario.digest = blake3::hash(j.scenario.yaml.as_bytes()).to_hex().to_string();
        assert!(decode(&j).unwrap_err().contains("rm-rf"));
        let mut j = job();
        j.options.concurrency = 0;
        assert!(decode(&j).unwrap_err().contains("concurrency"));
        let mut j = job();
        j.options.bucket_prefix = Some("UPPER".into());
        assert!(decode(&j).is_err());
        let mut j = job();
        j.options.rate = Some(-1.0);
        assert!(decode(&j).unwrap_err().contains("rate"));
        let text = String::from_utf8(job().encode()).unwrap().replace("\"keep\":false", "\"keep\":false,\"secret\":1");
        assert!(Job::decode(text.as_bytes(), &known).unwrap_err().contains("secret"));
    }

    #[test]
    fn results_check_histogram_and_journal() {
        let mut histogram = LatencyHistogram::new();
        histogram.record(1500);
        let journal = b"journal bytes".to_vec();
        let result = JobResult {
            v: PROTOCOL_VERSION,
            run: "r1".into(),
            job: 0,
            seed: 1,
            scenario: "tiny".into(),
            worker: "w-1".into(),
            delivered: 1,
            verdict: Verdict::Fail,
            reason: None,
            plan_digest: "ab".into(),
            bucket_prefix: "sfko".into(),
            faults: None,
            rate: None,
            counts: Counts::default(),
            timings: Timings::default(),
            histogram: Some(b64(&histogram.encode())),
            failures: vec![],
            journal: Some(JournalMsg {
                digest: blake3::hash(&journal).to_hex().to_string(),
                size: journal.len() as u64,
                data: Some(b64(&journal)),
                kept_at: "w-1:/tmp/x.bin".into(),
            }),
            left_behind: vec![],
        };
        let one = |bytes: &[u8], run: &str| ResultBatch::decode(bytes, run).map(|mut all| all.remove(0));
        let alone = |r: &JobResult| {
            ResultBatch { v: r.v, run: r.run.clone(), worker: r.worker.clone(), results: vec![r.clone()] }.encode()
        };
        let checked = one(&alone(&result), "r1").unwrap();
        assert_eq!(checked.result.verdict, Verdict::Fail);
        assert_eq!(checked.journal.as_deref(), Some(&journal[..]));
        assert_eq!(checked.histogram.map(|h| h.len()), Some(1));
        assert!(one(&alone(&result), "r2").is_err());
        let mut tampered = result.clone();
        if let Some(j) = tampered.journal.as_mut() {
            j.data = Some(b64(b"other bytes"));
        }
        assert!(one(&alone(&tampered), "r1").unwrap_err().contains("digest"));
        let mut stranger = result.clone();
        stranger.worker = "w-2".into();
        let batch = ResultBatch {
            v: PROTOCOL_VERSION,
            run: "r1".into(),
            worker: "w-1".into(),
            results: vec![result, stranger],
        };
        assert!(ResultBatch::decode(&batch.encode(), "r1").unwrap_err().contains("inside a batch"));
    }

    #[test]
    fn a_job_of_many_seeds_names_its_indices_and_stays_in_bounds() {
        let mut j = job();
        (j.job, j.seed, j.seeds, j.stride) = (2, 100, 3, 4);
        let valid = decode(&j).unwrap();
        assert_eq!(valid.job.runs().collect::<Vec<_>>(), vec![(2, 100), (6, 101), (10, 102)]);
        for (seeds, stride, seed) in
            [(0, 1, 1), (MAX_SEEDS_PER_JOB + 1, 1, 1), (2, 0, 1), (2, 1, u64::MAX), (3, u64::MAX, 1)]
        {
            let mut j = job();
            (j.seeds, j.stride, j.seed) = (seeds, stride, seed);
            assert!(decode(&j).is_err(), "{seeds} seeds at stride {stride} from {seed}");
        }
    }

    #[test]
    fn broadcast_prefixes_are_valid_and_distinct() {
        let a = broadcast_prefix("host-1");
        let b = broadcast_prefix("host-2");
        assert_ne!(a, b);
        crate::plan::validate_bucket_prefix(&a).unwrap();
    }
}
