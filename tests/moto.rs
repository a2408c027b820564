//! A second, independent S3 implementation: moto's server (Python), started by the test.
//! `.ci/run` pins `moto[server]==5.2.1`; the findings below are that version's.

mod support;

use support::{code, json, stderr, Server, Workdir};

const SCENARIOS: &str = "\
- name: moto mixed
  required: {buckets: 2}
  objects: {count: 20, size: {min: 0B, max: 6M}}
  tests: [put, get, delete]
  checks: [check-backend, check-etag]
- name: moto multipart
  objects: {count: 2, size: 11M}
  tests: [put-mpu]
  checks: [check-backend, check-etag]
- name: moto metadata
  required: {buckets: 2}
  objects: {count: 12, size: {min: 0B, max: 64K}}
  tests: [metadata]
  checks: [check-backend, check-etag]
";

#[test]
fn single_put_scenarios_pass_on_moto_and_replay_reproduces() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "8", "--scenario", "moto mixed", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["verdict"], "pass", "{doc}");
    let journal = doc["journal"].as_str().expect("journal").to_string();
    let out = work.sfko(&["replay", &journal, "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["reproduced"], true);
}

/// The metadata round trip (single PUTs and copies with and without REPLACE; moto's multipart answer is the finding
/// below) raises no false alarm on a second implementation: what sfko sends and how it compares is S3's, not s3s-fs's.
#[test]
fn metadata_round_trips_on_moto() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let moto = Server::moto();
    for seed in ["8", "9"] {
        let out = work.sfko(&[
            "--seed",
            seed,
            "--scenario",
            "moto metadata",
            "--endpoint",
            &moto.endpoint,
            "--format",
            "json",
        ]);
        assert_eq!(code(&out), 0, "seed {seed}: {}", String::from_utf8_lossy(&out.stdout));
    }
}

/// A real finding: moto 5.2.1 answers CompleteMultipartUpload with a `<CompleteMultipartUploadResponse>` root
/// element where S3 sends `<CompleteMultipartUploadResult>`, so strict clients (the AWS Rust SDK) cannot read the
/// answer or its ETag. sfko must report that as a failed completion, not as success.
#[test]
fn moto_multipart_completion_answer_is_reported() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let moto = Server::moto();
    let out =
        work.sfko(&["--seed", "8", "--scenario", "moto multipart", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let first = &doc["failures"][0];
    assert_eq!(first["request"], "CompleteMultipartUpload", "{doc}");
    assert!(first["got"].as_str().unwrap_or("").contains("CompleteMultipartUploadResponse"), "{first}");
}

/// A part re-upload racing CompleteMultipartUpload or AbortMultipartUpload: moto settles every race as S3 does (the
/// key holds one side's bytes, a completion refused InvalidPart leaves the upload usable, an aborted upload stays
/// closed), and the only deviations `part-race` reports are two findings below: the unreadable completion answer, and
/// the late part of a completed or aborted upload answered 500 (S3: 404 NoSuchUpload).
#[test]
fn part_race_on_moto_reports_only_its_known_multipart_findings() {
    let work = Workdir::new();
    work.scenarios("- name: part race\n  objects: {count: 8, size: {min: 8B, max: 64K}}\n  tests: [part-race]\n");
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "1", "--scenario", "part race", "--endpoint", &moto.endpoint, "--format", "json"]);
    let doc = json(&out);
    let failures = doc["failures"].as_array().cloned().unwrap_or_default();
    assert!(!failures.is_empty(), "some race completes the upload, and moto's answer to that is unreadable: {doc}");
    for failure in &failures {
        let got = failure["got"].as_str().unwrap_or("");
        let late_part = failure["request"] == "UploadPart" && got.starts_with("500");
        assert!(got.contains("SfkoUndecodableResponse") || late_part, "only moto's two findings: {failure}");
    }
}

