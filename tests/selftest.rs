//! `sfko selftest`: every fault the embedded target can inject is caught by the check made for it, and a healthy
//! server passes without a false alarm.

mod support;

use support::{code, json, stderr, Workdir};

#[test]
fn every_fault_is_detected_by_its_check_and_the_clean_run_passes() {
    let work = Workdir::new();
    let out = work.sfko(&["selftest", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["passed"], true, "{doc}");
    assert_eq!(doc["false_alarms"], 0, "{doc}");
    let expected = [("corrupt-byte", "check-backend"), ("wrong-mpu-etag", "check-etag"), ("list-drop", "check-list")];
    for (fault, check) in expected {
        let row = doc["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["fault"] == fault)).expect("row");
        assert_eq!(row["detected"], true, "{row}");
        assert_eq!(row["by"], serde_json::json!([check]), "only the check made for {fault} reports it: {row}");
        assert!(row["seeds"].as_u64().unwrap_or(99) <= 20, "{row}");
    }
    let row = doc["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["fault"] == "version-lost")).expect("row");
    assert_eq!(row["detected"], true, "{row}");
    for by in row["by"].as_array().expect("by") {
        assert!(by == "check-versions" || by == "check-list", "a lost version is the version checks' to see: {row}");
    }
    assert!(work.corpus_files().is_empty(), "selftest keeps its journals out of the user's corpus");
}
