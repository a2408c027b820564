//! sfko — a deterministic, seed-driven record/replay fuzzer and stress tester for S3-compatible object stores.
//!
//! The pipeline, one module per stage:
//! [`scenario`] (YAML) → [`plan`] (pure, from a [`seed`]) → [`exec`] (workloads and checks through the recording
//! [`driver`] against a [`target`]) → [`journal`] (bincode, streamed) → [`replay`]; [`report`] renders results.

pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod content;
pub mod distribute;
pub mod driver;
pub mod exec;
pub mod journal;
pub mod plan;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod seed;
pub mod selftest;
pub mod show;
pub mod shrink;
pub mod target;
pub mod workload;

/// `println!` for sfko's output: when whoever reads stdout has gone away (`sfko list | head`), stop quietly with
/// the exit status a Unix tool killed by SIGPIPE would have (141), instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout_line(format_args!($($arg)*))
    };
}

#[doc(hidden)]
pub fn stdout_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
    }
}
