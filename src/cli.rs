//! Command-line flags, parsed once into plain typed values and handed down (nothing below reads argv or the
//! environment for options again).
//!
//! One [`Mode`] per thing sfko does. The seed's spelling stays: `sfko -c …` and `sfko -w …` are the controller and
//! worker modes (`short_flag`), and no mode at all is a standalone run. Flags every mode may take are `global`
//! ([`CommonArgs`]); [`given_but_unused`] turns one given to a mode that has no use for it into exit 2 naming the
//! flag and where it belongs, instead of ignoring it.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};

use crate::target::faults::{DEFAULT_FAULT_ONE_IN, DEFAULT_FAULT_SEED};

/// I am become death, destroyer of clusters.
///
/// Deterministic, seed-driven record/replay fuzzer and stress tester for S3-compatible object stores. With no
/// --endpoint or --config, sfko starts an embedded S3 server (s3s-fs on a temp dir) and runs against it.
#[derive(Debug, Parser)]
#[command(name = "sfko", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without one, sfko runs scenarios (standalone mode).
    #[command(subcommand)]
    pub mode: Option<Mode>,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Everything sfko does besides a standalone run.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Controller: publish seeded jobs over NATS, show progress, gather results, summarize (`sfko -c`).
    #[command(short_flag = 'c', long_flag = "controller")]
    Controller(ControllerArgs),
    /// Worker: run jobs from NATS until stopped; SIGTERM finishes or hands back the current job (`sfko -w`).
    #[command(short_flag = 'w', long_flag = "worker")]
    Worker(WorkerArgs),
    /// Re-execute a journal exactly and compare every outcome with the recorded one.
    Replay(ReplayArgs),
    /// Delta-debug a failing journal down to a minimal repro (fewest ops that still fail the same way), written to
    /// the corpus. Exit 1 when shrunk (the bug stands), 0 when the failure did not come back on this target.
    Shrink(ShrinkArgs),
    /// List scenarios, tests (workloads), checks and clouds.
    List,
    /// Serve an S3 endpoint backed by s3s-fs (the embedded target as its own process), optionally with seeded faults.
    Serve(ServeArgs),
    /// The oracles prove themselves: each injectable fault must be detected, a healthy server must pass clean.
    Selftest(SelftestArgs),
    /// Remove the buckets (every version, marker and upload) a journal's run left on the target.
    Clean(JournalArg),
    /// Print a journal in readable form: header, plan, every op and outcome, failed expectations, trailer.
    Show(ShowArgs),
    /// Run the same seeded plans against the target and a reference server, op for op, and list every answer on
    /// which the two differ, classified by the model (target wrong, reference wrong, both wrong, or just different).
    /// Exit 1 on any difference but those S3 allows and those one side did not answer.
    Diff(DiffArgs),
    /// Print the JSON Schema (draft 2020-12) of the scenario file format or of the config format, for editors and
    /// validators (e.g. `# yaml-language-server: $schema=…` in a scenario file).
    Schema(SchemaArgs),
    /// Compare two `--format json` results (a baseline and a new run): new failures, fixed ones, and throughput or
    /// latency changes beyond a threshold. Exit 1 when something got worse.
    Compare(CompareArgs),
}

impl Mode {
    /// How the mode is spelled on the command line, for messages.
    pub fn spelling(mode: Option<&Mode>) -> &'static str {
        key_spelling(mode_key(mode))
    }
}

