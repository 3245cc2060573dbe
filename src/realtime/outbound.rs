//! A session's frames on their way to the client, in the order its actor produced them, over
//! either transport: a WebSocket, or a Server-Sent Events stream (`text/event-stream`).
//!
//! Frames go into the transport's channel (actix-ws's `Session` holds 32; an event stream's
//! channel as many). A frame that finds it full waits in a backlog that a task feeds into the
//! channel as the client reads; the task lives only while there is a backlog, so an idle
//! session holds no task and no queue of its own. A backlog longer than its limit means the
//! client cannot keep up.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use actix_web::web::Bytes;
use actix_ws::{CloseReason, Closed, Session};
use bytestring::ByteString;
use futures_util::FutureExt;
use tokio::sync::mpsc;

/// Frames an event stream's channel holds before the backlog takes over, as actix-ws's does.
pub const EVENT_STREAM_CHANNEL: usize = 32;

#[derive(Clone)]
pub enum Frame {
    /// An event of a topic; `id` is its seq, none for a transient one (a position), so an event
    /// stream's `Last-Event-ID` always names the last numbered event.
    Event {
        id: Option<i64>,
        json: ByteString,
    },
    /// Any other message of the protocol (replies, errors).
    Text(ByteString),
    Ping,
    Pong(Bytes),
}

/// Where a session's frames go.
#[derive(Clone)]
pub enum Transport {
    WebSocket(Session),
    /// The body of a `text/event-stream` answer: the stream ends when every sender is gone.
    EventStream(mpsc::Sender<Bytes>),
}

/// Why a frame was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The backlog is at its limit: the client is too slow.
    Full,
    /// The connection is gone.
    Closed,
}

pub struct Outbound {
    transport: Transport,
    /// Present while frames wait; shared with the task that drains them.
    backlog: Option<Rc<RefCell<Backlog>>>,
    /// Frames that may wait before the client counts as too slow (`ws.outbound_queue`).
    limit: usize,
}

struct Backlog {
    frames: VecDeque<Frame>,
    /// Sent after the frames, if the socket is closing.
    close: Option<CloseReason>,
    /// The draining task has finished: later frames may go straight to the session again.
    drained: bool,
}

impl Outbound {
    pub fn new(transport: Transport, limit: usize) -> Self {
        Outbound {
            transport,
            backlog: None,
            limit,
        }
    }

    /// Sends `frame` now, or queues it behind the frames already waiting.
    pub fn send(&mut self, frame: Frame) -> Result<(), Refused> {
        let limit = self.limit;
        if let Some(backlog) = self.waiting() {
            let mut backlog = backlog.borrow_mut();
            if backlog.frames.len() >= limit {
                return Err(Refused::Full);
            }
            backlog.frames.push_back(frame);
            return Ok(());
        }
        match send(&mut self.transport, frame.clone()).now_or_never() {
            Some(Ok(())) => Ok(()),
            Some(Err(Closed)) => Err(Refused::Closed),
            None => {
                let backlog = Rc::new(RefCell::new(Backlog {
                    frames: VecDeque::from([frame]),
                    close: None,
                    drained: false,
                }));
                actix::spawn(drain(self.transport.clone(), backlog.clone()));
                self.backlog = Some(backlog);
                Ok(())
            }
        }
    }

    /// Sends a close frame after the frames waiting, or instead of them when `abandon` (the
    /// client is too slow for them anyway and will catch up with `since`).
    pub fn close(&mut self, reason: CloseReason, abandon: bool) {
        match self.waiting() {
            Some(backlog) => {
                let mut backlog = backlog.borrow_mut();
                if abandon {
                    backlog.frames.clear();
                }
                backlog.close = Some(reason);
            }
            None => {
                actix::spawn(close(self.transport.clone(), reason));
            }
        }
    }

    /// The backlog, if frames still wait in it.
    fn waiting(&mut self) -> Option<&Rc<RefCell<Backlog>>> {
        if self.backlog.as_ref().is_some_and(|b| b.borrow().drained) {
            self.backlog = None;
        }
        self.backlog.as_ref()
    }
}

/// Feeds the backlog into the transport as room frees up, then the close if there is one.
async fn drain(mut transport: Transport, backlog: Rc<RefCell<Backlog>>) {
    loop {
        let next = backlog.borrow_mut().frames.pop_front();
        let Some(frame) = next else { break };
        if send(&mut transport, frame).await.is_err() {
            break;
        }
    }
    let reason = {
        let mut backlog = backlog.borrow_mut();
        backlog.drained = true;
        backlog.close.take()
    };
    if let Some(reason) = reason {
        close(transport, reason).await;
    }
}

async fn send(transport: &mut Transport, frame: Frame) -> Result<(), Closed> {
    match transport {
        Transport::WebSocket(session) => match frame {
            Frame::Event { json, .. } | Frame::Text(json) => session.text(json).await,
            Frame::Ping => session.ping(b"").await,
            Frame::Pong(bytes) => session.pong(&bytes).await,
        },
        Transport::EventStream(sender) => {
            let chunk = match frame {
                Frame::Event { id: Some(id), json } => format!("id: {id}\ndata: {json}\n\n"),
                Frame::Event { id: None, json } | Frame::Text(json) => format!("data: {json}\n\n"),
                // A comment line: keeps proxies from timing the stream out, and finds a client
                // that is gone.
                Frame::Ping => ": ping\n\n".to_string(),
                Frame::Pong(_) => return Ok(()),
            };
            sender.send(Bytes::from(chunk)).await.map_err(|_| Closed)
        }
    }
}

/// A WebSocket gets its close frame. An event stream has none: it gets a last event saying why
/// it ends (`{"type":"close","code":..,"reason":..}`, the WebSocket's code), then ends.
async fn close(transport: Transport, reason: CloseReason) {
    match transport {
        Transport::WebSocket(session) => {
            let _ = session.close(Some(reason)).await;
        }
        Transport::EventStream(sender) => {
            let last = serde_json::json!({
                "type": "close",
                "code": u16::from(reason.code),
                "reason": reason.description.unwrap_or_default(),
            });
            let _ = sender.send(Bytes::from(format!("data: {last}\n\n"))).await;
        }
    }
}
