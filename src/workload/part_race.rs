//! `part-race`: a part re-uploaded while its upload is being completed, or aborted.
//!
//! On each key, a one-part upload: part 1 goes up with the key's next content, then a second upload of part 1,
//! with other bytes of the same size, is sent at the same moment as the CompleteMultipartUpload that names the
//! first part's ETag — or, on a seeded third of the keys, as an AbortMultipartUpload. Either may land first, and
//! S3 allows both orders:
//!
//! - the completion first: the object is the first part's bytes, and the late part answers NoSuchUpload (or is
//!   accepted and never used — S3 says a part upload in flight may still succeed);
//! - the re-upload first: the completion names an ETag part 1 no longer has and is refused `400 InvalidPart`, the
//!   upload stays open, and completing it again with the re-uploaded part's ETag makes the object the second bytes;
//! - an abort: whichever went first, the upload is gone — completing it afterwards answers NoSuchUpload — and the
//!   key holds what it held before.
//!
//! After the race the workload always sends the same requests (a completion naming the re-uploaded part, when the
//! re-upload got an ETag, then a GET), and one expectation on the GET reads all their answers
//! ([`Assertion::PartRace`]), so a replay in which the race went the other way is judged by its own answers. What
//! the key holds afterwards must not depend on the winner either (the checks after judge it): on a versioned bucket
//! the version the race made is deleted by id, and without versioning a plain PUT replaces it. The
//! bug class: a server that mixes the two parts' bytes, completes a closed upload again with other parts, lets an
//! aborted upload be completed, or refuses a completion and loses the upload with it.

use futures::future::BoxFuture;

use super::write::{self, How};
use crate::content::{self, PartLayout, WriteMode};
use crate::driver::Op;
use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Body, CompletedPart, Request};
use crate::plan::{BucketPlan, ObjectPlan};

pub const ABOUT: &str = "re-upload part 1 of a one-part upload while CompleteMultipartUpload (or, on a third of the \
     keys, AbortMultipartUpload) is in flight: either order is S3's, but the key must hold exactly one side's bytes, a \
     refused completion must leave the upload usable, and a closed upload must stay closed";

/// One key in this many races an abort instead of a completion.
const ABORT_ONE_IN: u64 = 3;

/// The smallest object raced: below a few bytes two seeded contents (and so the parts' ETags) may be equal, and a
/// re-upload that does not change the ETag cannot make the completion's part invalid.
const MIN_SIZE: u64 = 8;

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        // Each key draws from its own stream, so a shrunk plan (fewer objects) races the same way per key.
        let label = ctx.phase.to_string();
        let mut stream = ctx.plan.seed.stream(&label, &[ctx.position as u64, bucket.index.into(), object.index.into()]);
        let abort = stream.chance(1, ABORT_ONE_IN);
        race_key(ctx, bucket, &object, abort).await;
    }))
}

