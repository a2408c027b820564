//! `put`: writes every object the way a typical client library does — one PutObject below the multipart threshold,
//! a multipart upload with the object's seeded part layout at or above it.

use futures::future::BoxFuture;

use super::write;
use crate::exec::Ctx;

pub const ABOUT: &str = "write every object: single PUT below 8 MiB, multipart (seeded part sizes) at or above";

/// Objects this big or bigger go multipart (boto3's and the AWS CLI's default threshold).
pub const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(write::for_each_object(ctx, move |bucket, object| async move {
        if object.size < MULTIPART_THRESHOLD {
            write::single(ctx, bucket, object).await;
        } else {
            write::multipart(ctx, bucket, object).await;
        }
    }))
}
