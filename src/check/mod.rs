//! Checks: what verifies the cluster did what it acknowledged (the scenario's `checks:`). One file each, one line each
//! in [`CHECKS`]. A check reads through the recording driver and states expectations about the answers; each
//! expectation is journaled with its evidence, so a replay can judge the same expectations against new answers.

mod backend;
mod etag;
mod expiration;
mod list;
mod mpu;
mod replication;
mod versions;

use crate::exec::{Entry, Needs};

/// Every check sfko knows, by scenario name.
pub const CHECKS: &[Entry] = &[
    Entry { name: "check-backend", about: backend::ABOUT, needs: Needs::Nothing, run: backend::run },
    Entry { name: "check-etag", about: etag::ABOUT, needs: Needs::Nothing, run: etag::run },
    Entry { name: "check-mpu", about: mpu::ABOUT, needs: Needs::Nothing, run: mpu::run },
    Entry { name: "check-list", about: list::ABOUT, needs: Needs::Nothing, run: list::run },
    Entry { name: "check-versions", about: versions::ABOUT, needs: Needs::Nothing, run: versions::run },
    Entry { name: "check-replication", about: replication::ABOUT, needs: Needs::Replication, run: replication::run },
    Entry {
        name: "check-replication-mpu",
        about: replication::ABOUT_MPU,
        needs: Needs::Replication,
        run: replication::run_mpu,
    },
    Entry { name: "check-expiration", about: expiration::ABOUT, needs: Needs::Nothing, run: expiration::run },
];
