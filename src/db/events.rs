//! Stored events by topic: what subscribers start from and catch up from (`PgHistory`).

use deadpool_postgres::Pool;

use super::{board, notifications, orders, DbError};
use crate::domain::topic::Topic;
use crate::events::Encoded;

/// Up to `limit` stored events of `topic` with seq greater than `after_seq`, in seq order.
pub async fn after(
    pool: &Pool,
    topic: Topic,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Encoded>, DbError> {
    match topic {
        Topic::Order(id) => orders::events_after(pool, id, after_seq, limit).await,
        Topic::Track(id) => Ok(orders::events_after(pool, id, after_seq, limit)
            .await?
            .iter()
            .filter_map(Encoded::public)
            .collect()),
        Topic::User(id) => notifications::events_after(pool, id, after_seq, limit).await,
        Topic::Board | Topic::DriverBoard(_) => {
            board::events_after(pool, topic, after_seq, limit).await
        }
    }
}

/// The current state of a topic, for a subscriber that gave no `since`.
pub async fn snapshot(pool: &Pool, topic: Topic) -> Result<Option<Encoded>, DbError> {
    match topic {
        Topic::Order(id) => orders::snapshot(pool, id).await,
        Topic::Track(id) => Ok(orders::snapshot(pool, id)
            .await?
            .as_ref()
            .and_then(Encoded::public)),
        Topic::User(id) => notifications::snapshot(pool, id).await,
        Topic::Board | Topic::DriverBoard(_) => board::snapshot(pool, topic).await,
    }
}

/// The one stored event with this seq, for NOTIFYs that carried only a reference.
pub async fn load(pool: &Pool, topic: Topic, seq: i64) -> Result<Option<Encoded>, DbError> {
    Ok(after(pool, topic, seq - 1, 1)
        .await?
        .into_iter()
        .find(|e| e.seq == seq))
}
