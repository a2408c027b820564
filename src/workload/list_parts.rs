//! `list-parts`: for every object, starts a multipart upload of its key and uploads parts without completing it:
//! 1–20 parts, or (one upload in two) 1,001–1,100, past S3's 1,000-part page, numbered with seeded gaps. A seeded
//! few part numbers are then uploaded again with other bytes: the last upload of a number is the part. ListParts is
//! walked in small pages (`max-parts`, continued by `part-number-marker`) and, past 1,000 parts, at the server's own
//! page size, as most clients list; each page must hold exactly the next parts in number order — number, size and
//! ETag (the MD5 of the last bytes sent for it) — and be truncated exactly while parts remain. The upload is aborted
//! after; the object itself is never touched (the checks still expect what it held).

use futures::future::BoxFuture;
use futures::StreamExt;

use crate::content::{self, WriteMode};
use crate::driver::Op;
use crate::exec::{expected_page, page_size, subject, Ctx, S3_MAX_PAGE};
use crate::journal::{Assertion, Body, PageEntry, Request};
use crate::plan::{BucketPlan, ObjectPlan};

pub const ABOUT: &str = "upload 1-20 or 1,001-1,100 small parts (gaps, some numbers uploaded twice) without \
     completing; ListParts in pages must list exactly the last part of each number, in order; then abort";

/// Pages one walk follows at most: a server that answers "truncated" forever must not keep it going forever.
const MAX_WALK_PAGES: usize = 2_000;

/// One part as the upload must end up holding it.
struct Part {
    number: u32,
    body: Body,
}

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        // Each key's draw comes from its own stream, so a shrunk plan (fewer objects) lists the same parts.
        let label = ctx.phase.to_string();
        let mut stream = ctx.plan.seed.stream(&label, &[ctx.position as u64, bucket.index.into(), object.index.into()]);
        list_parts(ctx, bucket, object, &mut stream).await;
    }))
}

async fn list_parts(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, stream: &mut crate::seed::Stream) {
    let name = subject(bucket, object);
    let (b, k) = (bucket.name.clone(), object.key.clone());
    let count = match stream.chance(1, 2) {
        true => stream.between(1_001, 1_100),
        false => stream.between(1, 20),
    };
    // Part numbers with seeded gaps; bodies of 1–64 bytes no version of the object ever has.
    let mut parts = Vec::with_capacity(count as usize);
    let mut number = 0u32;
    while (parts.len() as u64) < count {
        number += 1 + u32::from(stream.chance(1, 8));
        let len = stream.between(1, 64);
        parts.push(Part { number, body: body(object, number, 0, len) });
    }
    let again: Vec<usize> = (0..parts.len()).filter(|_| stream.chance(1, 16)).collect();
    let drawn_page = stream.between(1, 7);

    let create = ctx
        .call(Request::CreateMultipartUpload { bucket: b.clone(), key: k.clone(), metadata: None, checksum: None })
        .await;
    if !ctx.judge(&create, &name, Assertion::Succeeded).await {
        return;
    }
    let upload = |part: &Part| Request::UploadPart {
        bucket: b.clone(),
        key: k.clone(),
        create_op: create.index,
        part_number: part.number,
        body: part.body,
        checksum: None,
    };
    let mut all_ok = upload_all(ctx, &name, parts.iter().map(upload).collect()).await;
    // The same numbers again, with other bytes (after every first upload: the last one sent is the part).
    for &at in &again {
        let len = stream.between(1, 64);
        parts[at].body = body(object, parts[at].number, 1, len);
    }
    all_ok &= upload_all(ctx, &name, again.iter().map(|&at| upload(&parts[at])).collect()).await;

    if all_ok {
        let expected: Vec<PageEntry> = parts
            .iter()
            .map(|part| PageEntry {
                key: part.number.to_string(),
                size: part.body.len,
                etag: Some(content::expected(&part.body.content, part.body.len, WriteMode::Single).etag),
                is_latest: false,
                delete_marker: false,
            })
            .collect();
        let page = page_size(drawn_page, expected.len() as u64);
        walk(ctx, &name, &expected, Some(page), |max_parts, after_op| list(&b, &k, create.index, max_parts, after_op))
            .await;
        if expected.len() > S3_MAX_PAGE {
            walk(ctx, &name, &expected, None, |max_parts, after_op| list(&b, &k, create.index, max_parts, after_op))
                .await;
        }
    }
    let abort = ctx.call(Request::AbortMultipartUpload { bucket: b.clone(), key: k.clone(), create_op: create.index });
    ctx.judge(&abort.await, &name, Assertion::Succeeded).await;
}

/// Part `number`'s bytes of upload `round` (0: the first, 1: sent again).
fn body(object: &ObjectPlan, number: u32, round: u64, len: u64) -> Body {
    let content = content::version_key(&object.content, (1 << 40) | (u64::from(number) << 1) | round);
    Body { content, offset: 0, len }
}

fn list(bucket: &str, key: &str, create_op: u64, max_parts: Option<u32>, after_op: Option<u64>) -> Request {
    Request::ListParts { bucket: bucket.to_string(), key: key.to_string(), create_op, max_parts, after_op }
}

/// Uploads `requests` with the workload's concurrency; true if every one succeeded.
async fn upload_all(ctx: &Ctx<'_>, name: &str, requests: Vec<Request>) -> bool {
    let ops: Vec<Op> =
        futures::stream::iter(requests).map(|r| ctx.call(r)).buffered(ctx.concurrency.max(1)).collect().await;
    let mut all_ok = true;
    for op in &ops {
        all_ok &= ctx.judge(op, name, Assertion::Succeeded).await;
    }
    all_ok
}

/// Walks ListParts page by page — `page` parts a page, or (`None`) the server's own page size — and holds each page
/// to the next parts of `expected` ([`expected_page`]).
async fn walk(
    ctx: &Ctx<'_>,
    name: &str,
    expected: &[PageEntry],
    page: Option<u32>,
    request: impl Fn(Option<u32>, Option<u64>) -> Request,
) {
    let (mut start, mut after_op) = (0, None);
    for _ in 0..MAX_WALK_PAGES {
        let op = ctx.call(request(page, after_op)).await;
        if !ctx.judge(&op, name, Assertion::Succeeded).await {
            return;
        }
        let (assertion, end) = expected_page(expected, start, page, &op.outcome);
        let held = ctx.judge(&op, name, assertion).await;
        let more = op.outcome.listing.as_ref().is_some_and(|l| l.truncated) && op.outcome.next_page.is_some();
        if !held || !more {
            return;
        }
        start = end;
        after_op = Some(op.index);
    }
}
