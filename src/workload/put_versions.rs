//! `put-versions`: writes two to four new versions of every object, one after another (versions of one key never
//! race each other, so the model knows which is current); alternates single PUT and multipart for objects big enough.

use futures::future::BoxFuture;

use super::write::{self, How};
use crate::exec::Ctx;

pub const ABOUT: &str =
    "write 2-4 new versions of every object in sequence (single PUT and multipart alternate when big enough)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        let counts: Vec<u64> = ctx.object_ids().map(|_| stream.between(2, 4)).collect();
        let counts = &counts;
        let positions: std::collections::BTreeMap<(u32, u32), usize> =
            ctx.object_ids().enumerate().map(|(i, id)| (id, i)).collect();
        let positions = &positions;
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            let count = positions.get(&(bucket.index, object.index)).map(|i| counts[*i]).unwrap_or(2);
            for n in 0..count {
                let how = if object.size >= crate::content::MIN_PART_SIZE && n % 2 == 1 {
                    How::Multipart
                } else {
                    How::Single
                };
                if !write::next_version(ctx, bucket, object, how).await {
                    return;
                }
            }
        })
        .await;
    })
}
