//! A crash target for durability: `sfko serve --root DIR` killed with SIGKILL and started again on the same DIR
//! keeps every acknowledged object, version and delete marker — and a run whose server is killed and restarted
//! mid-run reports no bug of its own making.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use sfko::target::client::{build, ClientCredentials};
use support::{code, free_port, json, sfko_command, stderr, Server, Workdir, ACCESS_KEY, SECRET_KEY};

fn serve_on(root: &std::path::Path, port: u16) -> Server {
    let listen = format!("127.0.0.1:{port}");
    Server::s3s_fs_with(&[], 0, 1, &["--root", &root.to_string_lossy(), "--listen", &listen])
}

#[tokio::test]
async fn versions_survive_a_kill_and_restart_on_the_same_data_dir() {
    let root = tempfile::tempdir().expect("data dir");
    let port = free_port();
    let server = serve_on(root.path(), port);
    let credentials = ClientCredentials::Static { access_key: ACCESS_KEY.into(), secret_key: SECRET_KEY.into() };
    let client = build(&server.endpoint, "us-east-1", &credentials);
    client.create_bucket().bucket("crash").send().await.expect("CreateBucket");
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    client.put_bucket_versioning().bucket("crash").versioning_configuration(enabled).send().await.expect("versioning");
    let put = |body: &'static str| {
        client.put_object().bucket("crash").key("k").body(ByteStream::from_static(body.as_bytes())).send()
    };
    let first = put("first").await.expect("PutObject").version_id().map(str::to_string);
    let second = put("second").await.expect("PutObject").version_id().map(str::to_string);
    let marker = client.delete_object().bucket("crash").key("k").send().await.expect("DeleteObject");
    let marker = marker.version_id().map(str::to_string);
    let before = client.list_object_versions().bucket("crash").send().await.expect("ListObjectVersions");

    drop(server); // SIGKILL
    let server = serve_on(root.path(), port);
    let client = build(&server.endpoint, "us-east-1", &credentials);
    let after = client.list_object_versions().bucket("crash").send().await.expect("ListObjectVersions");
    let ids = |list: &aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput| {
        let mut ids: Vec<Option<String>> = list.versions().iter().map(|v| v.version_id().map(str::to_string)).collect();
        ids.extend(list.delete_markers().iter().map(|m| m.version_id().map(str::to_string)));
        ids
    };
    assert_eq!(ids(&after), ids(&before), "the same versions and markers after the restart");
    assert_eq!(ids(&after).len(), 3);
    assert!(ids(&after).contains(&marker));
    for (id, body) in [(first, "first"), (second, "second")] {
        let got = client.get_object().bucket("crash").key("k").set_version_id(id).send().await.expect("GET by id");
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(&bytes[..], body.as_bytes());
    }
    // A version written after the restart gets an id of its own.
    let third = put("third").await.expect("PutObject").version_id().map(str::to_string);
    assert!(third.is_some() && !ids(&after).contains(&third), "{third:?}");
}

const VERSIONED: &str = "\
- name: versions under a crash
  required: {buckets: [{versioning: true}]}
  objects: {count: 120, size: 4K}
  tests: [put-versions, delete-versions, overwrite]
  checks: [check-versions, check-list, check-backend]
";

/// Kills `sfko serve` with SIGKILL in the middle of a run and starts it again on the same data dir and port: the
/// ops that got no answer make their keys unknown, everything acknowledged reads back, and no bug is reported.
#[test]
fn a_server_killed_and_restarted_mid_run_costs_no_false_alarm() {
    let work = Workdir::new();
    work.scenarios(VERSIONED);
    let root = tempfile::tempdir().expect("data dir");
    let port = free_port();
    let mut server = Some(serve_on(root.path(), port));
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut run = sfko_command(work.path())
        .args(["--seed", "5", "--endpoint", &endpoint, "--concurrency", "8", "--format", "json", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sfko");
    // Let the workloads get going, then crash the server and bring it back.
    let started = Instant::now();
    let partial = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join(".sfko/journals"))
            .map(|d| d.flatten().any(|e| e.metadata().map(|m| m.len() > 20_000).unwrap_or(false)))
            .unwrap_or(false)
    };
    while !partial(work.path()) && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(run.try_wait(), Ok(None)), "the run must still be going when the server dies");
    drop(server.take()); // SIGKILL mid-run
    std::thread::sleep(Duration::from_millis(200));
    server = Some(serve_on(root.path(), port));
    let out = run.wait_with_output().expect("sfko");
    let exit = code(&out);
    let err = stderr(&out);
    // 0: every acknowledged write read back; 3: a check could not read at all. Never 1: the crash is not a bug.
    assert!(exit == 0 || exit == 3, "exit {exit}: the crash must not be reported as a bug:\n{err}");
    let doc = json(&out);
    assert_eq!(doc["failures"].as_array().map(Vec::len), Some(0), "{doc}");
    drop(server);
}
