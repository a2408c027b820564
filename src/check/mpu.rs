//! `check-mpu`: every object whose current version was written by multipart upload reports its part count and
//! returns each part's exact bytes when read with `partNumber` — the part boundaries the upload used must survive.
//! GET and HEAD by part both carry the **whole object's** ETag (the `-N` one: a server that answers the part's own
//! ETag breaks every client that compares it with the object's) and `x-amz-mp-parts-count`; HEAD's length is the
//! part's.

use futures::future::BoxFuture;

use crate::content::{self, WriteMode};
use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str =
    "multipart objects: each partNumber GET returns that part's exact bytes, and GET and HEAD by part \
     answer the part count, the part's length and the whole object's ETag";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let status = ctx.state.status(bucket.index, object.index);
        let Some(current) = status.current() else { return };
        let WriteMode::Multipart(layout) = current.mode() else { return };
        let name = subject(bucket, object);
        let etag = ctx.state.expected_version(current).await.etag;
        for (number, offset, len) in layout.parts() {
            for head in [false, true] {
                let request = Request::GetObjectPart {
                    bucket: bucket.name.clone(),
                    key: object.key.clone(),
                    part_number: number as u32,
                    head,
                };
                let op = ctx.call(request).await;
                if !ctx.judge(&op, &name, Assertion::Succeeded).await {
                    continue;
                }
                ctx.judge(&op, &name, Assertion::PartsCount(layout.count() as u32)).await;
                ctx.judge(&op, &name, Assertion::Size(len)).await;
                ctx.judge(&op, &name, Assertion::Etag(etag.clone())).await;
                if !head {
                    let digest = content::range_digest(&current.content, offset, len);
                    ctx.judge(&op, &name, Assertion::BodyDigest(digest)).await;
                }
            }
        }
    }))
}
