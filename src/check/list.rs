//! `check-list`: ListObjectsV2 in small pages returns exactly the model's keys, sizes and ETags, in order, page by
//! page; on versioned buckets ListObjectVersions returns exactly the model's versions (newest first within a key)
//! and delete markers. Finds dropped or phantom listing entries, stale sizes, broken pagination. A bucket with more
//! than one default page (1,000 entries) is walked a second time without `max-keys`, as most clients list, so the
//! server's own page size and continuation are judged too.

use futures::future::BoxFuture;

use crate::exec::{expected_page, page_size, walk, Ctx, ObjectStatus, S3_MAX_PAGE};
use crate::journal::PageEntry;
use crate::plan::BucketPlan;

pub const ABOUT: &str =
    "ListObjectsV2 (small pages) and ListObjectVersions return exactly the model's keys, sizes, ETags, versions";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        for bucket in &ctx.plan.buckets {
            let drawn = stream.between(1, 7);
            let statuses: Vec<(String, ObjectStatus)> =
                bucket.objects.iter().map(|o| (o.key.clone(), ctx.state.status(bucket.index, o.index))).collect();
            if statuses.iter().any(|(_, s)| s.is_unknown()) {
                tracing::info!(bucket = %bucket.name, "check-list: skipped, an object's state is unknown after a failed write");
                continue;
            }
            let current = current_entries(ctx, &statuses).await;
            judge(ctx, bucket, &current, Some(page_size(drawn, current.len() as u64)), false).await;
            if current.len() > S3_MAX_PAGE {
                judge(ctx, bucket, &current, None, false).await;
            }
            if bucket.versioning {
                let versions = version_entries(ctx, &statuses).await;
                judge(ctx, bucket, &versions, Some(page_size(drawn, versions.len() as u64)), true).await;
                if versions.len() > S3_MAX_PAGE {
                    judge(ctx, bucket, &versions, None, true).await;
                }
            }
        }
    })
}

/// Walks the listing — in pages of `page` entries, or (`None`, as most clients list) of the server's own size — and
/// holds each page to the next entries of `expected` ([`expected_page`]).
async fn judge(ctx: &Ctx<'_>, bucket: &BucketPlan, expected: &[PageEntry], page: Option<u32>, versions: bool) {
    let ops = walk(ctx, &bucket.name, page, versions).await;
    let mut start = 0;
    for op in &ops {
        if !op.outcome.succeeded() {
            return;
        }
        let (assertion, end) = expected_page(expected, start, page, &op.outcome);
        ctx.judge(op, &bucket.name, assertion).await;
        start = end;
    }
}

/// Objects with a current version, by key.
async fn current_entries(ctx: &Ctx<'_>, statuses: &[(String, ObjectStatus)]) -> Vec<PageEntry> {
    let mut entries = Vec::new();
    for (key, status) in statuses {
        if let Some(version) = status.current() {
            let etag = ctx.state.expected_version(version).await.etag;
            entries.push(PageEntry {
                key: key.clone(),
                size: version.size,
                etag: Some(etag),
                is_latest: true,
                delete_marker: false,
            });
        }
    }
    entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    entries
}

/// Every version and delete marker, by key, newest first within a key.
async fn version_entries(ctx: &Ctx<'_>, statuses: &[(String, ObjectStatus)]) -> Vec<PageEntry> {
    let mut sorted: Vec<&(String, ObjectStatus)> = statuses.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut entries = Vec::new();
    for (key, status) in sorted {
        let versions = status.versions();
        for (i, version) in versions.iter().enumerate().rev() {
            let is_latest = i + 1 == versions.len();
            let etag = if version.delete_marker { None } else { Some(ctx.state.expected_version(version).await.etag) };
            entries.push(PageEntry {
                key: key.clone(),
                size: if version.delete_marker { 0 } else { version.size },
                etag,
                is_latest,
                delete_marker: version.delete_marker,
            });
        }
    }
    entries
}
