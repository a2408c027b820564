//! The commands behind the command line: one file each, each returning an [`Exit`] or a [`Fatal`]. The controller
//! and the worker live in `crate::distribute`; this module only dispatches to them.

mod clean;
mod compare;
mod diff;
mod list;
mod replay;
mod run;
mod selftest;
mod serve;
mod shrink;

use tokio::sync::watch;

use crate::cli::{Cli, Format, Mode};
use crate::exit::{Exit, Fatal};

/// Runs the parsed command line.
pub async fn main(cli: Cli) -> Result<Exit, Fatal> {
    let common = &cli.common;
    match &cli.mode {
        None => run::standalone(&cli.run, common).await,
        Some(Mode::Controller(args)) => crate::distribute::controller::run(args, common).await,
        Some(Mode::Worker(args)) => crate::distribute::worker::run(args, common).await,
        Some(Mode::Replay(args)) => replay::replay(&args.journal, args.times, common).await,
        Some(Mode::Shrink(args)) => shrink::shrink(&args.journal, args.max_runs, args.verify, common).await,
        Some(Mode::List) => list::list(common),
        Some(Mode::Serve(args)) => serve::serve(args).await,
        Some(Mode::Selftest(args)) => selftest::selftest(args.seeds, &args.faults, common).await,
        Some(Mode::Clean(args)) => clean::clean(&args.journal, common).await,
        Some(Mode::Diff(args)) => diff::diff(args, common).await,
        Some(Mode::Schema(args)) => {
            let schema = match args.of {
                crate::cli::SchemaOf::Scenario => crate::scenario::json_schema(&crate::catalogue::known()),
                crate::cli::SchemaOf::Config => crate::config::json_schema(),
            };
            let text = serde_json::to_string_pretty(&schema).map_err(|e| Fatal::harness(e.to_string()))?;
            crate::outln!("{text}");
            Ok(Exit::Pass)
        }
        Some(Mode::Compare(args)) => compare::compare(args, common.format),
        Some(Mode::Show(args)) => {
            let out = &mut std::io::stdout().lock();
            match common.format {
                Format::Human => crate::show::show(&args.journal, args.failures, out),
                Format::Json => crate::show::show_json(&args.journal, args.failures, out),
            }?;
            Ok(Exit::Pass)
        }
    }
}

/// Ctrl-C sets the flag; a second Ctrl-C exits at once.
fn cancel_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: finishing the journal (Ctrl-C again to abort at once)");
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(Exit::Harness.code()));
            }
        }
        // No signal handler (or it failed): keep the sender alive so runs are not taken as cancelled.
        std::future::pending::<()>().await;
    });
    rx
}
