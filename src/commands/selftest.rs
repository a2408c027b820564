//! `sfko selftest`: the oracles prove themselves against sfko's own seeded faults.

use crate::cli::{CommonArgs, Format};
use crate::exit::{Exit, Fatal};

/// `sfko selftest`: every injectable fault must be caught and shrunk, a healthy server must pass clean.
pub async fn selftest(seeds: u64, faults: &[String], common: &CommonArgs) -> Result<Exit, Fatal> {
    let faults = crate::selftest::faults(faults).map_err(Fatal::bad_input)?;
    // Journals (and the shrunk repros) stay under the journal dir, out of the corpus: they document faults sfko
    // injected itself, not bugs of a target.
    let dir = common.journal_dir.join("selftest");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Fatal::harness(format!("cannot create {}: {e}", dir.display())))?;
    let result = crate::selftest::run(&faults, seeds.max(1), &dir).await.map_err(Fatal::harness)?;
    match common.format {
        Format::Json => crate::outln!("{}", serde_json::to_string(&result).unwrap_or_default()),
        Format::Human => crate::outln!("{}", crate::selftest::human(&result)),
    }
    Ok(if result.passed { Exit::Pass } else { Exit::BugsFound })
}
