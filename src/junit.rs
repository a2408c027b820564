//! JUnit XML for CI systems (`--junit FILE`): one testsuite per invocation, one testcase per scenario × seed (per
//! job for `sfko -c`). A failure carries what was expected, what came back, the repro line and the journal; a skipped
//! run its reason; an incomplete run is an *error* (the harness, not the target, could not finish).
//!
//! The XML is written by `quick-junit` (nextest's writer), atomically: a CI job that reads the file never sees half.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::exec::Failure;
use crate::exit::Fatal;
use crate::journal::Verdict;

/// One testcase: a run (standalone) or a job (controller).
pub struct Case<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    /// The controller's job number.
    pub job: Option<u64>,
    pub verdict: Verdict,
    pub reason: Option<&'a str>,
    /// The failures the report kept; `failed` counts all.
    pub failures: &'a [Failure],
    pub failed: u64,
    pub elapsed_s: f64,
    pub repro: &'a str,
    /// Where the failing journal is (corpus copy, or the journal itself).
    pub journal: Option<String>,
}

/// The JUnit document of one invocation named `suite`.
pub fn document<'a>(suite: &str, cases: impl IntoIterator<Item = Case<'a>>) -> Result<String, String> {
    let mut test_suite = TestSuite::new(suite);
    let mut total = 0.0f64;
    for case in cases {
        total += case.elapsed_s.max(0.0);
        test_suite.add_test_case(test_case(&case));
    }
    test_suite.set_time(seconds(total));
    let mut report = Report::new("sfko");
    report.set_time(seconds(total));
    report.add_test_suite(test_suite);
    report.to_string().map_err(|e| format!("cannot render JUnit XML: {e}"))
}

/// Writes `xml` to `path` atomically (a temp file beside it, then a rename).
pub fn write(path: &Path, xml: &str) -> Result<(), Fatal> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "junit.xml".into());
    let temp = path.with_file_name(format!(".{name}.partial"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Fatal::harness(format!("cannot create {} for --junit: {e}", dir.display())))?;
    }
    std::fs::write(&temp, xml)
        .and_then(|_| std::fs::rename(&temp, path))
        .map_err(|e| Fatal::harness(format!("cannot write --junit {}: {e}", path.display())))
}

fn test_case(case: &Case<'_>) -> TestCase {
    let name = match case.job {
        Some(job) => format!("{} seed {} (job {job})", case.scenario, case.seed),
        None => format!("{} seed {}", case.scenario, case.seed),
    };
    let status = match case.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(case.reason.unwrap_or("skipped"));
            status
        }
        Verdict::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = match case.failures.first() {
                Some(f) => format!(
                    "{} expectation(s) failed; first: {} {}: expected {}, got {}",
                    case.failed, f.request, f.subject, f.expected, f.got
                ),
                None => case.reason.unwrap_or("failed").to_string(),
            };
            status.set_message(message).set_type("deviation").set_description(details(case));
            status
        }
        Verdict::Incomplete => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(case.reason.unwrap_or("the run could not finish"))
                .set_type("incomplete")
                .set_description(details(case));
            status
        }
    };
    let mut test_case = TestCase::new(name, status);
    test_case.set_classname(format!("sfko.{}", case.scenario)).set_time(seconds(case.elapsed_s));
    test_case
}

/// The failure's text: every kept failure, the repro line and the journal.
fn details(case: &Case<'_>) -> String {
    let mut out = String::new();
    if let Some(reason) = case.reason {
        out.push_str(&format!("reason: {reason}\n"));
    }
    // The lines the human report prints, without their indentation.
    for line in crate::report::failure_lines(case.failures, case.failed).lines().filter(|l| !l.trim().is_empty()) {
        out.push_str(line.trim_start());
        out.push('\n');
    }
    out.push_str(&format!("repro: {}\n", case.repro));
    if let Some(journal) = &case.journal {
        out.push_str(&format!("replay: sfko replay {journal}\n"));
    }
    out
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_becomes_its_junit_element() {
        let failure = Failure {
            by: "random-ops".into(),
            subject: "b/k<&>".into(),
            op: 7,
            request: "GetObject".into(),
            expected: "body \"x\"".into(),
            got: "404".into(),
            raced_with: vec![],
        };
        let case = |verdict, reason| Case {
            scenario: "Write 0B",
            seed: 3,
            job: None,
            verdict,
            reason,
            failures: std::slice::from_ref(&failure),
            failed: 1,
            elapsed_s: 1.5,
            repro: "sfko --seed 3 --scenario 'Write 0B'",
            journal: Some("corpus/ab.bin".into()),
        };
        let xml = document(
            "sfko seed 3",
            [
                case(Verdict::Pass, None),
                case(Verdict::Fail, None),
                case(Verdict::Skipped, Some("needs 2 clouds")),
                case(Verdict::Incomplete, Some("target gone")),
            ],
        )
        .unwrap();
        assert!(xml.contains("<failure message=\"1 expectation(s) failed; first: GetObject b/k&lt;&amp;&gt;"), "{xml}");
        assert!(xml.contains("<skipped message=\"needs 2 clouds\""), "{xml}");
        assert!(xml.contains("<error message=\"target gone\""), "{xml}");
        assert!(xml.contains("replay: sfko replay corpus/ab.bin"), "{xml}");
        assert!(xml.contains("tests=\"4\""), "{xml}");
    }
}
