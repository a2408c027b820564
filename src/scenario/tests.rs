//! Unit tests for scenario parsing: both file shapes, every value form, and
//! that each error says where and what was expected.

use super::*;

const TESTS: &[&str] = &["put", "put-mpu", "get", "delete", "put-replication"];
const CHECKS: &[&str] = &["check-backend", "check-etag", "check-replication-mpu", "check-replication"];

fn known() -> Known<'static> {
    Known { tests: TESTS, checks: CHECKS }
}

fn parse(text: &str) -> Result<Vec<Scenario>, ScenarioError> {
    parse_str("t.yaml", text, &known())
}

fn parse_ok(text: &str) -> Vec<Scenario> {
    match parse(text) {
        Ok(s) => s,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Asserts parsing fails and the message contains every fragment.
fn parse_err(text: &str, fragments: &[&str]) -> ScenarioError {
    let err = match parse(text) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e,
    };
    let msg = err.to_string();
    for f in fragments {
        assert!(msg.contains(f), "message {msg:?} lacks {f:?}");
    }
    err
}

const MAPPING_FORM: &str = "\
clouds:
  AWS: &AWS aws
  GCP: &GCP gcp
scenarios:
  - name: Write 0B
    required:
      buckets: 1
    objects:
      count: 100
      size: 0B
    tests:
      - put
    checks:
      - check-backend
  - name: Replicate 10M
    required:
      buckets:
        - replication: [*AWS, *GCP]
          clouds: [*AWS]
          versioning: true
          transient: false
          expiration: 5h 30m
    objects: {count: 5, size: 10M}
    tests: [put-replication]
    checks: [check-replication-mpu]
";

#[test]
fn mapping_form_with_anchors() {
    let s = parse_ok(MAPPING_FORM);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "Write 0B");
    assert_eq!(s[0].buckets, vec![BucketSpec::default()]);
    assert_eq!(s[0].objects, ObjectSpec { count: 100, size: SizeSpec::Fixed(0) });
    assert_eq!(s[0].tests, vec!["put"]);
    assert_eq!(s[0].checks, vec!["check-backend"]);
    assert_eq!(s[0].origin.line, 5);
    let b = &s[1].buckets[0];
    assert_eq!(b.replication, Replication::Clouds(vec!["AWS".into(), "GCP".into()]));
    assert_eq!(b.clouds, vec!["AWS"]);
    assert!(b.versioning && !b.transient);
    assert_eq!(b.expiration_secs, Some(5 * 3600 + 30 * 60));
    assert_eq!(s[1].objects, ObjectSpec { count: 5, size: SizeSpec::Fixed(10 << 20) });
    assert_eq!(s[1].origin.line, 15);
    assert_eq!(s[1].origin.file, "t.yaml");
    assert_eq!(s[1].origin.source_digest, blake3::hash(MAPPING_FORM.as_bytes()).to_hex().to_string());
}

#[test]
fn list_form_and_defaults() {
    let s = parse_ok("- name: a\n  tests: [put]\n- name: b\n  required: {buckets: 3}\n  tests: [get]\n");
    assert_eq!(s[0].buckets.len(), 1);
    assert_eq!(s[0].objects, ObjectSpec::default());
    assert!(s[0].checks.is_empty());
    assert_eq!(s[1].buckets, vec![BucketSpec::default(); 3]);
    assert_eq!((s[0].origin.line, s[1].origin.line), (1, 3));
}

#[test]
fn replication_forms_and_cloud_case() {
    let text = "- name: a\n  required:\n    buckets:\n      - {replication: true, clouds: [Gcp, s3c]}\n      - replication: false\n      - {}\n  tests: [put]\n";
    let b = &parse_ok(text)[0].buckets;
    assert_eq!(b[0].replication, Replication::AnyOtherCloud);
    assert_eq!(b[0].clouds, vec!["GCP", "S3C"]);
    assert_eq!(b[1].replication, Replication::Off);
    assert_eq!(b[2], BucketSpec::default());
}

