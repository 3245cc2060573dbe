//! The answers actix-http's parser gives before any of our code runs, in the envelope too.
//!
//! A request head larger than the parser's buffer (431) or one it cannot parse (400) is answered
//! by actix-http's HTTP/1 dispatcher itself, with an empty body, and no hook reaches that answer.
//! This wrapper sits between the dispatcher and the TCP connection: a response head of such a
//! status with `content-length: 0` is written as the same status with the JSON envelope instead.
//! Our own 4xx answers always carry a body, so only the parser's are ever rewritten. The check
//! is a few byte comparisons per write; upgraded WebSocket connections leave the wrapper at the
//! handshake and never pass through it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::envelope;

/// The statuses the dispatcher answers on its own, and what we tell the client.
const EARLY: [(&[u8], StatusCode, &str); 2] = [
    (
        b"HTTP/1.1 431 ",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "Request headers or URL too large",
    ),
    (
        b"HTTP/1.1 400 ",
        StatusCode::BAD_REQUEST,
        "Malformed HTTP request",
    ),
];

/// A TCP connection whose bodiless early error answers are replaced by enveloped ones.
pub struct Enveloped {
    io: TcpStream,
    /// Bytes of a replacement answer not yet written; they go out before anything else.
    pending: Vec<u8>,
}

impl Enveloped {
    pub fn new(io: TcpStream) -> Self {
        Enveloped {
            io,
            pending: Vec::new(),
        }
    }

    /// The connection itself, for a request that switches protocols.
    pub fn into_inner(self) -> TcpStream {
        self.io
    }

    /// Writes what is pending; ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

/// The enveloped answer for `buf`, if `buf` ends with a bodiless early error head (possibly
/// behind the answers to earlier requests on the same connection).
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    EARLY.iter().find_map(|(line, status, message)| {
        let at = find_last(buf, line)?;
        let head = &buf[at..];
        // One head, to the end of the write, that says it has no body.
        let bodiless = contains(head, b"\r\ncontent-length: 0\r\n")
            && head.windows(4).filter(|w| w == b"\r\n\r\n").count() == 1;
        if !bodiless {
            return None;
        }
        let body = envelope::failure_body(message, None, None);
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             x-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        Some([&buf[..at], head.as_bytes(), body.as_bytes()].concat())
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find_last(haystack, needle).is_some()
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

impl AsyncRead for Enveloped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Enveloped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        // Only a write that ends with a bodiless head can hold one: bodies are JSON.
        let early = buf.ends_with(b"\r\n\r\n") && contains(buf, b"HTTP/1.1 4");
        if early {
            if let Some(answer) = replacement(buf) {
                // Taken whole: the replacement goes out in place of these bytes.
                this.pending = answer;
                let _ = this.poll_pending(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_early_errors_are_replaced() {
        let early = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                      date: Fri, 04 Dec 2026 18:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(replacement(early).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "));
        assert!(answer.contains("content-type: application/json"));
        assert!(answer.ends_with("}"), "{answer}");

        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n";
        assert!(replacement(ours).is_none(), "our own answers carry a body");
        let fine = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(fine).is_none());

        let pipelined = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}\
                          HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let answer = String::from_utf8(replacement(pipelined).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 400 "));
        assert!(answer.ends_with('}'));
    }
}
