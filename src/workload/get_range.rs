//! `get-range`: three seeded byte ranges of every object's current version — one starting at 0, one ending at the
//! last byte, one anywhere — each must come back as exactly those bytes (206, size and blake3 of the range).

use futures::future::BoxFuture;

use crate::content;
use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "seeded byte ranges (head, tail, middle) of every object return exactly those bytes";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut stream = ctx.stream();
        let draws: Vec<[u64; 4]> = ctx
            .object_ids()
            .map(|_| [stream.next_u64(), stream.next_u64(), stream.next_u64(), stream.next_u64()])
            .collect();
        let index: std::collections::BTreeMap<(u32, u32), usize> =
            ctx.object_ids().enumerate().map(|(i, id)| (id, i)).collect();
        let (draws, index) = (&draws, &index);
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            let status = ctx.state.status(bucket.index, object.index);
            let Some(current) = status.current() else { return };
            let Some(d) = index.get(&(bucket.index, object.index)).map(|i| draws[*i]) else { return };
            let size = current.size;
            if size == 0 {
                return;
            }
            let len = |x: u64| 1 + x % size.min(1 << 20);
            let head = (0, len(d[0]) - 1);
            let tail_len = len(d[1]);
            let tail = (size - tail_len, size - 1);
            let start = d[2] % size;
            let middle = (start, (start + len(d[3]) - 1).min(size - 1));
            for (first, last) in [head, tail, middle] {
                let request = Request::GetObject {
                    bucket: bucket.name.clone(),
                    key: object.key.clone(),
                    range: Some((first, last)),
                };
                let op = ctx.call(request).await;
                let name = subject(bucket, object);
                if !ctx.judge(&op, &name, Assertion::Succeeded).await {
                    continue;
                }
                let digest = content::range_digest(&current.content, first, last - first + 1);
                ctx.judge(&op, &name, Assertion::Size(last - first + 1)).await;
                ctx.judge(&op, &name, Assertion::BodyDigest(digest)).await;
            }
        })
        .await;
    })
}
