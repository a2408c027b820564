//! `delete`: deletes a seeded half of the objects with plain DeleteObject (so checks see both kinds). On a versioned
//! bucket that adds a delete marker; otherwise the object is gone. Either way it must then read NoSuchKey.

use futures::future::BoxFuture;

use super::write;
use crate::exec::Ctx;

pub const ABOUT: &str =
    "delete a seeded half of the objects (a delete marker on versioned buckets); they must then read NoSuchKey";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let chosen = write::pick(ctx, 1, 2);
        let chosen = &chosen;
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            let status = ctx.state.status(bucket.index, object.index);
            if chosen.contains(&(bucket.index, object.index)) && !status.is_unknown() {
                write::plain_delete(ctx, bucket, object).await;
            }
        })
        .await;
    })
}
