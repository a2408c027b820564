//! `conditional-race`: a crowd of writers races one conditional write per key, and S3 must settle it with one winner.
//!
//! On a key that holds nothing, 2–32 writers (a seeded number) send `If-None-Match: *` at once, each with its own
//! content. One writer in four completes a multipart upload with that precondition instead of a PutObject — its
//! parts go up first, so only the completions race (a gateway's CompleteMultipartUpload that ignored the header
//! and silently overwrote is the bug class). Exactly one writer may win; the others must be refused (412
//! PreconditionFailed, or 409 ConditionalRequestConflict), and a read right after must return the winner's bytes.
//! Then a plain PUT gives the key a known ETag and a second crowd races `If-Match` on it: again exactly one winner,
//! because each writer's content changes the ETag the others named (so objects of a few bytes, whose seeded
//! contents may collide, skip this race). Losing completions leave their uploads open, as
//! S3 does; they are aborted. On a versioned bucket the losers must leave no version behind, which the checks after
//! see.

use futures::future::{join_all, BoxFuture};

use super::write::{self, How};
use crate::content::{self, ContentKey, WriteMode};
use crate::driver::Op;
use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Body, Precondition, Request};
use crate::plan::{BucketPlan, ObjectPlan};

pub const ABOUT: &str = "2-32 writers (seeded) race If-None-Match: * on each key that holds nothing, then If-Match \
     on a known ETag, by PutObject or CompleteMultipartUpload: exactly one wins, the rest 412/409, the key holds the \
     winner's bytes";

/// How many writers a crowd has, at least and at most.
const WRITERS: (u64, u64) = (2, 32);

/// One writer in this many completes a multipart upload instead of sending a PutObject.
const MULTIPART_ONE_IN: u64 = 4;

/// The smallest object the If-Match race runs on (33 seeded contents of 8 bytes collide with odds below 1 in 10^16).
const MATCH_RACE_MIN_SIZE: u64 = 8;

/// How one writer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Put,
    Complete,
}

/// The two crowds of one key, drawn up front in plan order.
struct Crowds {
    create: Vec<Via>,
    matching: Vec<Via>,
}

fn crowd(stream: &mut crate::seed::Stream) -> Vec<Via> {
    let writers = stream.between(WRITERS.0, WRITERS.1);
    (0..writers).map(|_| if stream.chance(1, MULTIPART_ONE_IN) { Via::Complete } else { Via::Put }).collect()
}

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        // Each key's crowds come from its own stream, so a shrunk plan (fewer objects) races the same crowds.
        let label = ctx.phase.to_string();
        let mut stream = ctx.plan.seed.stream(&label, &[ctx.position as u64, bucket.index.into(), object.index.into()]);
        let crowds = Crowds { create: crowd(&mut stream), matching: crowd(&mut stream) };
        race_key(ctx, bucket, object, &crowds).await;
    }))
}

/// Both races on one key: the create race if it holds nothing, then a plain write and the If-Match race.
async fn race_key(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, crowds: &Crowds) {
    let status = ctx.state.status(bucket.index, object.index);
    if status.is_unknown() {
        return;
    }
    // Content versions number every writer's bytes apart from each other and from what the key held.
    let mut next = status.written() as u64;
    // Never written, or deleted from a bucket without versioning (a delete marker is left alone: whether
    // `If-None-Match: *` may create over one is not something S3 documents).
    if status.versions().is_empty() {
        if !race(ctx, bucket, object, &crowds.create, next, Precondition::Absent).await {
            return;
        }
        next += crowds.create.len() as u64;
    }
    // A plain write: it settles what the key holds whoever won (see `race`), and names the ETag to match.
    if !write::version(ctx, bucket, object, next, How::Single).await {
        return;
    }
    // The If-Match race has one winner only if every writer's ETag differs from the one they all name: below a few
    // bytes, seeded contents (and so their MD5s) collide, and writers that leave the ETag as it was may all win.
    if object.size < MATCH_RACE_MIN_SIZE {
        return;
    }
    let Some(etag_op) = ctx.state.status(bucket.index, object.index).current().map(|v| v.write.index) else {
        return;
    };
    next += 1;
    if race(ctx, bucket, object, &crowds.matching, next, Precondition::Matches { etag_op }).await && !bucket.versioning
    {
        write::version(ctx, bucket, object, next + crowds.matching.len() as u64, How::Single).await;
    }
}

