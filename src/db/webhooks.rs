//! Webhook endpoints, their queues of deliveries and the log of attempts (`sql/V10__webhooks.sql`).
//!
//! The rows are written by triggers in the transaction of the change they report; this module
//! manages endpoints, hands due deliveries to senders on any process (`claim`), and records
//! what came of each attempt (`finish`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;
use tokio_postgres::Row;

use super::{paged, DbError, Window};
use crate::domain::webhook::{EndpointChange, NewEndpoint};

/// An endpoint as admins see it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// `admin` (turned off by a PATCH) or `failing` (turned off for failing too long).
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub pending_deliveries: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str = "w.id, w.url, w.description, w.events, w.enabled, \
     w.disabled_reason, w.failing_since, \
     CASE WHEN w.previous_secret_until > now() THEN w.previous_secret_until END AS previous_secret_until, \
     (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = w.id AND d.state = 'pending') \
         AS pending_deliveries, \
     w.created_at, w.updated_at";

impl EndpointRow {
    fn from_row(r: &Row) -> Self {
        EndpointRow {
            id: r.get("id"),
            url: r.get("url"),
            description: r.get("description"),
            events: r.get("events"),
            enabled: r.get("enabled"),
            disabled_reason: r.get("disabled_reason"),
            failing_since: r.get("failing_since"),
            previous_secret_until: r.get("previous_secret_until"),
            pending_deliveries: r.get("pending_deliveries"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        }
    }
}

/// Adds an endpoint, unless there are `max` already (`None`).
pub async fn create(
    pool: &Pool,
    new: &NewEndpoint,
    sealed_secret: &[u8],
    created_by: i64,
    max: i64,
) -> Result<Option<EndpointRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "WITH w AS (
                 INSERT INTO webhook_endpoints (url, description, events, secret, created_by)
                 SELECT $1, $2, $3, $4, $5
                 WHERE (SELECT count(*) FROM webhook_endpoints) < $6
                 RETURNING *
             )
             SELECT {ENDPOINT_COLUMNS} FROM w"
        ))
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &new.url.as_str(),
                &new.description,
                &new.events,
                &sealed_secret,
                &created_by,
                &max,
            ],
        )
        .await?;
    Ok(row.as_ref().map(EndpointRow::from_row))
}

pub async fn list(pool: &Pool) -> Result<Vec<EndpointRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w ORDER BY w.id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(EndpointRow::from_row)
        .collect())
}

pub async fn find(pool: &Pool, id: i64) -> Result<Option<EndpointRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.id = $1"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(EndpointRow::from_row))
}

/// Applies a PATCH. A new secret (`rotated`) moves the current one to `previous_secret`, which
/// keeps signing for `grace`; while an earlier rotation's grace runs, no other is made (the
/// secret receivers may still hold would stop signing at once), and nothing is changed:
/// `None` then, as for an unknown endpoint. Enabling clears the failure record, so an endpoint
/// turned back on gets a fresh allowance before it can be disabled again.
pub async fn update(
    pool: &Pool,
    id: i64,
    change: &EndpointChange,
    rotated: Option<&[u8]>,
    grace: Duration,
) -> Result<Option<EndpointRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "WITH w AS (
                 UPDATE webhook_endpoints SET
                     url = COALESCE($2, url),
                     events = COALESCE($3, events),
                     description = COALESCE($4, description),
                     enabled = COALESCE($5, enabled),
                     disabled_reason = CASE WHEN $5 IS NULL THEN disabled_reason
                                            WHEN $5 THEN NULL ELSE 'admin' END,
                     failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END,
                     previous_secret = CASE WHEN $6::bytea IS NULL THEN previous_secret
                                            ELSE secret END,
                     previous_secret_until = CASE WHEN $6::bytea IS NULL THEN previous_secret_until
                                                  ELSE now() + make_interval(secs => $7) END,
                     secret = COALESCE($6, secret),
                     updated_at = now()
                 WHERE id = $1
                   AND ($6::bytea IS NULL OR previous_secret_until IS NULL
                        OR previous_secret_until <= now())
                 RETURNING *
             )
             SELECT {ENDPOINT_COLUMNS} FROM w"
        ))
        .await?;
    let grace_secs = grace.as_secs_f64();
    let row = client
        .query_opt(
            &stmt,
            &[
                &id,
                &change.url.as_ref().map(|u| u.as_str()),
                &change.events,
                &change.description,
                &change.enabled,
                &rotated,
                &grace_secs,
            ],
        )
        .await?;
    Ok(row.as_ref().map(EndpointRow::from_row))
}

