//! `check-expiration`: in buckets with a lifecycle expiration, every current object must still be there before its
//! rule is due and gone by `days × lifecycle.day + deadline` after it was written; objects of buckets without the
//! rule must be untouched. Reports time-to-expire.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::exec::{subject, Ctx};
use crate::journal::{Assertion, Request};

pub const ABOUT: &str =
    "expiring objects vanish by days x lifecycle.day + deadline (not before); others stay untouched";

const POLL: Duration = Duration::from_millis(200);
/// How long after an object is first seen gone it is looked at again.
const CONFIRM: Duration = Duration::from_secs(1);

pub fn run<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let Some(day) = ctx.plan.setup.lifecycle_day_secs else { return };
        let grace = Duration::from_secs(ctx.plan.setup.lifecycle_deadline_secs);
        let times: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
        let times_ref = &times;
        ctx.for_each_object(move |bucket, object| async move {
            let object = &object;
            let status = ctx.state.status(bucket.index, object.index);
            let Some(current) = status.current() else { return };
            let name = subject(bucket, object);
            let head = || Request::HeadObject { bucket: bucket.name.clone(), key: object.key.clone() };
            let Some(secs) = bucket.expiration_secs else {
                let op = ctx.call(head()).await;
                ctx.judge(&op, &name, Assertion::Succeeded).await;
                return;
            };
            let due = current.write.at() + Duration::from_secs(crate::exec::expiration_days(secs, day) as u64 * day);
            // Still there before it is due (premature expiration loses data too)...
            if Instant::now() < due {
                let op = ctx.call(head()).await;
                if Instant::now() < due {
                    ctx.judge(&op, &name, Assertion::Succeeded).await;
                }
                tokio::time::sleep_until(due.into()).await;
            }
            // ...and gone by the deadline.
            let deadline = due + grace;
            loop {
                let op = ctx.call(head()).await;
                let gone = !op.outcome.succeeded() && op.outcome.status == 404;
                if gone || Instant::now() >= deadline {
                    let judged = if gone {
                        if let Ok(mut t) = times_ref.lock() {
                            t.push(op.at.saturating_duration_since(current.write.at()));
                        }
                        // Gone must mean gone: look again a moment later (an expired object must not come back).
                        // Judging this look rather than the first 404 also gives a replay a second of slack.
                        tokio::time::sleep(CONFIRM).await;
                        ctx.call(head()).await
                    } else {
                        op
                    };
                    ctx.judge(&judged, &name, Assertion::not_found()).await;
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
        })
        .await;
        let mut times = times.into_inner().unwrap_or_default();
        if !times.is_empty() {
            times.sort();
            let p50 = times[(times.len() - 1) / 2].as_secs_f64();
            let max = times.last().map(|d| d.as_secs_f64()).unwrap_or(0.0);
            ctx.note(format!("{} objects expired; time-to-expire p50 {p50:.2} s, max {max:.2} s", times.len()));
        }
    })
}
