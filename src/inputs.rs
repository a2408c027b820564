//! What the user handed sfko, turned into working parts: the config file, the embedded target's faults, a connected
//! target. Shared by the standalone commands and the worker, so each is read one way.

use crate::cli::CommonArgs;
use crate::config::Config;
use crate::exit::Fatal;
use crate::target::faults::{Fault, FaultPlan};
use crate::target::Target;

/// `--config`, read and validated (no flag: the empty config, i.e. the embedded target as its own backend).
pub fn config(common: &CommonArgs) -> Result<Config, Fatal> {
    match &common.config {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::default()),
    }
}

/// The faults `--embedded-faults` asks for, if any.
pub fn embedded_faults(common: &CommonArgs) -> Result<Option<FaultPlan>, Fatal> {
    if common.embedded_faults.is_empty() {
        return Ok(None);
    }
    let faults =
        Fault::parse_list(&common.embedded_faults).map_err(|e| Fatal::bad_input(format!("--embedded-faults: {e}")))?;
    if faults.contains(&Fault::LostOnCrash) {
        // The embedded server never crashes and restarts, so the fault would never act.
        return Err(Fatal::bad_input(
            "--embedded-faults: lost-on-crash needs a server that is killed and restarted: `sfko serve --root DIR \
             --faults lost-on-crash` with a nemesis action that kills and restarts it (sfko selftest does this)",
        ));
    }
    Ok(Some(FaultPlan { seed: common.embedded_fault_seed, faults, one_in: common.embedded_fault_one_in.max(1) }))
}

/// Connects to the target the flags and the config name — or starts the embedded one when they name none.
///
/// A `--config` that names no target endpoint, with no `--endpoint`, is refused: its author meant a cluster, and
/// running against sfko's own embedded server instead would report on the wrong system.
pub async fn connect(common: &CommonArgs, config: &Config) -> Result<Target, Fatal> {
    check_nemesis_flags(common)?;
    let configured = config.target.as_ref().and_then(|t| t.endpoint.as_ref()).is_some();
    if let (Some(path), None, false) = (&common.config, &common.endpoint, configured) {
        return Err(Fatal::bad_input(format!(
            "{}: names no target endpoint (expected `target: {{ endpoint: URL }}`), and no --endpoint was given; \
             sfko will not silently test its embedded server instead — add the endpoint, pass --endpoint, or drop \
             --config to use the embedded target",
            path.display()
        )));
    }
    let mut target =
        Target::connect(common.endpoint.as_deref(), common.region.as_deref(), config, embedded_faults(common)?).await?;
    target.stall = crate::driver::StallPolicy { timeout: common.stall_timeout, wait: common.stall_wait };
    target.nemesis = nemesis(common, config);
    if target.nemesis.as_ref().is_some_and(|n| !n.network.is_empty()) {
        target.route_through_proxy().await?;
    }
    Ok(target)
}

/// The command line's nemesis flags as a user types them again, for repro lines (empty when none were given).
pub fn nemesis_flags(common: &CommonArgs) -> String {
    let mut flags = Vec::new();
    if !common.nemesis.is_empty() {
        flags.push(format!("--nemesis {}", common.nemesis.join(",")));
    }
    if let Some(every) = common.nemesis_every {
        flags.push(format!("--nemesis-every {every}"));
    }
    if let Some(length) = common.nemesis_length {
        flags.push(format!("--nemesis-length {length}"));
    }
    flags.join(" ")
}

/// The nemesis the config asks for, with the command line's `--nemesis*` flags over it.
fn nemesis(common: &CommonArgs, config: &Config) -> Option<crate::config::NemesisConfig> {
    let mut nemesis = config.nemesis.clone().unwrap_or_default();
    if !common.nemesis.is_empty() {
        nemesis.network = common.nemesis.clone();
    }
    nemesis.every = common.nemesis_every.or(nemesis.every);
    nemesis.length = common.nemesis_length.or(nemesis.length);
    (!nemesis.network.is_empty() || !nemesis.actions.is_empty()).then_some(nemesis)
}

/// Checks the `--nemesis` names (exit 2 naming the unknown one, and the known ones).
pub fn check_nemesis_flags(common: &CommonArgs) -> Result<(), Fatal> {
    for name in common.nemesis.iter().filter(|n| n.as_str() != "all") {
        crate::plan::nemesis::NetFault::parse(name).map_err(|e| Fatal::bad_input(format!("--nemesis: {e}")))?;
    }
    Ok(())
}