/// Which seeds and scenarios a run (standalone or distributed) covers.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Seed of the first run (drawn from the OS and printed when absent).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only this scenario (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Run seeds N, N+1, ... N+K-1.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// Keep running seeds N, N+1, … (each over the selected scenarios) until this much time has passed, instead of
    /// a fixed --runs; the run in progress at the deadline finishes, so its checks still judge it.
    #[arg(long, value_name = "DURATION", value_parser = duration, conflicts_with = "runs")]
    pub duration: Option<Duration>,
    /// Issue ops at this rate on an open-loop schedule drawn from the seed (`50/s`, `3000/m`, `20` = per second),
    /// each run from its start; latency then counts from each op's intended start (coordinated omission corrected)
    /// and the report gives intended against achieved rate. Which ops run is the seed's either way.
    #[arg(long, value_name = "N/s", value_parser = rate)]
    pub rate: Option<f64>,
    /// Leave buckets and objects in place after the run.
    #[arg(long)]
    pub keep: bool,
    /// Bucket names start with this (runs sharing a target and a seed need different prefixes).
    #[arg(long, default_value = crate::plan::DEFAULT_BUCKET_PREFIX, value_name = "PREFIX")]
    pub bucket_prefix: String,
    /// Also write a JUnit XML report here (one testcase per scenario × seed, or per job), for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Flags of a standalone run.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Resolve and print the plan(s) with their plan_digest; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the journal here (only with exactly one run).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// Flags every command takes (each mode uses the ones [`given_but_unused`] allows it).
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Start the embedded target with these seeded faults (comma-separated): corrupt-byte, lost-write, stale-read,
    /// wrong-etag, wrong-mpu-etag, list-drop, version-lost, version-drop, checksum-ignored, conditional-ignored,
    /// batch-delete-partial, upload-list-drop, metadata-lost, slow-down (benign: 503 SlowDown). Only without
    /// --endpoint.
    #[arg(long, global = true, value_delimiter = ',', value_name = "FAULTS")]
    pub embedded_faults: Vec<String>,
    /// Seed deciding which keys the embedded faults hit.
    #[arg(long, global = true, default_value_t = DEFAULT_FAULT_SEED, value_name = "N")]
    pub embedded_fault_seed: u64,
    /// One key in N is hit by each embedded fault.
    #[arg(long, global = true, default_value_t = DEFAULT_FAULT_ONE_IN, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub embedded_fault_one_in: u64,
    /// Scenario file or directory.
    #[arg(long, global = true, default_value = DEFAULT_SCENARIOS_PATH, value_name = "PATH")]
    pub scenarios_path: PathBuf,
    /// Config file: target endpoint, credentials (by env var or profile name), backends.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// S3 endpoint to test (credentials from SFKO_ACCESS_KEY/SFKO_SECRET_KEY or the AWS chain).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region to sign requests for.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Where failing journals are copied.
    #[arg(long, global = true, default_value = "corpus", value_name = "DIR")]
    pub corpus: PathBuf,
    /// Where journals are written.
    #[arg(long, global = true, default_value = ".sfko/journals", value_name = "DIR")]
    pub journal_dir: PathBuf,
    /// Requests in flight at once [default: 16; replay: the recording's].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..100_000))]
    pub concurrency: Option<u64>,
    /// When nothing moves for this long (no op completes, no body byte goes through), say which ops are in
    /// flight and what each waits on.
    #[arg(long, global = true, default_value = "60s", value_name = "DURATION", value_parser = duration)]
    pub stall_timeout: Duration,
    /// Then keep waiting this much longer before giving up on the target (exit 3, journal kept); 0s gives up at once.
    #[arg(long, global = true, default_value = "0s", value_name = "DURATION", value_parser = duration_or_zero)]
    pub stall_wait: Duration,
    /// Network faults sfko's own proxy injects into workload requests, on a seeded schedule of op positions
    /// (comma-separated, or `all`): latency, reset-before, reset-during, reset-after, truncate, stall, bandwidth,
    /// refuse. Overrides the config's `nemesis.network`. Plain-HTTP targets only.
    #[arg(long, global = true, value_delimiter = ',', value_name = "FAULTS")]
    pub nemesis: Vec<String>,
    /// Op positions between the starts of two nemesis windows.
    #[arg(long, global = true, value_name = "OPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub nemesis_every: Option<u64>,
    /// Op positions one nemesis window lasts.
    #[arg(long, global = true, value_name = "OPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub nemesis_length: Option<u64>,
    /// Also write throughput, errors and latency percentiles (whole run and per S3 operation) per interval to this
    /// file, as JSON lines; `sfko show FILE` prints them, `sfko show FILE --plot OUT.svg` draws them.
    #[arg(long, global = true, value_name = "FILE")]
    pub timeseries: Option<PathBuf>,
    /// The length of one --timeseries interval.
    #[arg(long, global = true, default_value = "1s", value_name = "DURATION", value_parser = duration)]
    pub timeseries_interval: Duration,
    /// Output format on stdout (progress and logs always go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr, no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The default `--scenarios-path`: the repository's scenario set.
