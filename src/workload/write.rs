//! Writing an object version, single-PUT or multipart, and recording what the server must now hold.

use futures::StreamExt;

use crate::content::WriteMode;
use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Body, CompletedPart, Request};
use crate::plan::{BucketPlan, ObjectPlan};

/// One PutObject of the whole object.
pub async fn single(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan) {
    let body = Body { content: object.content, offset: 0, len: object.size };
    let request = Request::PutObject { bucket: bucket.name.clone(), key: object.key.clone(), body };
    let op = ctx.call(request).await;
    let ok = ctx.expect(&op, "PutObject", &subject(bucket, object), Assertion::Succeeded).await;
    let status =
        if ok { ObjectStatus::Written { mode: WriteMode::Single, write: Box::new(op) } } else { ObjectStatus::Unknown };
    ctx.state.set(bucket.index, object.index, status);
}

/// Create, upload every part of the object's layout (parts in flight together), complete; abort if a part fails.
pub async fn multipart(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan) {
    let name = subject(bucket, object);
    let (b, k) = (bucket.name.clone(), object.key.clone());
    let create = ctx.call(Request::CreateMultipartUpload { bucket: b.clone(), key: k.clone() }).await;
    if !ctx.expect(&create, "CreateMultipartUpload", &name, Assertion::Succeeded).await {
        ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
        return;
    }
    let layout = object.parts;
    let uploads = futures::stream::iter(layout.parts())
        .map(|(number, offset, len)| {
            let request = Request::UploadPart {
                bucket: b.clone(),
                key: k.clone(),
                create_op: create.index,
                part_number: number as u32,
                body: Body { content: object.content, offset, len },
            };
            async move { (number as u32, ctx.call(request).await) }
        })
        .buffered(ctx.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut parts = Vec::with_capacity(uploads.len());
    let mut all_ok = true;
    for (part_number, op) in &uploads {
        all_ok &= ctx.expect(op, "UploadPart", &name, Assertion::Succeeded).await;
        parts.push(CompletedPart { part_number: *part_number, upload_part_op: op.index });
    }
    if !all_ok {
        let abort = ctx.call(Request::AbortMultipartUpload { bucket: b, key: k, create_op: create.index }).await;
        ctx.expect(&abort, "AbortMultipartUpload", &name, Assertion::Succeeded).await;
        ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
        return;
    }
    let complete =
        ctx.call(Request::CompleteMultipartUpload { bucket: b, key: k, create_op: create.index, parts }).await;
    let status = if ctx.expect(&complete, "CompleteMultipartUpload", &name, Assertion::Succeeded).await {
        ObjectStatus::Written { mode: WriteMode::Multipart(layout), write: Box::new(complete) }
    } else {
        ObjectStatus::Unknown
    };
    ctx.state.set(bucket.index, object.index, status);
}

/// Runs `each` over every object of the plan with `ctx.concurrency` objects in flight.
pub async fn for_each_object<'a, F, Fut>(ctx: &'a Ctx<'a>, each: F)
where
    F: Fn(&'a BucketPlan, &'a ObjectPlan) -> Fut,
    Fut: std::future::Future<Output = ()> + 'a,
{
    futures::stream::iter(ctx.objects())
        .for_each_concurrent(ctx.concurrency.max(1), |(bucket, object)| each(bucket, object))
        .await;
}
