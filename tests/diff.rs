//! `sfko diff`: the embedded target against sfko's reference server (a second, healthy embedded one). Healthy against
//! healthy differs nowhere; each seeded fault shows up as `target-wrong` divergences; a recorded journal can be the
//! reference.

mod support;

use support::{code, json, stderr, Workdir};

/// The faults the embedded server injects on its own (as `sfko selftest` hunts them), each with the selftest
/// scenarios and the seed that expose it (one key in 2 hit): the diff runs only those, to stay quick. A `random-ops`
/// program is a function of the seed, so a fault only some conditional requests reveal names a seed whose program
/// sends them to a hit key.
const FAULTS: [(&str, &[&str], &str); 13] = [
    ("corrupt-byte", &["selftest single puts"], "1"),
    ("lost-write", &["selftest single puts"], "1"),
    ("stale-read", &["selftest overwrite"], "1"),
    ("wrong-etag", &["selftest single puts"], "1"),
    ("wrong-mpu-etag", &["selftest multipart"], "1"),
    ("list-drop", &["selftest single puts"], "1"),
    ("version-lost", &["selftest versions"], "1"),
    ("version-drop", &["selftest versions"], "1"),
    ("checksum-ignored", &["selftest random ops", "selftest random versions"], "1"),
    ("conditional-ignored", &["selftest random versions"], "3"),
    ("batch-delete-partial", &["selftest random ops"], "1"),
    ("metadata-lost", &["selftest metadata"], "1"),
    ("upload-list-drop", &["selftest uploads"], "1"),
];

/// The scenarios `sfko selftest` hunts with: small, and covering every fault.
fn workdir() -> Workdir {
    let work = Workdir::new();
    work.scenarios(sfko::selftest::SCENARIOS);
    work
}

/// Divergent ops of `class` over every plan of a `sfko diff --format json` document.
fn count(doc: &serde_json::Value, class: &str) -> u64 {
    let plans = doc["plans"].as_array().map(Vec::as_slice).unwrap_or_default();
    plans.iter().map(|p| p["classes"][class].as_u64().unwrap_or(0)).sum()
}

#[test]
fn healthy_against_healthy_differs_nowhere() {
    let work = workdir();
    let out = work.sfko(&["diff", "--seed", "1", "--format", "json", "-q"]);
    // The whole report on failure: which op diverged, how, and each side's verdict.
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    let doc = json(&out);
    assert_eq!(doc["verdict"], "pass", "{doc}");
    let plans = doc["plans"].as_array().expect("plans");
    assert_eq!(plans.len(), 8, "{doc}");
    for plan in plans {
        // Racing ops may take another order on each server: such a divergence is "allowed" (both answers fit the
        // model); anything else would mean the reference server disagrees with itself.
        let divergences = plan["divergences"].as_array().cloned().unwrap_or_default();
        assert!(divergences.iter().all(|d| d["class"] == "allowed"), "{plan}");
        assert!(plan["ops"].as_u64().unwrap_or(0) > 10, "{plan}");
    }
    assert!(doc["reference"].as_str().unwrap_or("").starts_with("sfko's reference server"), "{doc}");
}

#[test]
fn every_seeded_fault_shows_up_as_the_target_being_wrong() {
    // Four at a time: each diff starts two embedded servers.
    let results: Vec<(String, i32, serde_json::Value, String)> = FAULTS
        .chunks(4)
        .flat_map(|chunk| {
            let running: Vec<_> = chunk
                .iter()
                .map(|(fault, scenarios, seed)| {
                    let (fault, scenarios) = (fault.to_string(), scenarios.to_vec());
                    std::thread::spawn(move || {
                        let work = workdir();
                        let args = ["diff", "--seed", seed, "--format", "json", "-q", "--embedded-faults", &fault];
                        let mut args = args.to_vec();
                        args.extend(["--embedded-fault-one-in", "2"]);
                        for scenario in &scenarios {
                            args.extend(["--scenario", scenario]);
                        }
                        let out = work.sfko(&args);
                        let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
                        (fault, code(&out), doc, stderr(&out))
                    })
                })
                .collect();
            running.into_iter().map(|t| t.join().expect("diff thread")).collect::<Vec<_>>()
        })
        .collect();
    for ((fault, exit, doc, err), (_, _, seed)) in results.iter().zip(FAULTS) {
        assert_eq!(*exit, 1, "{fault}: {err}\n{doc}");
        assert!(count(doc, "target-wrong") > 0, "{fault}: no target-wrong divergence:\n{doc}");
        // The reference is healthy: it is never the one the model finds wrong.
        assert_eq!(count(doc, "reference-wrong") + count(doc, "both-wrong"), 0, "{fault}:\n{doc}");
        let plan = doc["plans"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["classes"]["target-wrong"].as_u64().unwrap_or(0) > 0))
            .expect("a plan with a target-wrong divergence");
        let entry = plan["divergences"]
            .as_array()
            .and_then(|d| d.iter().find(|e| e["class"] == "target-wrong"))
            .expect("a target-wrong entry");
        // Each side's answer is shown, and the expectation the target broke.
        assert!(!entry["fields"][0]["reference"].is_null() && !entry["fields"][0]["target"].is_null(), "{entry}");
        assert!(entry["judged"].as_array().is_some_and(|j| j.iter().any(|j| !j["target"].is_null())), "{entry}");
        let repro = plan["repro"].as_str().unwrap_or("");
        let start = format!("sfko diff --seed {seed} --scenario '");
        assert!(repro.starts_with(&start) && repro.contains(fault.as_str()), "{repro}");
        assert!(plan["reference_journal"].as_str().is_some_and(|p| p.starts_with("corpus/")), "{plan}");
    }
}

#[test]
fn a_recorded_journal_can_be_the_reference() {
    let work = workdir();
    let out = work.sfko(&["--seed", "2", "--scenario", "selftest single puts", "--journal", "ref.bin", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The same target, healthy: nothing differs.
    let out = work.sfko(&["diff", "--reference-journal", "ref.bin", "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SAME  selftest single puts  seed 2"), "{text}");
    // A target that corrupts bytes: the reads of corrupted objects differ, and the model says the target is wrong.
    let out = work.sfko(&[
        "diff",
        "--reference-journal",
        "ref.bin",
        "-q",
        "--embedded-faults",
        "corrupt-byte",
        "--embedded-fault-one-in",
        "2",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DIFF  selftest single puts  seed 2"), "{text}");
    assert!(text.contains("target-wrong") && text.contains("body_digest: reference "), "{text}");
    assert!(text.contains("repro: sfko diff --reference-journal ref.bin"), "{text}");
}

#[test]
fn a_reference_config_without_an_endpoint_is_bad_input() {
    let work = workdir();
    std::fs::write(work.path().join("ref.yaml"), "backends: []\n").expect("write config");
    let out = work.sfko(&["diff", "--reference-config", "ref.yaml", "--seed", "1", "-q"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("ref.yaml: names no target endpoint"), "{}", stderr(&out));
    // A journal that is not one is a located exit 2 before anything is sent.
    std::fs::write(work.path().join("bad.bin"), b"not a journal").expect("write");
    let out = work.sfko(&["diff", "--reference-journal", "bad.bin", "-q"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