pub const DEFAULT_SCENARIOS_PATH: &str = "scenarios";

impl CommonArgs {
    /// `--concurrency`, as a count of requests.
    pub fn concurrency(&self) -> Option<usize> {
        self.concurrency.map(|n| n as usize)
    }
}

/// How to reach NATS: the controller's and the workers' shared flags.
#[derive(Debug, Args, Clone)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated: nats://host:4222, nats://user:pass@host, nats://token@host, tls://host.
    #[arg(long, env = "NATS_URL", hide_env_values = true, default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    pub nats: String,
    /// NATS credentials file (JWT + NKey seed, as `nsc` writes it).
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// NATS auth token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub nats_token: Option<String>,
    /// NATS user (with --nats-password).
    #[arg(long, env = "NATS_USER", value_name = "USER")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true, value_name = "PASSWORD")]
    pub nats_password: Option<String>,
    /// CA certificate (PEM) to verify the NATS server's TLS certificate; implies TLS.
    #[arg(long, env = "NATS_CA", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS TLS; with --nats-key.
    #[arg(long, env = "NATS_CERT", value_name = "FILE", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,
    /// Client key (PEM) for NATS TLS; with --nats-cert.
    #[arg(long, env = "NATS_KEY", value_name = "FILE", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,
    /// How long NATS may stay unreachable (at start, or later) before giving up with exit 3.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub nats_retry_for: Duration,
}

/// `sfko -c` flags.
#[derive(Debug, Args, Clone)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Number of jobs; job i runs seed N + i/S on the (i mod S)-th of S selected scenarios [default: --runs × S].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_JOBS))]
    pub jobs: Option<u64>,
    /// Consecutive seeds of one scenario per job message: one NATS round trip then covers K runs (for sweeps of many
    /// short runs). Results are still counted, deduplicated and reported per seed; a message a dead worker held runs
    /// again whole, and its seeds already reported count as duplicates.
    #[arg(long, default_value_t = 1, value_name = "K",
          value_parser = clap::value_parser!(u64).range(1..=crate::distribute::protocol::MAX_SEEDS_PER_JOB))]
    pub seeds_per_job: u64,
    /// Every live worker runs every job (maximum load), in buckets of its own.
    #[arg(long)]
    pub broadcast: bool,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Stop waiting after this long; unfinished jobs are reported and the exit code is 3.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub run_timeout: Option<Duration>,
    /// Exit 3 when no live worker has been seen for this long.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub worker_wait: Duration,
    /// Failing journals up to this size travel back in the result (larger ones stay on the worker, and the result
    /// says where).
    #[arg(long, default_value = "512K", value_name = "SIZE", value_parser = size)]
    pub journal_cap: u64,
}

/// The most jobs one controller run may publish: the controller tracks each one until it is resolved.
pub const MAX_JOBS: u64 = 10_000_000;

/// `sfko -w` flags.
#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// Its id (letters, digits, '-', '_'; at most 48) [default: host name and a random suffix].
    #[arg(long, value_name = "ID")]
    pub worker_id: Option<String>,
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// A command that works on one journal.
#[derive(Debug, Args)]
pub struct JournalArg {
    /// The journal (e.g. corpus/<digest>.bin).
    pub journal: PathBuf,
}

/// `sfko replay` flags.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The journal (e.g. corpus/<digest>.bin).
    pub journal: PathBuf,
    /// Replay this many times and report how often the recorded failure came back (and where each replay that
    /// did not reproduce it diverged): how deterministic the failure is.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub times: u64,
}

