//! Ctrl-C and crashes leave a readable journal of what ran.

mod support;

use std::time::Duration;

use support::{code, sfko_command, stderr, Workdir};

const SCENARIOS: &str =
    "- name: long\n  objects: {count: 20000, size: 1K}\n  tests: [put, get]\n  checks: [check-backend]\n";

fn start(work: &Workdir) -> std::process::Child {
    sfko_command(work.path())
        .args(["--seed", "1", "--journal", "long.bin", "-q", "--concurrency", "4"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sfko")
}

/// Where the ops of a journal being written start: past the magic and the header and plan frames (each a
/// little-endian u32 length and that many bytes), once both are on disk. The plan is written in pieces as it is
/// encoded, so a size alone does not say that ops have begun.
fn ops_offset(bytes: &[u8]) -> Option<usize> {
    let mut at = sfko::journal::MAGIC.len();
    for _ in 0..2 {
        let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4 + len;
    }
    (bytes.len() >= at).then_some(at)
}

/// Waits until the journal being written holds ops: well past its header and plan.
fn wait_for_partial(work: &Workdir) {
    let partial = work.path().join("long.bin.partial");
    for _ in 0..400 {
        let bytes = std::fs::read(&partial).unwrap_or_default();
        if ops_offset(&bytes).is_some_and(|ops| bytes.len() > ops + 50_000) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("no journal progress");
}

#[test]
fn ctrl_c_finishes_the_journal_as_incomplete() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let mut child = start(&work);
    wait_for_partial(&work);
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert_eq!(exit.code(), Some(3), "interrupted runs exit 3");
    assert!(work.path().join("long.bin").exists(), "the journal is finished and moved into place");
    let out = work.sfko(&["replay", "long.bin", "--format", "json", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = support::json(&out);
    assert_eq!(doc["recorded_verdict"], "incomplete");
    assert!(doc["ops"].as_u64().unwrap_or(0) > 10);
}

#[test]
fn a_killed_run_leaves_a_partial_journal_reported_as_truncated() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let mut child = start(&work);
    wait_for_partial(&work);
    child.kill().expect("kill");
    let _ = child.wait();
    let out = work.sfko(&["replay", "long.bin.partial"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("truncated journal"), "{}", stderr(&out));
}