/// random-ops on moto: with the kinds moto is known to get wrong left out (its multipart completion answer above;
/// parts for closed uploads answered 500; wrong checksums accepted, below), a run with nasty keys, racing ops and
/// checksums of every algorithm, as headers and as trailers, raises no false alarm.
#[test]
fn random_ops_raise_no_false_alarm_on_moto() {
    let work = Workdir::new();
    work.scenarios(
        "- name: moto random\n  tests: [random-ops]\n  random_ops: {ops: 150, concurrency: 4, keys: 8, nasty_keys: true, \
         weights: {mpu-complete: 0, mpu-complete-if-absent: 0, bad-complete: 0, mpu-late: 0, bad-checksum: 0, \
         bad-part-checksum: 0}}\n",
    );
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "11", "--runs", "2", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["passed"], 2);
}

/// A real finding: in a bucket whose versioning is *suspended*, moto 5.2.1's PutObject throws away every version of
/// the key — the non-null versions and delete markers S3 keeps — and its DeleteObject answers 500 or leaves no null
/// delete marker. random-ops' model of S3 versioning catches it.
#[test]
fn moto_loses_versions_in_a_suspended_bucket() {
    let work = Workdir::new();
    work.scenarios(
        "- name: suspended\n  required: {buckets: [{versioning: true}]}\n  tests: [random-ops]\n  random_ops: {ops: 40, \
         concurrency: 1, keys: 1, weights: {put: 10, get-part: 0, put-if-absent: 0, put-if-match: 0, delete: 3, delete-batch: 0, versioning: 4, list-versions: 4, get: 0, head: 0, \
         get-range: 0, bad-range: 0, bad-checksum: 0, copy: 0, list: 0, mpu-create: 0, mpu-part: 0, mpu-complete: 0, mpu-complete-if-absent: 0, get-if: 0, list-v1: 0, bad-complete: 0, \
         mpu-abort: 0, mpu-late: 0, get-version: 0, delete-version: 0}}\n",
    );
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "3", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let failures = doc["failures"].as_array().cloned().unwrap_or_default();
    let lost = failures.iter().any(|f| {
        f["request"] == "ListObjectVersions" && f["expected"].as_str().unwrap_or("").starts_with("version-list")
    });
    assert!(lost, "a version listing misses what moto threw away: {doc}");
}

/// A real finding: moto 5.2.1 stores a PutObject whose `x-amz-checksum-*` header does not match its body, where S3
/// refuses it (400 BadDigest) and keeps what the key held.
#[test]
fn moto_accepts_a_wrong_checksum() {
    let work = Workdir::new();
    work.scenarios(
        "- name: bad checksums\n  tests: [random-ops]\n  random_ops: {ops: 20, concurrency: 1, keys: 2, weights: {put: 2, get-part: 0, \
         get: 2, bad-checksum: 2, put-if-absent: 0, put-if-match: 0, head: 0, get-range: 0, bad-range: 0, delete: 0, delete-batch: 0, copy: 0, list: 0, mpu-create: 0, \
         mpu-part: 0, mpu-complete: 0, mpu-complete-if-absent: 0, get-if: 0, list-v1: 0, bad-complete: 0, mpu-abort: 0, \
         mpu-late: 0}}\n",
    );
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "1", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let first = &doc["failures"][0];
    assert_eq!(first["request"], "PutObject", "{doc}");
    assert!(first["expected"].as_str().unwrap_or("").starts_with("bad-checksum-refused"), "{first}");
}

