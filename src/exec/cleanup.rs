//! After the run: remove what it created, patiently. Real servers are not all strongly consistent on bucket
//! operations (DeleteBucket right after the last DeleteObject may answer BucketNotEmpty), so this retries with backoff,
//! and nothing here is ever judged a bug — only checks do that.

use std::time::Duration;

use crate::driver::Driver;
use crate::journal::{Phase, Request};
use crate::plan::Plan;

const PAGE: u32 = 1000;
const DELETE_BUCKET_TRIES: u32 = 8;

/// Deletes every object and bucket of the plan; returns the buckets it could not remove.
pub async fn remove_everything(driver: &Driver, plan: &Plan, concurrency: usize) -> Vec<String> {
    abort_open_uploads(driver).await;
    let mut left = Vec::new();
    for bucket in &plan.buckets {
        empty_bucket(driver, &bucket.name, concurrency).await;
        let mut backoff = Duration::from_millis(100);
        let mut removed = false;
        for _ in 0..DELETE_BUCKET_TRIES {
            let op = driver.call(&Phase::Cleanup, Request::DeleteBucket { bucket: bucket.name.clone() }).await;
            if op.outcome.succeeded() || op.outcome.error_code.as_deref() == Some("NoSuchBucket") {
                removed = true;
                break;
            }
            if op.outcome.error_code.as_deref() == Some("BucketNotEmpty") {
                empty_bucket(driver, &bucket.name, concurrency).await;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        if !removed {
            left.push(bucket.name.clone());
        }
    }
    left
}

/// Aborts every upload this run created and never finished, so no parts are left behind.
async fn abort_open_uploads(driver: &Driver) {
    for create_op in driver.open_uploads() {
        if let Some((bucket, key)) = driver.upload_target(create_op) {
            driver.call(&Phase::Cleanup, Request::AbortMultipartUpload { bucket, key, create_op }).await;
        }
    }
}

/// Lists (from the start, `start_after` paging so a replay pages the same way) and deletes until the bucket is empty.
async fn empty_bucket(driver: &Driver, bucket: &str, concurrency: usize) {
    use futures::StreamExt;
    let mut start_after: Option<String> = None;
    loop {
        let request = Request::ListObjectsV2 {
            bucket: bucket.to_string(),
            prefix: None,
            max_keys: Some(PAGE),
            start_after: start_after.clone(),
        };
        let op = driver.call(&Phase::Cleanup, request).await;
        let succeeded = op.outcome.succeeded();
        let Some(listing) = op.outcome.listing.filter(|_| succeeded) else {
            return;
        };
        let Some(last) = listing.entries.last().map(|(k, _)| k.clone()) else {
            return;
        };
        futures::stream::iter(listing.entries)
            .for_each_concurrent(concurrency.max(1), |(key, _)| async move {
                driver.call(&Phase::Cleanup, Request::DeleteObject { bucket: bucket.to_string(), key }).await;
            })
            .await;
        if !listing.truncated {
            return;
        }
        start_after = Some(last);
    }
}
