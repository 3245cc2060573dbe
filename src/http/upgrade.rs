//! Requests that switch protocols (WebSocket handshakes), taken off actix-http's HTTP/1
//! dispatcher. The dispatcher keeps an 8 KiB read and an 8 KiB write buffer for as long as a
//! connection lives; for an idle WebSocket that was 16 of the 17 KiB it cost us. actix-http
//! hands such a request to this service together with the raw connection instead.
//!
//! The request still goes through the whole app (middleware, rate limit, the `/ws` handlers that
//! check the token and answer through actix-ws), with the connection's read half as its body. A
//! 101 answer is followed by the frames actix-ws produces, written to the connection as they
//! come; any other answer is written as an ordinary response and the connection closed.

use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;

use actix_codec::{Encoder, Framed, FramedParts};
use actix_http::body::{self, BodySize, BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::{BoxedPayloadStream, ConnectionType, Payload, Request, Response, StatusCode};
use actix_service::{fn_factory, fn_service, IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::web;
use bytes::BytesMut;
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio_util::io::ReaderStream;

use crate::state::AppState;

/// Bytes read from an upgraded connection at a time. Client frames are small (subscribe,
/// ping); a larger one takes several reads. An idle socket holds what is left of one buffer.
const READ_CHUNK: usize = 512;

/// The upgrade service of one worker: its own instance of the app, shared by its connections.
pub fn factory(
    state: web::Data<AppState>,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, Codec>),
    Config = (),
    Response = (),
    Error = Infallible,
    InitError = (),
> {
    fn_factory(move || {
        let app = super::app(state.clone()).into_factory();
        async move {
            let app = Rc::new(app.new_service(AppConfig::default()).await?);
            Ok(fn_service(move |(req, framed)| {
                // The handshake's state is large but short-lived: boxed, it is freed once the
                // answer is out, and the connection's task keeps only what the pump needs.
                let handshake = Box::pin(handshake(app.clone(), req, framed));
                async move {
                    let ended = match handshake.await {
                        Ok(Some((body, write))) => pump(body, write).await,
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

/// Runs the request through the app and writes the answer's head. A 101 answer hands back its
/// body (the frames to come) and the connection's write half; any other answer is written whole
/// and the connection closed.
async fn handshake<S, B>(
    app: Rc<S>,
    req: Request,
    framed: Framed<TcpStream, Codec>,
) -> io::Result<Option<(BoxBody, OwnedWriteHalf)>>
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
    let (read, mut write) = io.into_split();
    // Bytes the client sent right behind its request are the start of the body.
    let early = read_buf.freeze();
    let incoming = stream::iter((!early.is_empty()).then_some(Ok(early)))
        .chain(ReaderStream::with_capacity(read, READ_CHUNK))
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
        return Ok(Some((body, write)));
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

/// Writes the other protocol's bytes as the body yields them, until it ends.
async fn pump(body: BoxBody, mut write: OwnedWriteHalf) -> io::Result<()> {
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        write.write_all(&chunk.map_err(body_failed)?).await?;
    }
    write.shutdown().await
}

/// A response body that failed ends the connection like a failed write would.
fn body_failed(e: Box<dyn std::error::Error>) -> io::Error {
    io::Error::other(e.to_string())
}
