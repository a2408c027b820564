//! `list`: walks every bucket with ListObjectsV2 in small seeded pages (following continuation tokens) and
//! ListObjectVersions on versioned buckets; every page must succeed. Contents are judged by `check-list`.

use futures::future::BoxFuture;

use crate::exec::{page_size, walk, Ctx};

pub const ABOUT: &str = "list every bucket in small seeded pages (ListObjectsV2; ListObjectVersions when versioned)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        for bucket in &ctx.plan.buckets {
            let page = page_size(stream.between(1, 7), bucket.objects.len() as u64);
            walk(ctx, &bucket.name, Some(page), false).await;
            if bucket.versioning {
                walk(ctx, &bucket.name, Some(page), true).await;
            }
        }
    })
}