/// `sfko shrink` flags.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The failing journal (e.g. corpus/<digest>.bin).
    pub journal: PathBuf,
    /// Candidate runs to try at most.
    #[arg(long, default_value_t = 400)]
    pub max_runs: u64,
    /// Then replay the minimal journal this many times and say how often the failure came back (0: do not).
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub verify: u64,
}

/// `sfko selftest` flags.
#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Seeds to try per fault before calling it undetected.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Only these (comma-separated names; default: all). Faults to hunt: the ones the embedded server injects on
    /// its own. Adversity a healthy cluster goes through, which must raise nothing: the nemesis's network faults
    /// (latency, reset-before, reset-during, reset-after, truncate, stall, bandwidth, refuse), slow-down,
    /// kill-restart (`sfko serve` killed with SIGKILL and restarted); and lost-on-crash, which must be caught. The
    /// clean runs run either way.
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
}

/// `sfko show` flags.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A journal, or a --timeseries file (told apart by their content).
    pub journal: PathBuf,
    /// Only failed ops and expectations.
    #[arg(long)]
    pub failures: bool,
    /// For a --timeseries file: draw it into this SVG file (throughput, errors, latency percentiles, p99 per
    /// operation over time; self-contained, opens in any browser) instead of printing the table.
    #[arg(long, value_name = "OUT.svg")]
    pub plot: Option<PathBuf>,
}

/// `sfko diff` flags: which runs, and the reference to compare the target with (default: a fresh embedded server,
/// healthy — sfko's reference S3 server).
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The reference is this S3 endpoint (credentials as for --endpoint).
    #[arg(long, value_name = "URL", conflicts_with_all = ["reference_config", "reference_journal"])]
    pub reference_endpoint: Option<String>,
    /// The reference is the target of this config file (its endpoint, credentials and region).
    #[arg(long, value_name = "FILE", conflicts_with = "reference_journal")]
    pub reference_config: Option<PathBuf>,
    /// The reference is this recorded journal (its plan is the one run; the target replays it): no reference server.
    #[arg(long, value_name = "FILE")]
    pub reference_journal: Option<PathBuf>,
}

/// `sfko schema` flags.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which format.
    #[arg(value_enum, default_value_t = SchemaOf::Scenario)]
    pub of: SchemaOf,
}

/// The formats `sfko schema` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaOf {
    /// Scenario files (`--scenarios-path`).
    Scenario,
    /// The config file (`--config`).
    Config,
}

/// `sfko compare` flags.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: `sfko --format json` (or `sfko -c --format json`) output saved earlier.
    pub old: PathBuf,
    /// The run to judge against it.
    pub new: PathBuf,
    /// Ops/s lower, or p99 latency higher, by more than this many percent counts as a regression.
    #[arg(long, default_value_t = 20.0, value_name = "PERCENT")]
    pub threshold: f64,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// `sfko serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 = any free port; the endpoint is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Exit when process PID is gone (a server a test or `sfko selftest` started in the background must not outlive
    /// it).
    #[arg(long, value_name = "PID")]
    pub exit_with: Option<u32>,
    /// Data directory (default: a fresh temp dir, removed on exit). Objects, versions and delete markers survive a
    /// SIGKILL: start `sfko serve` again on the same directory and they are all there.
    #[arg(long, visible_alias = "data", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Seeded faults to inject (comma-separated): corrupt-byte, lost-write, stale-read, wrong-etag, wrong-mpu-etag,
    /// list-drop, version-lost, version-drop, checksum-ignored, conditional-ignored, batch-delete-partial,
    /// upload-list-drop, metadata-lost, slow-down (benign: 503 SlowDown on one request in --fault-one-in), lost-on-crash
    /// (acknowledged writes a restart on the same --root has lost); with --replicate-to: replicate-skip,
    /// replicate-corrupt, replicate-single-part; with --lifecycle-day: expire-skip.
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Seed deciding which objects the faults hit.
    #[arg(long, default_value_t = DEFAULT_FAULT_SEED)]
    pub fault_seed: u64,
    /// One object in N is hit by each fault.
    #[arg(long, default_value_t = DEFAULT_FAULT_ONE_IN, value_parser = clap::value_parser!(u64).range(1..))]
    pub fault_one_in: u64,
    /// Copy every completed write to this S3 endpoint (a stand-in for a replicating cluster).
    #[arg(long, value_name = "URL")]
    pub replicate_to: Option<String>,
    /// Upper bound of the seeded replication lag.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub replicate_lag_ms: u64,
    /// Honour lifecycle expiration rules with a "day" this long (e.g. 1s), like Ceph's rgw_lc_debug_interval.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub lifecycle_day: Option<Duration>,
    /// Serve s3s-fs as published, without sfko's reference layers (versioning, multipart answers, one version per
    /// read): to see what s3s-fs itself does. No faults, replication or lifecycle with it.
    #[arg(long, conflicts_with_all = ["faults", "replicate_to", "lifecycle_day"])]
    pub plain: bool,
}

