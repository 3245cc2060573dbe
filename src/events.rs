//! The events that travel to WebSocket clients, serialized once and shared by every subscriber.
//!
//! The same JSON is the `NOTIFY` payload (when it fits) and what a catch-up query rebuilds from
//! stored rows, so a live event and a replayed one are byte for byte the same.

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::locale::Locale;
use crate::domain::status::OrderStatus;
use crate::domain::topic::Topic;

/// The PostgreSQL channel every node LISTENs on.
pub const CHANNEL: &str = "order_tracker_events";
/// The channel on which the database announces revoked sessions, as `<user id>:<token version>`
/// (version 0: the user was deleted; `sql/V6__pending_totp_and_revocation.sql`), and revoked
/// share links, as `link:<link id>` (`sql/V8__share_link_revocation.sql`).
pub const REVOCATIONS_CHANNEL: &str = "order_tracker_revocations";
/// The channel drivers' positions travel on between processes: transient events, at most one a
/// second per shipped order, never stored.
pub const POSITIONS_CHANNEL: &str = "order_tracker_positions";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; larger events travel by reference.
pub const MAX_NOTIFY_BYTES: usize = 7900;

/// One event of one topic, ready to write to any number of sockets.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub topic: Topic,
    /// Its place in the topic's numbered stream; 0 for a transient event.
    pub seq: i64,
    pub json: ByteString,
    /// Not part of the topic's numbered stream (a driver's position): it goes to whoever
    /// follows the topic at the moment and is never stored, replayed or waited for.
    pub transient: bool,
}

/// Fields of an order event that only the owner and staff see (who made the change, the order's
/// id, the driver's account); a share link's viewers get the event without them. Notes are
/// written for the customer and stay, as does the driver's first name.
const PRIVATE_ORDER_FIELDS: [&str; 4] = ["order_id", "updated_by", "driver", "driver_id"];

impl Encoded {
    /// This event as the public view of its topic (`track:{id}` for `order:{id}`), or `None` for
    /// a topic without one. Made once per event and shared by every viewer, like the event.
    pub fn public(&self) -> Option<Encoded> {
        let topic = self.topic.public_view()?;
        self.retopic(topic, &PRIVATE_ORDER_FIELDS)
    }

    /// A numbered event as it was stored or announced.
    pub fn stored(topic: Topic, seq: i64, json: String) -> Encoded {
        Encoded {
            topic,
            seq,
            json: json.into(),
            transient: false,
        }
    }

    /// The same event under another topic, without the `hidden` fields.
    pub fn retopic(&self, topic: Topic, hidden: &[&str]) -> Option<Encoded> {
        let mut fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.json).ok()?;
        for field in hidden {
            fields.remove(*field);
        }
        fields.insert("topic".into(), topic.to_string().into());
        let mut event = encoded(topic, self.seq, &fields);
        event.transient = self.transient;
        Some(event)
    }

    /// The same bytes followed under another topic (a driver's own board, whose events read
    /// `"topic":"board"` like everyone's).
    pub fn followed_as(&self, topic: Topic) -> Encoded {
        Encoded {
            topic,
            ..self.clone()
        }
    }
}

/// The driver an order is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DriverRef {
    pub id: i64,
    pub name: String,
}

/// What an order event records: a move of its status, or a change of its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Status,
    Assigned,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Status => "status",
            Change::Assigned => "assigned",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "assigned" {
            Change::Assigned
        } else {
            Change::Status
        }
    }
}

/// A change of an order's status, as subscribers of `order:{id}` receive it.
#[derive(Debug, Serialize)]
pub struct OrderStatusEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub topic: Topic,
    pub order_id: String,
    pub seq: i64,
    pub status: OrderStatus,
    pub status_display: &'static str,
    /// `status` when the status moved (or an update was added), `assigned` when the driver
    /// changed.
    pub change: &'static str,
    pub notes: Option<String>,
    pub updated_by: Option<String>,
    /// The driver the order is assigned to; staff and the owner see it.
    pub driver: Option<DriverRef>,
    /// The first name of the driver bringing the order: the assigned one, else (orders moved
    /// by drivers without assignment) the last driver who moved it. Share-link viewers see
    /// this, never `updated_by` or `driver`.
    pub driver_name: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub order_number: String,
    pub estimated_time: Option<DateTime<Utc>>,
    /// In a snapshot: the last known position while the order is shipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Option<serde_json::Value>>,
}

