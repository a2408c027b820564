//! Reading a refused request's body to its end before the refusal goes out.
//!
//! s3s-fs refuses some uploads before it reads their body: a conditional PUT whose precondition fails, an UploadPart
//! to an upload that is no longer open. The server then answers and closes the connection with the body still
//! coming; a client still sending it gets a broken pipe instead of the answer, and its SDK reports no response at
//! all (so sfko could judge nothing). S3 reads the whole body and then answers; the reference server does the same:
//! the body is lent to s3s-fs through a shared slot, and whatever s3s-fs left unread is drained when it refuses.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::dto::StreamingBlob;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Result, StdError};

/// The body s3s-fs reads from; what it leaves behind stays here.
pub struct Lent(Arc<Mutex<Option<StreamingBlob>>>);

/// The stream s3s-fs gets in place of the body.
struct Borrowed(Arc<Mutex<Option<StreamingBlob>>>);

impl Stream for Borrowed {
    type Item = Result<Bytes, StdError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Ok(mut slot) = self.0.lock() else { return Poll::Ready(None) };
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl ByteStream for Borrowed {
    fn remaining_length(&self) -> RemainingLength {
        let slot = self.0.lock().ok();
        slot.as_ref().and_then(|s| s.as_ref().map(|b| b.remaining_length())).unwrap_or_else(RemainingLength::unknown)
    }
}

/// Swaps `body` for a stream that reads it through a shared slot (`None` when there is no body).
pub fn lend(body: &mut Option<StreamingBlob>) -> Option<Lent> {
    let original = body.take()?;
    let slot = Arc::new(Mutex::new(Some(original)));
    *body = Some(StreamingBlob::new(Borrowed(slot.clone())));
    Some(Lent(slot))
}

/// `result`, after reading the rest of the body when it is a refusal.
pub async fn answer_after_body<T>(lent: Option<Lent>, result: S3Result<T>) -> S3Result<T> {
    if let (Err(_), Some(lent)) = (&result, lent) {
        let body = lent.0.lock().ok().and_then(|mut slot| slot.take());
        if let Some(mut body) = body {
            while let Some(Ok(_)) = body.next().await {}
        }
    }
    result
}
