//! Feeding a paced run (`--duration`, `--rate`): instead of queueing every job up front, the controller keeps about
//! two jobs per live worker queued, a block of job indices at a time, and stops when the time is up.
//!
//! Why not queue everything: a duration run has no last job, and a job's share of the run's `--rate` is the rate
//! divided by the workers live when it is sent, so it must be decided as late as possible. Blocks are contiguous
//! index ranges, so what the run expects stays a prefix of its jobs and every job keeps its standalone seed.

use std::time::Instant;

use async_nats::jetstream;

use super::gather::Gather;
use super::handlers::publish;
use super::live::Live;
use super::prepare::Setup;
use crate::distribute::protocol::Job;

/// Jobs queued per live worker while a paced run is fed.
const QUEUED_PER_WORKER: u64 = 2;

/// The rest of a paced run's jobs, and when to stop publishing them.
pub struct Feed<'a> {
    blocks: Box<dyn Iterator<Item = (Vec<Job>, u64)> + Send + 'a>,
    /// First worker seen + `--duration`.
    deadline: Option<Instant>,
    /// Nothing more will be published.
    pub done: bool,
}

impl<'a> Feed<'a> {
    /// A feed for `setup`; already done unless the run is paced (an unpaced run is published whole at the start).
    pub fn new(setup: &'a Setup) -> Feed<'a> {
        Feed { blocks: Box::new(setup.blocks()), deadline: None, done: !setup.paced() }
    }

    /// Publishes blocks until about [`QUEUED_PER_WORKER`] jobs per live worker are open, or marks the feed done when
    /// the jobs or the time ran out.
    pub async fn top_up(
        &mut self,
        js: &jetstream::Context,
        setup: &Setup,
        gather: &mut Gather,
        live: &mut Live,
        limit: std::time::Duration,
    ) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        if let (Some(duration), Some(first)) = (setup.duration, live.first_worker) {
            let deadline = *self.deadline.get_or_insert(first + duration);
            if Instant::now() >= deadline {
                self.done = true;
                setup.say(&format!("--duration is up: no new jobs; {} jobs still queued or running", gather.open()));
                return Ok(());
            }
        }
        // Nothing runs before a worker is here, and a job's share of the rate needs to know how many there are.
        let workers = live.live_workers() as u64;
        if workers == 0 {
            return Ok(());
        }
        let wanted = workers * QUEUED_PER_WORKER * setup.seeds_per_job;
        while gather.open() < wanted {
            let Some((messages, end)) = self.blocks.next() else {
                self.done = true;
                break;
            };
            let rate = setup.rate.map(|rate| share(rate, workers));
            let messages = messages.into_iter().map(|mut job| {
                job.options.rate = rate;
                job
            });
            live.sequences.extend(publish(js, setup, None, messages, limit).await?);
            gather.expect_shared_upto(end);
        }
        Ok(())
    }
}

/// One worker's share of the run's rate, rounded to a thousandth of an op per second (it goes into repro lines).
fn share(rate: f64, workers: u64) -> f64 {
    ((rate / workers.max(1) as f64) * 1000.0).round().max(1.0) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_split_evenly_and_never_to_zero() {
        assert_eq!(share(100.0, 4), 25.0);
        assert_eq!(share(100.0, 3), 33.333);
        assert_eq!(share(0.0001, 7), 0.001);
    }
}
