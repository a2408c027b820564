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
        Some(Mode::Show(args)) if is_timeseries(&args.journal) => show_timeseries(args, common.format),
        Some(Mode::Show(args)) => {
            if args.plot.is_some() {
                return Err(Fatal::bad_input(format!(
                    "--plot draws a --timeseries file; {} is a journal",
                    args.journal.display()
                )));
            }
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

/// `--timeseries FILE`: starts recording intervals into it (a file that cannot be created is bad input, before
/// anything is sent).
fn start_timeseries(common: &crate::cli::CommonArgs) -> Result<Option<crate::driver::timeseries::Recording>, Fatal> {
    common
        .timeseries
        .as_ref()
        .map(|path| crate::driver::timeseries::TimeSeries::start(path, common.timeseries_interval))
        .transpose()
        .map_err(Fatal::bad_input)
}

/// Whether `path` is a `--timeseries` file (JSON lines) rather than a journal: its first byte tells.
fn is_timeseries(path: &std::path::Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    crate::timeseries_view::looks_like_timeseries(&head[..n])
}

/// `sfko show FILE` for a time series: its table, its intervals as JSON, or its plot.
fn show_timeseries(args: &crate::cli::ShowArgs, format: Format) -> Result<Exit, Fatal> {
    let intervals = crate::driver::timeseries::read(&args.journal).map_err(Fatal::bad_input)?;
    if let Some(out) = &args.plot {
        let title = format!("sfko time series {}", args.journal.display());
        let svg = crate::timeseries_view::svg(&intervals, &title);
        std::fs::write(out, svg).map_err(|e| Fatal::harness(format!("cannot write {}: {e}", out.display())))?;
        eprintln!("sfko: plotted {} intervals into {}", intervals.len(), out.display());
        return Ok(Exit::Pass);
    }
    match format {
        Format::Human => crate::outln!("{}", crate::timeseries_view::table(&intervals)),
        Format::Json => crate::outln!("{}", serde_json::to_string(&intervals).unwrap_or_else(|_| "[]".into())),
    }
    Ok(Exit::Pass)
}