pub async fn delete(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("DELETE FROM webhook_endpoints WHERE id = $1")
        .await?;
    Ok(client.execute(&stmt, &[&id]).await? == 1)
}

/// One try at sending a delivery, as the log shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AttemptRow {
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A delivery of one event to one endpoint, with every attempt so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryRow {
    pub id: i64,
    /// The event's UUID, as bodies and headers carry it.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(pattern = "^(pending|delivered|failed)$")]
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub log: Vec<AttemptRow>,
}

const DELIVERY_COLUMNS: &str = "d.id, e.event_id::text AS event_id, e.type AS event_type, \
     d.state, d.attempts, \
     CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at, \
     d.created_at, d.finished_at, \
     COALESCE((SELECT json_agg(json_build_object('attempt', a.attempt, \
                   'status_code', a.status_code, 'duration_ms', a.duration_ms, \
                   'error', a.error, 'at', a.created_at) ORDER BY a.attempt) \
               FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS log";

impl DeliveryRow {
    fn from_row(r: &Row) -> Self {
        let log: serde_json::Value = r.get("log");
        DeliveryRow {
            id: r.get("id"),
            event_id: r.get("event_id"),
            event_type: r.get("event_type"),
            state: r.get("state"),
            attempts: r.get("attempts"),
            next_attempt_at: r.get("next_attempt_at"),
            created_at: r.get("created_at"),
            finished_at: r.get("finished_at"),
            // Built by `json_agg` from the attempts' own columns, so it always reads back.
            log: serde_json::from_value(log).unwrap_or_default(),
        }
    }
}

/// An endpoint's deliveries, newest first, and how many there are.
pub async fn deliveries(
    pool: &Pool,
    endpoint_id: i64,
    window: Window,
) -> Result<(Vec<DeliveryRow>, i64), DbError> {
    let client = pool.get().await?;
    let page = client
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS}
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
             WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2 OFFSET $3"
        ))
        .await?;
    let count = client
        .prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1")
        .await?;
    let (rows, total) = paged(&client, &page, &count, &[&endpoint_id], window).await?;
    Ok((rows.iter().map(DeliveryRow::from_row).collect(), total))
}

#[derive(Debug, thiserror::Error)]
pub enum RedeliverError {
    #[error("no such delivery")]
    NotFound,
    /// The event waits in the endpoint's queue already (this delivery or a redelivery of it).
    #[error("the event is still queued")]
    StillPending,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for RedeliverError {
    fn from(e: tokio_postgres::Error) -> Self {
        RedeliverError::Db(e.into())
    }
}

/// Queues the event of a finished delivery again, as a new delivery at the back of the
/// endpoint's queue, with the same event id (receivers that saw it already can tell); once,
/// while it waits there.
pub async fn redeliver(
    pool: &Pool,
    endpoint_id: i64,
    delivery_id: i64,
) -> Result<DeliveryRow, RedeliverError> {
    let client = pool.get().await.map_err(DbError::from)?;
    let stmt = client
        .prepare_cached(&format!(
            "WITH old AS (
                 SELECT event_id, state FROM webhook_deliveries
                 WHERE id = $2 AND endpoint_id = $1
             ),
             d AS (
                 INSERT INTO webhook_deliveries (endpoint_id, event_id)
                 SELECT $1, old.event_id FROM old
                 WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries q
                                   WHERE q.endpoint_id = $1 AND q.event_id = old.event_id
                                     AND q.state = 'pending')
                 RETURNING *
             )
             SELECT {DELIVERY_COLUMNS}
             FROM d JOIN webhook_events e ON e.id = d.event_id"
        ))
        .await?;
    match client
        .query_opt(&stmt, &[&endpoint_id, &delivery_id])
        .await?
    {
        Some(row) => Ok(DeliveryRow::from_row(&row)),
        None => {
            let state = client
                .query_opt(
                    "SELECT state FROM webhook_deliveries WHERE id = $2 AND endpoint_id = $1",
                    &[&endpoint_id, &delivery_id],
                )
                .await?;
            Err(match state {
                Some(_) => RedeliverError::StillPending,
                None => RedeliverError::NotFound,
            })
        }
    }
}

