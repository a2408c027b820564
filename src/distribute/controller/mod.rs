//! `sfko -c`: publish a run's seeded jobs, follow the workers, gather and summarize the results.
//!
//! Job `i` of a run with master seed `N` over `S` selected scenarios runs seed `N + i/S` on scenario `i mod S` — the
//! runs `sfko --seed N --runs K` makes, in the same order — so every result has a one-line standalone repro. The
//! controller never talks to the target and never holds credentials for it.
//!
//! It does not hang on dead workers: a worker whose heartbeats stop while it holds a job gets that job NAKed (so
//! another worker takes it at once), a job that runs out of deliveries is reported lost, a run with no live worker
//! for `--worker-wait` ends with exit 3, and so does `--run-timeout` or NATS staying unreachable for
//! `--nats-retry-for`.
//!
//! [`prepare`] fixes the run, [`handlers`] are its NATS side, [`gather`] counts results (pure), [`summary`] shows
//! them.

mod feed;
mod gather;
mod handlers;
mod live;
mod prepare;
mod summary;

use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;

use crate::cli::{CommonArgs, ControllerArgs};
use crate::distribute::nats as nats_io;
use crate::exit::{Exit, Fatal};
use gather::{Gather, Lost};
use live::Live;

/// `sfko -c`.
pub async fn run(args: &ControllerArgs, common: &CommonArgs) -> Result<Exit, Fatal> {
    let (setup, settings) = prepare::prepare(args, common)?;
    setup.say(&format!("seed {}", setup.seed));
    let client = settings.connect(&format!("sfko controller {}", setup.run)).await?;
    let js = jetstream::new(client.clone());
    let limit = settings.retry_for;
    let (jobs_stream, results_stream) = nats_io::ensure_streams(&js, limit).await.map_err(Fatal::harness)?;
    nats_io::shared_consumer(&jobs_stream, limit).await.map_err(Fatal::harness)?;
    let results = nats_io::results_consumer(&results_stream, &setup.run, limit).await.map_err(Fatal::harness)?;
    let mut heartbeats = client
        .subscribe("sfko.heartbeat.*")
        .await
        .map_err(|e| Fatal::harness(format!("cannot subscribe to heartbeats: {e}")))?;
    let mut advisories = client
        .subscribe(nats_io::max_deliveries_advisory())
        .await
        .map_err(|e| Fatal::harness(format!("cannot subscribe to JetStream advisories: {e}")))?;
    let jobs = match (setup.duration, setup.rate) {
        (Some(duration), _) => format!("jobs for {duration:?}"),
        (None, Some(_)) => format!("{} jobs, fed as workers go", setup.jobs_total),
        (None, None) => format!("{} jobs", setup.jobs_total),
    };
    setup.say(&format!(
        "run {}: {jobs}{}{} over NATS {}",
        setup.run,
        setup.rate.map(|r| format!(" at {r}/s split across the live workers")).unwrap_or_default(),
        if setup.broadcast { " for every worker (broadcast)" } else { "" },
        settings.display
    ));

    let mut gather = Gather::new(setup.jobs_total);
    let mut live = Live::new(Instant::now());
    let mut feed = feed::Feed::new(&setup);
    if !setup.broadcast && !setup.paced() {
        let publishing = Instant::now();
        match handlers::publish(&js, &setup, None, setup.messages(), limit).await {
            Ok(sequences) => {
                tracing::info!(
                    "{} jobs published in {} messages in {:.2?}",
                    setup.jobs_total,
                    sequences.len(),
                    publishing.elapsed()
                );
                live.sequences = sequences;
                gather.expect_shared();
            }
            Err(e) => {
                handlers::cleanup(&client, &js, &jobs_stream, &results_stream, &setup, "cancel").await;
                return Err(Fatal::harness(e));
            }
        }
    }

    // Results arrive through a task so that a slow pull never delays heartbeats or the clock.
    let (result_tx, mut result_rx) = tokio::sync::mpsc::channel::<jetstream::Message>(1024);
    let puller =
        tokio::spawn(
            async move { while nats_io::pull_into(&results, 256, Duration::from_secs(1), &result_tx).await {} },
        );
    let mut stop = super::stop_signal();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut progress = summary::Progress::new(&setup);
    while !(feed.done && gather.complete()) && live.abort.is_none() {
        tokio::select! {
            Some(message) = result_rx.recv() => {
                handlers::on_results(&setup, &mut gather, &mut live, &message.payload);
                if let Err(e) = message.ack().await {
                    tracing::debug!("result ack: {e}");
                }
                if let Err(e) = feed.top_up(&js, &setup, &mut gather, &mut live, limit).await {
                    live.abort = Some(format!("cannot publish jobs: {e}"));
                }
            }
            Some(message) = heartbeats.next() => {
                handlers::on_heartbeat(&js, &setup, &mut gather, &mut live, &message.payload, limit).await;
            }
            Some(message) = advisories.next() => {
                handlers::on_advisory(&jobs_stream, &setup, &mut gather, &live, &message.payload).await;
            }
            _ = stop.changed() => {
                live.abort = Some("interrupted".into());
            }
            _ = tick.tick() => {
                handlers::on_tick(&client, &js, &jobs_stream, &setup, &mut gather, &mut live, &settings).await;
                if let Err(e) = feed.top_up(&js, &setup, &mut gather, &mut live, limit).await {
                    live.abort = Some(format!("cannot publish jobs: {e}"));
                }
                progress.show(&setup, &gather, &live);
            }
        }
    }
    puller.abort();
    // Results already pulled are still counted.
    while let Ok(message) = result_rx.try_recv() {
        handlers::on_results(&setup, &mut gather, &mut live, &message.payload);
        let _ = message.ack().await;
    }
    progress.finish();
    if let Some(why) = live.abort.clone() {
        let unresolved: Vec<_> = gather.unresolved().collect();
        for key in unresolved {
            gather.lose(key, Lost::Lost(why.clone()));
        }
    }
    let kind = if live.abort.is_some() { "cancel" } else { "done" };
    handlers::cleanup(&client, &js, &jobs_stream, &results_stream, &setup, kind).await;
    Ok(summary::summarize(&setup, &gather, &live, &settings))
}