/// `sfko diff` of moto against sfko's reference server: plain writes, reads, deletes and metadata round trips agree
/// answer for answer; the wrong checksum moto stores is `target-wrong`, with both answers shown.
#[test]
fn diff_against_the_reference_server_shows_moto_findings_only() {
    let work = Workdir::new();
    work.scenarios(&format!(
        "{SCENARIOS}- name: bad checksums\n  tests: [random-ops]\n  random_ops: {{ops: 20, concurrency: 1, keys: 2, \
         weights: {{put: 2, get: 2, bad-checksum: 2, get-part: 0, put-if-absent: 0, put-if-match: 0, head: 0, get-range: 0, \
         bad-range: 0, delete: 0, delete-batch: 0, copy: 0, list: 0, mpu-create: 0, mpu-part: 0, mpu-complete: 0, \
         mpu-complete-if-absent: 0, get-if: 0, list-v1: 0, bad-complete: 0, mpu-abort: 0, mpu-late: 0}}}}\n"
    ));
    let moto = Server::moto();
    let agree = ["--scenario", "moto mixed", "--scenario", "moto metadata"];
    let mut args = vec!["diff", "--seed", "11", "--endpoint", &moto.endpoint, "--format", "json", "-q"];
    args.extend(agree);
    let out = work.sfko(&args);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    let doc = json(&out);
    for plan in doc["plans"].as_array().expect("plans") {
        assert_eq!(plan["divergences"].as_array().map(Vec::len), Some(0), "{plan}");
    }
    let out = work.sfko(&[
        "diff",
        "--seed",
        "1",
        "--scenario",
        "bad checksums",
        "--endpoint",
        &moto.endpoint,
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let entries = doc["plans"][0]["divergences"].as_array().cloned().unwrap_or_default();
    let stored = entries.iter().find(|e| e["class"] == "target-wrong" && e["request"] == "PutObject");
    let stored = stored.unwrap_or_else(|| panic!("moto's stored wrong checksum: {doc}"));
    assert_eq!(stored["fields"][0]["field"], "status", "{stored}");
    assert!(stored["fields"][0]["reference"].as_str().unwrap_or("").starts_with("400"), "{stored}");
    assert!(stored["fields"][0]["target"].as_str().unwrap_or("").starts_with("200"), "{stored}");
    assert_eq!(doc["plans"][0]["classes"]["reference-wrong"], serde_json::Value::Null, "{doc}");
}

/// Two real findings of `random-ops`' date preconditions and part reads in the default scenarios (Random ops seeds 5
/// and 8; Random versioned seed 6): moto 5.2.1 answers a GET whose `If-Match` holds and whose `If-Unmodified-Since`
/// does not with 412, where S3 answers 200 (an `If-Match` that holds overrides it, RFC 9110 §13.2.2 and S3's own
/// documentation); and a HEAD with `partNumber` of a key whose current version is a delete marker with 500, where S3
/// answers 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_conditional_and_part_read_findings() {
    use aws_sdk_s3::primitives::{ByteStream, DateTime};
    use sfko::target::client::{build, ClientCredentials};
    let moto = Server::moto();
    let credentials =
        ClientCredentials::Static { access_key: support::ACCESS_KEY.into(), secret_key: support::SECRET_KEY.into() };
    let client = build(&moto.endpoint, "us-east-1", &credentials);
    let status = |e: Option<&aws_smithy_runtime_api::http::Response>| e.map(|r| r.status().as_u16());

    client.create_bucket().bucket("cond").send().await.expect("CreateBucket");
    let put = client.put_object().bucket("cond").key("k").body(ByteStream::from_static(b"abc")).send().await;
    let etag = put.expect("PutObject").e_tag().unwrap_or_default().to_string();
    let long_ago = DateTime::from_secs(946_684_800);
    let read = client.get_object().bucket("cond").key("k").if_match(&etag).if_unmodified_since(long_ago).send().await;
    let refused = read.as_ref().err().and_then(|e| status(e.raw_response()));
    assert_eq!(refused, Some(412), "the moto finding: S3 answers 200 (If-Match holds)");
    let alone = client.get_object().bucket("cond").key("k").if_unmodified_since(long_ago).send().await;
    assert_eq!(alone.as_ref().err().and_then(|e| status(e.raw_response())), Some(412), "alone, 412 is right");

    client.create_bucket().bucket("parts").send().await.expect("CreateBucket");
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    client.put_bucket_versioning().bucket("parts").versioning_configuration(enabled).send().await.expect("versioning");
    client.put_object().bucket("parts").key("k").body(ByteStream::from_static(b"abc")).send().await.expect("Put");
    client.delete_object().bucket("parts").key("k").send().await.expect("a delete marker");
    let head = client.head_object().bucket("parts").key("k").part_number(1).send().await;
    assert_eq!(
        head.as_ref().err().and_then(|e| status(e.raw_response())),
        Some(500),
        "the moto finding: S3 answers 404"
    );
    let get = client.get_object().bucket("parts").key("k").part_number(1).send().await;
    assert_eq!(get.as_ref().err().and_then(|e| status(e.raw_response())), Some(404), "GET gets it right");
}

/// A real finding: moto 5.2.1's ListMultipartUploads ignores `max-uploads` (every upload on one page, not
/// truncated) and lists uploads in the order they were created, where S3 sorts them by key. `list-uploads` holds
/// each page to the next uploads in key order, as many as were asked for.
#[test]
fn moto_pages_uploads_neither_by_size_nor_by_key() {
    let work = Workdir::new();
    work.scenarios("- name: uploads\n  objects: {count: 12, size: 0B}\n  tests: [list-uploads]\n");
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "5", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let first = &doc["failures"][0];
    assert_eq!(first["request"], "ListMultipartUploads", "{doc}");
    let got = first["got"].as_str().unwrap_or("");
    assert!(got.contains("unexpected") || got.contains("was expected"), "{first}");
}

/// Real findings of `random-ops`' multipart checksums: moto 5.2.1 keeps the algorithm and type a
/// CreateMultipartUpload declares, but stores an UploadPart whose `x-amz-checksum-crc32` does not match its body
/// (S3: `400 BadDigest`), answers a part with no checksum, and gives a COMPOSITE object's checksum to HEAD without
/// the `-N` part count that its GET (and S3) append — so a client that tells composite values by that suffix
/// (botocore does) takes it for a checksum of the whole content, which it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_multipart_checksum_findings() {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
    use sfko::checksum::{composite, Algorithm};
    use sfko::target::client::{build, ClientCredentials};
    let moto = Server::moto();
    let credentials =
        ClientCredentials::Static { access_key: support::ACCESS_KEY.into(), secret_key: support::SECRET_KEY.into() };
    let client = build(&moto.endpoint, "us-east-1", &credentials);
    let crc32 = |bytes: &[u8]| {
        let mut hasher = Algorithm::Crc32.hasher();
        hasher.update(bytes);
        hasher.finish()
    };
    client.create_bucket().bucket("sums").send().await.expect("CreateBucket");
    let created = client
        .create_multipart_upload()
        .bucket("sums")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_type(ChecksumType::Composite)
        .send()
        .await
        .expect("CreateMPU");
    assert_eq!(created.checksum_type(), Some(&ChecksumType::Composite), "the declaration is kept");
    let id = created.upload_id().expect("upload id").to_string();
    let (first, second) = (vec![7u8; 5 * 1024 * 1024], b"tail".to_vec());
    let part = |number: i32, bytes: &[u8], sum: String| {
        let call = client.upload_part().bucket("sums").key("k").upload_id(&id).part_number(number);
        call.checksum_crc32(sum).body(ByteStream::from(bytes.to_vec())).send()
    };
    let wrong = part(2, &second, crc32(&first)).await;
    assert!(wrong.is_ok(), "the moto finding: a wrong part checksum is stored (S3: 400 BadDigest)");
    let one = part(1, &first, crc32(&first)).await.expect("part 1");
    assert_eq!(one.checksum_crc32(), None, "moto answers a part with no checksum (S3 answers it)");
    let two = part(2, &second, crc32(&second)).await.expect("part 2");
    let listed = [(1, one.e_tag(), crc32(&first)), (2, two.e_tag(), crc32(&second))].map(|(n, etag, sum)| {
        CompletedPart::builder().part_number(n).set_e_tag(etag.map(str::to_string)).checksum_crc32(sum).build()
    });
    let upload = CompletedMultipartUpload::builder().set_parts(Some(listed.to_vec())).build();
    let call = client.complete_multipart_upload().bucket("sums").key("k").upload_id(&id).multipart_upload(upload);
    // The completion takes effect; its answer's root is moto's known `<CompleteMultipartUploadResponse>` finding.
    let _ = call.send().await;
    let expected = composite(Algorithm::Crc32, &[&crc32(&first), &crc32(&second)]).expect("composite");
    let get = client.get_object().bucket("sums").key("k").checksum_mode(ChecksumMode::Enabled).send().await;
    assert_eq!(get.expect("Get").checksum_crc32(), Some(expected.as_str()), "GET gets it right");
    let head = client.head_object().bucket("sums").key("k").checksum_mode(ChecksumMode::Enabled).send().await;
    let head = head.expect("Head");
    let bare = expected.split('-').next().unwrap_or_default();
    assert_eq!(head.checksum_crc32(), Some(bare), "the moto finding: HEAD drops the -2");
}
