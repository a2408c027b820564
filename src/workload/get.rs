//! `get`: reads every object back in full. Objects with a current version must answer 200; absent, deleted or
//! delete-marked ones NoSuchKey. Content is judged by `check-backend`.

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "read every object back in full (200 if written, NoSuchKey if absent or deleted)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let status = ctx.state.status(bucket.index, object.index);
        if status.is_unknown() {
            return;
        }
        let assertion = match status.current() {
            Some(_) => Assertion::Succeeded,
            None => Assertion::not_found(),
        };
        let op =
            ctx.call(Request::GetObject { bucket: bucket.name.clone(), key: object.key.clone(), range: None }).await;
        ctx.judge(&op, &subject(bucket, object), assertion).await;
    }))
}
