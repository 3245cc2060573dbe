//! Event stream names: `order:{id}`, `track:{id}`, `user:{id}` and `board`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Status changes of one order; seq is the order's version.
    Order(i64),
    /// The same changes with the private fields left out (who made them, their notes): what a
    /// share link's viewers follow. Its seq is the order's.
    Track(i64),
    /// Notifications for one user.
    User(i64),
    /// Every order created, changed, assigned or cancelled, for staff; seq is the board's own.
    Board,
    /// The board as a driver who sees only their own orders follows it: the same seq, other
    /// drivers' orders reduced to their seq. Clients name it `board` too; only the server
    /// tells the two apart.
    DriverBoard(i64),
}

impl Topic {
    pub fn parse(s: &str) -> Option<Self> {
        if s == "board" {
            return Some(Topic::Board);
        }
        let (kind, id) = s.split_once(':')?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id: i64 = id.parse().ok()?;
        match kind {
            "order" => Some(Topic::Order(id)),
            "track" => Some(Topic::Track(id)),
            "user" => Some(Topic::User(id)),
            _ => None,
        }
    }
}

impl Topic {
    /// The topic whose events this one is made from: an order's for its public view, the
    /// board's for a driver's own board, itself otherwise. A broker that carries topics
    /// separately carries sources only; each process derives the views.
    pub fn source(self) -> Topic {
        match self {
            Topic::Track(id) => Topic::Order(id),
            Topic::DriverBoard(_) => Topic::Board,
            Topic::Order(_) | Topic::User(_) | Topic::Board => self,
        }
    }

    /// The public view of this topic's events, for topics that have one.
    pub fn public_view(self) -> Option<Topic> {
        match self {
            Topic::Order(id) => Some(Topic::Track(id)),
            Topic::Track(_) | Topic::User(_) | Topic::Board | Topic::DriverBoard(_) => None,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Order(id) => write!(f, "order:{id}"),
            Topic::Track(id) => write!(f, "track:{id}"),
            Topic::User(id) => write!(f, "user:{id}"),
            Topic::Board | Topic::DriverBoard(_) => f.write_str("board"),
        }
    }
}

impl serde::Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_come_from_their_source() {
        assert_eq!(Topic::Track(3).source(), Topic::Order(3));
        assert_eq!(Topic::DriverBoard(4).source(), Topic::Board);
        for own in [Topic::Order(3), Topic::User(3), Topic::Board] {
            assert_eq!(own.source(), own);
        }
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(Topic::parse("order:12"), Some(Topic::Order(12)));
        assert_eq!(Topic::parse("user:7"), Some(Topic::User(7)));
        assert_eq!(Topic::Order(12).to_string(), "order:12");
        assert_eq!(Topic::parse("board"), Some(Topic::Board));
        assert_eq!(Topic::DriverBoard(4).to_string(), "board");
        for bad in [
            "order:",
            "order:-1",
            "order:1x",
            "cart:1",
            "order",
            "order:99999999999999999999",
            "board:1",
            "Board",
        ] {
            assert_eq!(Topic::parse(bad), None, "{bad}");
        }
    }
}
