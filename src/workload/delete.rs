//! `delete`: deletes a seeded half of the objects with plain DeleteObject (so checks see both kinds). On a versioned
//! bucket that adds a delete marker; otherwise the object is gone. Either way it must then read NoSuchKey.

use futures::future::BoxFuture;

use super::write;
use crate::exec::{subject, Ctx, ObjectStatus, Version};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str =
    "delete a seeded half of the objects (a delete marker on versioned buckets); they must then read NoSuchKey";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let chosen = write::pick(ctx, 1, 2);
        let chosen = &chosen;
        write::for_each_object(ctx, move |bucket, object| async move {
            let status = ctx.state.status(bucket.index, object.index);
            if !chosen.contains(&(bucket.index, object.index)) || status.is_unknown() {
                return;
            }
            let op = ctx.call(Request::DeleteObject { bucket: bucket.name.clone(), key: object.key.clone() }).await;
            if !ctx.expect(&op, "DeleteObject", &subject(bucket, object), Assertion::Succeeded).await {
                ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
                return;
            }
            if bucket.versioning {
                let marker = Version {
                    content: object.content,
                    size: 0,
                    mode: crate::content::WriteMode::Single,
                    write: Box::new(op),
                    delete_marker: true,
                };
                ctx.state.push_version(bucket.index, object.index, true, marker);
            } else {
                ctx.state.set(bucket.index, object.index, ObjectStatus::Deleted { op: op.index });
            }
        })
        .await;
    })
}
