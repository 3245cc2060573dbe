//! The wire protocol of a real-time session: the subprotocol we answer with, the frames a client
//! may send, the frames we answer them with, and every close code with its reason. Events
//! themselves are encoded once for all subscribers (`crate::events`); topics are named in
//! `crate::domain::topic`.

use std::time::Duration;

use actix_ws::{CloseCode, CloseReason};
use bytestring::ByteString;
use serde::Deserialize;
use serde_json::json;

use crate::domain::position::PositionRequest;
use crate::domain::topic::Topic;
use crate::domain::validation::FieldErrors;

/// The subprotocol we answer with; the token half of a client's `order-tracker, bearer.<jwt>`
/// pair is never echoed.
pub const SUBPROTOCOL: &str = "order-tracker";

/// The window `ws.messages_per_minute` counts client frames in.
pub const FLOOD_WINDOW: Duration = Duration::from_secs(60);

/// Close code for an expired token: the client should log in again and reconnect.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code for a revoked session (log out everywhere, a role or password change, two-factor
/// switched on, the user deleted): the client should log in again and reconnect.
pub const CLOSE_REVOKED: u16 = 4002;
/// The share link a viewer's socket was opened with was revoked, expired, or its order deleted:
/// reconnecting cannot help.
pub const CLOSE_LINK_ENDED: u16 = 4003;

/// A frame a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientFrame {
    Subscribe {
        topic: String,
        since: Option<i64>,
    },
    Unsubscribe {
        topic: String,
    },
    Ping,
    /// A driver's position for a shipped order (`crate::dispatch::positions`).
    Location {
        order_id: Option<serde_json::Value>,
        #[serde(flatten)]
        position: PositionRequest,
    },
}

impl ClientFrame {
    /// The frame in `text`, or the error message that says what was expected.
    pub fn parse(text: &str) -> Result<ClientFrame, &'static str> {
        serde_json::from_str(text).map_err(|_| UNKNOWN_FRAME)
    }
}

pub const UNKNOWN_FRAME: &str = "unknown message; expected \
    {\"type\":\"subscribe\"|\"unsubscribe\"|\"ping\"|\"location\", ...}";
pub const BAD_TOPIC: &str = "topic must be order:{id}, user:{id} or board";
pub const BAD_ORDER_ID: &str = "order_id must be a positive integer";
pub const POSITIONS_REFUSED: &str = "only drivers and admins send positions";
pub const BAD_SINCE: &str = "since must be at least 0";
pub const NOT_SUBSCRIBED: &str = "not subscribed to that topic";
/// A second `subscribe` to a topic would read its snapshot or history again for nothing (and
/// a board snapshot is large): the client unsubscribes first if it means to start over.
pub const ALREADY_SUBSCRIBED: &str = "already subscribed to that topic; unsubscribe first";
pub const BINARY_REFUSED: &str = "binary frames are not supported";
pub const CATCH_UP_FAILED: &str = "could not read stored events; reconnect with since";

/// The frames we send besides events.
pub mod reply {
    use super::*;

    pub fn pong() -> ByteString {
        json!({"type": "pong"}).to_string().into()
    }

    pub fn subscribed(topic: Topic) -> ByteString {
        json!({"type": "subscribed", "topic": topic})
            .to_string()
            .into()
    }

    pub fn unsubscribed(topic: Topic) -> ByteString {
        json!({"type": "unsubscribed", "topic": topic})
            .to_string()
            .into()
    }

    pub fn error(message: &str) -> ByteString {
        json!({"type": "error", "message": message})
            .to_string()
            .into()
    }

    /// A position with bad numbers: what is wrong with each field.
    pub fn invalid(errors: &FieldErrors) -> ByteString {
        json!({"type": "error", "message": "Validation failed", "errors": errors})
            .to_string()
            .into()
    }

    /// A position refused for its order.
    pub fn position_refused(order_id: i64, message: &str) -> ByteString {
        json!({"type": "error", "order_id": order_id, "message": message})
            .to_string()
            .into()
    }

    /// A subscription refused: the topic does not exist for this user, or cannot be checked.
    pub fn refused(topic: Topic, message: &str) -> ByteString {
        json!({"type": "error", "topic": topic, "message": message})
            .to_string()
            .into()
    }
}

/// Why a session closes, and what the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The client closed.
    Bye,
    /// The client did not take its frames fast enough; it should resume with `since`.
    TooSlow,
    /// Nothing heard for two heartbeats.
    NoHeartbeat,
    /// More frames than `ws.messages_per_minute`.
    Flooding,
    /// One frame over `ws.max_frame_bytes`.
    FrameTooLarge,
    /// A fragmented message over `ws.max_frame_bytes`.
    MessageTooLarge,
    /// Not WebSocket as RFC 6455 has it.
    ProtocolError,
    /// Stored events could not be read; the client should resume with `since`.
    CatchUpFailed,
    /// `CLOSE_TOKEN_EXPIRED`.
    TokenExpired,
    /// `CLOSE_REVOKED`.
    Revoked,
    /// `CLOSE_LINK_ENDED`.
    LinkEnded,
    /// The server is shutting down.
    ServerClosing,
}

impl Close {
    pub fn code(self) -> CloseCode {
        match self {
            Close::Bye => CloseCode::Normal,
            Close::TooSlow => CloseCode::Again,
            Close::NoHeartbeat | Close::Flooding => CloseCode::Policy,
            Close::FrameTooLarge | Close::MessageTooLarge => CloseCode::Size,
            Close::ProtocolError => CloseCode::Protocol,
            Close::CatchUpFailed => CloseCode::Error,
            Close::TokenExpired => CloseCode::Other(CLOSE_TOKEN_EXPIRED),
            Close::Revoked => CloseCode::Other(CLOSE_REVOKED),
            Close::LinkEnded => CloseCode::Other(CLOSE_LINK_ENDED),
            Close::ServerClosing => CloseCode::Away,
        }
    }

    pub fn reason(self) -> CloseReason {
        let description = match self {
            Close::Bye => "bye",
            Close::TooSlow => "client too slow; reconnect with since",
            Close::NoHeartbeat => "no heartbeat",
            Close::Flooding => "too many messages",
            Close::FrameTooLarge => "frame too large",
            Close::MessageTooLarge => "message too large",
            Close::ProtocolError => "protocol error",
            Close::CatchUpFailed => "catch-up failed",
            Close::TokenExpired => "token expired",
            Close::Revoked => "session revoked",
            Close::LinkEnded => "tracking link revoked or expired",
            Close::ServerClosing => "server shutting down",
        };
        CloseReason {
            code: self.code(),
            description: Some(description.to_string()),
        }
    }
}
