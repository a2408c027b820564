//! The embedded target's versioning layer (src/target/versioned.rs): S3 version semantics seen through the AWS SDK,
//! the catalogue's versions scenario passing on the embedded target instead of being skipped, and the seeded
//! `version-lost` fault caught by sfko's own checks.

mod support;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration};
use aws_sdk_s3::Client;
use sfko::target::client::{build, ClientCredentials};
use sfko::target::embedded::{EmbeddedServer, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY};
use support::{code, json, stderr, Server, Workdir};

/// The catalogue's scenario (scenarios/catalogue/versions.yaml), verbatim.
const VERSIONS: &str = "\
scenarios:
  - name: versions
    required: {buckets: [{versioning: true}]}
    objects: {count: 20, size: 4K}
    tests: [put-versions, delete-versions, overwrite]
    checks: [check-versions, check-list, check-backend]
";

const LOST: &str = "\
- name: lost versions
  required: {buckets: [{versioning: true}]}
  objects: {count: 12, size: 2K}
  tests: [put-versions, delete-versions]
  checks: [check-versions, check-list]
- name: random versions
  required: {buckets: [{versioning: true}]}
  objects: {count: 4, size: {min: 0B, max: 64K}}
  tests: [random-ops]
  random_ops: {ops: 300, concurrency: 4, keys: 6, weights: {versioning: 3}}
";

#[test]
fn the_catalogue_versions_scenario_passes_on_the_embedded_target() {
    let work = Workdir::new();
    work.scenarios(VERSIONS);
    for seed in ["1", "2", "3"] {
        let out = work.sfko(&["--seed", seed, "--format", "json"]);
        assert_eq!(code(&out), 0, "seed {seed}: {}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["runs"][0]["verdict"], "pass", "seed {seed}, not skipped: {doc}");
        assert!(doc["runs"][0]["counts"]["expectations"].as_u64().unwrap_or(0) > 0, "{doc}");
    }
}

/// Random operations on a versioned bucket, versioning toggled between Enabled and Suspended, judged by the S3 model.
#[test]
fn random_ops_on_a_versioned_bucket_pass_on_the_embedded_target_and_clean_up() {
    let work = Workdir::new();
    work.scenarios(LOST);
    for seed in ["1", "2"] {
        let out = work.sfko(&["--seed", seed, "--scenario", "random versions", "--format", "json"]);
        assert_eq!(code(&out), 0, "seed {seed}: {}", stderr(&out));
        let doc = json(&out);
        assert_eq!(doc["runs"][0]["verdict"], "pass", "{doc}");
        assert_eq!(doc["runs"][0]["left_behind"], serde_json::json!([]), "null versions are cleaned up too: {doc}");
    }
}

/// The first seed in 1..=20 whose run of `scenario` against `endpoint` fails (exit 1), with its report.
fn first_failure(work: &Workdir, endpoint: &str, scenario: &str) -> (u64, serde_json::Value) {
    for seed in 1..=20u64 {
        let seed_arg = seed.to_string();
        let out = work.sfko(&["--seed", &seed_arg, "--scenario", scenario, "--endpoint", endpoint, "--format", "json"]);
        match code(&out) {
            0 => continue,
            1 => return (seed, json(&out)),
            other => panic!("{scenario}, seed {seed}: exit {other}: {}", stderr(&out)),
        }
    }
    panic!("{scenario}: version-lost went unnoticed for seeds 1..=20");
}

#[test]
fn a_lost_noncurrent_version_is_caught_by_the_version_checks_and_random_ops() {
    let work = Workdir::new();
    work.scenarios(LOST);
    let faulty = Server::s3s_fs(&["version-lost"], 7, 4);
    let (seed, doc) = first_failure(&work, &faulty.endpoint, "lost versions");
    let failures = doc["failures"].as_array().expect("failures");
    assert!(!failures.is_empty(), "{doc}");
    for failure in failures {
        let by = failure["by"].as_str().unwrap_or("");
        assert!(by == "check-versions" || by == "check-list", "seed {seed}: only the version checks see it: {failure}");
    }
    let (seed, doc) = first_failure(&work, &faulty.endpoint, "random versions");
    let failures = doc["failures"].as_array().expect("failures");
    assert!(failures.iter().all(|f| f["by"] == "random-ops"), "seed {seed}: {doc}");
}

async fn client() -> (EmbeddedServer, Client) {
    let server = EmbeddedServer::start().await.expect("embedded server");
    let credentials =
        ClientCredentials::Static { access_key: EMBEDDED_ACCESS_KEY.into(), secret_key: EMBEDDED_SECRET_KEY.into() };
    let client = build(server.endpoint(), "us-east-1", &credentials);
    (server, client)
}

async fn set_versioning(client: &Client, bucket: &str, status: BucketVersioningStatus) {
    let config = VersioningConfiguration::builder().status(status).build();
    client.put_bucket_versioning().bucket(bucket).versioning_configuration(config).send().await.expect("versioning");
}

async fn put(client: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = client.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await;
    out.expect("put").version_id().expect("a version id").to_string()
}

async fn read(client: &Client, bucket: &str, key: &str, version: Option<&str>) -> Result<(Vec<u8>, String), String> {
    let out = client.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_string)).send().await;
    let out = out.map_err(|e| {
        let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
        format!("{status} {}", aws_sdk_s3::error::ProvideErrorMetadata::code(&e).unwrap_or(""))
    })?;
    let etag = out.e_tag().unwrap_or_default().to_string();
    let bytes = out.body.collect().await.map_err(|e| e.to_string())?.into_bytes().to_vec();
    Ok((bytes, etag))
}

