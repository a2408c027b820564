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
pub mod target;
pub mod workload;
