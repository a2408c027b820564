//! `head`: HEAD every object: a current version answers 200 with its size; anything else 404.

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "HEAD every object: 200 with the right Content-Length, or 404 if absent/deleted";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let status = ctx.state.status(bucket.index, object.index);
        if status.is_unknown() {
            return;
        }
        let name = subject(bucket, object);
        let op = ctx.call(Request::HeadObject { bucket: bucket.name.clone(), key: object.key.clone() }).await;
        match status.current() {
            Some(current) => {
                if ctx.judge(&op, &name, Assertion::Succeeded).await {
                    ctx.judge(&op, &name, Assertion::Size(current.size)).await;
                }
            }
            None => {
                ctx.judge(&op, &name, Assertion::not_found()).await;
            }
        }
    }))
}
