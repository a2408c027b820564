//! `copy`: server-side copies. Within each bucket, every even-indexed object with a current version is copied onto
//! the next (odd-indexed) object — sources are never written while they are copied. Sources below the multipart
//! threshold go through CopyObject; larger ones through a multipart upload of UploadPartCopy ranges (the source's
//! part layout), so the copy's ETag is well defined either way.

use futures::future::BoxFuture;

use super::write::{self, MULTIPART_THRESHOLD};
use crate::content::WriteMode;
use crate::exec::{subject, Ctx, ObjectStatus, Version};
use crate::journal::{Assertion, Request};
use crate::metadata::Metadata;
use crate::plan::{BucketPlan, ObjectPlan};

pub const ABOUT: &str =
    "server-side copy of each even object onto the next (CopyObject; UploadPartCopy for multipart sizes)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, source| async move {
        let source = &source;
        if source.index % 2 == 1 {
            return;
        }
        let Some(target) = &bucket.objects.get(source.index as usize + 1) else { return };
        let Some(current) = ctx.state.status(bucket.index, source.index).current().cloned() else { return };
        if ctx.state.status(bucket.index, target.index).is_unknown() {
            return;
        }
        let copied = if current.size < MULTIPART_THRESHOLD {
            copy_object(ctx, bucket, source, target, None).await
        } else {
            copy_parts(ctx, bucket, source, target, &current).await
        };
        record(ctx, bucket, target, &current, copied);
    }))
}

/// What the target now holds: the source's `current` content, written by the copy; unknown if the copy failed.
pub(super) fn record(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    target: &ObjectPlan,
    current: &Version,
    copied: Option<(WriteMode, crate::driver::Op)>,
) {
    match copied {
        Some((mode, op)) => {
            let version = Version::written(current.content, current.size, mode, &op);
            ctx.state.push_version(bucket.index, target.index, bucket.versioning, version);
        }
        None => ctx.state.set(bucket.index, target.index, ObjectStatus::Unknown),
    }
}

/// One CopyObject of `source` onto `target` in the same bucket — with `replace`: `MetadataDirective: REPLACE` and that
/// metadata — judged to succeed.
pub(super) async fn copy_object(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    source: &ObjectPlan,
    target: &ObjectPlan,
    replace: Option<Box<Metadata>>,
) -> Option<(WriteMode, crate::driver::Op)> {
    let request = Request::CopyObject {
        bucket: bucket.name.clone(),
        key: target.key.clone(),
        source_bucket: bucket.name.clone(),
        source_key: source.key.clone(),
        metadata: replace,
    };
    let op = ctx.call(request).await;
    ctx.judge(&op, &subject(bucket, target), Assertion::Succeeded).await.then_some((WriteMode::Single, op))
}

async fn copy_parts(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    source: &ObjectPlan,
    target: &ObjectPlan,
    current: &Version,
) -> Option<(WriteMode, crate::driver::Op)> {
    let layout = crate::content::PartLayout { size: current.size, part_size: source.parts.part_size };
    let part = |create_op: u64, number: u64, offset: u64, len: u64| Request::UploadPartCopy {
        bucket: bucket.name.clone(),
        key: target.key.clone(),
        create_op,
        part_number: number as u32,
        source_bucket: bucket.name.clone(),
        source_key: source.key.clone(),
        range: (offset, offset + len.max(1) - 1),
    };
    let complete = write::multipart(ctx, bucket, &target.key, layout, None, part).await?;
    Some((WriteMode::Multipart(layout), complete))
}
