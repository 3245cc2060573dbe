//! Requests that switch protocols (WebSocket handshakes), taken off actix-http's HTTP/1
//! dispatcher. The dispatcher keeps an 8 KiB read and an 8 KiB write buffer for as long as a
//! connection lives; for an idle WebSocket that was 16 of the 17 KiB it cost us. actix-http
//! hands such a request to this service together with the raw connection instead.
//!
//! The request still goes through the whole app (middleware, rate limit, the `/ws` handlers that
//! check the token and answer through actix-ws), with the connection's read half as its body. A
//! 101 answer is followed by the frames actix-ws produces, written to the connection as they
//! come; any other answer is written as an ordinary response and the connection closed.
//!
//! The connection, not the socket actor, decides when a socket is gone: it is counted open until
//! its file is released. A write that stays blocked for `ws.write_timeout_secs` (a client that
//! stopped reading) drops the connection at once. After the last frame (the close frame) the
//! write side is shut and what the client still sends is read and thrown away for a moment
//! (`LINGER`): closing with unread bytes would make the kernel send a reset, and a reset can
//! destroy the close frame before the client reads it.

use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_codec::{Encoder, Framed, FramedParts};
use actix_http::body::{self, BodySize, BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::{BoxedPayloadStream, ConnectionType, Payload, Request, Response, StatusCode};
use actix_service::{fn_factory, fn_service, IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::web;
use bytes::BytesMut;
use futures_util::{stream, Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::early_errors::Enveloped;
use super::state::AppState;
use crate::realtime::hub::ThreadHub;

/// How long a closed socket waits for its read half to come back from the socket actor.
const LINGER: Duration = Duration::from_secs(2);

/// Bytes read from an upgraded connection at a time. Client frames are small (subscribe,
/// ping); a larger one takes several reads. An idle socket holds what is left of one buffer.
const READ_CHUNK: usize = 512;

/// The upgrade service of one worker: its own instance of the app, shared by its connections.
pub fn factory(
    state: web::Data<AppState>,
    hub: ThreadHub,
) -> impl ServiceFactory<
    (Request, Framed<Enveloped, Codec>),
    Config = (),
    Response = (),
    Error = Infallible,
    InitError = (),
> {
    fn_factory(move || {
        let app = super::app(state.clone(), hub.clone()).into_factory();
        let state = state.clone();
        async move {
            let app = Rc::new(app.new_service(AppConfig::default()).await?);
            Ok(fn_service(move |(req, framed)| {
                // The handshake's state is large but short-lived: boxed, it is freed once the
                // answer is out, and the connection's task keeps only what the pump needs.
                let handshake = Box::pin(handshake(app.clone(), req, framed));
                let state = state.clone();
                async move {
                    let ended = match handshake.await {
                        Ok(Some(upgraded)) => {
                            let open = &state.metrics.open_sockets;
                            open.inc();
                            let write_timeout =
                                Duration::from_secs(state.settings.ws.write_timeout_secs);
                            let ended = pump(upgraded, write_timeout).await;
                            open.dec();
                            ended
                        }
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    };
                    // Failures here are the peer's (a reset, a closed socket): they end the
                    // connection and are only worth a debug line.
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "upgraded connection ended");
                    }
                    Ok(())
                }
            }))
        }
    })
}

/// A connection that switched protocols: the frames to write, where to write them, and the way
/// its read half comes back once the socket no longer reads it.
struct Upgraded {
    body: BoxBody,
    write: OwnedWriteHalf,
    read_back: oneshot::Receiver<OwnedReadHalf>,
}

/// Runs the request through the app and writes the answer's head. A 101 answer hands back the
/// connection (`Upgraded`); any other answer is written whole and the connection closed.
async fn handshake<S, B>(
    app: Rc<S>,
    req: Request,
    framed: Framed<Enveloped, Codec>,
) -> io::Result<Option<Upgraded>>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let FramedParts {
        io,
        mut codec,
        read_buf,
        ..
    } = framed.into_parts();
    let (read, mut write) = io.into_inner().into_split();
    // Bytes the client sent right behind its request are the start of the body.
    let early = read_buf.freeze();
    let (back, read_back) = oneshot::channel();
    let incoming = stream::iter((!early.is_empty()).then_some(Ok(early)))
        .chain(Incoming {
            read: Some(read),
            buf: BytesMut::new(),
            back: Some(back),
        })
        .map_err(PayloadError::Io);
    let (req, _) = req.replace_payload(Payload::from(Box::pin(incoming) as BoxedPayloadStream));
    let res: Response<BoxBody> = match app.call(req).await {
        Ok(res) => res.map_into_boxed_body().into(),
        Err(err) => err.into(),
    };
    let (mut head, body) = res.into_parts();
    let mut out = BytesMut::new();
    if head.status() == StatusCode::SWITCHING_PROTOCOLS {
        codec.encode(Message::Item((head, BodySize::Stream)), &mut out)?;
        write.write_all(&out).await?;
        return Ok(Some(Upgraded {
            body,
            write,
            read_back,
        }));
    }
    head.head_mut().set_connection_type(ConnectionType::Close);
    let bytes = body::to_bytes(body).await.map_err(body_failed)?;
    let size = BodySize::Sized(bytes.len() as u64);
    codec.encode(Message::Item((head, size)), &mut out)?;
    codec.encode(Message::Chunk(Some(bytes)), &mut out)?;
    codec.encode(Message::Chunk(None), &mut out)?;
    write.write_all(&out).await?;
    write.shutdown().await?;
    Ok(None)
}

/// Writes the other protocol's bytes as the body yields them, until it ends; a write blocked
/// past `write_timeout` ends the connection. Then shuts the write side and lingers.
async fn pump(upgraded: Upgraded, write_timeout: Duration) -> io::Result<()> {
    let Upgraded {
        body,
        mut write,
        read_back,
    } = upgraded;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let chunk = chunk.map_err(body_failed)?;
        timeout(write_timeout, write.write_all(&chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))??;
    }
    timeout(write_timeout, write.shutdown())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))??;
    if let Ok(Ok(mut read)) = timeout(LINGER, read_back).await {
        let mut sink = [0u8; READ_CHUNK];
        // As long as a write may stay blocked: a client busy elsewhere still gets its close
        // frame instead of a reset, and one that never reads is let go as a stalled write is.
        let _ = timeout(write_timeout, async {
            while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
    Ok(())
}

/// The connection's read half as the socket's incoming bytes (what tokio-util's `ReaderStream`
/// does, keeping the half to give back). When the socket drops it, the half goes back to the
/// pump (unless the client already ended it), which reads it dry while the close frame is on its
/// way.
struct Incoming {
    read: Option<OwnedReadHalf>,
    buf: BytesMut,
    back: Option<oneshot::Sender<OwnedReadHalf>>,
}

impl Stream for Incoming {
    type Item = io::Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(read) = this.read.as_mut() else {
            return Poll::Ready(None);
        };
        if this.buf.capacity() == 0 {
            this.buf.reserve(READ_CHUNK);
        }
        match tokio_util::io::poll_read_buf(Pin::new(read), cx, &mut this.buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => {
                this.read = None;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(_)) => Poll::Ready(Some(Ok(this.buf.split().freeze()))),
            Poll::Ready(Err(e)) => {
                this.read = None;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let (Some(read), Some(back)) = (self.read.take(), self.back.take()) {
            let _ = back.send(read);
        }
    }
}

/// A response body that failed ends the connection like a failed write would.
fn body_failed(e: Box<dyn std::error::Error>) -> io::Error {
    io::Error::other(e.to_string())
}