#[test]
fn size_forms() {
    let sizes: &[(&str, SizeSpec)] = &[
        ("0B", SizeSpec::Fixed(0)),
        ("123", SizeSpec::Fixed(123)),
        ("512KiB", SizeSpec::Fixed(512 << 10)),
        ("4k", SizeSpec::Fixed(4096)),
        ("1G", SizeSpec::Fixed(1 << 30)),
        ("'77'", SizeSpec::Fixed(77)),
        ("{min: 0B, max: 2M}", SizeSpec::Range { min: 0, max: 2 << 20 }),
        ("{min: 5, max: 5}", SizeSpec::Range { min: 5, max: 5 }),
    ];
    for (text, want) in sizes {
        let s = parse_ok(&format!("- name: a\n  objects: {{size: {text}}}\n  tests: [put]\n"));
        assert_eq!(&s[0].objects.size, want, "{text}");
        assert_eq!(s[0].objects.count, 1);
    }
    assert_eq!(SizeSpec::Range { min: 0, max: 2 << 20 }.to_string(), "0B..2M");
}

#[test]
fn unknown_test_lists_known_ones() {
    parse_err(
        "- name: a\n  tests: [put, putt]\n",
        &["t.yaml:2:16: ", "unknown test 'putt'; known tests: put, put-mpu, get, delete, put-replication"],
    );
    parse_err(
        "- name: a\n  tests: [put]\n  checks: [nope]\n",
        &["t.yaml:3:12:", "unknown check 'nope'; known checks: check-backend"],
    );
    parse_err("- name: a\n  tests: [PUT]\n", &["did you mean 'put'?"]);
}

#[test]
fn bad_size_says_valid_units() {
    let e = parse_err(
        "- name: a\n  objects:\n    size: 10Q\n  tests: [put]\n",
        &["t.yaml:3:11: ", "[0].objects.size", "invalid size '10Q'", "B, K, M, G, T"],
    );
    assert!(matches!(e, ScenarioError::Invalid { line: 3, col: 11, .. }), "{e:?}");
    parse_err("- name: a\n  objects: {size: 1.5M}\n  tests: [put]\n", &["t.yaml:2:", "fractional"]);
    parse_err("- name: a\n  objects: {size: 1.5}\n  tests: [put]\n", &["fractional"]);
    parse_err("- name: a\n  objects: {size: -3}\n  tests: [put]\n", &["negative"]);
    parse_err("- name: a\n  objects: {size: 6T}\n  tests: [put]\n", &["maximum object size"]);
    parse_err("- name: a\n  objects: {size: 99999999999999999999999}\n  tests: [put]\n", &["maximum object size"]);
    parse_err("- name: a\n  objects: {size: [1]}\n  tests: [put]\n", &["expected a size such as"]);
}

#[test]
fn bad_size_ranges() {
    let p = |r: &str| format!("- name: a\n  objects:\n    size: {r}\n  tests: [put]\n");
    parse_err(&p("{min: 2M, max: 1M}"), &["t.yaml:3:11:", "min (2097152 bytes) is greater than max (1048576 bytes)"]);
    parse_err(&p("{min: 1M}"), &["t.yaml:3:", "missing field `max`"]);
    parse_err(&p("{min: 1M, max: 2M, avg: 1}"), &["unknown field `avg`, expected `min` or `max`"]);
    parse_err(&p("{min: 1M, min: 2M, max: 3M}"), &["duplicate"]);
    parse_err(&p("{min: {min: 1, max: 2}, max: 3M}"), &["expected a size such as 0B"]);
}

#[test]
fn unknown_fields_are_named() {
    parse_err(
        "- name: a\n  tests: [put]\n  test: [get]\n",
        &["t.yaml:3:3: ", "unknown field `test`", "expected one of"],
    );
    parse_err(
        "- name: a\n  required: {bucket: 2}\n  tests: [put]\n",
        &["unknown field `bucket`", "expected `buckets`"],
    );
    parse_err(
        "- name: a\n  required:\n    buckets:\n      - versionning: true\n  tests: [put]\n",
        &["t.yaml:4:9: ", "unknown field `versionning`"],
    );
    parse_err(
        "scenario:\n  - name: a\n",
        &["t.yaml:1:1: ", "unknown field `scenario`, expected `scenarios` or `clouds`"],
    );
    parse_err("- name: a\n  objects: {count: 1, sise: 1}\n  tests: [put]\n", &["unknown field `sise`"]);
}

