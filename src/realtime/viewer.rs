//! Who a session serves: a signed-in user, or whoever holds a share link. Both follow topics
//! through the same session; what each may follow, and when each must be shut out, differ.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::auth::caller::AuthUser;

#[derive(Debug, Clone)]
pub enum Viewer {
    User(AuthUser),
    /// Anonymous: all it holds is a live share link of one order.
    Link(SharedOrder),
}

/// A live share link as its viewer's session knows it.
#[derive(Debug, Clone)]
pub struct SharedOrder {
    pub link_id: i64,
    pub order_id: i64,
    /// The end its creator chose, if any (the end after the order is final is checked
    /// periodically, as it moves with the order).
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a revocation is addressed to, and what each socket counts against: a user's sockets, a
/// link's viewers, or (for sockets without a login) the address they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    User(i64),
    Link(i64),
    /// Never revoked; only counted.
    Address(IpAddr),
}

/// A revocation the database announced on commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The user's token version became `token_version`: sessions opened with an older one end
    /// (version 0: the user is gone, and every session ends). Versions only grow, so a
    /// revocation heard late or twice (the relay republishes, someone replays it on NATS)
    /// never ends a session opened after it.
    User { user_id: i64, token_version: i32 },
    /// The link was revoked, or its order deleted.
    Link(i64),
}

impl Viewer {
    pub fn holder(&self) -> Holder {
        match self {
            Viewer::User(user) => Holder::User(user.id()),
            Viewer::Link(link) => Holder::Link(link.link_id),
        }
    }

    /// Whether `revocation` shuts this viewer out.
    pub fn is_revoked_by(&self, revocation: Revocation) -> bool {
        match (self, revocation) {
            (
                Viewer::User(user),
                Revocation::User {
                    user_id,
                    token_version,
                },
            ) => {
                user.id() == user_id
                    && (token_version == 0 || user.user.token_version < token_version)
            }
            (Viewer::Link(link), Revocation::Link(id)) => link.link_id == id,
            _ => false,
        }
    }
}

impl Revocation {
    pub fn holder(self) -> Holder {
        match self {
            Revocation::User { user_id, .. } => Holder::User(user_id),
            Revocation::Link(id) => Holder::Link(id),
        }
    }
}