/// The fields of one status history entry, whichever way they were read.
pub struct StatusEntry {
    pub order_id: i64,
    pub seq: i64,
    pub status: OrderStatus,
    pub change: Change,
    pub notes: Option<String>,
    pub updated_by: Option<String>,
    pub driver: Option<DriverRef>,
    /// See `OrderStatusEvent::driver_name`.
    pub driver_name: Option<String>,
    pub at: DateTime<Utc>,
    pub order_number: String,
    pub estimated_time: Option<DateTime<Utc>>,
    /// Events are serialized once for all subscribers, so they speak the owner's language.
    pub owner_locale: Locale,
}

impl StatusEntry {
    /// An `order.status` event: one change.
    pub fn encode(self) -> Encoded {
        self.encode_as(ORDER_STATUS, None)
    }

    /// `order.snapshot`: the current state on connect, with the last known position.
    pub fn encode_snapshot(self, location: Option<serde_json::Value>) -> Encoded {
        self.encode_as(ORDER_SNAPSHOT, Some(location))
    }

    fn encode_as(self, kind: &'static str, location: Option<Option<serde_json::Value>>) -> Encoded {
        let topic = Topic::Order(self.order_id);
        let seq = self.seq;
        let driver_name = self
            .driver
            .as_ref()
            .map(|d| first_name(&d.name))
            .or(self.driver_name);
        let event = OrderStatusEvent {
            kind,
            topic,
            order_id: self.order_id.to_string(),
            seq,
            status: self.status,
            status_display: self.status.display(self.owner_locale),
            change: self.change.as_str(),
            notes: self.notes,
            updated_by: self.updated_by,
            driver: self.driver,
            driver_name,
            updated_at: self.at,
            order_number: self.order_number,
            estimated_time: self.estimated_time,
            location,
        };
        encoded(topic, seq, &event)
    }
}

/// A driver's position, as the order's subscribers receive it (at most once a second).
#[derive(Debug, Serialize)]
pub struct LocationEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub topic: Topic,
    pub order_id: String,
    pub driver_id: Option<i64>,
    #[serde(flatten)]
    pub position: crate::domain::position::Position,
    pub estimated_time: Option<DateTime<Utc>>,
}

pub const ORDER_LOCATION: &str = "order.location";

impl LocationEvent {
    pub fn encode(&self) -> Encoded {
        Encoded {
            transient: true,
            ..encoded(self.topic, 0, self)
        }
    }
}

/// Whose orders a board event concerns: the order's driver after the change and before it. A
/// driver who sees only their own orders gets the events that name them.
#[derive(Debug, serde::Deserialize)]
struct BoardAudience {
    #[serde(default)]
    previous_driver_id: Option<i64>,
    #[serde(default)]
    order: Option<BoardOrder>,
    #[serde(default)]
    driver_id: Option<i64>,
}

#[derive(Debug, serde::Deserialize)]
struct BoardOrder {
    driver: Option<DriverRef>,
}

/// A board event as a driver who sees only their own orders receives it.
pub struct DriverView {
    /// The event as is, for the drivers it names.
    pub full: Encoded,
    /// What everyone else gets: the seq only, so their stream stays gap-free.
    pub hidden: Encoded,
    drivers: [Option<i64>; 2],
}

impl DriverView {
    /// `None` for an event that is not a board event.
    pub fn of(event: &Encoded) -> Option<DriverView> {
        let audience: BoardAudience = serde_json::from_str(&event.json).ok()?;
        let current = audience
            .order
            .and_then(|o| o.driver)
            .map(|d| d.id)
            .or(audience.driver_id);
        let hidden =
            serde_json::json!({"type": BOARD_HIDDEN, "topic": Topic::Board, "seq": event.seq});
        Some(DriverView {
            full: event.clone(),
            hidden: Encoded {
                transient: event.transient,
                ..encoded(event.topic, event.seq, &hidden)
            },
            drivers: [current, audience.previous_driver_id],
        })
    }

    /// The event as `driver` receives it on their board (`Topic::DriverBoard`); `None` for a
    /// transient event that does not concern them (nothing to keep a seq for).
    pub fn for_driver(&self, driver: i64) -> Option<Encoded> {
        let topic = Topic::DriverBoard(driver);
        if self.drivers.contains(&Some(driver)) {
            Some(self.full.followed_as(topic))
        } else if self.full.transient {
            None
        } else {
            Some(self.hidden.followed_as(topic))
        }
    }
}

