//! `sfko clean JOURNAL`: remove what a journal's run left on the target.

use std::path::Path;

use crate::cli::CommonArgs;
use crate::exit::{Exit, Fatal};

pub async fn clean(journal: &Path, common: &CommonArgs) -> Result<Exit, Fatal> {
    let config = crate::inputs::config(common)?;
    let reader = crate::journal::JournalReader::open(journal)?;
    let target = crate::inputs::connect(common, &config).await?;
    let concurrency = common.concurrency().unwrap_or(crate::exec::DEFAULT_CONCURRENCY);
    let left =
        crate::replay::clean(&target, &reader.plan, &common.journal_dir, concurrency).await.map_err(Fatal::harness)?;
    if !left.is_empty() {
        return Err(Fatal::harness(format!("could not remove: {}", left.join(", "))));
    }
    crate::outln!(
        "removed the buckets of {} (seed {}, scenario '{}')",
        journal.display(),
        reader.header.seed,
        reader.header.scenario
    );
    Ok(Exit::Pass)
}
