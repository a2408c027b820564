//! Command-line flags, parsed once into plain values and handed down (nothing below reads argv or the environment
//! for options again).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// I am become death, destroyer of clusters.
///
/// Deterministic, seed-driven record/replay fuzzer and stress tester for S3-compatible object stores. With no
/// --endpoint or --config, sfko starts an embedded S3 server (s3s-fs on a temp dir) and runs against it.
#[derive(Debug, Parser)]
#[command(name = "sfko", version, about, long_about = None, args_conflicts_with_subcommands = false)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub distribute: DistributeArgs,
}

/// Subcommands; without one, sfko runs scenarios (standalone mode).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Re-execute a journal exactly and compare every outcome with the recorded one.
    Replay {
        /// The journal (e.g. corpus/<digest>.bin).
        journal: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Delta-debug a failing journal down to a minimal repro (fewest ops that still fail the same way), written to
    /// the corpus. Exit 1 when shrunk (the bug stands), 0 when the failure did not come back on this target.
    Shrink {
        /// The failing journal (e.g. corpus/<digest>.bin).
        journal: PathBuf,
        /// Candidate runs to try at most.
        #[arg(long, default_value_t = 400)]
        max_runs: u64,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List scenarios, tests (workloads), checks and clouds.
    List {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Serve an S3 endpoint backed by s3s-fs (the embedded target as its own process), optionally with seeded faults.
    Serve(ServeArgs),
    /// The oracles prove themselves: each injectable fault must be detected, a healthy server must pass clean.
    Selftest {
        /// Seeds to try per fault before calling it undetected.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove the buckets (every version, marker and upload) a journal's run left on the target.
    Clean {
        journal: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print a journal in readable form: header, plan, every op and outcome, failed expectations, trailer.
    Show {
        journal: PathBuf,
        /// Only failed ops and expectations.
        #[arg(long)]
        failures: bool,
    },
}

/// Flags of a standalone run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seed of the first run (drawn from the OS and printed when absent).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only this scenario (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Run seeds N, N+1, ... N+K-1.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub runs: u64,
    /// Resolve and print the plan(s) with their plan_digest; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the journal here (only with exactly one run).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Leave buckets and objects in place after the run.
    #[arg(long)]
    pub keep: bool,
    /// Bucket names start with this (runs sharing a target and a seed need different prefixes).
    #[arg(long, default_value = crate::plan::DEFAULT_BUCKET_PREFIX, value_name = "PREFIX")]
    pub bucket_prefix: String,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Start the embedded target with these seeded faults (comma-separated): corrupt-byte, lost-write, stale-read,
    /// wrong-etag, wrong-mpu-etag, list-drop, version-lost. Only without --endpoint.
    #[arg(long, global = true, value_delimiter = ',', value_name = "FAULTS")]
    pub embedded_faults: Vec<String>,
    /// Seed deciding which keys the embedded faults hit.
    #[arg(long, global = true, default_value_t = 1, value_name = "N")]
    pub embedded_fault_seed: u64,
    /// One key in N is hit by each embedded fault.
    #[arg(long, global = true, default_value_t = 4, value_name = "N")]
    pub embedded_fault_one_in: u64,
    /// Scenario file or directory.
    #[arg(long, global = true, default_value = "scenarios", value_name = "PATH")]
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
    #[arg(long, global = true, value_name = "N")]
    pub concurrency: Option<usize>,
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

/// Flags of distributed runs: `-c` publishes seeded jobs over NATS and gathers results, `-w` runs them.
#[derive(Debug, Args, Clone)]
pub struct DistributeArgs {
    /// Controller: publish seeded jobs over NATS, show progress, gather results, summarize.
    #[arg(short = 'c', long, conflicts_with = "worker")]
    pub controller: bool,
    /// Worker: run jobs from NATS until stopped (SIGTERM finishes or hands back the current job).
    #[arg(short = 'w', long)]
    pub worker: bool,
    /// Controller: number of jobs; job i runs seed N + i/S on the (i mod S)-th of S selected scenarios
    /// [default: --runs × S].
    #[arg(long, value_name = "N")]
    pub jobs: Option<u64>,
    /// Controller: every live worker runs every job (maximum load), in buckets of its own.
    #[arg(long)]
    pub broadcast: bool,
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
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub nats_retry_for: String,
    /// Controller: stop waiting after this long; unfinished jobs are reported and the exit code is 3.
    #[arg(long, value_name = "DURATION")]
    pub run_timeout: Option<String>,
    /// Controller: exit 3 when no live worker has been seen for this long.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub worker_wait: String,
    /// Worker: its id (letters, digits, '-', '_'; at most 48) [default: host name and a random suffix].
    #[arg(long, value_name = "ID")]
    pub worker_id: Option<String>,
    /// Controller: failing journals up to this size travel back in the result (larger ones stay on the worker,
    /// and the result says where).
    #[arg(long, default_value = "512K", value_name = "SIZE")]
    pub journal_cap: String,
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
    /// Data directory (default: a fresh temp dir, removed on exit).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Seeded faults to inject (comma-separated): corrupt-byte, lost-write, stale-read, wrong-etag, wrong-mpu-etag,
    /// list-drop, version-lost; with --replicate-to: replicate-skip, replicate-corrupt, replicate-single-part; with
    /// --lifecycle-day: expire-skip.
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Seed deciding which objects the faults hit.
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// One object in N is hit by each fault.
    #[arg(long, default_value_t = 10)]
    pub fault_one_in: u64,
    /// Copy every completed write to this S3 endpoint (a stand-in for a replicating cluster).
    #[arg(long, value_name = "URL")]
    pub replicate_to: Option<String>,
    /// Upper bound of the seeded replication lag.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub replicate_lag_ms: u64,
    /// Honour lifecycle expiration rules with a "day" this long (e.g. 1s), like Ceph's rgw_lc_debug_interval.
    #[arg(long, value_name = "DURATION")]
    pub lifecycle_day: Option<String>,
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}
