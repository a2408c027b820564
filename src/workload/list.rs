//! `list`: walks every bucket with ListObjectsV2 in small seeded pages (following continuation tokens) and
//! ListObjectVersions on versioned buckets; every page must succeed. Contents are judged by `check-list`.

use futures::future::BoxFuture;

use crate::exec::Ctx;
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "list every bucket in small seeded pages (ListObjectsV2; ListObjectVersions when versioned)";

/// Pages per listing at most, whatever the object count.
const MAX_PAGES: u64 = 200;

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        for bucket in &ctx.plan.buckets {
            let page = page_size(stream.between(1, 7), bucket.objects.len() as u64);
            walk(ctx, &bucket.name, page, false).await;
            if bucket.versioning {
                walk(ctx, &bucket.name, page, true).await;
            }
        }
    })
}

/// Small pages, but never more than [`MAX_PAGES`] of them.
pub fn page_size(drawn: u64, entries: u64) -> u32 {
    drawn.max(entries.div_ceil(MAX_PAGES)).min(1000) as u32
}

/// Lists a whole bucket page by page; returns the page ops.
pub async fn walk(ctx: &Ctx<'_>, bucket: &str, page: u32, versions: bool) -> Vec<crate::driver::Op> {
    let mut ops = Vec::new();
    let mut after_op = None;
    for _ in 0..=MAX_PAGES * 4 {
        let request = if versions {
            Request::ListObjectVersions { bucket: bucket.to_string(), prefix: None, max_keys: Some(page), after_op }
        } else {
            Request::ListObjectsV2 {
                bucket: bucket.to_string(),
                prefix: None,
                delimiter: None,
                max_keys: Some(page),
                start_after: None,
                after_op,
            }
        };
        let op = ctx.call(request).await;
        let name = if versions { "ListObjectVersions" } else { "ListObjectsV2" };
        let ok = ctx.judge(&op, name, bucket, Assertion::Succeeded).await;
        let more = ok && op.outcome.listing.as_ref().is_some_and(|l| l.truncated) && op.outcome.next_page.is_some();
        after_op = Some(op.index);
        ops.push(op);
        if !more {
            break;
        }
    }
    ops
}
