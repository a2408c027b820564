//! `random-ops`: a seeded sequence of S3 operations over a few colliding keys, every answer judged against an S3
//! model ([`model::World`]).
//!
//! The program ([`program::draw`]) is packed into rounds issued together. Two ops of a round may touch the same key
//! (a race); the model then accepts any answer consistent with *some* order of the racing ops, keeps every world
//! that order could have left, and lets later answers tell them apart. Completed ops are never reordered: a read
//! issued after a write was acknowledged must see it (read-your-writes, list-after-write).

mod model;
pub mod program;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;

use crate::driver::Op;
use crate::exec::Ctx;
use crate::journal::{Assertion, Outcome, Request};
use model::{Hashes, Prediction, World};
use program::{GenBucket, Step};

pub const ABOUT: &str =
    "seeded random S3 operations on a few colliding keys (options: random_ops), each answer judged by an S3 model";

/// Most possible worlds kept at once; a round whose races could leave more is issued one op at a time.
const MAX_WORLDS: usize = 32;

/// The program this plan runs: the drawn steps the plan keeps, and those whose references are kept too.
pub fn program(plan: &crate::plan::Plan, position: usize) -> Vec<Step> {
    let (spec, keep) = match &plan.random_ops {
        Some(r) => (r.spec.clone(), r.keep.clone()),
        None => (Default::default(), None),
    };
    let buckets: Vec<GenBucket> =
        plan.buckets.iter().map(|b| GenBucket { name: b.name.clone(), versioned: b.versioning }).collect();
    let checksums = plan.setup.checksum_algorithms();
    let drawn = program::draw(&spec, &buckets, &checksums, plan.stream("random-ops", position));
    let keep: Option<BTreeSet<u32>> = keep.map(|k| k.into_iter().collect());
    let mut kept: BTreeSet<u64> = BTreeSet::new();
    drawn
        .into_iter()
        .filter(|step| {
            let wanted = keep.as_ref().is_none_or(|k| k.contains(&step.n))
                && program::references(&step.request).iter().all(|r| kept.contains(r));
            if wanted {
                kept.insert(u64::from(step.n));
            }
            wanted
        })
        .collect()
}

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let steps = program(ctx.plan, ctx.position);
        let concurrency = ctx.plan.random_ops.as_ref().map_or(4, |r| r.spec.concurrency) as usize;
        let hashes = Hashes::default();
        let mut worlds = vec![World::new(&ctx.plan.buckets)];
        let mut op_of: BTreeMap<u64, u64> = BTreeMap::new();
        let mut pages: BTreeMap<u64, Outcome> = BTreeMap::new();
        let mut max_worlds = 1;
        for round in program::rounds(&steps, concurrency) {
            let races = program::races(&steps, &round);
            let together = races.is_empty() || worlds.len() << races.len() <= MAX_WORLDS;
            let ops = issue(ctx, &steps, &round, &op_of, together).await;
            for (&i, op) in round.iter().zip(&ops) {
                if let Some(op) = op {
                    op_of.insert(u64::from(steps[i].n), op.index);
                    let n = u64::from(steps[i].n);
                    if let (Request::PutObject { .. }, Some(etag)) = (&steps[i].request, &op.outcome.etag) {
                        hashes.remember_etag(n, etag);
                    }
                    let writes = matches!(
                        steps[i].request,
                        Request::PutObject { .. }
                            | Request::DeleteObject { .. }
                            | Request::DeleteObjectIf { .. }
                            | Request::CopyObject { .. }
                            | Request::CompleteMultipartUpload { .. }
                    );
                    if let (true, Some(id)) = (writes, &op.outcome.version_id) {
                        hashes.remember_version_id(n, id);
                    }
                    let page = matches!(
                        steps[i].request,
                        Request::ListObjectsV2 { .. }
                            | Request::ListObjects { .. }
                            | Request::ListObjectVersions { .. }
                    );
                    if page {
                        pages.insert(u64::from(steps[i].n), op.outcome.clone());
                    }
                }
            }
            let orders = if together { orders(&round, &races) } else { vec![(0..round.len()).collect()] };
            worlds = judge(ctx, &steps, &round, &ops, &orders, &races, worlds, &pages, &hashes).await;
            max_worlds = max_worlds.max(worlds.len());
        }
        let (keys, nasty) = ctx
            .plan
            .random_ops
            .as_ref()
            .map_or((8, crate::scenario::NastyKeys::Plain), |r| (r.spec.keys, r.spec.nasty_keys));
        let nasty = match nasty {
            crate::scenario::NastyKeys::Plain => String::new(),
            other => format!(" (nasty keys: {})", other.name()),
        };
        ctx.note(format!(
            "{} ops on {keys} keys per bucket{nasty}; at most {max_worlds} possible states at once",
            steps.len()
        ));
    })
}

