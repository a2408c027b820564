//! `check-backend`: every object with a current version reads back with exactly that version's size and blake3
//! digest — through the target, and, when the bucket lives on a backend with its own endpoint, from the cloud-side
//! bucket and key layout too; deleted, delete-marked or never written objects read NoSuchKey. This is the check that
//! finds lost writes, corrupted bytes and resurrected deletes.

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "every object reads back with its exact size and blake3 digest; deleted ones read NoSuchKey";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let name = subject(bucket, object);
        let status = ctx.state.status(bucket.index, object.index);
        if status.is_unknown() {
            return;
        }
        let op =
            ctx.call(Request::GetObject { bucket: bucket.name.clone(), key: object.key.clone(), range: None }).await;
        let Some(current) = status.current() else {
            ctx.judge(&op, &name, Assertion::not_found()).await;
            return;
        };
        if !ctx.judge(&op, &name, Assertion::Succeeded).await {
            return;
        }
        let expected = ctx.state.expected_version(current).await;
        ctx.judge(&op, &name, Assertion::Size(expected.size)).await;
        ctx.judge(&op, &name, Assertion::BodyDigest(expected.digest)).await;
        // Where the target says it put the data: read the cloud-side copy through the backend's own endpoint.
        let home = &bucket.backend;
        if home.readable {
            let (cloud_bucket, cloud_key) = home.locate(&bucket.name, &object.key);
            let request = Request::GetObject { bucket: cloud_bucket, key: cloud_key, range: None };
            let op = ctx.driver.call_on(Some(&home.name), &ctx.phase, request).await;
            let where_ = format!("{name} on {}", home.name);
            if ctx.judge(&op, &where_, Assertion::Succeeded).await {
                ctx.judge(&op, &where_, Assertion::BodyDigest(expected.digest)).await;
            }
        }
    }))
}
