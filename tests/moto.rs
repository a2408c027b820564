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
