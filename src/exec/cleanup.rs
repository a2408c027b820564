//! After the run: remove what it created, patiently. Real servers are not all strongly consistent on bucket
//! operations (DeleteBucket right after the last DeleteObject may answer BucketNotEmpty), so this retries with backoff,
//! and nothing here is ever judged a bug — only checks do that.

use std::time::Duration;

use crate::driver::Driver;
use crate::journal::{ListEntry, Phase, Request};

const PAGE: u32 = 1000;
const DELETE_BUCKET_TRIES: u32 = 8;
/// Listing rounds per bucket before giving up (each deletes up to `PAGE` entries).
const MAX_PAGES: u32 = 100_000;

/// Deletes every object of the named buckets and the buckets; returns the buckets it could not remove.
pub async fn remove_everything(driver: &Driver, buckets: &[String], concurrency: usize) -> Vec<String> {
    abort_open_uploads(driver).await;
    let mut left = Vec::new();
    for bucket in buckets {
        if !remove_bucket(driver, bucket, concurrency).await {
            left.push(bucket.clone());
        }
    }
    left
}

async fn remove_bucket(driver: &Driver, bucket: &str, concurrency: usize) -> bool {
    abort_listed_uploads(driver, bucket, concurrency).await;
    empty_bucket(driver, bucket, concurrency).await;
    let mut backoff = Duration::from_millis(100);
    for _ in 0..DELETE_BUCKET_TRIES {
        let op = driver.call(&Phase::Cleanup, Request::DeleteBucket { bucket: bucket.to_string() }).await;
        match op.outcome.error_code.as_deref() {
            _ if op.outcome.succeeded() => return true,
            Some("NoSuchBucket") => return true,
            // The driver already retried a silent target: waiting longer will not bring it back.
            _ if op.outcome.status == 0 => return false,
            Some("BucketNotEmpty") => empty_bucket(driver, bucket, concurrency).await,
            _ => {}
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    false
}

/// Aborts every upload this run created and never finished, so no parts are left behind.
async fn abort_open_uploads(driver: &Driver) {
    for create_op in driver.open_uploads() {
        if let Some((bucket, key)) = driver.upload_target(create_op) {
            driver.call(&Phase::Cleanup, Request::AbortMultipartUpload { bucket, key, create_op }).await;
        }
    }
}

/// Aborts every upload the bucket lists: those an earlier run left open (a failing run keeps its buckets, and
/// `sfko clean` or a replay's reset has no ids of its own). Some servers refuse to delete a bucket with uploads in
/// it, and on the others the uploads' parts would stay stored, unreachable. A server that cannot list uploads (or
/// lists them only by object name) leaves nothing to abort here.
async fn abort_listed_uploads(driver: &Driver, bucket: &str, concurrency: usize) {
    use futures::StreamExt;
    let mut after_op = None;
    for _ in 0..MAX_PAGES {
        let request = Request::ListMultipartUploads {
            bucket: bucket.to_string(),
            prefix: None,
            max_uploads: Some(PAGE),
            after_op,
        };
        let op = driver.call(&Phase::Cleanup, request).await;
        let Some(listing) = op.outcome.listing.as_ref().filter(|_| op.outcome.succeeded()) else { return };
        futures::stream::iter(listing.entries.iter().filter_map(|e| Some((e.key.clone(), e.version_id.clone()?))))
            .for_each_concurrent(concurrency.max(1), |(key, upload_id)| async move {
                let request = Request::AbortUploadId { bucket: bucket.to_string(), key, upload_id };
                driver.call(&Phase::Cleanup, request).await;
            })
            .await;
        if !listing.truncated || op.outcome.next_page.is_none() || listing.entries.is_empty() {
            return;
        }
        after_op = Some(op.index);
    }
}

/// Deletes every version, delete marker and object until a listing from the start comes back empty. Versioned
/// listing first; servers without ListObjectVersions get plain listing and deletes.
async fn empty_bucket(driver: &Driver, bucket: &str, concurrency: usize) {
    use futures::StreamExt;
    let mut previous_first: Option<ListEntry> = None;
    let mut versioned = true;
    for _ in 0..MAX_PAGES {
        let request = if versioned {
            Request::ListObjectVersions {
                bucket: bucket.to_string(),
                prefix: None,
                max_keys: Some(PAGE),
                after_op: None,
            }
        } else {
            Request::ListObjectsV2 {
                bucket: bucket.to_string(),
                prefix: None,
                delimiter: None,
                max_keys: Some(PAGE),
                start_after: None,
                after_op: None,
                url: false,
                fetch_owner: false,
            }
        };
        let op = driver.call(&Phase::Cleanup, request).await;
        if versioned && !op.outcome.succeeded() && op.outcome.status != 0 {
            versioned = false;
            continue;
        }
        let succeeded = op.outcome.succeeded();
        let Some(listing) = op.outcome.listing.filter(|_| succeeded) else {
            return;
        };
        if listing.entries.is_empty() || listing.entries.first() == previous_first.as_ref() {
            // Empty, or a server that will not let go of its first entry: either way, stop.
            return;
        }
        previous_first = listing.entries.first().cloned();
        futures::stream::iter(listing.entries)
            .for_each_concurrent(concurrency.max(1), |entry| async move {
                // Listed versions go by id, `null` included: on a bucket whose versioning is suspended a plain
                // delete of a null version only puts a null delete marker in its place, and the bucket never empties.
                let request = match entry.version_id {
                    Some(version_id) => {
                        Request::DeleteVersionId { bucket: bucket.to_string(), key: entry.key, version_id }
                    }
                    None => Request::DeleteObject { bucket: bucket.to_string(), key: entry.key },
                };
                driver.call(&Phase::Cleanup, request).await;
            })
            .await;
    }
}