/// A delivery a sender holds, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub lease: String,
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
    pub endpoint_id: i64,
    pub url: String,
    pub secret: Vec<u8>,
    /// Still signing during a rotation's grace period.
    pub previous_secret: Option<Vec<u8>>,
    pub event: StoredEvent,
}

/// The event a delivery reports.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    /// The event's UUID, as bodies and headers carry it.
    pub event_id: String,
    pub kind: String,
    pub topic: String,
    pub seq: i64,
    /// Built at the first attempt and kept, so every attempt sends the same bytes.
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Takes up to `limit` due deliveries, each the oldest pending one of its (enabled) endpoint and
/// not held by anyone, and holds them for `lease`. Rows another process is taking right now are
/// skipped (`SKIP LOCKED`) and re-checked once locked, so no two senders hold one delivery and
/// an endpoint never has two deliveries in flight: its later events wait behind its oldest.
pub async fn claim(pool: &Pool, limit: i64, lease: Duration) -> Result<Vec<Claimed>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "WITH heads AS (
                 SELECT (SELECT d.id FROM webhook_deliveries d
                         WHERE d.endpoint_id = w.id AND d.state = 'pending'
                         ORDER BY d.id LIMIT 1) AS id
                 FROM webhook_endpoints w WHERE w.enabled
             ),
             due AS (
                 SELECT d.id FROM webhook_deliveries d JOIN heads ON heads.id = d.id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                   AND (d.leased_until IS NULL OR d.leased_until < now())
                 ORDER BY d.next_attempt_at
                 LIMIT $1
                 FOR UPDATE OF d SKIP LOCKED
             )
             UPDATE webhook_deliveries d
             SET lease = gen_random_uuid(), leased_until = now() + make_interval(secs => $2),
                 attempts = d.attempts + 1
             FROM due, webhook_endpoints w, webhook_events e
             WHERE d.id = due.id AND w.id = d.endpoint_id AND e.id = d.event_id
             RETURNING d.id, d.lease::text AS lease, d.attempts, d.created_at, w.id AS endpoint_id,
                       w.url, w.secret,
                       CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END
                           AS previous_secret,
                       e.id AS event_row, e.event_id::text AS event_id, e.type, e.topic, e.seq,
                       e.body, e.created_at AS event_created_at",
        )
        .await?;
    let lease_secs = lease.as_secs_f64();
    Ok(client
        .query(&stmt, &[&limit, &lease_secs])
        .await?
        .iter()
        .map(|r| Claimed {
            delivery_id: r.get("id"),
            lease: r.get("lease"),
            attempt: r.get("attempts"),
            created_at: r.get("created_at"),
            endpoint_id: r.get("endpoint_id"),
            url: r.get("url"),
            secret: r.get("secret"),
            previous_secret: r.get("previous_secret"),
            event: StoredEvent {
                id: r.get("event_row"),
                event_id: r.get("event_id"),
                kind: r.get("type"),
                topic: r.get("topic"),
                seq: r.get("seq"),
                body: r.get("body"),
                created_at: r.get("event_created_at"),
            },
        })
        .collect())
}