#[test]
fn wrong_types_say_what_was_expected() {
    parse_err("- name: a\n  tests: put\n", &["t.yaml:2:10: ", "expected a non-empty list of test names"]);
    parse_err("- name: a\n  tests: []\n", &["t.yaml:2:10: ", "expected at least one test"]);
    parse_err(
        "- name: a\n  tests: [put]\n  objects: {count: many}\n",
        &["expected an integer object count between 0 and 10000000"],
    );
    parse_err("- name: a\n  tests: [put]\n  objects: {count: 10000001}\n", &["between 0 and 10000000"]);
    parse_err("- name: a\n  tests: [put]\n  objects: {count: -1}\n", &["between 0 and 10000000"]);
    parse_err(
        "- name: a\n  tests: [put]\n  required: {buckets: many}\n",
        &["expected a bucket count (1..=100) or a non-empty list"],
    );
    parse_err("- name: a\n  tests: [put]\n  required: {buckets: {replication: true}}\n", &["expected a bucket count"]);
    parse_err(
        "- name: a\n  tests: [put]\n  required:\n    buckets:\n      - versioning: maybe\n",
        &["t.yaml:5:21:", "expected a boolean"],
    );
    parse_err(
        "just a string\n",
        &["t.yaml:1:1: ", "expected a list of scenarios, or a mapping with a 'scenarios' list"],
    );
    parse_err("- 5\n", &["t.yaml:1:3: [0]: invalid type: integer `5`, expected a scenario mapping"]);
    parse_err("- tests: [put]\n", &["t.yaml:1:3: ", "missing field `name`"]);
    parse_err("- name: a\n", &["missing field `tests`"]);
}

#[test]
fn bucket_limits() {
    parse_err(
        "- name: a\n  tests: [put]\n  required: {buckets: 0}\n",
        &["t.yaml:3:23: [0].required.buckets: bucket count must be between 1 and 100"],
    );
    parse_err("- name: a\n  tests: [put]\n  required: {buckets: 101}\n", &["between 1 and 100"]);
    parse_err("- name: a\n  tests: [put]\n  required: {buckets: []}\n", &["must not be empty"]);
    let many = "- {}\n".repeat(101).replace("- ", "      - ");
    parse_err(&format!("- name: a\n  tests: [put]\n  required:\n    buckets:\n{many}"), &["more than 100 buckets"]);
    let ok = "- {}\n".repeat(100).replace("- ", "      - ");
    assert_eq!(parse_ok(&format!("- name: a\n  tests: [put]\n  required:\n    buckets:\n{ok}"))[0].buckets.len(), 100);
}

#[test]
fn bad_clouds_and_replication() {
    let p = |b: &str| format!("- name: a\n  tests: [put]\n  required:\n    buckets:\n      - {b}\n");
    parse_err(
        &p("clouds: [aws, moon]"),
        &[
            "t.yaml:5:23: [0].required.buckets[0].clouds[1]:",
            "unknown cloud 'moon'; known clouds: AWS, GCP, AZR, S3C, SPD, ZNK, S3",
        ],
    );
    parse_err(&p("clouds: [aws, AWS]"), &["cloud 'AWS' is listed more than once"]);
    parse_err(&p("replication: []"), &["must not be empty; use 'false'"]);
    parse_err(&p("replication: yes"), &["expected true, false, or a non-empty list of target clouds"]);
    parse_err(&p("expiration: 0s"), &["t.yaml:5:21:", "greater than zero"]);
    parse_err(&p("expiration: 30"), &["has no unit"]);
    parse_err(&p("expiration: 3 years"), &["units: s, m, h, d, w"]);
    let ok = parse_ok(&p("{expiration: 90s, replication: [S3]}"));
    assert_eq!(ok[0].buckets[0].expiration_secs, Some(90));
}

#[test]
fn names_must_be_sane_and_unique() {
    parse_err("- name: ''\n  tests: [put]\n", &["t.yaml:1:9:", "must not be empty"]);
    parse_err("- name: \"a\\tb\"\n  tests: [put]\n", &["control characters"]);
    let e = parse_err(
        "- name: a\n  tests: [put]\n- name: a\n  tests: [get]\n",
        &["t.yaml:3: duplicate scenario name 'a'; first defined at t.yaml:1"],
    );
    assert!(matches!(e, ScenarioError::Duplicate { .. }));
}

#[test]
fn syntax_errors_are_located() {
    let e = parse_err("- name: a\n  tests: [put\n", &["t.yaml:"]);
    assert!(matches!(e, ScenarioError::Syntax { line: 3, .. }), "{e:?}");
    let e = parse_err("- name: a\n tests: [put]\n", &["t.yaml:2:"]);
    assert!(matches!(e, ScenarioError::Syntax { .. }), "{e:?}");
    parse_err("- name: a\n  tests: [*nope]\n", &["t.yaml:2:", "unknown anchor"]);
    parse_err(
        "- name: a\n  tests: [put]\n---\n- name: b\n  tests: [put]\n",
        &["t.yaml:3:1: a file must hold a single YAML document"],
    );
}