pub const BOARD_HIDDEN: &str = "board.hidden";

/// The first word of a name: what a customer is told of the driver bringing their order.
pub fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or("").to_string()
}

/// A notification, as subscribers of `user:{id}` receive it.
#[derive(Debug, Serialize)]
pub struct NotificationEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub topic: Topic,
    pub seq: i64,
    pub id: i64,
    pub title: &'a str,
    pub message: &'a str,
    pub data: &'a serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// Notifications were marked read on some device; `ids` is empty when all were.
#[derive(Debug, Serialize)]
pub struct ReadEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub topic: Topic,
    pub seq: i64,
    pub ids: &'a [i64],
    pub all: bool,
    pub unread: i64,
}

/// The first message of a user stream without `since`: where the stream is, and the badge.
#[derive(Debug, Serialize)]
pub struct UnreadSnapshot {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub topic: Topic,
    pub seq: i64,
    pub unread: i64,
}

pub const NOTIFICATION: &str = "notification";
pub const NOTIFICATION_READ: &str = "notification.read";
pub const NOTIFICATION_UNREAD: &str = "notification.unread";

/// Encodes any user-stream event (they all carry their own topic and seq).
pub fn encode_user_event<T: Serialize>(user_id: i64, seq: i64, event: &T) -> Encoded {
    encoded(Topic::User(user_id), seq, event)
}

pub const ORDER_STATUS: &str = "order.status";
pub const ORDER_SNAPSHOT: &str = "order.snapshot";

/// A user-stream event before the database numbers it: its JSON and its NOTIFY payload, each
/// split where the seq goes. The database splices the seq in when the transaction commits
/// (`sql/V5__user_event_outbox.sql`), so the user's row is locked only during the commit.
#[derive(Debug)]
pub struct Unnumbered {
    pub json: (String, String),
    pub notify: (String, String),
}

/// Stands in for the seq while an event is unnumbered. The largest seq there can be, so the
/// NOTIFY size check counts the most digits the real seq may take.
const SEQ_PLACEHOLDER: i64 = i64::MAX;

impl Unnumbered {
    /// `build` encodes the event for a given seq; it is called once, with the placeholder.
    pub fn new(build: impl FnOnce(i64) -> Encoded) -> Self {
        let event = build(SEQ_PLACEHOLDER);
        let notify = notify_payload(&event);
        Unnumbered {
            json: split_at_seq(&event.json),
            notify: split_at_seq(&notify),
        }
    }
}

/// Stands in for a new notification's id while its event is encoded: the statement that stores
/// the notification assigns the id and splices it in. As many digits as any id can take.
const ID_PLACEHOLDER: i64 = i64::MAX - 1;

/// A notification's stream event before the database assigns its id and seq: each text split
/// where the seq goes, and the rest split again where the id goes (`None` when the text does not
/// carry the id, as a NOTIFY by reference does not).
#[derive(Debug)]
pub struct UnnumberedNotification {
    pub json: (String, String, Option<String>),
    pub notify: (String, String, Option<String>),
}

impl UnnumberedNotification {
    /// `build` encodes the event for a given seq and id; it is called once, with placeholders.
    pub fn new(build: impl FnOnce(i64, i64) -> Encoded) -> Self {
        let Unnumbered { json, notify } = Unnumbered::new(|seq| build(seq, ID_PLACEHOLDER));
        UnnumberedNotification {
            json: split_at_id(json),
            notify: split_at_id(notify),
        }
    }
}

/// A JSON string escapes every quote inside it, so `"id":` can only be the field itself.
fn split_at_id((head, rest): (String, String)) -> (String, String, Option<String>) {
    let marker = format!("\"id\":{ID_PLACEHOLDER}");
    match rest.find(&marker) {
        Some(at) => {
            let digits = at + marker.len() - ID_PLACEHOLDER.to_string().len();
            let tail = rest[at + marker.len()..].to_string();
            (head, rest[..digits].to_string(), Some(tail))
        }
        None => (head, rest, None),
    }
}

