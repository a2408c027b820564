//! `sfko schema`: the JSON Schema of the scenario and config formats, checked with a real validator (Python's
//! `jsonschema`, draft 2020-12). Every shipped scenario file validates; inputs the parser refuses are refused by the
//! schema too.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{code, stderr, Workdir};

/// Validates each YAML file against the schema; prints one JSON list of error messages per file (empty = valid).
const VALIDATE: &str = r#"
import json, sys, yaml
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
out = {}
for path in sys.argv[2:]:
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    out[path] = [e.message[:300] for e in validator.iter_errors(doc)]
print(json.dumps(out))
"#;

fn schema(work: &Workdir, of: &str) -> PathBuf {
    let out = work.sfko(&["schema", of]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert_eq!(doc["$schema"], "https://json-schema.org/draft/2020-12/schema", "{doc}");
    let path = work.path().join(format!("{of}.schema.json"));
    std::fs::write(&path, &out.stdout).expect("write schema");
    path
}

/// Each file's validation errors.
fn validate(schema: &Path, files: &[PathBuf]) -> serde_json::Map<String, serde_json::Value> {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(VALIDATE).arg(schema).args(files);
    let out = cmd.output().expect("python3");
    assert!(out.status.success(), "jsonschema (bash tests/run.sh installs it) failed:\n{}", stderr(&out));
    match serde_json::from_slice(&out.stdout).expect("validator output") {
        serde_json::Value::Object(map) => map,
        other => panic!("{other}"),
    }
}

fn shipped_scenario_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = vec![root.join("default.yaml")];
    let mut catalogue: Vec<PathBuf> = std::fs::read_dir(root.join("catalogue"))
        .expect("scenarios/catalogue")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    catalogue.sort();
    files.extend(catalogue);
    files
}

#[test]
fn every_shipped_scenario_file_validates() {
    let work = Workdir::new();
    let schema = schema(&work, "scenario");
    let files = shipped_scenario_files();
    assert!(files.len() >= 4, "{files:?}");
    let selftest = work.path().join("selftest.yaml");
    std::fs::write(&selftest, sfko::selftest::SCENARIOS).expect("write");
    let mut all = files.clone();
    all.push(selftest);
    for (file, errors) in validate(&schema, &all) {
        assert_eq!(errors, serde_json::json!([]), "{file} does not validate");
    }
}

/// Scenario files the parser refuses (exit 2), each for a reason the schema can say too.
const BAD_SCENARIOS: &[(&str, &str)] = &[
    ("unknown key", "- name: a\n  tests: [put]\n  objets: {count: 1}\n"),
    ("unknown test", "- name: a\n  tests: [putt]\n"),
    ("no tests", "- name: a\n  tests: []\n"),
    ("missing tests", "- name: a\n  checks: [check-backend]\n"),
    ("bad size", "- name: a\n  tests: [put]\n  objects: {count: 1, size: 1.5M}\n"),
    ("size unit", "- name: a\n  tests: [put]\n  objects: {count: 1, size: 10X}\n"),
    ("range key", "- name: a\n  tests: [put]\n  objects: {count: 1, size: {min: 1K, top: 2K}}\n"),
    ("zero buckets", "- name: a\n  required: {buckets: 0}\n  tests: [put]\n"),
    ("unknown cloud", "- name: a\n  required: {buckets: [{clouds: [MARS]}]}\n  tests: [put]\n"),
    ("unitless expiration", "- name: a\n  required: {buckets: [{expiration: 30}]}\n  tests: [put]\n"),
    ("negative count", "- name: a\n  tests: [put]\n  objects: {count: -1}\n"),
    ("random ops range", "- name: a\n  tests: [random-ops]\n  random_ops: {ops: 0}\n"),
    ("unknown op kind", "- name: a\n  tests: [random-ops]\n  random_ops: {weights: {putt: 1}}\n"),
    ("nasty keys", "- name: a\n  tests: [random-ops]\n  random_ops: {nasty_keys: sometimes}\n"),
    ("empty name", "- name: ''\n  tests: [put]\n"),
    ("top level", "scenarios: [{name: a, tests: [put]}]\nextra: 1\n"),
];

#[test]
fn what_the_parser_refuses_the_schema_refuses() {
    let work = Workdir::new();
    let schema = schema(&work, "scenario");
    let mut files = Vec::new();
    for (i, (why, yaml)) in BAD_SCENARIOS.iter().enumerate() {
        let path = work.path().join(format!("bad-{i}.yaml"));
        std::fs::write(&path, yaml).expect("write");
        let out = work.sfko(&["--dry-run", "--scenarios-path", &path.display().to_string()]);
        assert_eq!(code(&out), 2, "{why}: the parser accepted it: {}", stderr(&out));
        files.push(path);
    }
    let results = validate(&schema, &files);
    for (i, (why, _)) in BAD_SCENARIOS.iter().enumerate() {
        let path = files[i].display().to_string();
        let errors = results[&path].as_array().map(Vec::len).unwrap_or(0);
        assert!(errors > 0, "{why}: the schema accepted it");
    }
}

#[test]
fn the_config_schema_accepts_a_config_and_refuses_a_typo() {
    let work = Workdir::new();
    let schema = schema(&work, "config");
    let good = work.path().join("good.yaml");
    std::fs::write(
        &good,
        "target:\n  endpoint: http://127.0.0.1:9000\n  credentials: {access_key_env: A, secret_key_env: B}\n\
         backends:\n  - {name: z2, cloud: S3, endpoint: http://127.0.0.1:9001, role: replica}\n\
         replication: {mode: zone, deadline: 2m}\nchecksums: [crc32, sha256]\n\
         nemesis: {network: [latency], every: 40, length: 8}\n",
    )
    .expect("write");
    let typo = work.path().join("typo.yaml");
    std::fs::write(&typo, "target:\n  endpiont: http://127.0.0.1:1\n").expect("write");
    let role = work.path().join("role.yaml");
    std::fs::write(&role, "backends:\n  - {name: z2, cloud: S3, role: primary}\n").expect("write");
    let results = validate(&schema, &[good.clone(), typo.clone(), role.clone()]);
    assert_eq!(results[&good.display().to_string()], serde_json::json!([]), "{results:?}");
    for bad in [typo, role] {
        let errors = results[&bad.display().to_string()].as_array().map(Vec::len).unwrap_or(0);
        assert!(errors > 0, "{} validated", bad.display());
    }
}