/// A duration flag (`30s`, `5m`, `1h 30m`), in the scenario language's units.
fn duration(value: &str) -> Result<Duration, String> {
    crate::scenario::parse_duration_secs(value).map(Duration::from_secs)
}

/// A rate flag: `50/s`, `3000/m`, `2/h`, or a plain number per second; positive and finite.
fn rate(value: &str) -> Result<f64, String> {
    let (number, per) = match value.trim().rsplit_once('/') {
        Some((number, unit)) => (number.trim(), unit.trim()),
        None => (value.trim(), "s"),
    };
    let seconds = match per {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown rate unit /{other}: expected /s, /m or /h (e.g. 50/s)")),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n / seconds),
        _ => Err(format!("expected a positive number of ops per second, like 50/s, not {value:?}")),
    }
}

/// A duration flag that may also be `0` / `0s` (none at all).
fn duration_or_zero(value: &str) -> Result<Duration, String> {
    match value.trim() {
        "0" | "0s" => Ok(Duration::ZERO),
        other => duration(other),
    }
}

/// A size flag (`512K`, `10M`), in the scenario language's units.
fn size(value: &str) -> Result<u64, String> {
    crate::scenario::parse_size(value)
}

/// The global flags, by clap id, and the modes that use each (`None` = a standalone run).
const GLOBAL_USES: &[(&str, &[&str])] = &[
    ("embedded_faults", &["run", "worker", "replay", "shrink", "clean", "diff"]),
    ("embedded_fault_seed", &["run", "worker", "replay", "shrink", "clean", "diff"]),
    ("embedded_fault_one_in", &["run", "worker", "replay", "shrink", "clean", "diff"]),
    ("scenarios_path", &["run", "controller", "list", "diff"]),
    ("config", &["run", "worker", "replay", "shrink", "clean", "list", "diff"]),
    ("endpoint", &["run", "worker", "replay", "shrink", "clean", "list", "diff"]),
    ("region", &["run", "worker", "replay", "shrink", "clean", "diff"]),
    ("corpus", &["run", "controller", "worker", "shrink", "diff"]),
    ("journal_dir", &["run", "worker", "replay", "shrink", "clean", "selftest", "diff"]),
    ("concurrency", &["run", "controller", "worker", "replay", "shrink", "clean", "diff"]),
    ("stall_timeout", &["run", "worker", "replay", "shrink", "clean", "diff"]),
    ("stall_wait", &["run", "worker", "replay", "shrink", "clean", "diff"]),
    ("nemesis", &["run", "worker"]),
    ("nemesis_every", &["run", "worker"]),
    ("nemesis_length", &["run", "worker"]),
    ("timeseries", &["run", "replay"]),
    ("timeseries_interval", &["run", "replay"]),
    ("format", &["run", "controller", "replay", "shrink", "list", "selftest", "show", "compare", "diff"]),
];

