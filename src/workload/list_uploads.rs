//! `list-uploads`: opens 1–4 multipart uploads on every object's key (one after another, so a key's uploads have
//! distinct initiation times) and uploads nothing to them. ListMultipartUploads is then walked by exact key (with
//! that key as the prefix) on a seeded eighth of the keys, and over each whole bucket in small seeded pages
//! (`max-uploads`, continued by the `key-marker` and `upload-id-marker` the page before named) and, past S3's
//! 1,000-upload page, at the server's own page size, as most clients list. Each page must hold the
//! next uploads in key order and be truncated exactly while uploads remain; across the pages, every upload opened
//! must be listed exactly once, by its id, and nothing else. The order of one key's uploads is not judged: S3 sorts
//! them by initiation time, some servers by upload id, and a client paging by markers gets every upload either
//! way. Then every upload is aborted, and the bucket must list none.
//!
//! An upload listing is the only way a client finds uploads it lost track of; one the listing skips at a page
//! boundary holds its parts' storage until a lifecycle rule (if any) expires it. MinIO lists uploads only by
//! object name, by design, and answers a bucket-wide listing with none: that is reported as not implemented (the
//! walks by key still judge it), not as a loss.

use futures::future::BoxFuture;
use futures::StreamExt;

use crate::driver::Op;
use crate::exec::{expected_page, page_size, subject, Ctx, S3_MAX_PAGE};
use crate::journal::{Assertion, PageEntry, Request};
use crate::plan::{BucketPlan, ObjectPlan};

pub const ABOUT: &str = "open 1-4 multipart uploads per key; ListMultipartUploads in small pages (and past 1,000 at \
     the server's page size) must list each exactly once, in key order; then abort them all: none may be listed";

/// Pages one walk follows at most: a server that answers "truncated" forever must not keep it going forever.
const MAX_WALK_PAGES: usize = 2_000;

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        for bucket in &ctx.plan.buckets {
            list_uploads(ctx, bucket).await;
        }
    })
}

async fn list_uploads(ctx: &Ctx<'_>, bucket: &BucketPlan) {
    let name = bucket.name.clone();
    // Uploads earlier steps left open in this bucket would be listed too, and this workload cannot name them.
    let earlier = ctx
        .driver
        .open_uploads()
        .into_iter()
        .filter(|&op| ctx.driver.upload_target(op).is_some_and(|(b, _)| b == bucket.name))
        .count();
    // (Futures made up front, not in a stream's `map`: a closure there trips the compiler's Send inference.)
    let opens: Vec<_> = bucket.objects.iter().map(|object| open(ctx, bucket, object)).collect();
    let opened: Vec<(String, Vec<Op>, bool)> =
        futures::stream::iter(opens).buffered(ctx.concurrency.max(1)).collect().await;
    // Every create answered: the listing must hold exactly these uploads. Otherwise it is neither walked nor judged.
    let known = earlier == 0 && opened.iter().all(|(_, _, all_ok)| *all_ok);
    if !known {
        tracing::info!(bucket = name, earlier, "list-uploads: some uploads are not known to this workload; not listed");
    }
    let creates: Vec<(&str, &Op)> =
        opened.iter().flat_map(|(key, ops, _)| ops.iter().map(move |op| (key.as_str(), op))).collect();
    let mut walked = Walk::Listed;
    if known {
        let mut stream = ctx.plan.seed.stream(&ctx.phase.to_string(), &[ctx.position as u64, bucket.index.into()]);
        // By exact key first, on a seeded eighth of the keys: the form every server answers (MinIO lists uploads
        // only so), paged by upload-id marker.
        let by_key: Vec<&str> = opened.iter().map(|(key, _, _)| key.as_str()).filter(|_| stream.chance(1, 8)).collect();
        for key in by_key {
            let under: Vec<(&str, &Op)> = creates.iter().filter(|(k, _)| k.starts_with(key)).copied().collect();
            let page = stream.between(1, 3) as u32;
            walked = walked.then(walk(ctx, &name, Some(key), &under, Some(page)).await);
        }
        let page = page_size(stream.between(1, 7), creates.len() as u64);
        if walked != Walk::Failed {
            walked = walked.then(walk(ctx, &name, None, &creates, Some(page)).await);
        }
        if walked == Walk::Listed && creates.len() > S3_MAX_PAGE {
            walked = walk(ctx, &name, None, &creates, None).await;
        }
    }
    // A listing shown wrong already: later walks and the abort check would report the same defect again under other
    // ops, so stop here; cleanup aborts every upload still open.
    if walked == Walk::Failed {
        return;
    }
    let aborts: Vec<_> = creates
        .iter()
        .map(|(key, create)| {
            let (bucket, key) = (name.clone(), key.to_string());
            ctx.call(Request::AbortMultipartUpload { bucket, key, create_op: create.index })
        })
        .collect();
    let aborts: Vec<Op> = futures::stream::iter(aborts).buffered(ctx.concurrency.max(1)).collect().await;
    let mut all_aborted = true;
    for (op, (key, _)) in aborts.iter().zip(&creates) {
        all_aborted &= ctx.judge(op, &format!("{name}/{key}"), Assertion::Succeeded).await;
    }
    if known && all_aborted {
        let left = ctx.call(list(&name, None, None, None)).await;
        if ctx.judge(&left, &name, Assertion::Succeeded).await {
            ctx.judge(&left, &name, Assertion::Page { entries: Vec::new(), truncated: false }).await;
        }
    }
}

