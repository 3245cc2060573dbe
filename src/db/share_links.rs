//! Share links of orders: created with a token the caller keeps, found again only by that
//! token's SHA-256 (PostgreSQL's `sha256()`). Revoking one removes it; deleting its order
//! sets `revoked_at` on all of them (`db::orders::STATUS_CHANGE`), at most the per-order cap.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use tokio_postgres::Row;

use super::DbError;

/// A link is live while it is not revoked, not past its own end, its order is not deleted, and
/// the order has not been final for `$2` days (every statement that includes this takes
/// `share.ttl_days` as `$2`).
const LIVE: &str = "s.revoked_at IS NULL
    AND (s.expires_at IS NULL OR s.expires_at > now())
    AND EXISTS (SELECT 1 FROM orders o WHERE o.id = s.order_id AND o.deleted_at IS NULL)
    AND NOT EXISTS (
        SELECT 1 FROM order_status_history h
        WHERE h.order_id = s.order_id AND h.status IN ('delivered', 'cancelled')
          AND h.created_at <= now() - make_interval(days => $2::int))";

/// One link as its order's owner sees it; never its token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareLinkRow {
    pub id: i64,
    /// The end the creator chose, if any.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// False once the link no longer opens (its end passed, or its order's days after final).
    pub active: bool,
}

impl ShareLinkRow {
    fn from_row(row: &Row) -> Self {
        ShareLinkRow {
            id: row.get("id"),
            expires_at: row.get("expires_at"),
            created_at: row.get("created_at"),
            active: row.get("active"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("An order may have at most {0} share links; delete one first")]
    TooMany(i64),
    #[error("This order's tracking has ended")]
    Ended,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for ShareError {
    fn from(e: tokio_postgres::Error) -> Self {
        ShareError::Db(e.into())
    }
}

/// Stores a link to `order_id` for `token`, unless the order already has `max` unrevoked ones
/// (ended ones count until revoked, which removes them, so rows cannot pile up) or its days
/// after final are over, or it was deleted.
/// The order's row is locked meanwhile, so racing requests cannot pass the limit together.
pub async fn create(
    pool: &Pool,
    order_id: i64,
    created_by: i64,
    token: &str,
    expires_at: Option<DateTime<Utc>>,
    max: i64,
    ttl_days: u32,
) -> Result<ShareLinkRow, ShareError> {
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await?;
    let ttl = ttl_days as i32;
    // Staff still see a deleted order; its tracking ended with it.
    let deleted = tx
        .query_opt(
            "SELECT deleted_at IS NOT NULL FROM orders WHERE id = $1 FOR UPDATE",
            &[&order_id],
        )
        .await?
        .is_none_or(|row| row.get::<_, bool>(0));
    if deleted {
        return Err(ShareError::Ended);
    }
    let state = tx
        .query_one(
            "SELECT (SELECT count(*) FROM share_links s
                     WHERE s.order_id = $1 AND s.revoked_at IS NULL),
                    EXISTS (SELECT 1 FROM order_status_history h
                            WHERE h.order_id = $1 AND h.status IN ('delivered', 'cancelled')
                              AND h.created_at <= now() - make_interval(days => $2::int))",
            &[&order_id, &ttl],
        )
        .await?;
    if state.get::<_, bool>(1) {
        return Err(ShareError::Ended);
    }
    if state.get::<_, i64>(0) >= max {
        return Err(ShareError::TooMany(max));
    }
    let row = tx
        .query_one(
            "INSERT INTO share_links (order_id, token_hash, created_by, expires_at)
             VALUES ($1, sha256(convert_to($2, 'UTF8')), $3, $4)
             RETURNING id, expires_at, created_at, true AS active",
            &[&order_id, &token, &created_by, &expires_at],
        )
        .await?;
    tx.commit().await?;
    Ok(ShareLinkRow::from_row(&row))
}

/// The order's links that are not revoked, newest first.
pub async fn list(pool: &Pool, order_id: i64, ttl_days: u32) -> Result<Vec<ShareLinkRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT s.id, s.expires_at, s.created_at, ({LIVE}) AS active FROM share_links s
             WHERE s.order_id = $1 AND s.revoked_at IS NULL ORDER BY s.id DESC"
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&order_id, &(ttl_days as i32)])
        .await?;
    Ok(rows.iter().map(ShareLinkRow::from_row).collect())
}

/// Revokes one link of `order_id` by removing it (nothing about a revoked link is worth keeping,
/// and so revocations cannot pile up rows); false if there is no such unrevoked link.
pub async fn revoke(pool: &Pool, order_id: i64, link_id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "DELETE FROM share_links
             WHERE id = $1 AND order_id = $2 AND revoked_at IS NULL",
        )
        .await?;
    Ok(client.execute(&stmt, &[&link_id, &order_id]).await? == 1)
}

/// A live link, found by its token.
#[derive(Debug)]
pub struct LiveLink {
    pub id: i64,
    pub order_id: i64,
    /// The end its creator chose, if any.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The live link a token opens. One indexed lookup whatever the token, so an unknown, revoked
/// or expired token costs what any other does.
pub async fn find_live(
    pool: &Pool,
    token: &str,
    ttl_days: u32,
) -> Result<Option<LiveLink>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT s.id, s.order_id, s.expires_at FROM share_links s
             WHERE s.token_hash = sha256(convert_to($1, 'UTF8')) AND {LIVE}"
        ))
        .await?;
    let row = client
        .query_opt(&stmt, &[&token, &(ttl_days as i32)])
        .await?;
    Ok(row.map(|r| LiveLink {
        id: r.get("id"),
        order_id: r.get("order_id"),
        expires_at: r.get("expires_at"),
    }))
}

/// Whether the link still opens (a viewer's socket asks now and then).
pub async fn is_live(pool: &Pool, link_id: i64, ttl_days: u32) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT EXISTS (SELECT 1 FROM share_links s WHERE s.id = $1 AND {LIVE})"
        ))
        .await?;
    let row = client
        .query_one(&stmt, &[&link_id, &(ttl_days as i32)])
        .await?;
    Ok(row.get(0))
}
