//! `check-backend`: every written object reads back with exactly its size and blake3 digest; every deleted (or never
//! written) object reads NoSuchKey. This is the check that finds lost writes, corrupted bytes and resurrected deletes.

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Request};
use crate::workload::write;

pub const ABOUT: &str = "every object reads back with its exact size and blake3 digest; deleted ones read NoSuchKey";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(write::for_each_object(ctx, move |bucket, object| async move {
        let name = subject(bucket, object);
        let status = ctx.state.status(bucket.index, object.index);
        if matches!(status, ObjectStatus::Unknown) {
            return;
        }
        let op =
            ctx.call(Request::GetObject { bucket: bucket.name.clone(), key: object.key.clone(), range: None }).await;
        let ObjectStatus::Written { mode, .. } = status else {
            ctx.expect(&op, "GetObject", &name, Assertion::Fails { code: "NoSuchKey".into(), status: 404 }).await;
            return;
        };
        if !ctx.expect(&op, "GetObject", &name, Assertion::Succeeded).await {
            return;
        }
        let expected = ctx.state.expected(bucket.index, object, mode).await;
        ctx.expect(&op, "GetObject", &name, Assertion::Size(expected.size)).await;
        ctx.expect(&op, "GetObject", &name, Assertion::BodyDigest(expected.digest)).await;
    }))
}
