//! The workload and check catalogue on real servers: moto (versioning, delete markers, listings, copies) and s3s-fs
//! (`sfko serve`, with and without seeded faults).

mod support;

use support::{code, json, stderr, Server, Workdir};

/// The scenario of the catalogue issue, verbatim.
const VERSIONS: &str = "\
scenarios:
  - name: versions
    required: {buckets: [{versioning: true}]}
    objects: {count: 20, size: 4K}
    tests: [put-versions, delete-versions, overwrite]
    checks: [check-versions, check-list, check-backend]
";

const CATALOGUE: &str = "\
- name: versioned catalogue
  required: {buckets: [{versioning: true}]}
  objects: {count: 12, size: {min: 0B, max: 4M}}
  tests: [put, put-versions, copy, delete, delete-versions, head, get-range, mpu-abort, list]
  checks: [check-versions, check-list, check-backend, check-etag]
- name: plain catalogue
  required: {buckets: 2}
  objects: {count: 12, size: {min: 0B, max: 4M}}
  tests: [put, overwrite, copy, get-range, head, list, mpu-abort, delete]
  checks: [check-backend, check-etag, check-list]
";

#[test]
fn versions_scenario_passes_on_moto_and_on_the_embedded_target() {
    let work = Workdir::new();
    work.scenarios(VERSIONS);
    let moto = Server::moto();
    for seed in ["1", "2", "3"] {
        let out = work.sfko(&["--seed", seed, "--endpoint", &moto.endpoint, "--format", "json"]);
        assert_eq!(code(&out), 0, "seed {seed}: {}", stderr(&out));
        assert_eq!(json(&out)["verdict"], "pass");
    }
    // The embedded s3s-fs runs it too, with sfko's versioning layer (tests/versioned.rs covers it in depth).
    let out = work.sfko(&["--seed", "1", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["runs"][0]["verdict"], "pass");
}

#[test]
fn the_catalogue_passes_on_moto_and_replays() {
    let work = Workdir::new();
    work.scenarios(CATALOGUE);
    let moto = Server::moto();
    let out = work.sfko(&["--seed", "4", "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["verdict"], "pass", "{doc}");
    let journal = doc["runs"][0]["journal"].as_str().expect("journal").to_string();
    let out = work.sfko(&["replay", &journal, "--endpoint", &moto.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let replay = json(&out);
    assert_eq!(replay["reproduced"], true, "{replay}");
    assert_eq!(replay["first_divergence"], serde_json::Value::Null, "{replay}");
}

#[test]
fn check_list_catches_a_dropped_listing_entry() {
    let work = Workdir::new();
    work.scenarios(
        "- name: listed\n  objects: {count: 40, size: 1K}\n  tests: [put]\n  checks: [check-list, check-backend]\n",
    );
    let faulty = Server::s3s_fs(&["list-drop"], 2, 10);
    let out = work.sfko(&["--seed", "6", "--endpoint", &faulty.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    for failure in doc["failures"].as_array().expect("failures") {
        assert_eq!(failure["by"], "check-list", "the object is still readable, only the listing lies: {failure}");
        assert_eq!(failure["request"], "ListObjectsV2", "{failure}");
    }
    let corpus = work.corpus_files()[0].to_string_lossy().to_string();
    let out = work.sfko(&["replay", &corpus, "--endpoint", &faulty.endpoint, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["reproduced"], true);
}

/// Multipart corner cases on the reference server: every part reads back by `partNumber` (GET and HEAD, the whole
/// object's ETag), and aborted uploads are gone — from ListParts and from ListMultipartUploads, which the reference
/// server answers (plain s3s-fs ignores `partNumber` and has no ListMultipartUploads: tests/reference_server.rs pins
/// both).
#[test]
fn multipart_parts_read_back_by_number() {
    let work = Workdir::new();
    work.scenarios(
        "- name: mpu\n  objects: {count: 4, size: 11M}\n  tests: [put-mpu, copy, mpu-abort]\n  checks: [check-mpu, check-etag]\n",
    );
    let out = work.sfko(&["--seed", "3", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let unsupported = &doc["runs"][0]["unsupported"];
    assert!(!unsupported.to_string().contains("ListMultipartUploads"), "the reference server answers it: {doc}");
    assert!(doc["runs"][0]["counts"]["expectations"].as_u64() > Some(0), "{doc}");
}
