//! `sfko replay JOURNAL [--times N]`: re-issue a recorded run and judge it again (N times, to measure how often a
//! failure comes back).

use std::path::Path;

use crate::cli::{CommonArgs, Format};
use crate::exit::{Exit, Fatal};
use crate::journal::JournalReader;
use crate::replay::ReplayOptions;
use crate::report;

pub async fn replay(journal: &Path, times: u64, common: &CommonArgs) -> Result<Exit, Fatal> {
    let config = crate::inputs::config(common)?;
    // Read the whole journal before sending anything: a truncated, corrupt or edited file is a located exit 2, and
    // none of its requests reach the target.
    let summary = JournalReader::summarize(journal, false)?;
    let mut target = crate::inputs::connect(common, &config).await?;
    if summary.nemesis.as_ref().is_some_and(crate::nemesis::needs_proxy) {
        target.route_through_proxy().await?;
    }
    let stem = journal.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "journal".into());
    let series = super::start_timeseries(common)?;
    let mut results = Vec::new();
    for i in 1..=times {
        let name = if times == 1 { format!("replay-{stem}.bin") } else { format!("replay-{stem}-{i}.bin") };
        let opts = ReplayOptions {
            // The recorded overlap is what a race needs to come back: default to the recording's concurrency.
            concurrency: common.concurrency().unwrap_or(summary.header.concurrency.max(1) as usize),
            journal_path: common.journal_dir.join(name),
            progress: !common.quiet && common.format == Format::Human,
            nemesis: summary.nemesis.clone(),
            timeseries: series.as_ref().map(|r| r.sink.clone()),
        };
        let result = crate::replay::replay(&target, journal, &opts).await?;
        if result.unreachable {
            return Err(Fatal::harness(format!(
                "the target {} did not answer the replay's setup requests; nothing was judged",
                target.label
            )));
        }
        if times > 1 && common.format == Format::Human {
            // One line per replay; the summary after the last one says where the others diverged.
            let text = report::human_replay(&result);
            crate::outln!("{i:>3}/{times} {}", text.lines().next().unwrap_or_default());
        }
        results.push(result);
    }
    if let Some(series) = series {
        series.finish();
    }
    match (common.format, results.as_slice()) {
        (Format::Json, [only]) => crate::outln!("{}", report::json_replay(only)),
        (Format::Human, [only]) => crate::outln!("{}", report::human_replay(only)),
        (Format::Json, all) => crate::outln!("{}", report::json_replays(all)),
        (Format::Human, all) => crate::outln!("{}", report::human_reproducibility(all)),
    }
    Ok(report::exit_for(report::overall(results.iter().map(|r| r.verdict))))
}
