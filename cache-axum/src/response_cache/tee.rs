//! Streaming while storing: a storable response's body goes to the client as it arrives and
//! is kept on the side; once it has ended, the copy is stored. A body that outgrows the bound,
//! fails, carries trailers, or is dropped before its end is not stored.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt as _, StreamExt as _};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt as _;

use super::config::Config;
use super::context::BoxError;
use super::entry::Entry;
use super::fill::store;
use super::flight::Leader;
use super::keys::Keys;

/// The data of a body read so far, as the chunks it came in.
#[derive(Default)]
pub(super) struct Chunks {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Chunks {
    pub(super) fn push(&mut self, data: Bytes) {
        self.len = self.len.saturating_add(data.len());
        if !data.is_empty() {
            self.chunks.push(data);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The chunks, again, to replay in front of the rest of a body.
    fn frames(self) -> impl Iterator<Item = Result<Frame<Bytes>, BoxError>> {
        self.chunks.into_iter().map(|c| Ok(Frame::data(c)))
    }

    /// One buffer (the chunk itself when there is one: no copy).
    pub(super) fn into_bytes(self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(self.len);
                for c in &self.chunks {
                    all.extend_from_slice(c);
                }
                all.freeze()
            }
        }
    }
}

/// How much of a body was there without waiting.
pub(super) enum Read<B> {
    /// All of it: the body has ended.
    Whole(Bytes),
    /// The start of it; the rest is still to come from `rest`.
    Started(Chunks, Pin<Box<B>>),
    /// It cannot be stored (larger than the bound, trailers, or an error): the body as the
    /// client gets it, with what was read put back in front.
    Unstorable(axum::body::Body),
}

/// Reads the frames of `body` that are ready now, up to `limit` bytes.
pub(super) fn read_ready<B>(body: B, limit: usize) -> Read<B>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    if body.size_hint().lower() > limit as u64 {
        return Read::Unstorable(axum::body::Body::new(body));
    }
    let mut read = Chunks::default();
    loop {
        match body.frame().now_or_never() {
            None => return Read::Started(read, body),
            Some(None) => return Read::Whole(read.into_bytes()),
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    read.push(data);
                    if read.len() > limit {
                        return Read::Unstorable(replay(read, body, None));
                    }
                }
                Err(trailers) => return Read::Unstorable(replay(read, body, Some(trailers))),
            },
            Some(Some(Err(e))) => {
                let failed = futures_util::stream::iter([Err(e.into())]);
                let frames = futures_util::stream::iter(read.frames()).chain(failed);
                return Read::Unstorable(axum::body::Body::new(http_body_util::StreamBody::new(
                    frames,
                )));
            }
        }
    }
}

/// A body that yields `read`, then `trailers` (a frame taken out of `rest`), then `rest`.
fn replay<B>(read: Chunks, rest: Pin<Box<B>>, trailers: Option<Frame<Bytes>>) -> axum::body::Body
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let rest = http_body_util::BodyStream::new(rest.map_err(Into::into));
    let front = futures_util::stream::iter(read.frames().chain(trailers.map(Ok)));
    axum::body::Body::new(http_body_util::StreamBody::new(front.chain(rest)))
}

/// What is stored once a streamed body has ended.
pub(super) struct Pending {
    pub(super) cfg: Arc<Config>,
    pub(super) keys: Keys,
    /// The response to store, with an empty body until the body has ended.
    pub(super) entry: Entry,
    pub(super) ttl: Duration,
    pub(super) tags: Vec<String>,
    /// Held until the write lands (or the body is abandoned): coalesced requests wait for it.
    pub(super) leader: Option<Leader>,
    pub(super) epoch: u64,
    /// A stale stored response this one replaces (revalidation): dropped if this one cannot be
    /// stored, since it must not be served again.
    pub(super) replaces: Option<String>,
}

/// The body of a response that is being stored as it streams to the client.
pub(super) struct Tee<B> {
    /// The chunks read before streaming began, still to be sent.
    front: std::vec::IntoIter<Bytes>,
    rest: Pin<Box<B>>,
    read: Chunks,
    /// `None` once stored or abandoned.
    pending: Option<Pending>,
}

impl<B> Tee<B> {
    pub(super) fn new(read: Chunks, rest: Pin<Box<B>>, pending: Pending) -> Self {
        Self {
            front: read.chunks.clone().into_iter(),
            rest,
            read,
            pending: Some(pending),
        }
    }

    /// The body ended: store the copy.
    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            let mut entry = p.entry;
            entry.body = std::mem::take(&mut self.read).into_bytes();
            super::fill::with_length(&mut entry.headers, entry.status, entry.body.len());
            store(
                &p.cfg,
                &p.keys,
                Arc::new(entry),
                p.ttl,
                p.tags,
                p.leader,
                p.epoch,
            );
        }
    }

    /// The copy cannot be stored: release the waiters (they fetch for themselves) and drop
    /// the response it was to replace.
    fn abandon(&mut self, why: &'static str) {
        if let Some(p) = self.pending.take() {
            self.read = Chunks::default();
            tracing::debug!(target: "cache_axum", key = p.keys.base, why, "streamed response not stored");
            if let (Some(key), Ok(rt)) = (p.replaces, tokio::runtime::Handle::try_current()) {
                let cache = p.cfg.cache.clone();
                rt.spawn(async move {
                    if let Err(e) = cache.delete(&key).await {
                        tracing::warn!(target: "cache_axum", key, error = %e, "stale response not dropped");
                    }
                });
            }
        }
    }
}

impl<B> HttpBody for Tee<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Every field is `Unpin` (the inner body is boxed).
        let this = self.get_mut();
        if let Some(chunk) = this.front.next() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match this.rest.as_mut().poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(p) = &this.pending {
                    match frame.data_ref() {
                        Some(data) if this.read.len() + data.len() <= p.cfg.max_body => {
                            this.read.push(data.clone());
                        }
                        Some(_) => this.abandon("larger than max_body"),
                        None => this.abandon("trailers"),
                    }
                }
                if this.rest.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.abandon("the body failed");
                Poll::Ready(Some(Err(e.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.front.len() == 0 && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let front: usize = self.front.as_slice().iter().map(Bytes::len).sum();
        let mut hint = self.rest.size_hint();
        hint.set_lower(hint.lower().saturating_add(front as u64));
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper.saturating_add(front as u64));
        }
        hint
    }
}

impl<B> Drop for Tee<B> {
    fn drop(&mut self) {
        // Still pending: the client went away before the end, and the rest was never fetched.
        self.abandon("dropped before its end");
    }
}
