//! `sfko list`: the scenarios (and whether each can run on this config), workloads, checks and clouds.

use crate::catalogue;
use crate::cli::{CommonArgs, Format};
use crate::exit::{Exit, Fatal};
use crate::plan::resolve;
use crate::scenario;
use crate::seed::Seed;

pub fn list(common: &CommonArgs) -> Result<Exit, Fatal> {
    let scenarios = catalogue::load_scenarios(&common.scenarios_path)?;
    let config = crate::inputs::config(common)?;
    let backends = config.plan_backends();
    let setup = config.target_setup()?;
    let embedded = common.endpoint.is_none() && config.target.as_ref().and_then(|t| t.endpoint.as_ref()).is_none();
    let capabilities = crate::target::Capabilities::from_config(&config, embedded);
    // Why each scenario cannot run here (None = it can), judged on seed 0's placement.
    let mut runnable: Vec<Option<String>> = Vec::with_capacity(scenarios.len());
    for s in &scenarios {
        let plan = resolve(s, Seed(0), &backends, crate::plan::DEFAULT_BUCKET_PREFIX, &setup);
        let steps = catalogue::steps(&plan)?;
        runnable.push(crate::exec::unsupported(&plan, &steps, &capabilities));
    }
    let workloads: Vec<_> = catalogue::workloads().iter().map(|w| (w.name, w.about)).collect();
    let checks: Vec<_> = catalogue::checks().iter().map(|c| (c.name, c.about)).collect();
    match common.format {
        Format::Json => {
            let doc = serde_json::json!({
                "scenarios": scenarios.iter().zip(&runnable).map(|(s, why)| serde_json::json!({
                    "name": s.name, "file": s.origin.file, "line": s.origin.line, "tests": s.tests, "checks": s.checks,
                    "runnable": why.is_none(), "why_not": why,
                })).collect::<Vec<_>>(),
                "tests": workloads.iter().map(|(n, a)| serde_json::json!({"name": n, "about": a})).collect::<Vec<_>>(),
                "checks": checks.iter().map(|(n, a)| serde_json::json!({"name": n, "about": a})).collect::<Vec<_>>(),
                "clouds": scenario::KNOWN_CLOUDS,
                "backends": backends,
            });
            crate::outln!("{doc}");
        }
        Format::Human => {
            crate::outln!("scenarios ({}):", common.scenarios_path.display());
            for (s, why) in scenarios.iter().zip(&runnable) {
                crate::outln!(
                    "  {:<28} {}:{}  tests [{}]  checks [{}]",
                    s.name,
                    s.origin.file,
                    s.origin.line,
                    s.tests.join(", "),
                    s.checks.join(", ")
                );
                if let Some(why) = why {
                    crate::outln!("  {:<28} skipped on this config: {why}", "");
                }
            }
            crate::outln!("tests (workloads):");
            for (name, about) in &workloads {
                crate::outln!("  {name:<24} {about}");
            }
            crate::outln!("checks:");
            for (name, about) in &checks {
                crate::outln!("  {name:<24} {about}");
            }
            crate::outln!("clouds: {}", scenario::KNOWN_CLOUDS.join(", "));
            crate::outln!("backends:");
            for b in &backends {
                let role = match b.role {
                    crate::plan::Role::Home => ", buckets live here",
                    crate::plan::Role::Replica => ", replicas are read here",
                    crate::plan::Role::Both => "",
                };
                let reads = if b.backend.readable { ", read directly" } else { "" };
                crate::outln!("  {} ({}{role}{reads})", b.backend.name, b.backend.cloud);
            }
        }
    }
    Ok(Exit::Pass)
}
