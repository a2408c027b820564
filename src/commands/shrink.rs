//! `sfko shrink JOURNAL`: the smallest run that still fails the same way.

use std::path::Path;

use crate::cli::{CommonArgs, Format};
use crate::exit::{Exit, Fatal};
use crate::shrink::{ShrinkOptions, Shrunk};

pub async fn shrink(journal: &Path, max_runs: u64, verify: u64, common: &CommonArgs) -> Result<Exit, Fatal> {
    let config = crate::inputs::config(common)?;
    crate::journal::JournalReader::summarize(journal, true)?;
    let target = crate::inputs::connect(common, &config).await?;
    let stem = journal.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "journal".into());
    let opts = ShrinkOptions {
        workdir: common.journal_dir.join(format!("shrink-{stem}")),
        corpus: common.corpus.clone(),
        max_runs,
        concurrency: common.concurrency(),
        verify,
    };
    match crate::shrink::shrink(&target, journal, &opts).await? {
        Shrunk::Minimal(report) => {
            match common.format {
                Format::Json => crate::outln!("{}", serde_json::to_string(&report).unwrap_or_default()),
                Format::Human => crate::outln!("{}", crate::shrink::human(&report)),
            }
            Ok(Exit::BugsFound)
        }
        Shrunk::NotReproduced(why) => {
            eprintln!("sfko: {why}");
            Ok(Exit::Pass)
        }
    }
}
