//! Before the workloads: decide whether the target can run the plan at all, then create its buckets.

use crate::driver::Driver;
use crate::journal::{Phase, Request};
use crate::plan::Plan;
use crate::target::Capabilities;
use crate::workload::Needs;

/// Why this plan cannot run on a target with these capabilities, or `None` if it can.
pub fn unsupported(plan: &Plan, capabilities: &Capabilities) -> Option<String> {
    if let Some(why) = &plan.unsatisfiable {
        return Some(why.clone());
    }
    for bucket in &plan.buckets {
        if bucket.versioning && capabilities.versioning == Some(false) {
            return Some(format!("bucket {} needs versioning, which this target does not support", bucket.index));
        }
        if bucket.expiration_secs.is_some() && !capabilities.lifecycle {
            return Some(format!(
                "bucket {} needs lifecycle expiration; the config has no `lifecycle:` section saying how long a lifecycle day lasts on this target",
                bucket.index
            ));
        }
        if bucket.transient && !capabilities.transient {
            return Some(format!(
                "bucket {} needs a transient source location, which this target does not offer",
                bucket.index
            ));
        }
        if bucket.replication.is_some() && !capabilities.replication {
            return Some(format!(
                "bucket {} needs replication, which this sfko cannot switch on or verify on this target",
                bucket.index
            ));
        }
    }
    let needs = plan
        .workloads
        .iter()
        .filter_map(|w| crate::workload::find(w).map(|w| (w.name, w.needs)))
        .chain(plan.checks.iter().filter_map(|c| crate::check::find(c).map(|c| (c.name, c.needs))));
    for (name, need) in needs {
        if need == Needs::Replication && !capabilities.replication {
            return Some(format!("{name} needs a replicating target (a config with backends and replication)"));
        }
    }
    None
}

/// How setup ended.
pub enum Setup {
    Ready,
    /// The target refused an optional feature (e.g. versioning): skip the scenario with this reason.
    Unsupported(String),
    /// The target refused to create a bucket: sfko cannot do its job.
    Failed(String),
}

/// Buckets this run created (and so may remove).
#[derive(Default)]
pub struct Created(std::sync::Mutex<Vec<String>>);

impl Created {
    fn add(&self, name: &str) {
        if let Ok(mut names) = self.0.lock() {
            names.push(name.to_string());
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.0.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// Creates every bucket and switches on what its spec asks for.
pub async fn create_buckets(driver: &Driver, plan: &Plan, created: &Created) -> Setup {
    for bucket in &plan.buckets {
        // The target's own region is its location, except us-east-1, which S3 wants left out.
        let location = if bucket.backend.name != "target" {
            Some(bucket.backend.name.clone())
        } else {
            driver.region().filter(|r| *r != "us-east-1").map(str::to_string)
        };
        let op = driver.call(&Phase::Setup, Request::CreateBucket { bucket: bucket.name.clone(), location }).await;
        if let Some(code @ ("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) = op.outcome.error_code.as_deref() {
            return Setup::Failed(format!(
                "bucket {} already exists ({code}): another run of the same seed and scenario is using it, or an \
                 earlier run was kept; remove it (or wait for the other run) and try again",
                bucket.name
            ));
        }
        if !op.outcome.succeeded() {
            return Setup::Failed(format!("CreateBucket {} failed: {}", bucket.name, op.outcome.brief()));
        }
        created.add(&bucket.name);
        if bucket.versioning {
            let op = driver
                .call(&Phase::Setup, Request::PutBucketVersioning { bucket: bucket.name.clone(), enabled: true })
                .await;
            if !op.outcome.succeeded() {
                return Setup::Unsupported(format!("the target refused to enable versioning: {}", op.outcome.brief()));
            }
        }
    }
    Setup::Ready
}
