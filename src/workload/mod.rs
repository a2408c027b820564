//! Workloads: what drives the cluster (the scenario's `tests:`). One file each, one line each in [`WORKLOADS`].
//!
//! A workload acts on the cluster only through its [`Ctx`]: every S3 call is recorded, every expectation about an
//! answer (e.g. "this PUT succeeded") is judged and journaled, and randomness comes only from `ctx.stream()`.

mod copy;
mod delete;
mod delete_versions;
mod get;
mod get_range;
mod head;
pub(crate) mod list;
mod mpu_abort;
mod overwrite;
mod put;
mod put_mpu;
mod put_replication;
mod put_versions;
pub mod random_ops;
pub(crate) mod write;

use futures::future::BoxFuture;

use crate::exec::Ctx;

/// What a workload or check needs from the target beyond plain S3; scenarios needing more than the target offers are
/// skipped with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Replication,
}

/// The signature every workload and check has.
pub type RunFn = for<'a> fn(&'a Ctx<'a>) -> BoxFuture<'a, ()>;

/// A registered workload.
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub needs: Needs,
    pub run: RunFn,
}

/// Every workload sfko knows, by scenario name.
pub const WORKLOADS: &[Workload] = &[
    Workload { name: "put", about: put::ABOUT, needs: Needs::Nothing, run: put::run },
    Workload { name: "put-mpu", about: put_mpu::ABOUT, needs: Needs::Nothing, run: put_mpu::run },
    Workload { name: "get", about: get::ABOUT, needs: Needs::Nothing, run: get::run },
    Workload { name: "delete", about: delete::ABOUT, needs: Needs::Nothing, run: delete::run },
    Workload { name: "overwrite", about: overwrite::ABOUT, needs: Needs::Nothing, run: overwrite::run },
    Workload { name: "put-versions", about: put_versions::ABOUT, needs: Needs::Nothing, run: put_versions::run },
    Workload {
        name: "delete-versions",
        about: delete_versions::ABOUT,
        needs: Needs::Nothing,
        run: delete_versions::run,
    },
    Workload { name: "copy", about: copy::ABOUT, needs: Needs::Nothing, run: copy::run },
    Workload { name: "get-range", about: get_range::ABOUT, needs: Needs::Nothing, run: get_range::run },
    Workload { name: "list", about: list::ABOUT, needs: Needs::Nothing, run: list::run },
    Workload { name: "head", about: head::ABOUT, needs: Needs::Nothing, run: head::run },
    Workload { name: "mpu-abort", about: mpu_abort::ABOUT, needs: Needs::Nothing, run: mpu_abort::run },
    Workload { name: "random-ops", about: random_ops::ABOUT, needs: Needs::Nothing, run: random_ops::run },
    Workload {
        name: "put-replication",
        about: put_replication::ABOUT,
        needs: Needs::Replication,
        run: put_replication::run,
    },
];

/// Looks a workload up by its scenario name.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// All workload names, in registry order.
pub fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
}
