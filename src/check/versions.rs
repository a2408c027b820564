//! `check-versions`: every version id returns its own content (size and blake3), every delete marker is refused
//! when read by id (S3: 405 MethodNotAllowed; moto 5.2.1 says 404 NoSuchVersion, which is accepted — no data is what
//! matters), and a plain GET returns the current version — or NoSuchKey when the newest entry
//! is a delete marker. Finds versions that were lost, overwritten in place, or resurrected.

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str =
    "each version id returns its own digest; delete markers and the current version are as the model says";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let status = ctx.state.status(bucket.index, object.index);
        if status.is_unknown() {
            return;
        }
        let name = subject(bucket, object);
        if bucket.versioning {
            for version in status.versions() {
                let request = Request::GetObjectVersion {
                    bucket: bucket.name.clone(),
                    key: object.key.clone(),
                    version_op: version.write.index,
                };
                let op = ctx.call(request).await;
                if version.delete_marker {
                    ctx.judge(&op, &name, Assertion::Refused).await;
                    continue;
                }
                if ctx.judge(&op, &name, Assertion::Succeeded).await {
                    let expected = ctx.state.expected_version(version).await;
                    ctx.judge(&op, &name, Assertion::Size(expected.size)).await;
                    ctx.judge(&op, &name, Assertion::BodyDigest(expected.digest)).await;
                }
            }
        }
        let op =
            ctx.call(Request::GetObject { bucket: bucket.name.clone(), key: object.key.clone(), range: None }).await;
        match status.current() {
            Some(current) => {
                if ctx.judge(&op, &name, Assertion::Succeeded).await {
                    let expected = ctx.state.expected_version(current).await;
                    ctx.judge(&op, &name, Assertion::BodyDigest(expected.digest)).await;
                }
            }
            None => {
                ctx.judge(&op, &name, Assertion::not_found()).await;
            }
        }
    }))
}
