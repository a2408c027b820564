//! The one registry: every workload (`workload::WORKLOADS`) and check (`check::CHECKS`) this sfko knows, the names
//! a scenario may use, and the resolution of a plan's names into the [`Step`]s a run executes.
//!
//! It sits above `exec`, `workload` and `check` (it names all three), so none of them looks another up by string.
//! Adding a workload or check is one file and one line in its table.

use std::path::Path;
use std::sync::LazyLock;

use crate::exec::{Entry, Step};
use crate::exit::Fatal;
use crate::journal::Phase;
use crate::plan::Plan;
use crate::scenario::{self, Known, Scenario};

/// Every workload, in registry order.
pub fn workloads() -> &'static [Entry] {
    crate::workload::WORKLOADS
}

/// Every check, in registry order.
pub fn checks() -> &'static [Entry] {
    crate::check::CHECKS
}

static WORKLOAD_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| workloads().iter().map(|e| e.name).collect());
static CHECK_NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| checks().iter().map(|e| e.name).collect());

/// The names a scenario's `tests:` and `checks:` may use (what the parser accepts and lists when it refuses one).
pub fn known() -> Known<'static> {
    Known { tests: &WORKLOAD_NAMES, checks: &CHECK_NAMES }
}

/// Parses and validates the scenario file or directory at `path` against the names this sfko knows.
pub fn load_scenarios(path: &Path) -> Result<Vec<Scenario>, Fatal> {
    scenario::load_path(path, &known()).map_err(|e| Fatal::bad_input(e.to_string()))
}

/// The steps `plan` runs: its workloads in scenario order, then its checks. A name this sfko does not know (a plan
/// read from a journal another sfko wrote) is bad input, named with the ones it knows.
pub fn steps(plan: &Plan) -> Result<Vec<Step>, Fatal> {
    let resolve = |table: &'static [Entry], kind: &str, name: &str| {
        table.iter().find(|e| e.name == name).ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|e| e.name).collect();
            Fatal::bad_input(format!(
                "scenario '{}' names the {kind} '{name}', which this sfko does not know (known: {})",
                plan.scenario,
                known.join(", ")
            ))
        })
    };
    let workloads = plan.workloads.iter().enumerate().map(|(position, name)| {
        resolve(workloads(), "test", name).map(|entry| Step { phase: Phase::Workload(name.clone()), position, entry })
    });
    let checks = plan.checks.iter().enumerate().map(|(position, name)| {
        resolve(checks(), "check", name).map(|entry| Step { phase: Phase::Check(name.clone()), position, entry })
    });
    workloads.chain(checks).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(yaml: &str) -> Plan {
        let scenarios = scenario::parse_str("t.yaml", yaml, &known()).expect("a valid scenario");
        crate::plan::resolve(
            &scenarios[0],
            crate::seed::Seed(1),
            &crate::config::Config::default().plan_backends(),
            crate::plan::DEFAULT_BUCKET_PREFIX,
            &crate::plan::TargetSetup::default(),
        )
    }

    #[test]
    fn names_are_unique_across_both_tables() {
        let mut all: Vec<&str> = WORKLOAD_NAMES.iter().chain(CHECK_NAMES.iter()).copied().collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a name is registered twice");
        assert!(CHECK_NAMES.iter().all(|n| n.starts_with("check-")));
    }

    #[test]
    fn steps_are_workloads_then_checks_with_their_positions() {
        let plan = plan_of("- name: t\n  tests: [put, get, put]\n  checks: [check-etag]\n");
        let steps = steps(&plan).expect("known names");
        let shown: Vec<(String, usize)> = steps.iter().map(|s| (s.phase.to_string(), s.position)).collect();
        let want = [("put", 0), ("get", 1), ("put", 2), ("check-etag", 0)];
        assert_eq!(shown, want.map(|(n, p)| (n.to_string(), p)));
    }

    #[test]
    fn an_unknown_name_in_a_plan_is_bad_input_listing_the_known_ones() {
        let mut plan = plan_of("- name: old\n  tests: [put]\n  checks: [check-etag]\n");
        plan.checks = vec!["check-nothing".into()];
        let e = steps(&plan).expect_err("unknown check");
        assert_eq!(e.code, crate::exit::Exit::BadInput);
        assert!(e.message.contains("check-nothing") && e.message.contains("check-backend"), "{}", e.message);
    }

    #[test]
    fn default_scenarios_dir_loads() {
        let registry = known();
        let catalogue = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalogue");
        if let Err(e) = scenario::load_path(&catalogue, &registry) {
            panic!("{e}");
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let all = match scenario::load_path(&dir, &registry) {
            Ok(all) => all,
            Err(e) => panic!("{e}"),
        };
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"Write 0B") && names.contains(&"Replicate 10M"), "{names:?}");
        assert!(all.iter().all(|s| s.origin.line > 0));
        let mixed = scenario::select(&all, &["Write mixed".to_string()]).map_err(|e| e.to_string());
        assert_eq!(mixed.map(|v| v[0].objects.size.clone()), Ok(scenario::SizeSpec::Range { min: 0, max: 2 << 20 }));
    }
}