/// One crowd: multipart writers upload their parts, then every writer's final request goes at once. Each answer
/// is judged (a win with the writer's ETag, or a refusal), every multipart writer's upload is aborted (a refused
/// completion leaves it open; aborting a completed one must not touch the object), then a read of the key judges
/// the race as a whole.
///
/// Which writer wins is up to the server, and differs from run to replay, so what the key holds afterwards must not
/// depend on it: on a versioned bucket every writer's version is deleted by id (only the winner's exists, so the
/// others' deletes are never sent), leaving the key as it was; without versioning the caller's next plain write
/// replaces the winner. The believed state never holds the winner. Returns whether the race settled as S3 requires
/// (one known winner); if not, the key's state is unknown from here on.
async fn race(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    object: &ObjectPlan,
    crowd: &[Via],
    first_version: u64,
    precondition: Precondition,
) -> bool {
    let name = subject(bucket, object);
    let contents: Vec<ContentKey> =
        (0..crowd.len() as u64).map(|n| content::version_key(&object.content, first_version + n)).collect();
    let prepared = crowd.iter().zip(&contents).map(|(via, c)| prepare(ctx, bucket, object, *via, *c, precondition));
    let mut writers = Vec::with_capacity(crowd.len());
    let mut finals = Vec::with_capacity(crowd.len());
    let mut uploads = Vec::with_capacity(crowd.len());
    for (at, (request, create_op)) in
        join_all(prepared).await.into_iter().enumerate().filter_map(|(at, p)| Some((at, p?)))
    {
        writers.push(at);
        finals.push(request);
        uploads.push(create_op);
    }
    let expected: Vec<content::Expected> = writers
        .iter()
        .map(|&at| {
            let mode = match crowd[at] {
                Via::Put => WriteMode::Single,
                Via::Complete => WriteMode::Multipart(object.parts),
            };
            content::expected(&contents[at], object.size, mode)
        })
        .collect();
    let ops: Vec<Op> = join_all(finals.into_iter().map(|request| ctx.call(request))).await;
    let indices: Vec<u64> = ops.iter().map(|op| op.index).collect();
    for (op, expected) in ops.iter().zip(&expected) {
        let rivals = indices.iter().copied().filter(|&i| i != op.index).collect();
        ctx.judge_racing(op, &name, win_or_refusal(&expected.etag), rivals).await;
    }
    abort_uploads(ctx, bucket, object, &uploads).await;

    let read = ctx.call(Request::GetObject { bucket: bucket.name.clone(), key: object.key.clone(), range: None }).await;
    let others: Vec<&Op> = ops.iter().collect();
    let settled = Assertion::SoleWinner { racers: indices, digests: expected.iter().map(|e| e.digest).collect() };
    let held = ctx.judge_among(&read, &name, settled, Vec::new(), &others).await;
    let settled = held && ops.iter().all(Op::usable) && ops.iter().filter(|op| op.outcome.succeeded()).count() == 1;
    if settled && bucket.versioning {
        for op in &ops {
            let version_op = op.index;
            let delete =
                Request::DeleteObjectVersion { bucket: bucket.name.clone(), key: object.key.clone(), version_op };
            let delete = ctx.call(delete).await;
            if !delete.outcome.not_issued() && !ctx.judge(&delete, &name, Assertion::Succeeded).await {
                ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
                return false;
            }
        }
    }
    if !settled {
        ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
    }
    settled
}

/// A writer's final request: a conditional PutObject, or — after its parts went up — a conditional
/// CompleteMultipartUpload (with the op that created its upload). `None` if the upload could not be prepared (that
/// failure is judged already).
async fn prepare(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    object: &ObjectPlan,
    via: Via,
    content: ContentKey,
    precondition: Precondition,
) -> Option<(Request, Option<u64>)> {
    let (b, k) = (bucket.name.clone(), object.key.clone());
    match via {
        Via::Put => {
            let body = Body { content, offset: 0, len: object.size };
            let precondition = Some(precondition);
            Some((Request::PutObject { bucket: b, key: k, body, checksum: None, precondition, metadata: None }, None))
        }
        Via::Complete => {
            let part = |create_op, number: u64, offset, len| Request::UploadPart {
                bucket: b.clone(),
                key: k.clone(),
                create_op,
                part_number: number as u32,
                body: Body { content, offset, len },
                checksum: None,
            };
            let (create_op, parts) = write::upload_parts(ctx, bucket, &object.key, object.parts, None, part).await?;
            let precondition = Some(precondition);
            let complete =
                Request::CompleteMultipartUpload { bucket: b.clone(), key: k.clone(), create_op, parts, precondition };
            Some((complete, Some(create_op)))
        }
    }
}

/// What each racing writer may answer: it won, or it was refused because another did.
fn win_or_refusal(etag: &str) -> Assertion {
    let refused = |code: &str, status| vec![Assertion::Fails { code: code.into(), status }];
    Assertion::Model {
        rule: "conditional-race".into(),
        alternatives: vec![
            vec![Assertion::Succeeded, Assertion::Etag(etag.to_string())],
            refused("PreconditionFailed", 412),
            refused("ConditionalRequestConflict", 409),
        ],
    }
}

/// Aborts every multipart writer's upload, the winner's too. S3 leaves a refused completion's upload open (a client
/// may complete it again), so its abort succeeds; a completed upload is gone, and aborting it answers NoSuchUpload
/// (or succeeds, on servers that keep completed ids a while) — and must leave the object alone, which the read after
/// sees. Which upload completed differs from run to replay, so each abort may answer either.
async fn abort_uploads(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, uploads: &[Option<u64>]) {
    let aborts = uploads.iter().flatten().map(|&create_op| {
        ctx.call(Request::AbortMultipartUpload { bucket: bucket.name.clone(), key: object.key.clone(), create_op })
    });
    let name = subject(bucket, object);
    let either = Assertion::Model {
        rule: "abort-after-race".into(),
        alternatives: vec![
            vec![Assertion::Succeeded],
            vec![Assertion::Fails { code: "NoSuchUpload".into(), status: 404 }],
        ],
    };
    for abort in join_all(aborts).await {
        ctx.judge(&abort, &name, either.clone()).await;
    }
}
