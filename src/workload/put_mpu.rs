//! `put-mpu`: writes every object by multipart upload, whatever its size (small objects become one short part).

use futures::future::BoxFuture;

use super::write::{self, How};
use crate::exec::Ctx;

pub const ABOUT: &str =
    "write every object by multipart upload with its seeded part layout (5 MiB minimum, last part shorter)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        write::version(ctx, bucket, object, 0, How::Multipart).await;
    }))
}
