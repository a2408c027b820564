//! Before the workloads: decide whether the target can run the plan at all, then create its buckets.

use crate::driver::Driver;
use crate::exec::{Needs, Step};
use crate::journal::{Phase, Request};
use crate::plan::Plan;
use crate::target::Capabilities;

/// Why this plan cannot run on a target with these capabilities, or `None` if it can.
pub fn unsupported(plan: &Plan, steps: &[Step], capabilities: &Capabilities) -> Option<String> {
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
                "bucket {} needs a transient source; the config names no `transient_location` on this target",
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
    for step in steps {
        if step.entry.needs == Needs::Replication && !capabilities.replication {
            return Some(format!(
                "{} needs a replicating target (a config with backends and replication)",
                step.entry.name
            ));
        }
    }
    None
}

/// Lifecycle rules count whole days: the expiration rounded up to this target's day length, at least one.
pub fn expiration_days(expiration_secs: u64, day_secs: u64) -> u32 {
    expiration_secs.div_ceil(day_secs.max(1)).clamp(1, u32::MAX as u64) as u32
}

/// The request that switches replication on for `bucket`, per the config's mode (`zone`: nothing to switch on).
fn replication_request(plan: &Plan, bucket: &str, destination: &crate::plan::Backend) -> Option<Request> {
    let (cloud_bucket, _) = destination.locate(bucket, "");
    let role = plan.setup.replication_role.clone().unwrap_or_else(|| "arn:aws:iam::000000000000:role/sfko".into());
    match plan.setup.replication_mode.as_deref() {
        Some("aws") => Some(Request::PutBucketReplication {
            bucket: bucket.to_string(),
            role,
            destination_bucket: format!("arn:aws:s3:::{cloud_bucket}"),
            storage_class: None,
        }),
        Some("zenko") => Some(Request::PutBucketReplication {
            bucket: bucket.to_string(),
            role,
            destination_bucket: format!("arn:aws:s3:::{bucket}"),
            storage_class: Some(destination.name.clone()),
        }),
        _ => None,
    }
}

/// A setup op that did not succeed: a feature the target does not implement skips the scenario; anything else
/// stops the run.
fn refusal(op: &crate::driver::Op, what: &str) -> Option<Setup> {
    if op.outcome.succeeded() {
        return None;
    }
    let why = format!("the target refused {what}: {}", op.outcome.brief());
    Some(if op.outcome.unsupported() { Setup::Unsupported(why) } else { Setup::Failed(why) })
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
        let location = if let Some(transient) = plan.setup.transient_location.as_ref().filter(|_| bucket.transient) {
            Some(transient.clone())
        } else if bucket.backend.name != "target" {
            Some(bucket.backend.name.clone())
        } else {
            driver.region().filter(|r| *r != "us-east-1").map(str::to_string)
        };
        let op = driver.call(&Phase::Setup, Request::CreateBucket { bucket: bucket.name.clone(), location }).await;
        let taken = |why: &str| {
            Setup::Failed(format!(
                "bucket {} {why}: an earlier run of this seed and scenario kept it (failing runs keep their buckets: \
                 `sfko clean <its journal>` removes them), or another run is using it now (`--bucket-prefix` keeps \
                 runs apart)",
                bucket.name
            ))
        };
        // A retried CreateBucket that finds the bucket ours found what its own first try made.
        let ours = op.ambiguous;
        if let Some(code @ ("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) = op.outcome.error_code.as_deref() {
            if !ours {
                return taken(&format!("already exists ({code})"));
            }
        }
        if !op.outcome.succeeded() && !ours {
            return Setup::Failed(format!("CreateBucket {} failed: {}", bucket.name, op.outcome.brief()));
        }
        // us-east-1 (and moto) answer 200 to creating a bucket its owner already has: only a look inside tells.
        let look = Request::ListObjectsV2 {
            bucket: bucket.name.clone(),
            prefix: None,
            delimiter: None,
            max_keys: Some(1),
            start_after: None,
            after_op: None,
            url: false,
            fetch_owner: false,
        };
        let op = driver.call(&Phase::Setup, look).await;
        if op.outcome.listing.as_ref().is_some_and(|l| !l.entries.is_empty()) {
            return taken("already exists and holds objects");
        }
        created.add(&bucket.name);
        if bucket.versioning {
            let op = driver
                .call(&Phase::Setup, Request::PutBucketVersioning { bucket: bucket.name.clone(), enabled: true })
                .await;
            if op.outcome.unavailable() {
                // No usable answer is not a refusal: the scenario could not be set up, it is not unsupported.
                return Setup::Failed(format!(
                    "PutBucketVersioning {} got no usable answer: {}",
                    bucket.name,
                    op.outcome.brief()
                ));
            }
            if !op.outcome.succeeded() {
                return Setup::Unsupported(format!("the target refused to enable versioning: {}", op.outcome.brief()));
            }
        }
        if let Some(destination) = &bucket.replication {
            if let Some(request) = replication_request(plan, &bucket.name, destination) {
                let op = driver.call(&Phase::Setup, request).await;
                if let Some(refused) = refusal(&op, &format!("replication for {}", bucket.name)) {
                    return refused;
                }
            }
        }
        if let (Some(secs), Some(day)) = (bucket.expiration_secs, plan.setup.lifecycle_day_secs) {
            let days = expiration_days(secs, day);
            let op =
                driver.call(&Phase::Setup, Request::PutBucketLifecycle { bucket: bucket.name.clone(), days }).await;
            if let Some(refused) = refusal(&op, &format!("the lifecycle rule for {}", bucket.name)) {
                return refused;
            }
        }
    }
    Setup::Ready
}
