//! `put-replication`: writes every object into its (replicated) bucket, like `put`. The acknowledgement of each write
//! is in its op record (completion order and latency), which is what replication lag is measured from.

use futures::future::BoxFuture;

use crate::exec::Ctx;

pub const ABOUT: &str = "write every object into a replicated bucket (as put); needs a replication-capable config";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    super::put::run(ctx)
}
