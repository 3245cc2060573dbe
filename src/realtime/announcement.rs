//! What the database announces (`announce` in `sql/V11__broker_outbox.sql`) and how a broker
//! hands it to this process's sockets: the same channels and payloads whether they came by
//! NOTIFY or through the outbox and NATS, so both brokers read them with this one piece.

use deadpool_postgres::Pool;
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;

use super::broker::Subscribers;
use super::viewer::Revocation;
use crate::db;
use crate::domain::topic::Topic;
use crate::events::{self, Encoded};

/// The kinds of announcement, one database channel each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A committed event of a topic: the event itself, or its address when it is too large.
    Events,
    /// A driver's position: a transient event of an order's topic.
    Positions,
    /// A user's sessions or a share link revoked.
    Revocations,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Events, Channel::Positions, Channel::Revocations];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Events => events::CHANNEL,
            Channel::Positions => events::POSITIONS_CHANNEL,
            Channel::Revocations => events::REVOCATIONS_CHANNEL,
        }
    }

    pub fn named(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Hands announcements to this process's sockets.
pub struct Inbound {
    /// To load events whose announcement carried only their address.
    pub pool: Pool,
    /// This process's sockets (the hub).
    pub to: Box<dyn Subscribers>,
    /// `broker_events_received` of `/metrics`: events and positions this process was handed.
    pub received: Counter,
}

impl Inbound {
    pub async fn hand_over(&self, channel: Channel, payload: &str) {
        match channel {
            Channel::Revocations => match parse_revocation(payload) {
                Some(revocation) => self.to.revoke(revocation),
                None => tracing::warn!(payload, "unreadable revocation"),
            },
            Channel::Positions => {
                self.received.inc();
                if let Some(event) = decode_position(payload) {
                    self.to.publish(event);
                }
            }
            Channel::Events => {
                self.received.inc();
                if let Some(event) = decode(&self.pool, payload).await {
                    self.to.publish(event);
                }
            }
        }
    }
}

/// The topic an announcement belongs to; `None` for revocations, which concern every topic of
/// their holder, and for what cannot be read.
pub fn topic_of(channel: Channel, payload: &str) -> Option<Topic> {
    let header: TopicHeader = match channel {
        Channel::Revocations => return None,
        Channel::Events | Channel::Positions => serde_json::from_str(payload).ok()?,
    };
    Topic::parse(header.topic)
}

/// `<user id>:<token version>` or `link:<link id>`, as the database's triggers write them.
fn parse_revocation(payload: &str) -> Option<Revocation> {
    let (left, right) = payload.split_once(':')?;
    if left == "link" {
        return Some(Revocation::Link(right.parse().ok()?));
    }
    Some(Revocation::User {
        user_id: left.parse().ok()?,
        token_version: right.parse().ok()?,
    })
}

#[derive(Deserialize)]
struct TopicHeader<'a> {
    #[serde(borrow)]
    topic: &'a str,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    topic: &'a str,
    seq: i64,
    #[serde(default, rename = "ref")]
    by_reference: bool,
}

/// The event a payload carries, loading it when the payload is only a reference.
async fn decode(pool: &Pool, payload: &str) -> Option<Encoded> {
    let header: Header = serde_json::from_str(payload)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable event payload"))
        .ok()?;
    let topic = Topic::parse(header.topic)?;
    if !header.by_reference {
        return Some(Encoded::stored(topic, header.seq, payload.to_string()));
    }
    // On failure the subscriber sees a gap at the next event and catches up then.
    db::events::load(pool, topic, header.seq)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, %topic, "cannot load referenced event"))
        .ok()
        .flatten()
}

/// A position as `dispatch::positions` announced it: an order topic's transient event.
fn decode_position(payload: &str) -> Option<Encoded> {
    let header: TopicHeader = serde_json::from_str(payload)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable position payload"))
        .ok()?;
    match Topic::parse(header.topic)? {
        topic @ Topic::Order(_) => Some(Encoded {
            transient: true,
            ..Encoded::stored(topic, 0, payload.to_string())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_kinds_of_revocation_and_nothing_else() {
        let user = Revocation::User {
            user_id: 7,
            token_version: 3,
        };
        assert_eq!(parse_revocation("7:3"), Some(user));
        assert_eq!(parse_revocation("link:12"), Some(Revocation::Link(12)));
        for junk in ["", "7", "link:", "link:x", "x:1", "7:3:1"] {
            assert_eq!(parse_revocation(junk), None, "{junk}");
        }
    }

    #[test]
    fn channels_round_trip_and_topics_come_from_the_payload() {
        for channel in Channel::ALL {
            assert_eq!(Channel::named(channel.name()), Some(channel));
        }
        assert_eq!(Channel::named("elsewhere"), None);
        let event = r#"{"type":"order.status","topic":"order:5","seq":2}"#;
        assert_eq!(topic_of(Channel::Events, event), Some(Topic::Order(5)));
        let reference = r#"{"topic":"board","seq":9,"ref":true}"#;
        assert_eq!(topic_of(Channel::Events, reference), Some(Topic::Board));
        assert_eq!(topic_of(Channel::Revocations, "7:3"), None);
        assert_eq!(topic_of(Channel::Events, "not json"), None);
    }
}