async fn race_key(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, abort: bool) {
    let status = ctx.state.status(bucket.index, object.index);
    if status.is_unknown() || object.size < MIN_SIZE {
        return;
    }
    let name = subject(bucket, object);
    let before = status.current().map(|v| content::range_digest(&v.content, 0, v.size));
    // Content versions number both parts' bytes apart from each other and from what the key held.
    let next = status.written() as u64;
    let (first, second) =
        (content::version_key(&object.content, next), content::version_key(&object.content, next + 1));
    let (b, k) = (bucket.name.clone(), object.key.clone());
    let create = ctx
        .call(Request::CreateMultipartUpload { bucket: b.clone(), key: k.clone(), metadata: None, checksum: None })
        .await;
    if !ctx.judge(&create, &name, Assertion::Succeeded).await {
        return;
    }
    let part = |content| Request::UploadPart {
        bucket: b.clone(),
        key: k.clone(),
        create_op: create.index,
        part_number: 1,
        body: Body { content, offset: 0, len: object.size },
        checksum: None,
    };
    let uploaded = ctx.call(part(first)).await;
    if !ctx.judge(&uploaded, &name, Assertion::Succeeded).await
        || !ctx
            .judge(&uploaded, &name, Assertion::Etag(content::expected(&first, object.size, WriteMode::Single).etag))
            .await
    {
        // The upload holds no known part: nothing to race. Cleanup aborts it.
        return;
    }
    let layout = PartLayout { size: object.size, part_size: object.size };
    let completed = content::expected(&first, object.size, WriteMode::Multipart(layout));
    // The re-uploaded part's ETag and bytes, from one pass over its content.
    let replaced = content::expected(&second, object.size, WriteMode::Single);
    let closer = match abort {
        true => Request::AbortMultipartUpload { bucket: b.clone(), key: k.clone(), create_op: create.index },
        false => Request::CompleteMultipartUpload {
            bucket: b.clone(),
            key: k.clone(),
            create_op: create.index,
            parts: vec![CompletedPart { part_number: 1, upload_part_op: uploaded.index }],
            precondition: None,
        },
    };
    let (reupload, closer) = futures::join!(ctx.call(part(second)), ctx.call(closer));
    let closed_or_not = match abort {
        true => Assertion::Succeeded,
        false => race_rule(
            "a completion racing a re-upload of its part",
            vec![vec![Assertion::Succeeded, Assertion::Etag(completed.etag.clone())], vec![invalid_part()]],
        ),
    };
    ctx.judge_racing(&closer, &name, closed_or_not, vec![reupload.index]).await;
    let landed_or_closed = race_rule(
        "a part re-upload racing its upload's completion or abort",
        vec![vec![Assertion::Succeeded, Assertion::Etag(replaced.etag)], vec![no_such_upload()]],
    );
    ctx.judge_racing(&reupload, &name, landed_or_closed, vec![closer.index]).await;
    // The same requests whichever way the race went (a replay may see it go the other way): complete the upload
    // with the re-uploaded part, if it got an ETag to name, then read the key.
    let retry = match reupload.outcome.succeeded() {
        true => Some(
            ctx.call(Request::CompleteMultipartUpload {
                bucket: b.clone(),
                key: k.clone(),
                create_op: create.index,
                parts: vec![CompletedPart { part_number: 1, upload_part_op: reupload.index }],
                precondition: None,
            })
            .await,
        ),
        false => None,
    };
    let read = ctx.call(Request::GetObject { bucket: b, key: k, range: None }).await;
    let assertion = Assertion::PartRace {
        closer: closer.index,
        abort,
        reupload: reupload.index,
        retry: retry.as_ref().map(|op| op.index),
        first: completed.digest,
        second: replaced.digest,
        before,
    };
    let mut others: Vec<&Op> = vec![&closer, &reupload];
    others.extend(retry.as_ref());
    let held = ctx.judge_among(&read, &name, assertion, Vec::new(), &others).await;
    let usable = held && others.iter().all(|op| op.usable());
    let settled = match (abort, bucket.versioning) {
        (true, _) => usable,
        (false, true) => usable && undo(ctx, bucket, object, [Some(&closer), retry.as_ref()]).await,
        (false, false) => write::version(ctx, bucket, object, next + 2, How::Single).await,
    };
    if !settled {
        ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
    }
}

/// On a versioned bucket: deletes by id the version the race's winner made, so the key holds what it held before
/// whichever side won (a replay may see the other side win). Both completions' deletes are sent; the one whose
/// completion made no version is recorded as not issued. Returns whether the key is back as it was — not when a
/// completion succeeded without a version id to delete (an answer sfko could not read): its version stays.
async fn undo(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, completions: [Option<&Op>; 2]) -> bool {
    let name = subject(bucket, object);
    for completion in completions.into_iter().flatten() {
        let (bucket, key, version_op) = (bucket.name.clone(), object.key.clone(), completion.index);
        let delete = ctx.call(Request::DeleteObjectVersion { bucket, key, version_op }).await;
        if delete.outcome.not_issued() {
            // A 2xx answer that could not be read (moto's completion answer) made a version all the same.
            if (200..300).contains(&completion.outcome.status) {
                return false;
            }
            continue;
        }
        if !ctx.judge(&delete, &name, Assertion::Succeeded).await {
            return false;
        }
    }
    true
}

fn race_rule(rule: &str, alternatives: Vec<Vec<Assertion>>) -> Assertion {
    Assertion::Model { rule: rule.into(), alternatives }
}

fn invalid_part() -> Assertion {
    Assertion::Fails { code: "InvalidPart".into(), status: 400 }
}

fn no_such_upload() -> Assertion {
    Assertion::Fails { code: "NoSuchUpload".into(), status: 404 }
}
