//! Request bodies that can be sent again on another backend, and response
//! bodies that hold the request's lease until they end.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use parking_lot::Mutex;
use smallvec::SmallVec;
use tonic::body::Body;

use crate::error::BoxError;
use crate::inflight::InFlight;

/// The chunks of a buffered body. A unary gRPC body is one chunk (tonic
/// encodes the message into one buffer), so they are kept inline: every
/// allocation saved per request is a free saved too, and on a busy
/// multi-threaded runtime the system allocator's frees contend.
type Chunks = SmallVec<[Bytes; 2]>;

/// A request body read ahead as far as it goes without waiting.
pub(crate) enum Prepared {
    /// The whole body, at most the replay limit: every attempt gets a copy
    /// (the chunks' reference counts, not their bytes).
    Buffered {
        chunks: Chunks,
        trailers: Option<HeaderMap>,
    },
    /// A larger or still-streaming body: the first attempt that reads it
    /// takes it, and it can fail over only while nobody has.
    Streaming(Arc<Mutex<Option<Rest>>>),
}

/// What was read ahead and the rest of the body.
pub(crate) struct Rest {
    prefix: VecDeque<Bytes>,
    body: Body,
}

impl Prepared {
    /// Reads `body` ahead until it ends, exceeds `limit` bytes, or would
    /// wait (a streaming call whose next message is not written yet: waiting
    /// could deadlock a client that waits for a response first).
    ///
    /// It never waits, so it is one poll of a plain function: an `async`
    /// loop would add its state (chunks, trailers) to every call's future.
    pub async fn read(body: Body, limit: usize) -> Result<Prepared, tonic::Status> {
        let mut body = Some(body);
        std::future::poll_fn(|cx| {
            let body = body.take().expect("polled once: it never waits");
            Poll::Ready(Self::read_now(body, limit, cx))
        })
        .await
    }

    fn read_now(
        mut body: Body,
        limit: usize,
        cx: &mut Context<'_>,
    ) -> Result<Prepared, tonic::Status> {
        let mut chunks = Chunks::new();
        let mut size = 0usize;
        let mut trailers = None;
        loop {
            if body.is_end_stream() {
                break;
            }
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(status))) => return Err(status),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        size += data.len();
                        chunks.push(data);
                        if size > limit {
                            return Ok(Self::streaming(chunks, body));
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            trailers = Some(t);
                        }
                    }
                },
                Poll::Pending => return Ok(Self::streaming(chunks, body)),
            }
        }
        Ok(Prepared::Buffered { chunks, trailers })
    }

    fn streaming(prefix: Chunks, body: Body) -> Prepared {
        Prepared::Streaming(Arc::new(Mutex::new(Some(Rest {
            prefix: prefix.into_iter().collect(),
            body,
        }))))
    }

    /// Whether another attempt can still be given the whole body.
    pub fn replayable(&self) -> bool {
        match self {
            Prepared::Buffered { .. } => true,
            Prepared::Streaming(slot) => slot.lock().is_some(),
        }
    }

    /// The body of one attempt.
    pub fn attempt(&self) -> Body {
        match self {
            Prepared::Buffered { chunks, trailers } => Body::new(Replay {
                chunks: chunks.clone(),
                next: 0,
                trailers: trailers.clone(),
            }),
            Prepared::Streaming(slot) => Body::new(Take {
                slot: Arc::clone(slot),
                rest: None,
            }),
        }
    }
}

/// A copy of a buffered body.
struct Replay {
    chunks: Chunks,
    next: usize,
    trailers: Option<HeaderMap>,
}

impl HttpBody for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.chunks.get(self.next).cloned() {
            self.next += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.chunks.len() && self.trailers.is_none()
    }

    /// A lower bound only, as tonic's own request body gives: with an exact
    /// size hyper would add a `content-length` header to every request,
    /// which gRPC does not use (its messages carry their own lengths).
    fn size_hint(&self) -> SizeHint {
        let left: usize = self.chunks[self.next.min(self.chunks.len())..]
            .iter()
            .map(Bytes::len)
            .sum();
        let mut hint = SizeHint::new();
        hint.set_lower(left as u64);
        hint
    }
}