/// Opens the object's 1–4 uploads, one after another. Returns its key, the creates that succeeded, and whether all
/// did (a create with no usable answer may or may not have opened one).
async fn open(ctx: &Ctx<'_>, bucket: &BucketPlan, object: ObjectPlan) -> (String, Vec<Op>, bool) {
    let name = subject(bucket, &object);
    // Each key's count comes from its own stream, so a shrunk plan (fewer objects) opens the same uploads per key.
    let label = ctx.phase.to_string();
    let mut stream = ctx.plan.seed.stream(&label, &[ctx.position as u64, bucket.index.into(), object.index.into()]);
    let count = stream.between(1, 4);
    let mut creates = Vec::with_capacity(count as usize);
    let mut all_ok = true;
    for _ in 0..count {
        let request = Request::CreateMultipartUpload {
            bucket: bucket.name.clone(),
            key: object.key.clone(),
            metadata: None,
            checksum: None,
        };
        let create = ctx.call(request).await;
        if ctx.judge(&create, &name, Assertion::Succeeded).await {
            creates.push(create);
        } else {
            all_ok = false;
        }
    }
    (object.key, creates, all_ok)
}

/// How a walk of the listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Every page answered and was judged right.
    Listed,
    /// Not judged: a page went unanswered, or the server lists uploads only by object name.
    NotJudged,
    /// A page, or the walk as a whole, did not hold (judged wrong, or some create's or page's answer was unusable).
    Failed,
}

impl Walk {
    /// Two walks' outcomes together: the worse one.
    fn then(self, next: Walk) -> Walk {
        match (self, next) {
            (Walk::Failed, _) | (_, Walk::Failed) => Walk::Failed,
            (Walk::NotJudged, _) | (_, Walk::NotJudged) => Walk::NotJudged,
            _ => Walk::Listed,
        }
    }
}

fn list(bucket: &str, prefix: Option<&str>, max_uploads: Option<u32>, after_op: Option<u64>) -> Request {
    let prefix = prefix.map(str::to_string);
    Request::ListMultipartUploads { bucket: bucket.to_string(), prefix, max_uploads, after_op }
}

/// Walks ListMultipartUploads of the bucket (or of `prefix`) page by page — `page` uploads a page, or (`None`) the
/// server's own page size — holding each page to the next of `creates`' uploads in key order ([`expected_page`])
/// and, at the end, all pages together to exactly those uploads ([`Assertion::UploadsListed`]). A bucket-wide
/// listing that names no upload at all while some are open is what a server that lists uploads only by object name
/// answers (MinIO documents it): reported as not implemented, not judged.
async fn walk(ctx: &Ctx<'_>, name: &str, prefix: Option<&str>, creates: &[(&str, &Op)], page: Option<u32>) -> Walk {
    let mut expected: Vec<PageEntry> = creates
        .iter()
        .map(|(key, _)| PageEntry { key: key.to_string(), size: 0, etag: None, is_latest: true, delete_marker: false })
        .collect();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    let (mut start, mut after_op) = (0, None);
    let mut pages: Vec<Op> = Vec::new();
    for _ in 0..MAX_WALK_PAGES {
        let op = ctx.call(list(name, prefix, page, after_op)).await;
        if !ctx.judge(&op, name, Assertion::Succeeded).await {
            return Walk::NotJudged;
        }
        let nothing = op.outcome.listing.as_ref().is_none_or(|l| l.entries.is_empty() && !l.truncated);
        if prefix.is_none() && after_op.is_none() && nothing && !expected.is_empty() {
            ctx.not_implemented("ListMultipartUploads of a whole bucket");
            ctx.note(format!(
                "{name}: a bucket-wide ListMultipartUploads named none of the {} open uploads, as a target that \
                 lists uploads only by object name does (MinIO documents it); not judged, the walks by key were",
                expected.len()
            ));
            return Walk::NotJudged;
        }
        let (assertion, end) = expected_page(&expected, start, page, &op.outcome);
        if !ctx.judge(&op, name, assertion).await {
            return Walk::Failed;
        }
        let more = op.outcome.listing.as_ref().is_some_and(|l| l.truncated) && op.outcome.next_page.is_some();
        if !more {
            let assertion = Assertion::UploadsListed {
                creates: creates.iter().map(|(key, op)| (key.to_string(), op.index)).collect(),
                pages: pages.iter().map(|p| p.index).collect(),
            };
            let others: Vec<&Op> = creates.iter().map(|(_, op)| *op).chain(pages.iter()).collect();
            return match ctx.judge_among(&op, name, assertion, Vec::new(), &others).await {
                true => Walk::Listed,
                false => Walk::Failed,
            };
        }
        start = end;
        after_op = Some(op.index);
        pages.push(op);
    }
    Walk::NotJudged
}
