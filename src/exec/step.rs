//! What a run executes: workloads and checks as catalogue entries, resolved from the plan's names once, before the
//! first request, so a run never looks a name up mid-way.

use futures::future::BoxFuture;

use crate::exec::Ctx;
use crate::journal::Phase;

/// What a workload or check needs from the target beyond plain S3; scenarios needing more than the target offers are
/// skipped with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Replication,
}

/// The signature every workload and check has.
pub type RunFn = for<'a> fn(&'a Ctx<'a>) -> BoxFuture<'a, ()>;

/// One workload or check, as the catalogue lists it (`workload::WORKLOADS`, `check::CHECKS`).
pub struct Entry {
    /// Its name in scenario files (`put`, `check-backend` …).
    pub name: &'static str,
    /// One line for `sfko list`.
    pub about: &'static str,
    pub needs: Needs,
    pub run: RunFn,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).field("needs", &self.needs).finish_non_exhaustive()
    }
}

/// One step of a run: an entry, the phase it runs as, and its position among the scenario's workloads (or
/// checks), which seeds its random stream.
#[derive(Debug, Clone)]
pub struct Step {
    pub phase: Phase,
    pub position: usize,
    pub entry: &'static Entry,
}
