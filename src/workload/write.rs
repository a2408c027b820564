//! Writing an object version, single-PUT or multipart, and recording what the server must now hold.

use futures::StreamExt;

use crate::content::{self, ContentKey, WriteMode};
use crate::exec::{subject, Ctx, ObjectStatus, Version};
use crate::journal::{Assertion, Body, CompletedPart, Request};
use crate::metadata::Metadata;
use crate::plan::{BucketPlan, ObjectPlan};

/// Objects this big or bigger go multipart in `put` and `overwrite` (boto3's and the AWS CLI's default threshold).
pub const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;

/// How to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Like a typical client: single PUT below [`MULTIPART_THRESHOLD`], multipart at or above.
    Auto,
    Single,
    Multipart,
}

/// Writes version `n` of the object (`n = 0` is the plan's content); true if the server took it.
pub async fn version(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, n: u64, how: How) -> bool {
    version_with(ctx, bucket, object, n, how, None).await
}

/// [`version`], storing `metadata` with it (on the PutObject, or the CreateMultipartUpload).
pub async fn version_with(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    object: &ObjectPlan,
    n: u64,
    how: How,
    metadata: Option<&Metadata>,
) -> bool {
    let content = content::version_key(&object.content, n);
    let multipart = match how {
        How::Auto => object.size >= MULTIPART_THRESHOLD,
        How::Single => false,
        How::Multipart => true,
    };
    let metadata = metadata.map(|m| Box::new(m.clone()));
    let written = if multipart {
        multipart_upload(ctx, bucket, object, content, metadata).await
    } else {
        single(ctx, bucket, object, content, metadata).await
    };
    match written {
        Some((mode, op)) => {
            let version = Version::written(content, object.size, mode, &op);
            ctx.state.push_version(bucket.index, object.index, bucket.versioning, version);
            true
        }
        None => {
            ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
            false
        }
    }
}

/// Writes the next version of the object (its first if it was never written).
pub async fn next_version(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, how: How) -> bool {
    let status = ctx.state.status(bucket.index, object.index);
    if status.is_unknown() {
        return false;
    }
    version(ctx, bucket, object, status.written() as u64, how).await
}

async fn single(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    object: &ObjectPlan,
    content: ContentKey,
    metadata: Option<Box<Metadata>>,
) -> Option<(WriteMode, crate::driver::Op)> {
    let body = Body { content, offset: 0, len: object.size };
    let request = Request::PutObject {
        bucket: bucket.name.clone(),
        key: object.key.clone(),
        body,
        checksum: ctx.plan.setup.write_checksum.map(|algorithm| crate::checksum::Sent {
            algorithm,
            carrier: crate::checksum::Carrier::Header,
            wrong: false,
        }),
        precondition: None,
        metadata,
    };
    let op = ctx.call(request).await;
    ctx.judge(&op, &subject(bucket, object), Assertion::Succeeded).await.then_some((WriteMode::Single, op))
}

/// Create, upload every part of the object's layout (parts in flight together), complete; abort if a part fails.
async fn multipart_upload(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    object: &ObjectPlan,
    content: ContentKey,
    metadata: Option<Box<Metadata>>,
) -> Option<(WriteMode, crate::driver::Op)> {
    let layout = object.parts;
    let part = |create_op: u64, number: u64, offset: u64, len: u64| Request::UploadPart {
        bucket: bucket.name.clone(),
        key: object.key.clone(),
        create_op,
        part_number: number as u32,
        body: Body { content, offset, len },
        checksum: None,
    };
    let complete = multipart(ctx, bucket, &object.key, layout, metadata, part).await?;
    Some((WriteMode::Multipart(layout), complete))
}

/// One multipart upload of `key` cut as `layout`: CreateMultipartUpload (with `metadata`, if any), one request per
/// part from `part(create_op, number, offset, len)` with the parts in flight together, then CompleteMultipartUpload —
/// or AbortMultipartUpload if any part failed. Every step is judged; returns the completing op.
pub async fn multipart(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    key: &str,
    layout: crate::content::PartLayout,
    metadata: Option<Box<Metadata>>,
    part: impl Fn(u64, u64, u64, u64) -> Request,
) -> Option<crate::driver::Op> {
    let (create_op, parts) = upload_parts(ctx, bucket, key, layout, metadata, part).await?;
    let (b, k) = (bucket.name.clone(), key.to_string());
    let complete =
        ctx.call(Request::CompleteMultipartUpload { bucket: b, key: k, create_op, parts, precondition: None }).await;
    let name = format!("{}/{key}", bucket.name);
    ctx.judge(&complete, &name, Assertion::Succeeded).await.then_some(complete)
}

/// The first steps of [`multipart`]: CreateMultipartUpload and every part, judged, aborting the upload if a part
/// failed. Returns the creating op's index and the parts to complete it with.
pub async fn upload_parts(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    key: &str,
    layout: crate::content::PartLayout,
    metadata: Option<Box<Metadata>>,
    part: impl Fn(u64, u64, u64, u64) -> Request,
) -> Option<(u64, Vec<CompletedPart>)> {
    let name = format!("{}/{key}", bucket.name);
    let (b, k) = (bucket.name.clone(), key.to_string());
    let create =
        ctx.call(Request::CreateMultipartUpload { bucket: b.clone(), key: k.clone(), metadata, checksum: None }).await;
    if !ctx.judge(&create, &name, Assertion::Succeeded).await {
        return None;
    }
    let part = &part;
    let uploads = futures::stream::iter(layout.parts())
        .map(|(number, offset, len)| {
            let request = part(create.index, number, offset, len);
            async move { (number as u32, ctx.call(request).await) }
        })
        .buffered(ctx.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut parts = Vec::with_capacity(uploads.len());
    let mut all_ok = true;
    for (part_number, op) in &uploads {
        all_ok &= ctx.judge(op, &name, Assertion::Succeeded).await;
        parts.push(CompletedPart { part_number: *part_number, upload_part_op: op.index });
    }
    if !all_ok {
        let abort = ctx.call(Request::AbortMultipartUpload { bucket: b, key: k, create_op: create.index }).await;
        ctx.judge(&abort, &name, Assertion::Succeeded).await;
        return None;
    }
    Some((create.index, parts))
}

/// A plain DeleteObject: a delete marker on a versioned bucket, the object gone otherwise.
pub async fn plain_delete(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan) {
    let op = ctx.call(Request::DeleteObject { bucket: bucket.name.clone(), key: object.key.clone() }).await;
    if !ctx.judge(&op, &subject(bucket, object), Assertion::Succeeded).await {
        ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
        return;
    }
    if bucket.versioning {
        let marker = Version::marker(object.content, &op);
        ctx.state.push_version(bucket.index, object.index, true, marker);
    } else {
        ctx.state.set(bucket.index, object.index, ObjectStatus::Deleted { op: op.index });
    }
}

/// The objects a seeded draw picks (each with probability `numerator/denominator`), decided up front in plan order
/// so the choice never depends on completion order.
pub fn pick(ctx: &Ctx<'_>, numerator: u64, denominator: u64) -> std::collections::BTreeSet<(u32, u32)> {
    let mut stream = ctx.stream();
    ctx.object_ids().filter(|_| stream.chance(numerator, denominator)).collect()
}
