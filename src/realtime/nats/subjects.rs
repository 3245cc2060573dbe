//! The NATS subjects of every topic and announcement, under `broker.subject_prefix`:
//!
//! - `<prefix>.order.<id>`, `<prefix>.user.<id>`, `<prefix>.board`: a topic's committed events
//!   (a topic's name with `:` read as `.`, so a topic added later has its subject too);
//! - `<prefix>.order.<id>.position`: an order's drivers' positions (the board hears them all);
//! - `<prefix>.revocations`: revoked sessions and links, which every process hears;
//! - `<prefix>.echo.<process>`: this process's own, to learn when its subscriptions are in place.

use crate::domain::topic::Topic;
use crate::realtime::announcement::{self, Channel};

#[derive(Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_string(),
        }
    }

    /// The committed events of `topic` (a source topic: views are derived by each process).
    pub fn events(&self, topic: Topic) -> String {
        format!(
            "{}.{}",
            self.prefix,
            topic.source().to_string().replace(':', ".")
        )
    }

    pub fn positions(&self, order_id: i64) -> String {
        format!("{}.order.{order_id}.position", self.prefix)
    }

    /// Every order's positions.
    pub fn all_positions(&self) -> String {
        format!("{}.order.*.position", self.prefix)
    }

    pub fn revocations(&self) -> String {
        format!("{}.revocations", self.prefix)
    }

    pub fn echo(&self, process: &str) -> String {
        format!("{}.echo.{process}", self.prefix)
    }

    /// What a process subscribes to while its sockets follow `topic`, and what each carries.
    pub fn followed(&self, topic: Topic) -> Vec<(String, Channel)> {
        let source = topic.source();
        let mut subjects = vec![(self.events(source), Channel::Events)];
        match source {
            Topic::Order(id) => subjects.push((self.positions(id), Channel::Positions)),
            Topic::Board => subjects.push((self.all_positions(), Channel::Positions)),
            Topic::User(_) | Topic::Track(_) | Topic::DriverBoard(_) => {}
        }
        subjects
    }

    /// Where the relay publishes an announcement; `None` if it cannot be read.
    pub fn of_announcement(&self, channel: Channel, payload: &str) -> Option<String> {
        match (channel, announcement::topic_of(channel, payload)) {
            (Channel::Revocations, _) => Some(self.revocations()),
            (Channel::Events, Some(topic)) => Some(self.events(topic)),
            (Channel::Positions, Some(Topic::Order(id))) => Some(self.positions(id)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_topic_and_announcement_has_its_subject() {
        let s = Subjects::new("ot");
        assert_eq!(s.events(Topic::Order(5)), "ot.order.5");
        assert_eq!(s.events(Topic::Track(5)), "ot.order.5");
        assert_eq!(s.events(Topic::User(7)), "ot.user.7");
        assert_eq!(s.events(Topic::DriverBoard(3)), "ot.board");
        let names = |t| -> Vec<String> { s.followed(t).into_iter().map(|(n, _)| n).collect() };
        assert_eq!(
            names(Topic::Track(5)),
            ["ot.order.5", "ot.order.5.position"]
        );
        assert_eq!(names(Topic::Board), ["ot.board", "ot.order.*.position"]);
        assert_eq!(names(Topic::User(7)), ["ot.user.7"]);

        let event = r#"{"type":"order.status","topic":"order:5","seq":3}"#;
        let position = r#"{"type":"order.location","topic":"order:5","lat":1}"#;
        let on = |c, p| s.of_announcement(c, p);
        assert_eq!(on(Channel::Events, event).as_deref(), Some("ot.order.5"));
        assert_eq!(
            on(Channel::Positions, position).as_deref(),
            Some("ot.order.5.position")
        );
        assert_eq!(
            on(Channel::Revocations, "7:2").as_deref(),
            Some("ot.revocations")
        );
        assert_eq!(on(Channel::Events, "{}"), None);
        let board_position = r#"{"topic":"board","lat":1}"#;
        assert_eq!(on(Channel::Positions, board_position), None);
    }
}
