//! What every session is given by the server that opens it: where stored events come from,
//! who may follow what, its settings and its counter. Sessions see nothing else of the server.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;

use super::broker::History;
use super::viewer::Viewer;
use crate::auth::caller::AccessError;
use crate::config::WsSettings;
use crate::dispatch::positions::Positions;
use crate::domain::topic::Topic;

/// The rules a session asks before it opens a subscription (`crate::access` implements them).
pub trait Authorize: Send + Sync + 'static {
    /// The viewer as the record has them now, or `None` if they were shut out since the
    /// socket opened (a user's token version bumped or the user deleted; a link revoked or
    /// ended).
    fn current(&self, viewer: &Viewer) -> BoxFuture<'static, Result<Option<Viewer>, AccessError>>;
    /// Whether `viewer` may follow `topic`, and what they then follow: the topic, or the part
    /// of it that is theirs (a driver's own board).
    fn authorize(
        &self,
        viewer: &Viewer,
        topic: Topic,
    ) -> BoxFuture<'static, Result<Topic, AccessError>>;
}

pub struct Services {
    /// Snapshots, catch-ups after `since`, and gaps.
    pub history: Arc<dyn History>,
    /// Who may follow which topic, and whether a session still stands.
    pub authorize: Arc<dyn Authorize>,
    pub settings: WsSettings,
    /// `events_delivered` of `/metrics`.
    pub delivered: Counter,
    /// How often a share link's socket asks whether its link still stands
    /// (`share.recheck_secs`): a link also ends some days after its order is final, which no
    /// announcement marks (revocations close sockets at once).
    pub link_recheck: std::time::Duration,
    /// Where drivers' position frames go.
    pub positions: Positions,
}