/// Keeps the first body built for an event; a sender on another process that built one at the
/// same moment gets that one back, so all attempts send the same bytes.
pub async fn keep_body(pool: &Pool, event_row: i64, body: &str) -> Result<String, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE webhook_events SET body = COALESCE(body, $2) WHERE id = $1 RETURNING body",
        )
        .await?;
    Ok(client.query_one(&stmt, &[&event_row, &body]).await?.get(0))
}

/// What came of one attempt.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    /// When to try again; `None`: delivered, or given up.
    pub retry_at: Option<DateTime<Utc>>,
    pub delivered: bool,
}

/// Records an attempt, if the sender still holds the delivery, and the endpoint's health. On
/// failure an endpoint failing since before `disable_before` is disabled; `Ok(true)` tells the
/// caller that this attempt disabled it (so admins are told once).
pub async fn finish(
    pool: &Pool,
    claimed: &Claimed,
    result: &AttemptResult,
    disable_before: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let held = tx
        .prepare_cached(
            "UPDATE webhook_deliveries SET
                 state = CASE WHEN $3 THEN 'delivered'
                              WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                 next_attempt_at = COALESCE($4, next_attempt_at),
                 finished_at = CASE WHEN $4::timestamptz IS NULL THEN now() END,
                 lease = NULL, leased_until = NULL
             WHERE id = $1 AND lease::text = $2 AND state = 'pending'",
        )
        .await?;
    let updated = tx
        .execute(
            &held,
            &[
                &claimed.delivery_id,
                &claimed.lease,
                &result.delivered,
                &result.retry_at,
            ],
        )
        .await?;
    if updated == 0 {
        // The lease ran out and someone else has it now: their attempt is the one that counts.
        tx.rollback().await?;
        return Ok(false);
    }
    let log = tx
        .prepare_cached(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, error)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    tx.execute(
        &log,
        &[
            &claimed.delivery_id,
            &claimed.attempt,
            &result.status_code,
            &result.duration_ms,
            &result.error,
        ],
    )
    .await?;
    let was_enabled = tx
        .prepare_cached("SELECT enabled FROM webhook_endpoints WHERE id = $1 FOR UPDATE")
        .await?;
    let was_enabled: Option<bool> = tx
        .query_opt(&was_enabled, &[&claimed.endpoint_id])
        .await?
        .map(|r| r.get(0));
    let health = tx
        .prepare_cached(
            "UPDATE webhook_endpoints SET
                 failing_since = CASE WHEN $2 THEN NULL ELSE COALESCE(failing_since, now()) END,
                 enabled = enabled AND ($2 OR COALESCE(failing_since, now()) >= $3),
                 disabled_reason = CASE
                     WHEN enabled AND NOT $2 AND COALESCE(failing_since, now()) < $3
                     THEN 'failing' ELSE disabled_reason END
             WHERE id = $1
             RETURNING enabled",
        )
        .await?;
    let enabled_now: Option<bool> = tx
        .query_opt(
            &health,
            &[&claimed.endpoint_id, &result.delivered, &disable_before],
        )
        .await?
        .map(|r| r.get(0));
    let disabled_now = was_enabled == Some(true) && enabled_now == Some(false);
    tx.commit().await?;
    Ok(disabled_now)
}

/// What `checkout.completed` reports: the order a checkout placed, its stock and its lines.
pub async fn checkout_summary(
    pool: &Pool,
    order_id: i64,
) -> Result<Option<serde_json::Value>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT json_build_object(
                 'order_id', o.id::text, 'order_number', o.order_number, 'user_id', o.user_id,
                 'warehouse_id', o.warehouse_id, 'total_amount', o.total_amount::float8,
                 'items', COALESCE((SELECT json_agg(json_build_object(
                              'product_id', i.product_id, 'product_name', i.product_name,
                              'unit_price', i.unit_price::float8, 'quantity', i.quantity,
                              'total_price', i.total_price::float8) ORDER BY i.id)
                          FROM order_items i WHERE i.order_id = o.id), '[]'),
                 'created_at', board_time(o.created_at))
             FROM orders o WHERE o.id = $1",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&order_id])
        .await?
        .map(|r| r.get(0)))
}
