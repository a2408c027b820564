//! `delete`: deletes a seeded half of the objects (so checks see both kinds). Afterwards those must read NoSuchKey.

use std::collections::BTreeSet;

use futures::future::BoxFuture;

use super::write;
use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "delete a seeded half of the objects; deleted objects must then read NoSuchKey";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        // Decided up front, in plan order, so the choice never depends on completion order.
        let chosen: BTreeSet<(u32, u32)> =
            ctx.objects().filter(|_| stream.chance(1, 2)).map(|(b, o)| (b.index, o.index)).collect();
        let chosen = &chosen;
        write::for_each_object(ctx, move |bucket, object| async move {
            let picked = chosen.contains(&(bucket.index, object.index));
            if !picked || matches!(ctx.state.status(bucket.index, object.index), ObjectStatus::Unknown) {
                return;
            }
            let op = ctx.call(Request::DeleteObject { bucket: bucket.name.clone(), key: object.key.clone() }).await;
            let ok = ctx.expect(&op, "DeleteObject", &subject(bucket, object), Assertion::Succeeded).await;
            let status = if ok { ObjectStatus::Deleted { op: op.index } } else { ObjectStatus::Unknown };
            ctx.state.set(bucket.index, object.index, status);
        })
        .await;
    })
}
