//! The staff board's stream (`board`): its stored events and its snapshot. The events are
//! numbered and written at commit by the database itself (`sql/V9__dispatch.sql`), for every
//! order created, changed, assigned or cancelled, whichever statement did it.

use deadpool_postgres::Pool;

use super::DbError;
use crate::domain::topic::Topic;
use crate::events::{DriverView, Encoded};

/// Stored board events after `after_seq`, oldest first; for a driver's own board
/// (`Topic::DriverBoard`), other drivers' orders reduced to their seq.
pub async fn events_after(
    pool: &Pool,
    topic: Topic,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Encoded>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT seq, event FROM board_events WHERE seq > $1 ORDER BY seq LIMIT $2")
        .await?;
    let rows = client.query(&stmt, &[&after_seq, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| Encoded::stored(Topic::Board, row.get("seq"), row.get("event")))
        .filter_map(|event| for_follower(event, topic))
        .collect())
}

/// The event as a follower of `topic` receives it.
fn for_follower(event: Encoded, topic: Topic) -> Option<Encoded> {
    match topic {
        Topic::DriverBoard(driver) => DriverView::of(&event)?.for_driver(driver),
        _ => Some(event),
    }
}

/// `board.snapshot`: every unfinished order (a driver's own board: theirs) and the seq of the
/// last event they reflect. One statement, so the orders and the seq are of one moment.
pub async fn snapshot(pool: &Pool, topic: Topic) -> Result<Option<Encoded>, DbError> {
    let driver = match topic {
        Topic::DriverBoard(driver) => Some(driver),
        _ => None,
    };
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT c.last, json_build_object(
                 'type', 'board.snapshot', 'topic', 'board', 'seq', c.last,
                 'orders', COALESCE((SELECT json_agg(board_card(o.id) ORDER BY o.id) FROM orders o
                                     WHERE o.status NOT IN ('delivered', 'cancelled')
                                       AND o.deleted_at IS NULL
                                       AND ($1::bigint IS NULL OR o.driver_id = $1)),
                                    '[]'::json))::text
             FROM board_counter c",
        )
        .await?;
    let row = client.query_one(&stmt, &[&driver]).await?;
    Ok(Some(Encoded::stored(topic, row.get(0), row.get(1))))
}
