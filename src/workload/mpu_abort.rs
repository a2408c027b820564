//! `mpu-abort`: for a seeded third of the objects, starts a multipart upload, uploads a part, aborts it — and the
//! upload must then be gone: ListParts answers NoSuchUpload and the bucket lists no upload under that key. The
//! object itself must be untouched (the checks still expect its previous state).

use futures::future::BoxFuture;

use super::write;
use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Body, Request};

pub const ABOUT: &str =
    "start, part-upload and abort multipart uploads; nothing may be left behind (ListParts, ListMultipartUploads)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let chosen = write::pick(ctx, 1, 3);
        let chosen = &chosen;
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            if !chosen.contains(&(bucket.index, object.index)) {
                return;
            }
            let name = subject(bucket, object);
            let (b, k) = (bucket.name.clone(), object.key.clone());
            let create = ctx
                .call(Request::CreateMultipartUpload {
                    bucket: b.clone(),
                    key: k.clone(),
                    metadata: None,
                    checksum: None,
                })
                .await;
            if !ctx.judge(&create, &name, Assertion::Succeeded).await {
                return;
            }
            // A throwaway part with content no version of the object ever has.
            let content = crate::content::version_key(&object.content, u64::MAX);
            let body = Body { content, offset: 0, len: object.size.min(1 << 20) };
            let part = Request::UploadPart {
                bucket: b.clone(),
                key: k.clone(),
                create_op: create.index,
                part_number: 1,
                body,
                checksum: None,
            };
            let part = ctx.call(part).await;
            ctx.judge(&part, &name, Assertion::Succeeded).await;
            let abort = ctx
                .call(Request::AbortMultipartUpload { bucket: b.clone(), key: k.clone(), create_op: create.index })
                .await;
            if !ctx.judge(&abort, &name, Assertion::Succeeded).await {
                return;
            }
            let list = Request::ListParts {
                bucket: b.clone(),
                key: k.clone(),
                create_op: create.index,
                max_parts: None,
                after_op: None,
            };
            let parts = ctx.call(list).await;
            ctx.judge(&parts, &name, Assertion::Fails { code: "NoSuchUpload".into(), status: 404 }).await;
            let uploads = ctx
                .call(Request::ListMultipartUploads { bucket: b, prefix: Some(k), max_uploads: None, after_op: None })
                .await;
            if ctx.judge(&uploads, &name, Assertion::Succeeded).await {
                ctx.judge(&uploads, &name, Assertion::Page { entries: vec![], truncated: false }).await;
            }
        })
        .await;
    })
}
