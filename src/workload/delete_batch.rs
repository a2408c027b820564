//! `delete-batch`: deletes a seeded half of the objects with DeleteObjects, up to 1,000 entries a request (S3's
//! limit), verbose and quiet in turn, each object's entry beside one for a key that does not exist. On a versioned
//! bucket every entry names a version id: a drawn version of the object (a delete marker too), which goes for good,
//! and for the missing key that same id, which S3 deletes nothing for — so the batch adds no delete marker. Every
//! key must be reported deleted (none when quiet) with no errors; the checks that follow see exactly what is left.

use futures::future::BoxFuture;

use crate::exec::{Ctx, ObjectStatus};
use crate::journal::{Assertion, Request};
use crate::plan::BucketPlan;

pub const ABOUT: &str = "DeleteObjects of a seeded half of the objects, up to 1,000 keys a request, missing keys \
     mixed in (by version id on versioned buckets); every key reported deleted";

/// S3's most entries in one DeleteObjects.
const MAX_ENTRIES: usize = 1000;

/// One entry of a batch.
struct Entry {
    key: String,
    version_op: Option<u64>,
    /// The object it deletes, and which of its versions (`None`: a key that does not exist).
    object: Option<(u32, usize)>,
}

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        // Which objects, and which version of each, decided up front in plan order.
        let mut stream = ctx.stream();
        let picks: std::collections::BTreeMap<(u32, u32), u64> = ctx
            .object_ids()
            .filter_map(|id| {
                let picked = stream.chance(1, 2);
                let which = stream.next_u64();
                picked.then_some((id, which))
            })
            .collect();
        for bucket in &ctx.plan.buckets {
            let entries = entries(ctx, bucket, &picks);
            for (n, chunk) in entries.chunks(MAX_ENTRIES).enumerate() {
                delete(ctx, bucket, chunk, n % 2 == 1).await;
            }
        }
    })
}

/// The bucket's entries: each picked object's, then one for a key beside it that was never written.
fn entries(ctx: &Ctx<'_>, bucket: &BucketPlan, picks: &std::collections::BTreeMap<(u32, u32), u64>) -> Vec<Entry> {
    let mut out = Vec::new();
    for object in bucket.objects.iter() {
        let Some(&which) = picks.get(&(bucket.index, object.index)) else { continue };
        let status = ctx.state.status(bucket.index, object.index);
        if status.is_unknown() {
            continue;
        }
        let (version_op, at) = match bucket.versioning {
            true => {
                let versions = status.versions();
                if versions.is_empty() {
                    continue;
                }
                let at = (which % versions.len() as u64) as usize;
                (Some(versions[at].write.index), at)
            }
            false => (None, 0),
        };
        out.push(Entry { key: object.key.clone(), version_op, object: Some((object.index, at)) });
        out.push(Entry { key: format!("{}.never-written", object.key), version_op, object: None });
    }
    out
}

/// One DeleteObjects of `chunk`, judged, and the believed state updated from it.
async fn delete(ctx: &Ctx<'_>, bucket: &BucketPlan, chunk: &[Entry], quiet: bool) {
    let keys: Vec<String> = chunk.iter().map(|e| e.key.clone()).collect();
    let version_ops = match bucket.versioning {
        true => chunk.iter().map(|e| e.version_op).collect(),
        false => Vec::new(),
    };
    let request = Request::DeleteObjects { bucket: bucket.name.clone(), keys: keys.clone(), quiet, version_ops };
    let op = ctx.call(request).await;
    let deleted = ctx.judge(&op, &bucket.name, Assertion::Succeeded).await
        && ctx.judge(&op, &bucket.name, Assertion::BatchDeleted { keys, quiet }).await;
    for (object, at) in chunk.iter().filter_map(|e| e.object) {
        let status = match (deleted, bucket.versioning) {
            (false, _) => ObjectStatus::Unknown,
            (true, true) => {
                let mut left = ctx.state.status(bucket.index, object).versions().to_vec();
                if at < left.len() {
                    left.remove(at);
                }
                ObjectStatus::of_versions(left)
            }
            (true, false) => ObjectStatus::Deleted { op: op.index },
        };
        ctx.state.set(bucket.index, object, status);
    }
}
