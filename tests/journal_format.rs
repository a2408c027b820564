//! The journal is a file format: these tests pin its exact bytes, so any change to the frame types, their encoding
//! or bincode itself shows up here and must come with a `FORMAT_VERSION` bump.

use sfko::content::{ContentKey, Digest, PartLayout};
use sfko::journal::{
    Assertion, Attempt, Body, Expectation, Frame, Header, JournalReader, JournalWriter, OpRecord, Outcome, Phase,
    Request, Verdict, FORMAT_VERSION,
};
use sfko::plan::{Backend, BucketPlan, ObjectPlan, Plan};
use sfko::seed::Seed;

fn plan() -> Plan {
    Plan {
        format: 2,
        seed: Seed(7),
        scenario: "golden".into(),
        buckets: vec![BucketPlan {
            index: 0,
            name: "sfko-golden-0".into(),
            backend: Backend::target_itself(),
            replication: None,
            versioning: false,
            transient: false,
            expiration_secs: None,
            clouds: vec![],
            objects: vec![ObjectPlan {
                index: 0,
                key: "k".into(),
                size: 3,
                content: ContentKey([1; 32]),
                parts: PartLayout { size: 3, part_size: 5 << 20 },
            }]
            .into(),
        }],
        workloads: vec!["put".into()],
        checks: vec!["check-backend".into()],
        unsatisfiable: None,
        setup: Default::default(),
        random_ops: None,
    }
}

fn header() -> Header {
    Header {
        format_version: FORMAT_VERSION,
        sfko_version: "golden".into(),
        seed: Seed(7),
        scenario: "golden".into(),
        scenario_digest: "sd".into(),
        config_digest: "cd".into(),
        plan_digest: "pd".into(),
        target: "embedded".into(),
        concurrency: 1,
        started_unix_ms: 0,
    }
}

fn op() -> OpRecord {
    OpRecord {
        index: 0,
        completed_before: 0,
        completion: 0,
        issued_at_us: 0,
        phase: Phase::Workload("put".into()),
        backend: None,
        request: Request::PutObject {
            bucket: "sfko-golden-0".into(),
            key: "k".into(),
            body: Body { content: ContentKey([1; 32]), offset: 0, len: 3 },
            checksum: Some(sfko::checksum::Sent {
                algorithm: sfko::checksum::Algorithm::Crc64Nvme,
                carrier: sfko::checksum::Carrier::Trailer,
                wrong: false,
            }),
            precondition: Some(sfko::journal::Precondition::Matches { etag_op: 7 }),
            metadata: Some(Box::new(sfko::metadata::Metadata {
                content_type: Some("text/plain".into()),
                user: vec![("Color".into(), "red".into())],
                ..Default::default()
            })),
        },
        outcome: Outcome {
            status: 200,
            etag: Some("\"e\"".into()),
            checksum: Some(sfko::checksum::Returned {
                algorithm: "CRC64NVME".into(),
                value: "AAAAAAAAAAA=".into(),
                kind: Some("FULL_OBJECT".into()),
            }),
            metadata: Some(Box::new(sfko::metadata::Metadata {
                cache_control: Some("no-cache".into()),
                ..Default::default()
            })),
            ..Outcome::default()
        },
        attempts: vec![Attempt { status: 200, error_code: None, latency_us: 5 }],
        latency_us: 5,
    }
}

fn expectation() -> Expectation {
    Expectation {
        by: "check-backend".into(),
        subject: "sfko-golden-0/k".into(),
        op: 0,
        assertion: Assertion::BodyDigest(Digest([2; 32])),
        violation: Some("blake3 00".into()),
        raced_with: vec![],
    }
}

#[tokio::test]
async fn journal_bytes_are_pinned_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("golden.bin");
    let writer = JournalWriter::create(&path, &header(), &plan()).expect("create");
    writer.sink().op(op()).await;
    writer.sink().expectation(expectation()).await;
    let finished = writer.finish(Verdict::Fail, Some("golden".into())).await.expect("finish");
    assert!(!sfko::journal::partial_path(&path).exists(), "finished journals leave no .partial behind");
    assert_eq!(finished.file_digest, GOLDEN_JOURNAL_DIGEST, "journal bytes changed: bump FORMAT_VERSION");

    let mut reader = JournalReader::open(&path).expect("open");
    assert_eq!(reader.header, header());
    assert_eq!(reader.plan, plan());
    assert_eq!(reader.next_frame().expect("op"), Some(Frame::Op(op())));
    assert_eq!(reader.next_frame().expect("expect"), Some(Frame::Expect(expectation())));
    assert_eq!(reader.next_frame().expect("trailer"), None);
    let trailer = reader.trailer().expect("trailer");
    assert_eq!((trailer.ops, trailer.failed, trailer.verdict), (1, 1, Verdict::Fail));
}

const GOLDEN_JOURNAL_DIGEST: &str = "44a61e6b3584a62308ad3009c76b91240f1dafee0043b067cf7c0dc2497271ca";
