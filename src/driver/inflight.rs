//! What every op in flight is doing right now — connecting, sending its body, waiting for the answer's headers,
//! reading the answer's body — so a target that stops answering is reported precisely instead of waited on in
//! silence.
//!
//! The driver registers each op while it runs. The SDK tells us where an attempt is through [`StageTracker`], an
//! interceptor on every client: it marks the request handed to the connection, wraps the (already signed) body to
//! count the bytes the connection takes, and marks the answer's headers. Which op an SDK call belongs to travels in
//! the task-local [`CURRENT`], set by the driver around each attempt.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;

tokio::task_local! {
    /// The op whose attempt the current task is running (set by the driver, read by [`StageTracker`]).
    pub static CURRENT: Arc<InFlight>;
}

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Signing, finding or opening a connection.
    Connecting = 0,
    /// The request is being written; its body is handed to the connection as it takes it.
    SendingBody = 1,
    /// Everything was sent; no answer yet.
    AwaitingHeaders = 2,
    /// The answer's headers arrived; its body is being read.
    ReadingBody = 3,
    /// Waiting before the next attempt.
    BackingOff = 4,
}

impl Stage {
    fn from_u8(value: u8) -> Stage {
        match value {
            1 => Stage::SendingBody,
            2 => Stage::AwaitingHeaders,
            3 => Stage::ReadingBody,
            4 => Stage::BackingOff,
            _ => Stage::Connecting,
        }
    }
}

/// One op in flight.
#[derive(Debug)]
pub struct InFlight {
    pub index: u64,
    pub request: &'static str,
    pub subject: String,
    pub body_len: u64,
    started: Instant,
    stage: AtomicU8,
    attempt: AtomicU64,
    body_sent: AtomicU64,
    received: AtomicU64,
    /// µs after `started` of the target's last sign of life: a body byte taken by the connection, an answer's headers
    /// or body bytes. What sfko does on its own (starting an attempt, sending headers, backing off) is not.
    active_us: AtomicU64,
    /// µs after `started` when the current attempt began.
    attempt_us: AtomicU64,
    /// A workload op: the nemesis may hit its requests (setup, checks and cleanup always see a healed target).
    pub faultable: bool,
}

impl InFlight {
    pub fn new(index: u64, request: &'static str, subject: String, body_len: u64) -> InFlight {
        InFlight {
            index,
            request,
            subject,
            body_len,
            started: Instant::now(),
            stage: AtomicU8::new(Stage::Connecting as u8),
            attempt: AtomicU64::new(0),
            body_sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            active_us: AtomicU64::new(0),
            attempt_us: AtomicU64::new(0),
            faultable: false,
        }
    }

    /// Marks a workload op, whose requests the nemesis may hit.
    pub fn faultable(mut self, faultable: bool) -> InFlight {
        self.faultable = faultable;
        self
    }

    /// The attempt under way (1 for the first).
    pub fn attempt_number(&self) -> u64 {
        self.attempt.load(Ordering::Relaxed).max(1)
    }

    fn touch(&self) {
        self.active_us.store(micros(self.started.elapsed()), Ordering::Relaxed);
    }

