//! `get`: reads every object back in full. Written objects must answer 200, absent or deleted ones NoSuchKey;
//! content is judged by `check-backend`.

use futures::future::BoxFuture;

use super::write;
use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "read every object back in full (200 if written, NoSuchKey if absent or deleted)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(write::for_each_object(ctx, move |bucket, object| async move {
        let assertion = match ctx.state.status(bucket.index, object.index) {
            ObjectStatus::Written { .. } => Assertion::Succeeded,
            ObjectStatus::Absent | ObjectStatus::Deleted { .. } => {
                Assertion::Fails { code: "NoSuchKey".into(), status: 404 }
            }
            ObjectStatus::Unknown => return,
        };
        let op =
            ctx.call(Request::GetObject { bucket: bucket.name.clone(), key: object.key.clone(), range: None }).await;
        ctx.expect(&op, "GetObject", &subject(bucket, object), assertion).await;
    }))
}
