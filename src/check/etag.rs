//! `check-etag`: every ETag the target gave for an object's current version — the PutObject, CompleteMultipartUpload
//! or copy answer, HEAD and GET — equals the one S3 defines: MD5 of the content, or MD5 of the part MD5s with `-N`
//! for multipart uploads.

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "write, HEAD and GET ETags equal MD5 (single PUT) or MD5-of-part-MD5s-N (multipart)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let status = ctx.state.status(bucket.index, object.index);
        let Some(current) = status.current() else {
            return;
        };
        let name = subject(bucket, object);
        let etag = ctx.state.expected_version(current).await.etag;
        // The write that made the current version names itself: PutObject, CompleteMultipartUpload or CopyObject.
        ctx.judge(&current.write.op(), &name, Assertion::Etag(etag.clone())).await;

        let (b, k) = (bucket.name.clone(), object.key.clone());
        let head = ctx.call(Request::HeadObject { bucket: b.clone(), key: k.clone() }).await;
        if ctx.judge(&head, &name, Assertion::Succeeded).await {
            ctx.judge(&head, &name, Assertion::Etag(etag.clone())).await;
        }
        // A one-byte range carries the whole object's ETag without moving its body again.
        let range = (current.size > 0).then_some((0, 0));
        let get = ctx.call(Request::GetObject { bucket: b, key: k, range }).await;
        if ctx.judge(&get, &name, Assertion::Succeeded).await {
            ctx.judge(&get, &name, Assertion::Etag(etag)).await;
        }
    }))
}
