//! `metadata`: the metadata round trip. Every object is written (single PUT or, from the multipart threshold,
//! multipart) with a seeded set of standard headers and `x-amz-meta-*` ([`Metadata::draw`]), and HEAD and GET must
//! answer that set. Then each even-indexed object below the multipart threshold is copied onto the next one twice:
//! with no directive, as SDKs send it (S3's default, COPY: the copy carries the source's set), and with
//! `MetadataDirective: REPLACE` and a fresh set (the copy carries only that one). HEAD reads each copy back.
//!
//! The sets are drawn up front in plan order, so they never depend on completion order; a copy's source and target
//! are touched by no other task.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::write::{self, How, MULTIPART_THRESHOLD};
use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};
use crate::metadata::Metadata;
use crate::plan::{BucketPlan, ObjectPlan};

pub const ABOUT: &str = "write each object with seeded metadata (standard headers, x-amz-meta-*), read it back by \
                         HEAD and GET; copy with no directive (COPY) and with REPLACE, read the copies back";

/// (bucket index, object index).
type Slot = (u32, u32);

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        let sets: BTreeMap<Slot, (Metadata, Metadata)> =
            ctx.object_ids().map(|id| (id, (Metadata::draw(&mut stream), Metadata::draw(&mut stream)))).collect();
        // What each object holds after the first pass, when it was written and read back as sent.
        let stored: Mutex<BTreeMap<Slot, Metadata>> = Mutex::default();
        let (sets, stored) = (&sets, &stored);
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            let Some((set, _)) = sets.get(&(bucket.index, object.index)) else { return };
            if write_and_read(ctx, bucket, object, set).await {
                if let Ok(mut stored) = stored.lock() {
                    stored.insert((bucket.index, object.index), set.clone());
                }
            }
        })
        .await;
        ctx.for_each_object(move |bucket, source| async move {
            let source = &source;
            if source.index % 2 == 1 || source.size >= MULTIPART_THRESHOLD {
                return;
            }
            let Some(target) = &bucket.objects.get(source.index as usize + 1) else { return };
            let kept = stored.lock().ok().and_then(|s| s.get(&(bucket.index, source.index)).cloned());
            let (Some(kept), Some((_, fresh))) = (kept, sets.get(&(bucket.index, target.index))) else { return };
            if copy_and_read(ctx, bucket, source, target, None, &kept).await {
                copy_and_read(ctx, bucket, source, target, Some(fresh), fresh).await;
            }
        })
        .await;
    })
}

/// Writes the object's next version with `set`, then HEAD and GET must answer it; true if all three passed.
async fn write_and_read(ctx: &Ctx<'_>, bucket: &BucketPlan, object: &ObjectPlan, set: &Metadata) -> bool {
    let status = ctx.state.status(bucket.index, object.index);
    if status.is_unknown() {
        return false;
    }
    if !write::version_with(ctx, bucket, object, status.written() as u64, How::Auto, Some(set)).await {
        return false;
    }
    let name = subject(bucket, object);
    let mut all = true;
    for head in [true, false] {
        all &= read_back(ctx, bucket, object, head, &name, set).await;
    }
    all
}

/// A HEAD (or GET) of the current version must succeed and answer `expected`.
async fn read_back(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    object: &ObjectPlan,
    head: bool,
    name: &str,
    expected: &Metadata,
) -> bool {
    let (b, k) = (bucket.name.clone(), object.key.clone());
    let request = if head {
        Request::HeadObject { bucket: b, key: k }
    } else {
        Request::GetObject { bucket: b, key: k, range: None }
    };
    let op = ctx.call(request).await;
    ctx.judge(&op, name, Assertion::Succeeded).await
        && ctx.judge(&op, name, Assertion::Metadata(Box::new(expected.clone()))).await
}

/// CopyObject of `source` onto `target` — `replace` set: with REPLACE and that set — then HEAD of the target must
/// answer `expected`. Records the copy as the target's new version; true if the copy and the read passed.
async fn copy_and_read(
    ctx: &Ctx<'_>,
    bucket: &BucketPlan,
    source: &ObjectPlan,
    target: &ObjectPlan,
    replace: Option<&Metadata>,
    expected: &Metadata,
) -> bool {
    let Some(current) = ctx.state.status(bucket.index, source.index).current().cloned() else { return false };
    if ctx.state.status(bucket.index, target.index).is_unknown() {
        return false;
    }
    let copied = super::copy::copy_object(ctx, bucket, source, target, replace.map(|m| Box::new(m.clone()))).await;
    let passed = copied.is_some();
    super::copy::record(ctx, bucket, target, &current, copied);
    if !passed {
        return false;
    }
    let name = subject(bucket, target);
    read_back(ctx, bucket, target, true, &name, expected).await
}
