//! `delete-versions`: for a seeded half of the objects, one of: a plain delete (a delete marker on versioned
//! buckets), deleting one specific version by its id, or — when the current version is a delete marker — deleting
//! the marker, which must bring the previous version back.

use futures::future::BoxFuture;

use super::write;
use crate::exec::{subject, Ctx, ObjectStatus};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "delete by version id, plain deletes that leave delete markers, and delete-marker removal";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        // (bucket, object) → (what to do, which version), decided up front in plan order.
        let choices: std::collections::BTreeMap<(u32, u32), (u64, u64)> = ctx
            .object_ids()
            .filter_map(|id| {
                let picked = stream.chance(1, 2);
                let action = stream.below(3);
                let which = stream.next_u64();
                picked.then_some((id, (action, which)))
            })
            .collect();
        let choices = &choices;
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            let Some(&(action, which)) = choices.get(&(bucket.index, object.index)) else { return };
            let status = ctx.state.status(bucket.index, object.index);
            let versions = status.versions().to_vec();
            if status.is_unknown() || versions.is_empty() {
                return;
            }
            let name = subject(bucket, object);
            let by_id = bucket.versioning && action > 0;
            if !by_id {
                write::plain_delete(ctx, bucket, object).await;
                return;
            }
            // Action 2 on a delete-marked object removes the marker; otherwise remove a drawn version.
            let last = versions.len() - 1;
            let index = if action == 2 && versions[last].delete_marker {
                last
            } else {
                (which % versions.len() as u64) as usize
            };
            let target = &versions[index];
            let request = Request::DeleteObjectVersion {
                bucket: bucket.name.clone(),
                key: object.key.clone(),
                version_op: target.write.index,
            };
            let op = ctx.call(request).await;
            if !ctx.judge(&op, &name, Assertion::Succeeded).await {
                ctx.state.set(bucket.index, object.index, ObjectStatus::Unknown);
                return;
            }
            let mut left = versions;
            left.remove(index);
            ctx.state.set(bucket.index, object.index, ObjectStatus::of_versions(left));
        })
        .await;
    })
}
