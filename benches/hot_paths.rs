//! The client-side work sfko does per request, without the network: what decides its CPU per op.
//!
//! `cargo bench` (criterion). Each group names the per-request path it stands for:
//! - content: generating an object's bytes (blake3 XOF) and hashing them as a PUT/GET does (blake3 + MD5),
//! - journal: encoding one op record into its bincode frame (every request is journaled),
//! - plan: resolving a default scenario's plan from a seed, and drawing the Mixed random-ops program.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sfko::content::{self, ContentKey, WriteMode};
use sfko::journal::{encode_frame, Attempt, Body, Frame, OpRecord, Outcome, Phase, Request};
use sfko::plan::{resolve, Placement, TargetSetup, DEFAULT_BUCKET_PREFIX};
use sfko::seed::Seed;

fn content_paths(c: &mut Criterion) {
    let key = ContentKey([7; 32]);
    let mut group = c.benchmark_group("content");
    for size in [4 * 1024u64, 1024 * 1024] {
        group.throughput(Throughput::Bytes(size));
        let mut buf = vec![0u8; size as usize];
        group.bench_with_input(BenchmarkId::new("generate", size), &size, |b, _| {
            b.iter(|| content::fill(black_box(&key), 0, &mut buf))
        });
        group.bench_with_input(BenchmarkId::new("generate+blake3+md5", size), &size, |b, &size| {
            b.iter(|| content::expected(black_box(&key), size, WriteMode::Single))
        });
        group.bench_with_input(BenchmarkId::new("generate+blake3", size), &size, |b, &size| {
            b.iter(|| content::range_digest(black_box(&key), 0, size))
        });
    }
    group.finish();
}

fn op() -> OpRecord {
    OpRecord {
        index: 123_456,
        completed_before: 123_400,
        completion: 123_450,
        issued_at_us: 9_876_543,
        phase: Phase::Workload("put".into()),
        backend: None,
        request: Request::PutObject {
            bucket: "sfko-a1b2c3-0".into(),
            key: "k3f9/obj-000123".into(),
            body: Body { content: ContentKey([1; 32]), offset: 0, len: 4096 },
            checksum: None,
            precondition: None,
            metadata: None,
        },
        outcome: Outcome {
            status: 200,
            etag: Some("\"0123456789abcdef0123456789abcdef\"".into()),
            ..Outcome::default()
        },
        attempts: vec![Attempt { status: 200, error_code: None, latency_us: 812 }],
        latency_us: 812,
    }
}

fn journal_paths(c: &mut Criterion) {
    let frame = Frame::Op(op());
    c.bench_function("journal/encode op frame", |b| b.iter(|| encode_frame(black_box(&frame))));
}

fn plan_paths(c: &mut Criterion) {
    let scenarios = match sfko::catalogue::load_scenarios(std::path::Path::new("scenarios")) {
        Ok(scenarios) => scenarios,
        Err(e) => panic!("run from the repository root: {e:?}"),
    };
    let backends = [Placement::target_itself()];
    let setup = TargetSetup::default();
    let mut group = c.benchmark_group("plan");
    for name in ["Write 0B", "Overwrite copy list"] {
        let Some(scenario) = scenarios.iter().find(|s| s.name == name) else { continue };
        group.bench_function(BenchmarkId::new("resolve", name), |b| {
            b.iter(|| resolve(scenario, Seed(black_box(42)), &backends, DEFAULT_BUCKET_PREFIX, &setup))
        });
    }
    let catalogue = sfko::catalogue::load_scenarios(std::path::Path::new("scenarios/catalogue"));
    if let Some(mixed) = catalogue.ok().and_then(|all| all.into_iter().find(|s| s.name == "Mixed")) {
        let plan = resolve(&mixed, Seed(1), &backends, DEFAULT_BUCKET_PREFIX, &setup);
        let position = plan.workloads.iter().position(|t| t == "random-ops").unwrap_or(0);
        group.throughput(Throughput::Elements(plan.random_ops.as_ref().map_or(1, |r| r.spec.ops)));
        group.bench_function("draw Mixed random-ops program", |b| {
            b.iter(|| sfko::workload::random_ops::program(black_box(&plan), position))
        });
    }
    group.finish();
}

criterion_group!(benches, content_paths, journal_paths, plan_paths);
criterion_main!(benches);
