//! `sfko`: parses flags, sets up logging, runs the command, exits with its code (0 pass, 1 bugs, 2 bad input, 3 harness).

use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use sfko::cli::{Cli, Mode};
use sfko::exit::Exit;

/// jemalloc rather than glibc's malloc: a small-object run allocates and frees per request (the SDK's request and
/// response, its headers, hyper's buffers), and glibc spent 13 % of sfko's CPU there. (mimalloc was cheaper still
/// per request but held on to memory freed by the embedded server's short-lived blocking threads: a ten-minute
/// `--duration` run grew past 1 GB.)
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, which it reads when it starts (`_RJEM_MALLOC_CONF` in the environment still overrides them).
/// `background_thread:true`: a thread of jemalloc's own returns freed pages to the OS on its decay timer. Without it,
/// pages are only returned when an arena is next used, so memory that bursts of multipart bodies left in arenas the
/// run then stopped using stayed resident: a `--duration` run's RSS crept up over its first minutes (lows of 61, 87,
/// 85, 84, 85 MB a minute) where with it the lows are flat from the first minute (79, 77, 74, 77, 77 MB).
#[export_name = "_rjem_malloc_conf"]
#[allow(non_upper_case_globals)]
pub static malloc_conf: &[u8; 23] = b"background_thread:true\0";

fn main() -> std::process::ExitCode {
    // SIGPIPE stays ignored (Rust's default): a server that answers early and closes the connection while a body is
    // still being sent must give sfko an EPIPE to record, not kill it. `sfko list | head` still ends quietly: output
    // goes through `sfko::outln!`, which stops on a closed stdout.
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(message) = sfko::cli::given_but_unused(&cli, &matches) {
        eprintln!("sfko: error: {message}");
        return std::process::ExitCode::from(Exit::BadInput.code());
    }
    let (verbose, quiet) = match &cli.mode {
        Some(Mode::Show(_)) => (0, false),
        _ => (cli.common.verbose, cli.common.quiet),
    };
    init_logging(verbose, quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sfko: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(Exit::Harness.code());
        }
    };
    match runtime.block_on(sfko::commands::main(cli)) {
        Ok(code) => std::process::ExitCode::from(code.code()),
        Err(fatal) => {
            eprintln!("sfko: error: {}", fatal.message);
            std::process::ExitCode::from(fatal.code.code())
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error,s3s=off",
        // The embedded server logs every 501 it answers as an error; sfko reports those itself.
        (false, 0) => "warn,s3s=off",
        (false, 1) => "sfko=info,warn",
        (false, 2) => "sfko=debug,info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