/// The flags of a standalone run ([`RunArgs`]), by clap id: given with another mode, they would do nothing.
const RUN_FLAGS: &[&str] =
    &["seed", "scenarios", "runs", "duration", "rate", "keep", "bucket_prefix", "junit", "dry_run", "journal"];

/// The key of a mode in [`GLOBAL_USES`].
fn mode_key(mode: Option<&Mode>) -> &'static str {
    match mode {
        None => "run",
        Some(Mode::Controller(_)) => "controller",
        Some(Mode::Worker(_)) => "worker",
        Some(Mode::Replay(_)) => "replay",
        Some(Mode::Shrink(_)) => "shrink",
        Some(Mode::List) => "list",
        Some(Mode::Serve(_)) => "serve",
        Some(Mode::Selftest(_)) => "selftest",
        Some(Mode::Clean(_)) => "clean",
        Some(Mode::Show(_)) => "show",
        Some(Mode::Compare(_)) => "compare",
        Some(Mode::Diff(_)) => "diff",
        Some(Mode::Schema(_)) => "schema",
    }
}

/// How each [`GLOBAL_USES`] mode key is typed.
fn key_spelling(key: &str) -> &'static str {
    match key {
        "controller" => "sfko -c",
        "worker" => "sfko -w",
        "replay" => "sfko replay",
        "shrink" => "sfko shrink",
        "list" => "sfko list",
        "serve" => "sfko serve",
        "selftest" => "sfko selftest",
        "clean" => "sfko clean",
        "show" => "sfko show",
        "compare" => "sfko compare",
        "diff" => "sfko diff",
        "schema" => "sfko schema",
        _ => "sfko (a standalone run)",
    }
}