    /// The attempt moved on. Only an answer's headers arriving is the target's doing; handing a request to the
    /// connection, connecting and backing off are sfko's.
    pub fn set(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::Relaxed);
        if stage == Stage::ReadingBody {
            self.touch();
        }
    }

    /// A new attempt starts.
    pub fn attempt(&self) {
        self.attempt.fetch_add(1, Ordering::Relaxed);
        self.body_sent.store(0, Ordering::Relaxed);
        self.received.store(0, Ordering::Relaxed);
        self.attempt_us.store(micros(self.started.elapsed()), Ordering::Relaxed);
        self.set(Stage::Connecting);
    }

    fn sent(&self, bytes: u64) {
        self.body_sent.fetch_add(bytes, Ordering::Relaxed);
        self.touch();
    }

    /// Answer body bytes read (GET bodies, which the driver reads itself).
    pub fn read(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::Relaxed);
        self.touch();
    }

    /// How long since the target last moved for this op (across attempts): what the watchdog judges.
    pub fn quiet(&self) -> Duration {
        self.started.elapsed().saturating_sub(Duration::from_micros(self.active_us.load(Ordering::Relaxed)))
    }

    /// How long the current attempt has gone without the target moving: what cuts an attempt off.
    pub fn idle(&self) -> Duration {
        let since = self.active_us.load(Ordering::Relaxed).max(self.attempt_us.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(Duration::from_micros(since))
    }

    /// `op 17 PutObject b/k (attempt 2, in flight 70 s): sending the body, 256 KiB of 5 MiB taken by the connection;
    /// no progress for 61 s`.
    pub fn describe(&self) -> String {
        let stage = match Stage::from_u8(self.stage.load(Ordering::Relaxed)) {
            Stage::Connecting => "connecting".to_string(),
            Stage::SendingBody if self.body_len == 0 => "sending the request".to_string(),
            Stage::SendingBody => format!(
                "sending the body, {} of {} taken by the connection",
                crate::scenario::format_size(self.body_sent.load(Ordering::Relaxed)),
                crate::scenario::format_size(self.body_len)
            ),
            Stage::AwaitingHeaders => "waiting for the answer's headers (the request was sent)".to_string(),
            Stage::ReadingBody => format!(
                "reading the answer's body, {} so far",
                crate::scenario::format_size(self.received.load(Ordering::Relaxed))
            ),
            Stage::BackingOff => "waiting to retry".to_string(),
        };
        format!(
            "op {} {} {} (attempt {}, in flight {}s): {stage}; no progress for {}s",
            self.index,
            self.request,
            self.subject,
            self.attempt.load(Ordering::Relaxed).max(1),
            self.started.elapsed().as_secs(),
            self.quiet().as_secs(),
        )
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The ops in flight on one driver, and when anything last moved.
#[derive(Debug)]
pub struct InFlightOps {
    ops: Mutex<BTreeMap<u64, Arc<InFlight>>>,
    started: Instant,
    /// µs after `started` of the last completed op or moved byte on any op.
    progress_us: AtomicU64,
}

impl Default for InFlightOps {
    fn default() -> Self {
        InFlightOps { ops: Mutex::new(BTreeMap::new()), started: Instant::now(), progress_us: AtomicU64::new(0) }
    }
}

impl InFlightOps {
    pub fn start(&self, op: Arc<InFlight>) {
        if let Ok(mut ops) = self.ops.lock() {
            ops.insert(op.index, op);
        }
    }

    /// The op is no longer in flight; `answered` when the target gave it an HTTP answer (which is the target moving;
    /// an op that ended with no answer at all is not).
    pub fn finish(&self, index: u64, answered: bool) {
        if let Ok(mut ops) = self.ops.lock() {
            ops.remove(&index);
        }
        if answered {
            self.progress_us.store(micros(self.started.elapsed()), Ordering::Relaxed);
        }
    }

    /// How long nothing has moved: no op completed and no op in flight showed a sign of life. `None` when nothing
    /// is in flight (an idle driver is not stalled).
    pub fn stalled_for(&self) -> Option<Duration> {
        let ops = self.ops.lock().ok()?;
        let freshest = ops.values().map(|op| op.quiet()).min()?;
        let since_completion =
            self.started.elapsed().saturating_sub(Duration::from_micros(self.progress_us.load(Ordering::Relaxed)));
        Some(freshest.min(since_completion))
    }

    /// The ops in flight, longest-running first, at most `limit` of them, one line each, and how many in all.
    pub fn report(&self, limit: usize) -> (Vec<String>, usize) {
        let Ok(ops) = self.ops.lock() else { return (Vec::new(), 0) };
        let mut all: Vec<&Arc<InFlight>> = ops.values().collect();
        all.sort_by_key(|op| op.started);
        (all.iter().take(limit).map(|op| op.describe()).collect(), all.len())
    }
}

/// Keeps an op registered while its future lives: a run dropped mid-op (Ctrl-C, a cancelled job) leaves no ghost.
pub struct Registered<'a> {
    pub ops: &'a InFlightOps,
    pub index: u64,
    /// Set when the op ended with an HTTP answer.
    pub answered: bool,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.ops.finish(self.index, self.answered);
    }
}

/// Tells the op in [`CURRENT`] where the SDK is with it.
#[derive(Debug, Default)]
pub struct StageTracker;

impl Intercept for StageTracker {
    fn name(&self) -> &'static str {
        "sfko-stage-tracker"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(op) = CURRENT.try_with(Arc::clone) else { return Ok(()) };
        if context.request().body().content_length() == Some(0) {
            // Nothing to count: once the request is handed over, all there is to wait for is the answer.
            op.set(Stage::AwaitingHeaders);
            return Ok(());
        }
        op.set(Stage::SendingBody);
        // The request is signed by now: the body keeps its bytes and length, only the counting is new.
        let body = context.request_mut().take_body();
        let counted = body.map_preserve_contents(move |inner| {
            SdkBody::from_body_1_x(CountedBody { inner, pending: Bytes::new(), op: op.clone(), done: false })
        });
        *context.request_mut().body_mut() = counted;
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = CURRENT.try_with(|op| op.set(Stage::ReadingBody));
        Ok(())
    }
}

/// The header [`OpTag`] adds: `x-sfko-op: <op index> <attempt>`.
pub const OP_TAG: &str = "x-sfko-op";

/// Names the op and attempt of every workload request, so sfko's fault proxy decides which requests a nemesis
/// window hits from the op alone — the same requests in a run and in its replay, however the ops overlap. Added
/// after signing (the target never sees it: the proxy takes it out) and only on clients that talk to the proxy.
#[derive(Debug, Default)]
pub struct OpTag;

impl Intercept for OpTag {
    fn name(&self) -> &'static str {
        "sfko-op-tag"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(Some(tag)) =
            CURRENT.try_with(|op| op.faultable.then(|| format!("{} {}", op.index, op.attempt_number())))
        else {
            return Ok(());
        };
        context.request_mut().headers_mut().insert(OP_TAG, tag);
        Ok(())
    }
}

/// Most bytes handed to the connection at once: small enough that progress is visible, large enough to cost
/// nothing.
const SLICE: usize = 64 * 1024;

/// A request body that counts what the connection takes, in slices of at most [`SLICE`] bytes.
struct CountedBody {
    inner: SdkBody,
    /// The rest of the inner body's current frame, not yet handed over.
    pending: Bytes,
    op: Arc<InFlight>,
    done: bool,
}

impl CountedBody {
    fn slice(&mut self, mut data: Bytes) -> http_body::Frame<Bytes> {
        let slice = data.split_to(data.len().min(SLICE));
        self.pending = data;
        self.op.sent(slice.len() as u64);
        http_body::Frame::data(slice)
    }
}

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if !this.pending.is_empty() {
            let rest = std::mem::take(&mut this.pending);
            return Poll::Ready(Some(Ok(this.slice(rest))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                if !this.done {
                    this.done = true;
                    this.op.set(Stage::AwaitingHeaders);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(this.slice(data)))),
                Err(trailers) => Poll::Ready(Some(Ok(trailers))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = http_body::Body::size_hint(&self.inner);
        let pending = self.pending.len() as u64;
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}