/// Splits at the placeholder of the `seq` field. Every event puts `seq` before any text a user
/// wrote, so the first match is the field itself.
fn split_at_seq(json: &str) -> (String, String) {
    let marker = format!("\"seq\":{SEQ_PLACEHOLDER}");
    let at = json
        .find(&marker)
        .expect("user events carry a seq field before any free text");
    let digits = at + marker.len() - SEQ_PLACEHOLDER.to_string().len();
    (
        json[..digits].to_string(),
        json[at + marker.len()..].to_string(),
    )
}

/// What goes into NOTIFY: the event itself, or only its address when it is too large.
pub fn notify_payload(event: &Encoded) -> String {
    if event.json.len() <= MAX_NOTIFY_BYTES {
        event.json.to_string()
    } else {
        serde_json::json!({"topic": event.topic, "seq": event.seq, "ref": true}).to_string()
    }
}

fn encoded<T: Serialize>(topic: Topic, seq: i64, event: &T) -> Encoded {
    let json = serde_json::to_string(event).expect("events serialize to JSON");
    Encoded {
        topic,
        seq,
        json: json.into(),
        transient: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(seq: i64, title: &str) -> Encoded {
        notification_with_id(seq, 3, title)
    }

    fn notification_with_id(seq: i64, id: i64, title: &str) -> Encoded {
        let data = serde_json::Map::new();
        encode_user_event(
            7,
            seq,
            &NotificationEvent {
                kind: NOTIFICATION,
                topic: Topic::User(7),
                seq,
                id,
                title,
                message: "m",
                data: &data,
                created_at: DateTime::<Utc>::UNIX_EPOCH,
            },
        )
    }

    #[test]
    fn an_event_numbered_at_commit_is_the_event_encoded_with_that_seq() {
        // A title that imitates the placeholder must not be where the seq goes.
        let title = format!("\"seq\":{SEQ_PLACEHOLDER}");
        let Unnumbered { json, notify, .. } = Unnumbered::new(|seq| notification(seq, &title));
        // What the database does at commit.
        let direct = notification(42, &title);
        assert_eq!(format!("{}42{}", json.0, json.1), &*direct.json);
        assert_eq!(
            format!("{}42{}", notify.0, notify.1),
            notify_payload(&direct)
        );
    }

    #[test]
    fn an_event_too_large_to_notify_is_announced_by_reference_with_its_seq() {
        let unnumbered = Unnumbered::new(|seq| notification(seq, &"x".repeat(MAX_NOTIFY_BYTES)));
        let (head, tail) = unnumbered.notify;
        let payload: serde_json::Value = serde_json::from_str(&format!("{head}9{tail}")).unwrap();
        assert_eq!(payload["seq"], 9);
        assert_eq!(payload["ref"], true);
        assert_eq!(payload["topic"], "user:7");
    }

    /// What the statement storing a notification and the commit do with the pieces.
    fn splice(pieces: &(String, String, Option<String>), seq: i64, id: i64) -> String {
        let (head, middle, tail) = pieces;
        let after_id = tail
            .as_ref()
            .map(|t| format!("{id}{t}"))
            .unwrap_or_default();
        format!("{head}{seq}{middle}{after_id}")
    }

    #[test]
    fn a_notification_given_its_id_and_seq_by_the_database_is_the_event_encoded_with_them() {
        let title = format!("\"id\":{ID_PLACEHOLDER} \"seq\":{SEQ_PLACEHOLDER}");
        let staged = UnnumberedNotification::new(|seq, id| notification_with_id(seq, id, &title));
        let direct = notification_with_id(42, 1234, &title);
        assert_eq!(splice(&staged.json, 42, 1234), &*direct.json);
        assert_eq!(splice(&staged.notify, 42, 1234), notify_payload(&direct));
    }

    #[test]
    fn a_notification_too_large_to_notify_leaves_no_place_for_its_id_in_the_reference() {
        let title = "x".repeat(MAX_NOTIFY_BYTES);
        let staged = UnnumberedNotification::new(|seq, id| notification_with_id(seq, id, &title));
        assert!(staged.notify.2.is_none());
        let payload: serde_json::Value =
            serde_json::from_str(&splice(&staged.notify, 9, 5)).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({"topic": "user:7", "seq": 9, "ref": true})
        );
        assert_eq!(
            splice(&staged.json, 9, 5),
            &*notification_with_id(9, 5, &title).json
        );
    }
}
