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

use crate::workload::{Needs, RunFn};

/// A registered check.
pub struct Check {
    pub name: &'static str,
    pub about: &'static str,
    pub needs: Needs,
    pub run: RunFn,
}

/// Every check sfko knows, by scenario name.
pub const CHECKS: &[Check] = &[
    Check { name: "check-backend", about: backend::ABOUT, needs: Needs::Nothing, run: backend::run },
    Check { name: "check-etag", about: etag::ABOUT, needs: Needs::Nothing, run: etag::run },
    Check { name: "check-mpu", about: mpu::ABOUT, needs: Needs::Nothing, run: mpu::run },
    Check { name: "check-list", about: list::ABOUT, needs: Needs::Nothing, run: list::run },
    Check { name: "check-versions", about: versions::ABOUT, needs: Needs::Nothing, run: versions::run },
    Check { name: "check-replication", about: replication::ABOUT, needs: Needs::Replication, run: replication::run },
    Check {
        name: "check-replication-mpu",
        about: replication::ABOUT_MPU,
        needs: Needs::Replication,
        run: replication::run_mpu,
    },
    Check { name: "check-expiration", about: expiration::ABOUT, needs: Needs::Nothing, run: expiration::run },
];

/// Looks a check up by its scenario name.
pub fn find(name: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.name == name)
}

/// All check names, in registry order.
pub fn names() -> Vec<&'static str> {
    CHECKS.iter().map(|c| c.name).collect()
}
