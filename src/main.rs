//! `sfko`: parses flags, sets up logging, runs the command, exits with its code (0 pass, 1 bugs, 2 bad input, 3 harness).

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    // SIGPIPE stays ignored (Rust's default): a server that answers early and closes the connection while a body is
    // still being sent must give sfko an EPIPE to record, not kill it. `sfko list | head` still ends quietly: output
    // goes through `sfko::outln!`, which stops on a closed stdout.
    let cli = sfko::cli::Cli::parse();
    let (verbose, quiet) = match &cli.command {
        Some(sfko::cli::Command::Serve(args)) => (args.verbose, false),
        Some(sfko::cli::Command::Show { .. }) => (0, false),
        Some(
            sfko::cli::Command::Replay { common, .. }
            | sfko::cli::Command::Shrink { common, .. }
            | sfko::cli::Command::List { common }
            | sfko::cli::Command::Selftest { common, .. }
            | sfko::cli::Command::Clean { common, .. },
        ) => (common.verbose, common.quiet),
        None => (cli.common.verbose, cli.common.quiet),
    };
    init_logging(verbose, quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sfko: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    match runtime.block_on(sfko::app::main(cli)) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(fatal) => {
            eprintln!("sfko: error: {}", fatal.message);
            std::process::ExitCode::from(fatal.code as u8)
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
