//! `check-replication` / `check-replication-mpu`: every object must appear on the replication target backend with the
//! same digest and ETag within the configured deadline.
//!
//! Reading a backend directly needs per-backend clients from the config's `backends:` section; until a target offers
//! replication (see [`crate::target::Capabilities::replication`]) scenarios using these checks are skipped with the
//! reason before anything runs, so this body is never reached on a target that cannot replicate.

use futures::future::BoxFuture;

use crate::exec::Ctx;

pub const ABOUT: &str = "objects appear on the replication target with the same digest and ETag before the deadline";
pub const ABOUT_MPU: &str = "as check-replication, for multipart objects: same part count and ETag on the target";

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        tracing::error!(check = %ctx.phase, "replication checks need backend clients; this target was not expected to replicate");
    })
}
