//! `overwrite`: writes new content under every existing key (the next version's content, same size). On a versioned
//! bucket the old version stays reachable by id; otherwise it must be gone for good.

use futures::future::BoxFuture;

use super::write::{self, How};
use crate::exec::Ctx;

pub const ABOUT: &str = "write new content under every key (the next version: single PUT or multipart as put does)";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        write::next_version(ctx, bucket, object, How::Auto).await;
    }))
}