/// Issues a round: all at once, or one by one in step order.
async fn issue(
    ctx: &Ctx<'_>,
    steps: &[Step],
    round: &[usize],
    op_of: &BTreeMap<u64, u64>,
    together: bool,
) -> Vec<Option<Op>> {
    let requests: Vec<Option<Request>> =
        round.iter().map(|&i| program::remap(&steps[i].request, |n| op_of.get(&n).copied())).collect();
    if together {
        futures::future::join_all(requests.into_iter().map(|r| async move {
            match r {
                Some(request) => Some(ctx.call(request).await),
                None => None,
            }
        }))
        .await
    } else {
        let mut ops = Vec::with_capacity(requests.len());
        for request in requests {
            ops.push(match request {
                Some(request) => Some(ctx.call(request).await),
                None => None,
            });
        }
        ops
    }
}

/// Every order of the round worth simulating: each race either way (other ops commute).
fn orders(round: &[usize], races: &[(usize, usize)]) -> Vec<Vec<usize>> {
    (0..1usize << races.len())
        .map(|mask| {
            let mut order: Vec<usize> = (0..round.len()).collect();
            for (bit, (a, b)) in races.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    order.swap(*a, *b);
                }
            }
            order
        })
        .collect()
}

/// Simulates every (world, order), journals one verdict per op, and returns the worlds that explain every answer
/// (or, when none does, those that explain the most, with the unexplained keys forgotten).
///
/// Verdicts are given in round order, each against the candidates that explain the answers judged before it: two
/// racing answers that each fit *some* order but together fit none (two `If-None-Match: *` creates that both
/// succeed) fail the second.
#[allow(clippy::too_many_arguments)]
async fn judge(
    ctx: &Ctx<'_>,
    steps: &[Step],
    round: &[usize],
    ops: &[Option<Op>],
    orders: &[Vec<usize>],
    races: &[(usize, usize)],
    worlds: Vec<World>,
    pages: &BTreeMap<u64, Outcome>,
    hashes: &Hashes,
) -> Vec<World> {
    struct Candidate {
        world: World,
        predictions: Vec<Option<Prediction>>,
        /// Whether each op's answer fits this candidate.
        held: Vec<bool>,
        explained: usize,
    }
    let mut candidates = Vec::with_capacity(worlds.len() * orders.len());
    for world in &worlds {
        for order in orders {
            let mut world = world.clone();
            let mut predictions = vec![None; round.len()];
            let mut held_at = vec![true; round.len()];
            let mut explained = 0;
            for &pos in order {
                let Some(op) = &ops[pos] else {
                    explained += 1;
                    continue;
                };
                // An answer that may echo an earlier try says nothing: the model takes it as no answer at all.
                let no_answer;
                let observed = if op.ambiguous {
                    no_answer = crate::journal::Outcome { status: 0, ..crate::journal::Outcome::default() };
                    &no_answer
                } else {
                    &op.outcome
                };
                let (prediction, held) = world.advance(&steps[round[pos]], observed, pages, hashes);
                explained += usize::from(held);
                predictions[pos] = prediction;
                held_at[pos] = held;
            }
            candidates.push(Candidate { world, predictions, held: held_at, explained });
        }
    }
    // Each op's racing partners, by op index (only when the round went out together: one by one, nothing raced).
    let mut raced: Vec<Vec<u64>> = vec![Vec::new(); round.len()];
    if orders.len() > 1 {
        for (a, b) in races {
            if let (Some(x), Some(y)) = (&ops[*a], &ops[*b]) {
                raced[*a].push(y.index);
                raced[*b].push(x.index);
            }
        }
    }
    let mut alive = vec![true; candidates.len()];
    for (pos, op) in ops.iter().enumerate() {
        let Some(op) = op else { continue };
        // Later verdicts go by the candidates that fit this answer — unless none does (the failure is this op's),
        // or it says nothing (no answer, or one that may echo an earlier try).
        let narrowed: Vec<bool> = candidates.iter().zip(&alive).map(|(c, a)| *a && c.held[pos]).collect();
        let informative = !op.ambiguous && op.outcome.status != 0;
        let predictions: Vec<&Option<Prediction>> =
            candidates.iter().zip(&alive).filter(|(_, a)| **a).map(|(c, _)| &c.predictions[pos]).collect();
        if informative && narrowed.iter().any(|&a| a) {
            alive = narrowed;
        }
        // Judged only where every candidate has a verdict (an unknown key in one of them means: not sure).
        if predictions.iter().any(|p| p.is_none()) {
            continue;
        }
        let mut alternatives: Vec<Vec<Assertion>> = Vec::new();
        let mut rule = "";
        for prediction in predictions.into_iter().flatten() {
            rule = prediction.rule;
            for alternative in &prediction.alternatives {
                if !alternatives.contains(alternative) {
                    alternatives.push(alternative.clone());
                }
            }
        }
        let request = &steps[round[pos]].request;
        let assertion = Assertion::Model { rule: rule.to_string(), alternatives };
        ctx.judge_racing(op, &request.subject(), assertion, raced[pos].clone()).await;
    }
    let all = round.len();
    let best = candidates.iter().map(|c| c.explained).max().unwrap_or(all);
    let mut out: Vec<World> = Vec::new();
    for candidate in candidates {
        if candidate.explained == best && !out.contains(&candidate.world) {
            out.push(candidate.world);
        }
    }
    if best < all {
        tracing::debug!(worlds = out.len(), "no order explains every answer of the round");
    }
    out.truncate(MAX_WORLDS);
    out
}