/// The one attempt that sends a streaming body: it takes the body from the
/// shared slot when first read.
struct Take {
    slot: Arc<Mutex<Option<Rest>>>,
    rest: Option<Rest>,
}

impl HttpBody for Take {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.rest.is_none() {
            let taken = self.slot.lock().take();
            match taken {
                Some(rest) => self.rest = Some(rest),
                None => {
                    return Poll::Ready(Some(Err(
                        "ringroute: the request body was already sent by another attempt".into(),
                    )));
                }
            }
        }
        let rest = self.rest.as_mut().expect("taken above");
        if let Some(chunk) = rest.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Pin::new(&mut rest.body)
            .poll_frame(cx)
            .map_err(|s| Box::new(s) as BoxError)
    }
}

pin_project_lite::pin_project! {
    /// The response body of a routed request. The request stays in flight
    /// on its backend (lease and in-flight bound) until this body ends or
    /// is dropped; the `grpc-status` in its trailers decides the outcome.
    pub struct ResponseBody<B, T>
    where
        T: Clone,
        T: Send,
        T: Sync,
        T: 'static,
    {
        #[pin]
        inner: B,
        guard: Option<InFlight<T>>,
    }
}

impl<B, T: Clone + Send + Sync + 'static> ResponseBody<B, T> {
    pub(crate) fn new(inner: B, guard: Option<InFlight<T>>) -> Self {
        ResponseBody { inner, guard }
    }
}

impl<B, T> HttpBody for ResponseBody<B, T>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
    T: Clone + Send + Sync + 'static,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = std::task::ready!(this.inner.poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                // Trailers without a grpc-status break the protocol: UNKNOWN.
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(mut g) = this.guard.take()
                {
                    g.finish(Some(grpc_status(trailers).unwrap_or(2)));
                }
            }
            Some(Err(_)) => {
                if let Some(mut g) = this.guard.take() {
                    g.finish(None);
                }
            }
            // The stream ended without trailers: the backend answered.
            None => {
                if let Some(mut g) = this.guard.take() {
                    g.finish(Some(0));
                }
            }
        }
        Poll::Ready(polled.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `grpc-status` header, made once (see `retry::GRPC_TIMEOUT`).
static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The `grpc-status` of a header map, if present and numeric.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    crate::key::header(headers, &GRPC_STATUS)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl<B: std::fmt::Debug, T: Clone + Send + Sync + 'static> std::fmt::Debug for ResponseBody<B, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("in_flight", &self.guard.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(body: Body) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    /// A body whose second chunk is not ready yet (a streaming call).
    fn streaming() -> (
        Body,
        tokio::sync::mpsc::Sender<Result<Frame<Bytes>, tonic::Status>>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.try_send(Ok(Frame::data(Bytes::from_static(b"one"))))
            .unwrap();
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        (Body::new(http_body_util::StreamBody::new(stream)), tx)
    }

    #[tokio::test]
    async fn small_bodies_are_buffered_and_replayed_whole() {
        let body = Body::new(http_body_util::Full::new(Bytes::from_static(b"hello")));
        let prepared = Prepared::read(body, 64).await.unwrap();
        assert!(matches!(prepared, Prepared::Buffered { .. }));
        for _ in 0..3 {
            assert!(prepared.replayable());
            assert_eq!(collect(prepared.attempt()).await, b"hello");
        }
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_sent_once() {
        let body = Body::new(http_body_util::Full::new(Bytes::from(vec![7u8; 100])));
        let prepared = Prepared::read(body, 64).await.unwrap();
        assert!(matches!(prepared, Prepared::Streaming(_)));
        // An attempt that never read the body leaves it for the next one.
        drop(prepared.attempt());
        assert!(prepared.replayable());
        assert_eq!(collect(prepared.attempt()).await, vec![7u8; 100]);
        assert!(!prepared.replayable());
        assert!(prepared.attempt().collect().await.is_err());
    }

    #[tokio::test]
    async fn a_body_still_streaming_is_not_waited_for() {
        let (body, tx) = streaming();
        let prepared = Prepared::read(body, 1 << 20).await.unwrap();
        assert!(matches!(prepared, Prepared::Streaming(_)));
        tx.send(Ok(Frame::data(Bytes::from_static(b"two"))))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(collect(prepared.attempt()).await, b"onetwo");
    }
}
