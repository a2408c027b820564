//! `check-replication` / `check-replication-mpu`: every object of a replicated bucket must appear on the replication
//! target backend — read directly through that backend's own endpoint, at its cloud-side bucket and key — with the
//! same content (size and blake3) before the configured deadline. The `-mpu` variant also requires the same ETag,
//! i.e. multipart objects replicated as the same parts. Reports time-to-replicate p50/p99/max.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str = "objects appear on the replication target with the same size and digest before the deadline";
pub const ABOUT_MPU: &str =
    "as check-replication, and with the same ETag: multipart objects replicated as the same parts";

/// Time between two looks at the destination.
const POLL: Duration = Duration::from_millis(200);
/// How long after a replica shows up it is read and judged.
const CONFIRM: Duration = Duration::from_millis(500);

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(judge(ctx, false))
}

pub fn run_mpu<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(judge(ctx, true))
}

async fn judge(ctx: &Ctx<'_>, same_etag: bool) {
    let deadline = Instant::now() + Duration::from_secs(ctx.plan.setup.replication_deadline_secs);
    let times: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
    let missing: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (times_ref, missing_ref) = (&times, &missing);
    ctx.for_each_object(move |bucket, object| async move {
        let object = &object;
        let Some(destination) = &bucket.replication else { return };
        let status = ctx.state.status(bucket.index, object.index);
        let Some(current) = status.current() else { return };
        let name = subject(bucket, object);
        if !destination.readable {
            ctx.note(format!(
                "{name}: replication target {} has no endpoint in the config; not judged",
                destination.name
            ));
            return;
        }
        let expected = ctx.state.expected_version(current).await;
        let (cloud_bucket, cloud_key) = destination.locate(&bucket.name, &object.key);
        let on = Some(destination.name.as_str());
        // HEAD until it is there (cheap), then GET the body; both recorded against the backend.
        let head = loop {
            let head = ctx
                .driver
                .call_on(on, &ctx.phase, Request::HeadObject { bucket: cloud_bucket.clone(), key: cloud_key.clone() })
                .await;
            let ready = head.outcome.succeeded()
                && head.outcome.size == Some(expected.size)
                && (!same_etag
                    || head.outcome.etag.as_deref().map(crate::content::normalize_etag)
                        == Some(expected.etag.as_str()));
            if ready || Instant::now() >= deadline {
                break head;
            }
            tokio::time::sleep(POLL).await;
        };
        if !head.outcome.succeeded() {
            // Still not there at the deadline: that HEAD is the evidence.
            ctx.judge(&head, &format!("{name} on {}", destination.name), Assertion::Succeeded).await;
            if let Ok(mut m) = missing_ref.lock() {
                m.push(name);
            }
            return;
        }
        if let Ok(mut t) = times_ref.lock() {
            t.push(head.at.saturating_duration_since(current.write.at()));
        }
        // Judge a read made a moment after the copy showed up: a replica must stay put, and a replay (which re-issues
        // the same polls at the recorded pace) gets that moment of slack.
        tokio::time::sleep(CONFIRM).await;
        let get = ctx
            .driver
            .call_on(on, &ctx.phase, Request::GetObject { bucket: cloud_bucket, key: cloud_key, range: None })
            .await;
        let where_ = format!("{name} on {}", destination.name);
        if ctx.judge(&get, &where_, Assertion::Succeeded).await {
            ctx.judge(&get, &where_, Assertion::Size(expected.size)).await;
            ctx.judge(&get, &where_, Assertion::BodyDigest(expected.digest)).await;
            if same_etag {
                ctx.judge(&get, &where_, Assertion::Etag(expected.etag.clone())).await;
            }
        }
    })
    .await;
    let mut times = times.into_inner().unwrap_or_default();
    let missing = missing.into_inner().unwrap_or_default();
    if !times.is_empty() || !missing.is_empty() {
        times.sort();
        let at = |q: f64| {
            times.get(((times.len() as f64 - 1.0) * q).round() as usize).map(|d| d.as_secs_f64()).unwrap_or(0.0)
        };
        ctx.note(format!(
            "{} objects replicated, {} missing at the deadline; time-to-replicate p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            times.len(),
            missing.len(),
            at(0.5),
            at(0.99),
            times.last().map(|d| d.as_secs_f64()).unwrap_or(0.0)
        ));
    }
}
