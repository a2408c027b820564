//! The nemesis: network faults from sfko's own proxy and user actions, on a seeded schedule of op positions. The
//! oracle must stay honest under them (no false alarm), every window is in the journal, a replay re-applies them at
//! the same positions, and a server killed and restarted mid-run loses no acknowledged write.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use sfko::journal::{Frame, JournalReader, NemesisRecord};
use support::{code, free_port, json, stderr, wait_for_port, Workdir};

const SCENARIOS: &str = "\
- name: small writes
  objects: {count: 60, size: {min: 0B, max: 64K}}
  tests: [put, overwrite, get, delete]
  checks: [check-backend, check-etag, check-list]
- name: random
  required: {buckets: [{versioning: true}, {}]}
  tests: [random-ops]
  random_ops: {ops: 150, concurrency: 4, keys: 5}
";

/// (window, first op, end op, fault) of every window a journal recorded.
fn windows(journal: &Path) -> BTreeSet<(u64, u64, u64, String)> {
    let mut reader = JournalReader::open(journal).expect("open journal");
    let mut found = BTreeSet::new();
    while let Ok(Some(frame)) = reader.next_frame() {
        if let Frame::Nemesis(NemesisRecord::Window(w)) = frame {
            found.insert((w.number, w.start, w.end, w.fault));
        }
    }
    found
}

/// The journal under `dir/.sfko/journals` whose file name starts with `prefix`.
fn journal_named(dir: &Path, prefix: &str) -> std::path::PathBuf {
    let journals = dir.join(".sfko/journals").read_dir().expect("journals");
    let mut paths = journals.filter_map(|e| e.ok()).map(|e| e.path());
    paths.find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))).expect("the journal")
}

#[test]
fn network_faults_raise_no_false_alarm_and_a_replay_reapplies_them_at_the_same_positions() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let nemesis = ["--nemesis", "all", "--nemesis-every", "12", "--nemesis-length", "4"];
    let mut injected = 0u64;
    for seed in ["1", "2"] {
        let mut args = vec!["--seed", seed, "--format", "json"];
        args.extend(nemesis);
        let out = work.sfko(&args);
        let doc = json(&out);
        assert_eq!(code(&out), 0, "seed {seed}: no false alarm under network faults: {doc}\n{}", stderr(&out));
        for run in doc["runs"].as_array().expect("runs") {
            assert!(run["nemesis"]["windows"].as_u64().unwrap_or(0) > 0, "{run}");
            injected +=
                run["nemesis"]["injected"].as_object().map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
        }
    }
    assert!(injected > 20, "the proxy hit requests: {injected}");

    // The proxy hits requests by the op (and attempt) they belong to, so the replay meets the same faults on the
    // same requests however the ops overlap: it passes as the run did, with the same windows and the same hits.
    for prefix in ["1-random", "1-small-writes", "2-random"] {
        let journal = journal_named(work.path(), prefix);
        let recorded = windows(&journal);
        assert!(!recorded.is_empty());
        let journal = journal.to_string_lossy().to_string();
        let out = work.sfko(&["replay", &journal, "--format", "json"]);
        let replay = json(&out);
        assert_eq!(code(&out), 0, "{prefix}: the replay reproduces the passing run: {replay}\n{}", stderr(&out));
        let replayed = journal_named(work.path(), &format!("replay-{prefix}"));
        assert_eq!(windows(&replayed), recorded, "the replay re-applied every window at the same op positions");
        // `sfko show` lists the schedule and every window, for people and for scripts.
        let shown = work.sfko(&["show", &journal, "--format", "json"]);
        let text = String::from_utf8_lossy(&shown.stdout);
        let shown_windows = text.lines().filter(|l| l.starts_with(r#"{"nemesis":{"Window""#)).count();
        assert_eq!(shown_windows, recorded.len(), "{text}");
        assert!(text.lines().any(|l| l.starts_with(r#"{"nemesis":{"Schedule""#)), "{text}");
        let human = work.sfko(&["show", &journal, "--failures"]);
        let human = String::from_utf8_lossy(&human.stdout);
        assert_eq!(human.lines().filter(|l| l.trim_start().starts_with("FAULT ")).count(), recorded.len(), "{human}");
    }
}

#[test]
fn an_unknown_network_fault_is_bad_input_naming_the_known_ones() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "1", "--nemesis", "partition"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("reset-after"), "{}", stderr(&out));
}

/// A user action kills `sfko serve` (SIGKILL) mid-run and its heal starts it again on the same data dir: every
/// write acknowledged before the kill reads back afterwards, and the windows record the commands' exit statuses.
#[test]
fn a_server_killed_and_restarted_mid_run_loses_no_acknowledged_write() {
    let work = Workdir::new();
    work.scenarios(
        "- name: crash\n  required: {buckets: [{versioning: true}, {}]}\n  objects: {count: 40, size: {min: 0B, max: 32K}}\n  tests: [put, overwrite, put-versions]\n  checks: [check-backend, check-versions, check-list]\n",
    );
    let port = free_port();
    let data = work.path().join("data");
    let sfko = env!("CARGO_BIN_EXE_sfko");
    let pidfile = work.path().join("serve.pid");
    let start = format!(
        "nohup {sfko} serve --listen 127.0.0.1:{port} --root {} >/dev/null 2>&1 & echo $! > {}",
        data.display(),
        pidfile.display()
    );
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&start)
        .env("SFKO_ACCESS_KEY", support::ACCESS_KEY)
        .env("SFKO_SECRET_KEY", support::SECRET_KEY)
        .status()
        .expect("start sfko serve");
    assert!(status.success());
    wait_for_port(port, std::time::Duration::from_secs(20));
    let config = format!(
        "target: {{endpoint: 'http://127.0.0.1:{port}'}}\nnemesis:\n  every: 30\n  length: 10\n  actions:\n    - name: kill-serve\n      run: 'kill -9 $(cat {pid})'\n      heal: \"{start}\"\n      health: \"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'\"\n",
        pid = pidfile.display(),
    );
    std::fs::write(work.path().join("sfko.yaml"), config).expect("config");
    let out = work.sfko(&["--seed", "5", "--config", "sfko.yaml", "--format", "json"]);
    let doc = json(&out);
    let kill = |pid: &Path| {
        if let Ok(pid) = std::fs::read_to_string(pid) {
            let _ = std::process::Command::new("kill").args(["-9", pid.trim()]).status();
        }
    };
    kill(&pidfile);
    assert_eq!(code(&out), 0, "{doc}\n{}", stderr(&out));
    let run = &doc["runs"][0];
    assert!(run["nemesis"]["injected"]["kill-serve"].as_u64().unwrap_or(0) >= 1, "the server was killed: {run}");
    assert_eq!(run["nemesis"]["actions_failed"], 0, "{run}");
    assert_eq!(run["nemesis"]["unhealthy"], 0, "{run}");
}