/// (key, version id, is_latest, delete marker) in listing order, following every page of `page` entries.
async fn list_all(client: &Client, bucket: &str, page: i32) -> Vec<(String, String, bool, bool)> {
    let (mut rows, mut key_marker, mut id_marker) = (Vec::new(), None, None);
    loop {
        let out = client
            .list_object_versions()
            .bucket(bucket)
            .max_keys(page)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(id_marker.clone())
            .send()
            .await
            .expect("list versions");
        let mut got: Vec<(String, String, bool, bool)> = out
            .versions()
            .iter()
            .map(|v| {
                (v.key().unwrap_or("").into(), v.version_id().unwrap_or("").into(), v.is_latest() == Some(true), false)
            })
            .chain(out.delete_markers().iter().map(|m| {
                (m.key().unwrap_or("").into(), m.version_id().unwrap_or("").into(), m.is_latest() == Some(true), true)
            }))
            .collect();
        assert!(got.len() <= page as usize);
        got.sort_by_key(|row| (row.0.clone(), std::cmp::Reverse(row.1.clone())));
        rows.extend(got);
        if out.is_truncated() != Some(true) {
            return rows;
        }
        key_marker = out.next_key_marker().map(str::to_string);
        id_marker = out.next_version_id_marker().map(str::to_string);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_delete_markers_and_restores_follow_s3() {
    let (_server, client) = client().await;
    let bucket = "versions";
    client.create_bucket().bucket(bucket).send().await.expect("create");
    set_versioning(&client, bucket, BucketVersioningStatus::Enabled).await;
    let status = client.get_bucket_versioning().bucket(bucket).send().await.expect("get versioning");
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Enabled));

    let v1 = put(&client, bucket, "k", b"one").await;
    let v2 = put(&client, bucket, "k", b"two").await;
    assert_ne!(v1, v2);
    assert_eq!(read(&client, bucket, "k", None).await.expect("current").0, b"two");
    assert_eq!(read(&client, bucket, "k", Some(&v1)).await.expect("v1").0, b"one");
    assert_eq!(read(&client, bucket, "k", Some("no-such-version")).await.unwrap_err(), "404 NoSuchVersion");

    // A plain delete leaves a delete marker; reading it by id is refused.
    let deleted = client.delete_object().bucket(bucket).key("k").send().await.expect("delete");
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().expect("marker id").to_string();
    assert_eq!(read(&client, bucket, "k", None).await.unwrap_err(), "404 NoSuchKey");
    assert_eq!(read(&client, bucket, "k", Some(&marker)).await.unwrap_err(), "405 MethodNotAllowed");
    let rows = list_all(&client, bucket, 1000).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().any(|r| r.1 == marker && r.2 && r.3), "{rows:?}");

    // Removing the marker brings v2 back; removing v2 brings v1 back.
    let out = client.delete_object().bucket(bucket).key("k").version_id(&marker).send().await.expect("rm marker");
    assert_eq!((out.delete_marker(), out.version_id()), (Some(true), Some(marker.as_str())));
    assert_eq!(read(&client, bucket, "k", None).await.expect("v2 back").0, b"two");
    client.delete_object().bucket(bucket).key("k").version_id(&v2).send().await.expect("rm v2");
    assert_eq!(read(&client, bucket, "k", None).await.expect("v1 back").0, b"one");
    assert_eq!(read(&client, bucket, "k", Some(&v2)).await.unwrap_err(), "404 NoSuchVersion");
    let listed = client.list_objects_v2().bucket(bucket).send().await.expect("list");
    assert_eq!(listed.contents().len(), 1);
    assert_eq!(listed.contents()[0].size(), Some(3));

    // Suspended: writes replace the single null version; older versions stay.
    set_versioning(&client, bucket, BucketVersioningStatus::Suspended).await;
    assert_eq!(put(&client, bucket, "k", b"null one").await, "null");
    assert_eq!(put(&client, bucket, "k", b"null two").await, "null");
    assert_eq!(read(&client, bucket, "k", Some("null")).await.expect("null").0, b"null two");
    assert_eq!(read(&client, bucket, "k", Some(&v1)).await.expect("v1 kept").0, b"one");
    let rows = list_all(&client, bucket, 1000).await;
    assert_eq!(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["null", v1.as_str()], "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_by_key_and_version_marker_and_multipart_etags_survive_restores() {
    let (_server, client) = client().await;
    let bucket = "pages";
    client.create_bucket().bucket(bucket).send().await.expect("create");
    set_versioning(&client, bucket, BucketVersioningStatus::Enabled).await;
    for key in ["b", "a/x", "c"] {
        for n in 0..3 {
            put(&client, bucket, key, format!("{key}{n}").as_bytes()).await;
        }
    }
    client.delete_object().bucket(bucket).key("c").send().await.expect("marker");
    let all = list_all(&client, bucket, 1000).await;
    assert_eq!(all.len(), 10);
    let keys: Vec<&str> = all.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys, ["a/x", "a/x", "a/x", "b", "b", "b", "c", "c", "c", "c"]);
    for page in [1, 2, 3, 4] {
        assert_eq!(list_all(&client, bucket, page).await, all, "page size {page}");
    }
    let latest: Vec<bool> = all.iter().map(|r| r.2).collect();
    assert_eq!(latest, [true, false, false, true, false, false, true, false, false, false]);
    let prefixed = client.list_object_versions().bucket(bucket).prefix("a/").send().await.expect("prefix");
    assert_eq!(prefixed.versions().len(), 3);

    // A multipart version restored after its successor is deleted keeps its `-N` ETag.
    let part = vec![7u8; 5 * 1024 * 1024];
    let upload = client.create_multipart_upload().bucket(bucket).key("m").send().await.expect("create mpu");
    let upload_id = upload.upload_id().expect("upload id");
    let mut parts = Vec::new();
    for number in 1..=2 {
        let out = client
            .upload_part()
            .bucket(bucket)
            .key("m")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .expect("part");
        parts.push(CompletedPart::builder().part_number(number).e_tag(out.e_tag().unwrap_or_default()).build());
    }
    let done = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("m")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    let mpu_version = done.version_id().expect("the completion names its version").to_string();
    let mpu_etag = done.e_tag().expect("etag").to_string();
    assert!(mpu_etag.ends_with("-2\""), "{mpu_etag}");
    let single = put(&client, bucket, "m", b"small").await;
    client.delete_object().bucket(bucket).key("m").version_id(&single).send().await.expect("rm");
    let head = client.head_object().bucket(bucket).key("m").send().await.expect("head");
    assert_eq!(head.e_tag(), Some(mpu_etag.as_str()));
    assert_eq!(head.version_id(), Some(mpu_version.as_str()));
    assert_eq!(head.content_length(), Some(10 * 1024 * 1024));
    let by_id = client.head_object().bucket(bucket).key("m").version_id(&mpu_version).send().await.expect("head id");
    assert_eq!(by_id.e_tag(), Some(mpu_etag.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_written_before_versioning_become_null_versions() {
    let (_server, client) = client().await;
    let bucket = "late";
    client.create_bucket().bucket(bucket).send().await.expect("create");
    let before = client.put_object().bucket(bucket).key("d/old").body(ByteStream::from_static(b"old")).send().await;
    assert_eq!(before.expect("put").version_id(), None, "an unversioned bucket names no versions");
    set_versioning(&client, bucket, BucketVersioningStatus::Enabled).await;
    assert_eq!(list_all(&client, bucket, 1000).await, [("d/old".to_string(), "null".to_string(), true, false)]);
    let new = put(&client, bucket, "d/old", b"new").await;
    assert_eq!(read(&client, bucket, "d/old", Some("null")).await.expect("null version").0, b"old");
    assert_eq!(read(&client, bucket, "d/old", Some(&new)).await.expect("new version").0, b"new");
    let range = client.get_object().bucket(bucket).key("d/old").version_id(&new).range("bytes=5-9").send().await;
    let status = range.err().and_then(|e| e.raw_response().map(|r| r.status().as_u16()));
    assert_eq!(status, Some(416), "a bad range on a version is a bad range, not a missing version");
}

/// The layer removes and replaces live files itself: a key naming an absolute path or climbing out with `..` must
/// never reach a file outside the server's data dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_reach_files_outside_the_data_dir() {
    let (_server, client) = client().await;
    let bucket = "escape";
    client.create_bucket().bucket(bucket).send().await.expect("create");
    set_versioning(&client, bucket, BucketVersioningStatus::Enabled).await;
    let outside = tempfile::tempdir().expect("tempdir");
    let canary = outside.path().join("canary");
    std::fs::write(&canary, b"still here").expect("canary");
    let absolute = canary.to_string_lossy().to_string();
    let climbing = format!("../../../../../../../..{absolute}");
    for key in [absolute.as_str(), climbing.as_str()] {
        let _ = client.delete_object().bucket(bucket).key(key).send().await;
        let _ = client.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"x")).send().await;
        let _ = client.delete_object().bucket(bucket).key(key).send().await;
    }
    assert_eq!(std::fs::read(&canary).expect("canary kept"), b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_dot_segments_and_double_slashes_are_versioned_where_s3s_fs_keeps_them() {
    let (_server, client) = client().await;
    let bucket = "dots";
    client.create_bucket().bucket(bucket).send().await.expect("create");
    set_versioning(&client, bucket, BucketVersioningStatus::Enabled).await;
    for key in ["dots/../4", "dbl//5", "./k"] {
        let first = put(&client, bucket, key, b"first").await;
        put(&client, bucket, key, b"second").await;
        assert_eq!(read(&client, bucket, key, Some(&first)).await.expect("first").0, b"first", "{key}");
        assert_eq!(read(&client, bucket, key, None).await.expect("current").0, b"second", "{key}");
    }
}
