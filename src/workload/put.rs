//! `put`: writes every object the way a typical client library does — one PutObject below the multipart threshold,
//! a multipart upload with the object's seeded part layout at or above it.

use futures::future::BoxFuture;

use super::write::{self, How};
use crate::exec::Ctx;

pub const ABOUT: &str = "write every object: single PUT below 8 MiB, multipart (seeded part sizes) at or above";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        write::version(ctx, bucket, object, 0, How::Auto).await;
    }))
}
