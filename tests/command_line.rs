//! The command line as users' scripts rely on it: flags that would do nothing are refused (exit 2, naming them), a
//! config that names no target is not silently replaced by the embedded one, repro lines reproduce, and journals can
//! be read as JSON lines.

mod support;

use support::{code, json, stderr, Workdir};

const SCENARIOS: &str = "\
- name: single puts
  objects: {count: 24, size: {min: 1K, max: 64K}}
  tests: [put]
  checks: [check-backend, check-etag]
- name: copies
  objects: {count: 8, size: 4K}
  tests: [put, copy]
  checks: [check-etag]
";

#[test]
fn a_flag_that_would_do_nothing_is_refused_by_name() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    for (args, flag) in [
        (&["--seed", "5", "replay", "x.bin"][..], "--seed"),
        (&["--runs", "3", "list"][..], "--runs"),
        (&["selftest", "--endpoint", "http://127.0.0.1:1"][..], "--endpoint"),
        (&["selftest", "--config", "sfko.yaml"][..], "--config"),
        (&["clean", "x.bin", "--format", "json"][..], "--format"),
        (&["serve", "--format", "json"][..], "--format"),
        (&["-c", "--endpoint", "http://127.0.0.1:1"][..], "--endpoint"),
        (&["-w", "--scenarios-path", "scenarios"][..], "--scenarios-path"),
        (&["--dry-run", "-c"][..], "--dry-run"),
    ] {
        let out = work.sfko(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("{flag} does nothing in")), "{args:?}: {err}");
    }
    // Flags of another mode after the mode's name: clap's own refusal, also exit 2 and named.
    for (args, flag) in [(&["-w", "--jobs", "3"][..], "--jobs"), (&["replay", "x.bin", "--seed", "1"][..], "--seed")] {
        let out = work.sfko(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
    // Durations and sizes are parsed where they are given.
    let out = work.sfko(&["-c", "--worker-wait", "soon"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--worker-wait"), "{}", stderr(&out));
}

#[test]
fn a_config_that_names_no_target_is_not_replaced_by_the_embedded_one() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    for text in ["", "lifecycle: {day: 1s}\n"] {
        std::fs::write(work.path().join("sfko.yaml"), text).expect("write config");
        let out = work.sfko(&["--seed", "1", "--scenario", "single puts", "--config", "sfko.yaml"]);
        assert_eq!(code(&out), 2, "{text:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("sfko.yaml") && err.contains("no target endpoint"), "{text:?}: {err}");
    }
    // The dry run touches no target, so it needs none.
    let out = work.sfko(&["--seed", "1", "--config", "sfko.yaml", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// The words of a POSIX shell command line with single quotes (what sfko's repro lines use).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut in_word) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[test]
fn the_repro_line_of_a_run_with_embedded_faults_fails_the_same_way() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let args = ["--seed", "3", "--scenario", "single puts", "--embedded-faults", "corrupt-byte"];
    let out = work.sfko(&[&args[..], &["--embedded-fault-seed", "3", "--format", "json", "-q"]].concat());
    assert_eq!(code(&out), 1, "the fault must be found: {}", stderr(&out));
    let doc = json(&out);
    let repro = doc["runs"][0]["repro"].as_str().unwrap_or_default().to_string();
    assert!(
        repro.ends_with("--embedded-faults corrupt-byte --embedded-fault-seed 3 --embedded-fault-one-in 4"),
        "{repro}"
    );
    let words = shell_words(&repro);
    assert_eq!(words.first().map(String::as_str), Some("sfko"), "{repro}");
    let again: Vec<&str> = words[1..].iter().map(String::as_str).chain(["--format", "json", "-q"]).collect();
    let out = work.sfko(&again);
    assert_eq!(code(&out), 1, "the repro, run as printed, must fail: {again:?}\n{}", stderr(&out));
    let same = json(&out);
    let failures = |doc: &serde_json::Value| -> Vec<(String, String, String)> {
        // Checks run concurrently, so failures come in completion order: compare them as a set.
        let mut all: Vec<(String, String, String)> = doc["failures"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|f| {
                        let field = |name: &str| f[name].as_str().unwrap_or_default().to_string();
                        (field("by"), field("subject"), field("request"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        all.sort();
        all
    };
    assert_eq!(failures(&same), failures(&doc), "the same failures, the same way");
    assert_eq!(same["plan_digest"], doc["plan_digest"]);
}

#[test]
fn a_copy_answered_with_a_wrong_etag_is_named_as_the_copy() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&[
        "--seed",
        "1",
        "--scenario",
        "copies",
        "--embedded-faults",
        "wrong-etag",
        "--embedded-fault-one-in",
        "1",
        "--format",
        "json",
        "-q",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json(&out);
    let failures = doc["failures"].as_array().cloned().unwrap_or_default();
    let named = |request: &str| failures.iter().any(|f| f["by"] == "check-etag" && f["request"] == request);
    assert!(named("CopyObject"), "a copied object's write is the CopyObject: {doc}");
    assert!(named("PutObject"), "an uncopied object's write is its PutObject: {doc}");
}

#[test]
fn show_prints_a_journal_as_json_lines() {
    let work = Workdir::new();
    work.scenarios(SCENARIOS);
    let out = work.sfko(&["--seed", "2", "--scenario", "copies", "--journal", "run.bin", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = work.sfko(&["show", "run.bin", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines[0].get("header").is_some() && lines[1].get("plan").is_some(), "{text}");
    assert!(lines.iter().any(|l| l.get("op").is_some()) && lines.iter().any(|l| l.get("expectation").is_some()));
    assert_eq!(lines.last().and_then(|l| l["trailer"]["verdict"].as_str()), Some("pass"), "{text}");
}

/// The help of `--embedded-faults` (and of `serve --faults`) names every fault the fixture can inject: the flag's
/// text is written by hand, so a new fault must not be left out of it.
#[test]
fn the_fault_flags_help_names_every_fault() {
    let work = Workdir::new();
    let run = work.sfko(&["--help"]);
    let serve = work.sfko(&["serve", "--help"]);
    let (run, serve) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&serve.stdout));
    for fault in sfko::target::faults::Fault::ALL {
        // Replication and lifecycle faults need `serve`'s fixtures; the embedded target cannot inject them.
        // lost-on-crash needs a server that restarts, which the embedded one never does.
        let fixture =
            fault.name().starts_with("replicate-") || ["expire-skip", "lost-on-crash"].contains(&fault.name());
        assert!(fixture || run.contains(fault.name()), "sfko --help lacks {}", fault.name());
        assert!(serve.contains(fault.name()), "sfko serve --help lacks {}", fault.name());
    }
}
