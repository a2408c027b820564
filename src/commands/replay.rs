//! `sfko replay JOURNAL`: re-issue a recorded run and judge it again.

use std::path::Path;

use crate::cli::{CommonArgs, Format};
use crate::exit::{Exit, Fatal};
use crate::journal::JournalReader;
use crate::replay::ReplayOptions;
use crate::report;

pub async fn replay(journal: &Path, common: &CommonArgs) -> Result<Exit, Fatal> {
    let config = crate::inputs::config(common)?;
    // Read the whole journal before sending anything: a truncated, corrupt or edited file is a located exit 2, and
    // none of its requests reach the target.
    let summary = JournalReader::summarize(journal, false)?;
    let mut target = crate::inputs::connect(common, &config).await?;
    if summary.nemesis.as_ref().is_some_and(crate::nemesis::needs_proxy) {
        target.route_through_proxy().await?;
    }
    let stem = journal.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "journal".into());
    let opts = ReplayOptions {
        // The recorded overlap is what a race needs to come back: default to the recording's concurrency.
        concurrency: common.concurrency().unwrap_or(summary.header.concurrency.max(1) as usize),
        journal_path: common.journal_dir.join(format!("replay-{stem}.bin")),
        progress: !common.quiet && common.format == Format::Human,
        nemesis: summary.nemesis.clone(),
    };
    let result = crate::replay::replay(&target, journal, &opts).await?;
    if result.unreachable {
        return Err(Fatal::harness(format!(
            "the target {} did not answer the replay's setup requests; nothing was judged",
            target.label
        )));
    }
    match common.format {
        Format::Json => crate::outln!("{}", report::json_replay(&result)),
        Format::Human => crate::outln!("{}", report::human_replay(&result)),
    }
    Ok(report::exit_for(result.verdict))
}
