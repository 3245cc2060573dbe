//! A socket's frames on their way to the client, in the order its actor produced them.
//!
//! Frames go into actix-ws's `Session`, whose channel holds 32. A frame that finds it full waits
//! in a backlog that a task feeds into the channel as the client reads; the task lives only while
//! there is a backlog, so an idle socket holds no task and no queue of its own. A backlog longer
//! than its limit means the client cannot keep up.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use actix_web::web::Bytes;
use actix_ws::{CloseReason, Closed, Session};
use bytestring::ByteString;
use futures_util::FutureExt;

#[derive(Clone)]
pub enum Frame {
    Text(ByteString),
    Ping,
    Pong(Bytes),
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
    session: Session,
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
    pub fn new(session: Session, limit: usize) -> Self {
        Outbound {
            session,
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
        match send(&mut self.session, frame.clone()).now_or_never() {
            Some(Ok(())) => Ok(()),
            Some(Err(Closed)) => Err(Refused::Closed),
            None => {
                let backlog = Rc::new(RefCell::new(Backlog {
                    frames: VecDeque::from([frame]),
                    close: None,
                    drained: false,
                }));
                actix::spawn(drain(self.session.clone(), backlog.clone()));
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
                actix::spawn(self.session.clone().close(Some(reason)));
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

/// Feeds the backlog into the session as room frees up, then the close frame if there is one.
async fn drain(mut session: Session, backlog: Rc<RefCell<Backlog>>) {
    loop {
        let next = backlog.borrow_mut().frames.pop_front();
        let Some(frame) = next else { break };
        if send(&mut session, frame).await.is_err() {
            break;
        }
    }
    let close = {
        let mut backlog = backlog.borrow_mut();
        backlog.drained = true;
        backlog.close.take()
    };
    if let Some(reason) = close {
        let _ = session.close(Some(reason)).await;
    }
}

async fn send(session: &mut Session, frame: Frame) -> Result<(), Closed> {
    match frame {
        Frame::Text(text) => session.text(text).await,
        Frame::Ping => session.ping(b"").await,
        Frame::Pong(bytes) => session.pong(&bytes).await,
    }
}
