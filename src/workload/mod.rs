//! Workloads: what drives the cluster (the scenario's `tests:`). One file each, one line each in [`WORKLOADS`];
//! the catalogue (above this module) is where names are looked up.
//!
//! A workload acts on the cluster only through its [`Ctx`]: every S3 call is recorded, every expectation about an
//! answer (e.g. "this PUT succeeded") is judged and journaled, and randomness comes only from `ctx.stream()`.

mod conditional_race;
mod copy;
mod delete;
mod delete_batch;
mod delete_versions;
mod get;
mod get_range;
mod head;
mod list;
mod list_parts;
mod list_uploads;
mod metadata;
mod mpu_abort;
mod overwrite;
mod part_race;
mod put;
mod put_mpu;
mod put_replication;
mod put_versions;
pub mod random_ops;
mod write;

use crate::exec::{Entry, Needs};

/// Every workload sfko knows, by scenario name.
pub const WORKLOADS: &[Entry] = &[
    Entry { name: "put", about: put::ABOUT, needs: Needs::Nothing, run: put::run },
    Entry { name: "put-mpu", about: put_mpu::ABOUT, needs: Needs::Nothing, run: put_mpu::run },
    Entry { name: "get", about: get::ABOUT, needs: Needs::Nothing, run: get::run },
    Entry { name: "delete", about: delete::ABOUT, needs: Needs::Nothing, run: delete::run },
    Entry { name: "overwrite", about: overwrite::ABOUT, needs: Needs::Nothing, run: overwrite::run },
    Entry { name: "put-versions", about: put_versions::ABOUT, needs: Needs::Nothing, run: put_versions::run },
    Entry { name: "delete-versions", about: delete_versions::ABOUT, needs: Needs::Nothing, run: delete_versions::run },
    Entry { name: "delete-batch", about: delete_batch::ABOUT, needs: Needs::Nothing, run: delete_batch::run },
    Entry {
        name: "conditional-race",
        about: conditional_race::ABOUT,
        needs: Needs::Nothing,
        run: conditional_race::run,
    },
    Entry { name: "copy", about: copy::ABOUT, needs: Needs::Nothing, run: copy::run },
    Entry { name: "get-range", about: get_range::ABOUT, needs: Needs::Nothing, run: get_range::run },
    Entry { name: "list", about: list::ABOUT, needs: Needs::Nothing, run: list::run },
    Entry { name: "list-parts", about: list_parts::ABOUT, needs: Needs::Nothing, run: list_parts::run },
    Entry { name: "list-uploads", about: list_uploads::ABOUT, needs: Needs::Nothing, run: list_uploads::run },
    Entry { name: "head", about: head::ABOUT, needs: Needs::Nothing, run: head::run },
    Entry { name: "metadata", about: metadata::ABOUT, needs: Needs::Nothing, run: metadata::run },
    Entry { name: "mpu-abort", about: mpu_abort::ABOUT, needs: Needs::Nothing, run: mpu_abort::run },
    Entry { name: "part-race", about: part_race::ABOUT, needs: Needs::Nothing, run: part_race::run },
    Entry { name: "random-ops", about: random_ops::ABOUT, needs: Needs::Nothing, run: random_ops::run },
    Entry {
        name: "put-replication",
        about: put_replication::ABOUT,
        needs: Needs::Replication,
        run: put_replication::run,
    },
];