#[test]
fn empty_inputs_have_no_scenarios() {
    for text in ["", "# nothing\n", "[]", "scenarios: []", "scenarios:\n", "clouds: {}\nscenarios:\n"] {
        let e = parse(text).err();
        assert!(matches!(e, Some(ScenarioError::NoScenarios { .. })), "{text:?}: {e:?}");
    }
    parse_err("clouds: {}\n", &["missing field `scenarios`"]);
}

#[test]
fn select_by_name() {
    let all = parse_ok("- name: Write 0B\n  tests: [put]\n- name: b\n  tests: [get]\n");
    let picked = select(&all, &["b".into(), "Write 0B".into(), "b".into()]).map_err(|e| e.to_string());
    assert_eq!(
        picked.map(|v| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>()),
        Ok(vec!["b".into(), "Write 0B".into()])
    );
    assert_eq!(select(&all, &[]).map(|v| v.len()).ok(), Some(2));
    let msg = select(&all, &["write 0b".into()]).err().map(|e| e.to_string());
    assert_eq!(msg.as_deref(), Some("no scenario named 'write 0b' (did you mean 'Write 0B'?); available: Write 0B, b"));
}

#[test]
fn load_path_dir_is_sorted_and_checks_duplicates_across_files() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let dir = match dir {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let write = |name: &str, text: &[u8]| {
        if let Err(e) = std::fs::write(dir.path().join(name), text) {
            panic!("{e}");
        }
    };
    write("b.yaml", b"- name: from-b\n  tests: [put]\n");
    write("a.yml", b"- name: from-a\n  tests: [put]\n");
    write("notes.txt", b"not yaml");
    let all = load_path(dir.path(), &known()).map_err(|e| e.to_string());
    assert_eq!(
        all.map(|v| v.into_iter().map(|s| s.name).collect::<Vec<_>>()),
        Ok(vec!["from-a".into(), "from-b".into()])
    );

    write("c.yaml", b"\n- name: from-a\n  tests: [get]\n");
    let msg = load_path(dir.path(), &known()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("c.yaml:2: duplicate scenario name 'from-a'; first defined at "), "{msg}");
    assert!(msg.contains("a.yml:1"), "{msg}");

    write("c.yaml", b"- name: c\n  tests: [put]\n  x: \xff\n");
    let e = load_path(dir.path(), &known()).err();
    assert!(matches!(e, Some(ScenarioError::Syntax { line: 3, col: 6, .. })), "{e:?}");

    let missing = load_path(&dir.path().join("nope.yaml"), &known()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(missing.contains("nope.yaml: cannot read:"), "{missing}");
    let empty = tempfile::tempdir().map_err(|e| e.to_string());
    if let Ok(empty) = empty {
        assert!(matches!(load_path(empty.path(), &known()), Err(ScenarioError::NoScenarios { .. })));
    }
}

#[test]
fn scenarios_round_trip_through_serde() {
    let s = parse_ok(MAPPING_FORM);
    let json = serde_json::to_string(&s).map_err(|e| e.to_string());
    let back: Result<Vec<Scenario>, String> = json.and_then(|j| serde_json::from_str(&j).map_err(|e| e.to_string()));
    assert_eq!(back, Ok(s));
}

#[test]
fn known_names_do_not_leak_between_calls() {
    let other = Known { tests: &["x"], checks: &[] };
    assert!(parse_str("o.yaml", "- name: a\n  tests: [x]\n", &other).is_ok());
    assert!(parse("- name: a\n  tests: [x]\n").is_err());
}

#[test]
fn text_after_the_document_is_located() {
    parse_err("'b'a '", &["t.yaml:1:4: unexpected text after the end of the YAML document"]);
    parse_err("- name: a\n  tests: [put]\n...\n- name: b\n", &["t.yaml:4:1: unexpected text after the end"]);
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    parse_err(&deep, &["t.yaml:1:"]);
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    assert!(parse(laughs).is_err());
    parse_err("\t- name: a\n", &["t.yaml:1:1: "]);
    parse_err("- name: [a]\n  tests: [put]\n", &["t.yaml:1:9: ", "expected a scenario name"]);
}
