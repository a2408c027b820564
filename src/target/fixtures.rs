//! Stand-ins for what a real cluster does in the background, for proving the replication and expiration checks:
//! a replicator that copies every completed write to another S3 endpoint after a seeded lag, and a lifecycle worker
//! that expires objects after `days × day`. Both take their faults from the same seeded [`FaultPlan`] as the rest of
//! the fixture (`replicate-skip`, `replicate-corrupt`, `replicate-single-part`, `expire-skip`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

use super::faults::{Fault, FaultPlan};

/// Copies objects to another endpoint, like cross-region or multi-cloud replication would.
#[derive(Clone)]
pub struct Replicator {
    client: Client,
    /// Lag is drawn per object in `lag/2 ..= lag`.
    lag: Duration,
}

impl Replicator {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, lag: Duration) -> Replicator {
        let credentials = super::client::ClientCredentials::Static {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
        };
        Replicator { client: super::client::build(endpoint, "us-east-1", &credentials), lag }
    }

    /// Schedules the copy of `bucket/key` as it is stored under `root` now.
    pub fn copy_later(&self, root: &Path, plan: &FaultPlan, bucket: &str, key: &str, part_sizes: Option<Vec<u64>>) {
        if plan.hits(Fault::ReplicateSkip, bucket, key) {
            tracing::debug!(bucket, key, "replication fixture: skipping this object");
            return;
        }
        let corrupt = plan.hits(Fault::ReplicateCorrupt, bucket, key);
        let single = plan.hits(Fault::ReplicateSinglePart, bucket, key);
        let half = self.lag.as_millis() as u64 / 2;
        let lag = Duration::from_millis(half + plan.draw(Fault::ReplicateSkip, key, bucket) % (half + 1));
        let path = root.join(bucket).join(key);
        let (client, bucket, key) = (self.client.clone(), bucket.to_string(), key.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(lag).await;
            let Ok(mut bytes) = tokio::fs::read(&path).await else { return };
            if corrupt && !bytes.is_empty() {
                let at = bytes.len() / 2;
                bytes[at] ^= 0x5a;
            }
            let _ = client.create_bucket().bucket(&bucket).send().await;
            let parts = part_sizes.filter(|_| !single);
            let copied = match parts {
                Some(sizes) => copy_multipart(&client, &bucket, &key, bytes, &sizes).await,
                None => {
                    client.put_object().bucket(&bucket).key(&key).body(ByteStream::from(bytes)).send().await.is_ok()
                }
            };
            tracing::debug!(bucket, key, copied, "replication fixture: copied");
        });
    }
}

async fn copy_multipart(client: &Client, bucket: &str, key: &str, bytes: Vec<u8>, sizes: &[u64]) -> bool {
    let Ok(created) = client.create_multipart_upload().bucket(bucket).key(key).send().await else { return false };
    let Some(upload_id) = created.upload_id() else { return false };
    let mut completed = Vec::new();
    let mut offset = 0usize;
    for (i, size) in sizes.iter().enumerate() {
        let end = (offset + *size as usize).min(bytes.len());
        let body = ByteStream::from(bytes[offset..end].to_vec());
        offset = end;
        let number = i as i32 + 1;
        let upload = client.upload_part().bucket(bucket).key(key).upload_id(upload_id).part_number(number).body(body);
        let Ok(part) = upload.send().await else { return false };
        completed
            .push(CompletedPart::builder().part_number(number).set_e_tag(part.e_tag().map(str::to_string)).build());
    }
    let upload = CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
    let complete =
        client.complete_multipart_upload().bucket(bucket).key(key).upload_id(upload_id).multipart_upload(upload);
    complete.send().await.is_ok()
}

/// Expires objects whose bucket has a rule, `days × day` after they were last written.
pub struct Lifecycle {
    day: Duration,
    plan: FaultPlan,
    /// Days by bucket.
    rules: Mutex<BTreeMap<String, u64>>,
}

impl Lifecycle {
    pub fn new(day: Duration, plan: FaultPlan) -> Arc<Lifecycle> {
        Arc::new(Lifecycle { day, plan, rules: Mutex::new(BTreeMap::new()) })
    }

    pub fn set_rule(&self, bucket: &str, days: u64) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.insert(bucket.to_string(), days);
        }
    }

    /// Sweeps `root` every 100 ms for as long as the server runs.
    pub fn start(self: &Arc<Self>, root: &Path) {
        let (this, root) = (self.clone(), root.to_path_buf());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let rules: Vec<(String, u64)> =
                    this.rules.lock().map(|r| r.iter().map(|(b, d)| (b.clone(), *d)).collect()).unwrap_or_default();
                for (bucket, days) in rules {
                    let age = this.day.saturating_mul(days as u32);
                    this.sweep(&root.join(&bucket), &root.join(&bucket), &bucket, age).await;
                }
            }
        });
    }

    async fn sweep(&self, bucket_root: &Path, dir: &Path, bucket: &str, age: Duration) {
        let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else { continue };
            while let Ok(Some(entry)) = entries.next_entry().await {
                let path = entry.path();
                let Ok(meta) = entry.metadata().await else { continue };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|a| a >= age);
                let key = path.strip_prefix(bucket_root).map(|k| k.to_string_lossy().to_string()).unwrap_or_default();
                if old && !self.plan.hits(Fault::ExpireSkip, bucket, &key) {
                    let _ = tokio::fs::remove_file(&path).await;
                    tracing::debug!(bucket, key, "lifecycle fixture: expired");
                }
            }
        }
    }
}
