//! `check-mpu`: every object whose current version was written by multipart upload reports its part count and
//! returns each part's exact bytes when read with `partNumber` — the part boundaries the upload used must survive.

use futures::future::BoxFuture;

use crate::content::{self, WriteMode};
use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str =
    "multipart objects report their part count and each partNumber GET returns that part's exact bytes";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let status = ctx.state.status(bucket.index, object.index);
        let Some(current) = status.current() else { return };
        let WriteMode::Multipart(layout) = current.mode else { return };
        let name = subject(bucket, object);
        for (number, offset, len) in layout.parts() {
            let request = Request::GetObjectPart {
                bucket: bucket.name.clone(),
                key: object.key.clone(),
                part_number: number as u32,
            };
            let op = ctx.call(request).await;
            if !ctx.judge(&op, &name, Assertion::Succeeded).await {
                continue;
            }
            ctx.judge(&op, &name, Assertion::PartsCount(layout.count() as u32)).await;
            ctx.judge(&op, &name, Assertion::Size(len)).await;
            let digest = content::range_digest(&current.content, offset, len);
            ctx.judge(&op, &name, Assertion::BodyDigest(digest)).await;
        }
    }))
}
