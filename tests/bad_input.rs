//! Bad input gets a located message and exit 2, never a panic.

mod support;

use support::{code, stderr, Workdir};

#[test]
fn malformed_scenario_names_file_line_and_column() {
    let work = Workdir::new();
    work.scenarios("scenarios:\n  - name: broken\n    objects: {count: 3, size: 10Q}\n    tests: [put]\n");
    let out = work.sfko(&["--seed", "1"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("test.yaml:3:"), "no location in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_test_lists_the_known_ones() {
    let work = Workdir::new();
    work.scenarios("- name: typo\n  tests: [putt]\n");
    let out = work.sfko(&["--seed", "1"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("test.yaml:2:"), "{err}");
    assert!(err.contains("putt") && err.contains("put-mpu") && err.contains("delete"), "{err}");
}

#[test]
fn unknown_scenario_name_is_bad_input() {
    let work = Workdir::new();
    work.scenarios("- name: one\n  tests: [put]\n");
    let out = work.sfko(&["--seed", "1", "--scenario", "two"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("one"), "should list the available scenarios: {}", stderr(&out));
}

#[test]
fn endpoint_must_be_a_url() {
    let work = Workdir::new();
    work.scenarios("- name: one\n  tests: [put]\n");
    let out = work.sfko(&["--seed", "1", "--endpoint", "localhost:9000"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("http://"), "{}", stderr(&out));
}

#[test]
fn config_errors_are_located() {
    let work = Workdir::new();
    work.scenarios("- name: one\n  tests: [put]\n");
    std::fs::write(work.path().join("sfko.yaml"), "target:\n  endpiont: http://127.0.0.1:1\n").expect("write config");
    let out = work.sfko(&["--seed", "1", "--config", "sfko.yaml"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("sfko.yaml:2:3"), "{}", stderr(&out));
}

/// Records one small run and returns the journal's path.
fn record(work: &Workdir) -> std::path::PathBuf {
    work.scenarios("- name: small\n  objects: {count: 5, size: 1K}\n  tests: [put]\n  checks: [check-backend]\n");
    let out = work.sfko(&["--seed", "5", "--journal", "j.bin", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    work.path().join("j.bin")
}

#[test]
fn truncated_journal_is_reported_as_truncated() {
    let work = Workdir::new();
    let journal = record(&work);
    let bytes = std::fs::read(&journal).expect("read journal");
    std::fs::write(work.path().join("cut.bin"), &bytes[..bytes.len() * 2 / 3]).expect("write");
    let out = work.sfko(&["replay", "cut.bin"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("truncated journal"), "{}", stderr(&out));
}

#[test]
fn edited_journal_is_reported_as_damaged() {
    let work = Workdir::new();
    let journal = record(&work);
    let mut bytes = std::fs::read(&journal).expect("read journal");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(work.path().join("edited.bin"), &bytes).expect("write");
    let out = work.sfko(&["replay", "edited.bin"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("corrupt journal") || err.contains("modified or damaged"), "{err}");
}

#[test]
fn not_a_journal_is_said_plainly() {
    let work = Workdir::new();
    std::fs::write(work.path().join("x.bin"), b"hello").expect("write");
    let out = work.sfko(&["replay", "x.bin"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not an sfko journal"), "{}", stderr(&out));
    let out = work.sfko(&["replay", "missing.bin"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.bin"), "{}", stderr(&out));
}