/// A global flag given on the command line to a mode that does nothing with it: the message for exit 2, naming the
/// flag and the commands it belongs to. (`matches` are the parsed command line `cli` came from.)
pub fn given_but_unused(cli: &Cli, matches: &ArgMatches) -> Option<String> {
    let key = mode_key(cli.mode.as_ref());
    let sub = matches.subcommand().map(|(_, m)| m);
    // A standalone run's own flags, given before another mode's name.
    if let Some(mode) = &cli.mode {
        for id in RUN_FLAGS {
            if matches.value_source(id) == Some(ValueSource::CommandLine) {
                let flag = format!("--{}", if *id == "scenarios" { "scenario".into() } else { id.replace('_', "-") });
                let hint = match mode {
                    Mode::Controller(_) if *id != "dry_run" && *id != "journal" => {
                        format!("; for the controller it goes after -c: sfko -c {flag} …")
                    }
                    _ => String::new(),
                };
                return Some(format!(
                    "{flag} does nothing in `{}`: it is a standalone run's flag{hint}",
                    Mode::spelling(Some(mode))
                ));
            }
        }
    }
    for (id, uses) in GLOBAL_USES {
        if uses.contains(&key) {
            continue;
        }
        let given = |m: &ArgMatches| m.value_source(id) == Some(ValueSource::CommandLine);
        if given(matches) || sub.is_some_and(given) {
            let flag = format!("--{}", id.replace('_', "-"));
            let belongs: Vec<&str> = uses.iter().map(|k| key_spelling(k)).collect();
            return Some(format!(
                "{flag} does nothing in `{}`; it belongs to: {}",
                Mode::spelling(cli.mode.as_ref()),
                belongs.join(", ")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    fn parse(args: &[&str]) -> Result<(Cli, Option<String>), clap::Error> {
        let matches = Cli::command().try_get_matches_from(std::iter::once("sfko").chain(args.iter().copied()))?;
        let cli = Cli::from_arg_matches(&matches)?;
        let unused = given_but_unused(&cli, &matches);
        Ok((cli, unused))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
        let ids: Vec<String> = Cli::command().get_arguments().map(|a| a.get_id().to_string()).collect();
        for (id, _) in GLOBAL_USES {
            assert!(ids.iter().any(|i| i == id), "{id} is not a flag");
        }
    }

    #[test]
    fn the_seeds_spelling_selects_the_controller_and_the_worker() {
        let (cli, unused) = parse(&["-c", "--nats", "nats://h:1", "--seed", "42", "--jobs", "5"]).expect("parses");
        assert_eq!(unused, None);
        let Some(Mode::Controller(c)) = cli.mode else { panic!("not the controller: {:?}", cli.mode) };
        assert_eq!((c.select.seed, c.jobs, c.nats.nats.as_str()), (Some(42), Some(5), "nats://h:1"));
        let (cli, _) = parse(&["--controller", "--broadcast"]).expect("parses");
        assert!(matches!(cli.mode, Some(Mode::Controller(ControllerArgs { broadcast: true, .. }))));
        let (cli, _) = parse(&["-w", "--worker-id", "w1", "--config", "c.yaml", "--concurrency", "4"]).expect("parses");
        assert!(matches!(&cli.mode, Some(Mode::Worker(w)) if w.worker_id.as_deref() == Some("w1")));
        assert_eq!(cli.common.concurrency(), Some(4));
        // Global flags may come before the mode, as before.
        let (cli, unused) = parse(&["--concurrency", "3", "-w"]).expect("parses");
        assert_eq!((cli.common.concurrency(), unused), (Some(3), None));
    }

    #[test]
    fn a_flag_of_another_mode_is_refused() {
        // Another mode's own flags after the mode: clap refuses them itself.
        assert!(parse(&["-w", "--jobs", "3"]).is_err());
        assert!(parse(&["-w", "--seed", "3"]).is_err());
        assert!(parse(&["replay", "x.bin", "--seed", "5"]).is_err());
        // Global flags that mean nothing to the mode: named, with where they belong.
        for (args, flag) in [
            (&["clean", "x.bin", "--format", "json"][..], "--format"),
            (&["serve", "--format", "json"][..], "--format"),
            (&["selftest", "--endpoint", "http://h"][..], "--endpoint"),
            (&["selftest", "--config", "c.yaml"][..], "--config"),
            (&["-c", "--config", "c.yaml"][..], "--config"),
            (&["--endpoint", "http://h", "-c"][..], "--endpoint"),
            (&["-w", "--scenarios-path", "s"][..], "--scenarios-path"),
            // A standalone run's flags before another mode.
            (&["--seed", "5", "replay", "x.bin"][..], "--seed"),
            (&["--dry-run", "-c"][..], "--dry-run"),
            (&["--scenario", "x", "-w"][..], "--scenario"),
            (&["--seed", "42", "-c"][..], "--seed"),
        ] {
            let (_, unused) = parse(args).expect("parses");
            let message = unused.unwrap_or_default();
            assert!(message.starts_with(&format!("{flag} does nothing in")), "{args:?}: {message}");
        }
        let (_, unused) = parse(&["replay", "x.bin", "--endpoint", "http://h", "--format", "json"]).expect("parses");
        assert_eq!(unused, None);
    }

    #[test]
    fn durations_and_sizes_are_typed() {
        let (cli, _) =
            parse(&["-c", "--worker-wait", "2m", "--journal-cap", "1M", "--nats-retry-for", "5s"]).expect("ok");
        let Some(Mode::Controller(c)) = cli.mode else { panic!("not the controller") };
        assert_eq!((c.worker_wait, c.journal_cap), (Duration::from_secs(120), 1 << 20));
        assert_eq!(c.nats.nats_retry_for, Duration::from_secs(5));
        let e = parse(&["-c", "--worker-wait", "soon"]).expect_err("not a duration");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--worker-wait"), "{e}");
    }

    #[test]
    fn both_fault_flag_families_share_their_defaults() {
        let (cli, _) = parse(&[]).expect("parses");
        let (serve, _) = parse(&["serve"]).expect("parses");
        let Some(Mode::Serve(serve)) = serve.mode else { panic!("not serve") };
        assert_eq!(
            (cli.common.embedded_fault_seed, cli.common.embedded_fault_one_in),
            (serve.fault_seed, serve.fault_one_in)
        );
    }
}
