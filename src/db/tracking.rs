//! The reads behind Tracking API v1 (seed 003): active orders, order history with feedback,
//! the latest tracking entry, payment status, and the admin statistics and analytics, which
//! are computed in SQL with aggregates over indexed columns, never by loading rows.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use std::sync::LazyLock;

use super::orders::{OrderRow, COLUMNS, JOINS};
use super::{is_unique_violation, paged, DbError, Window};
use crate::domain::feedback::Feedback;
use crate::domain::status::OrderStatus;

/// A half-open span of whole UTC days: `from` inclusive, `until` exclusive (the day after the end).
#[derive(Debug, Clone, Copy, Default)]
pub struct DayRange {
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl DayRange {
    /// `start_date` and `end_date` as the seed gives them (YYYY-MM-DD), both days included.
    pub fn new(start: Option<NaiveDate>, end: Option<NaiveDate>) -> Self {
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        DayRange {
            from: start.and_then(midnight),
            until: end.and_then(|d| d.succ_opt()).and_then(midnight),
        }
    }
}

/// The newest history entry of an order, as seed 003's `latest_tracking` / `latest_update`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LatestUpdate {
    pub status: OrderStatus,
    pub notes: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// An order with what the v1 lists show beside it.
#[derive(Debug, Clone)]
pub struct OrderSummary {
    pub order: OrderRow,
    pub total_items: i64,
    pub latest: Option<LatestUpdate>,
    pub feedback: Option<(i16, Option<String>)>,
}

static SUMMARY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS},
        (SELECT COALESCE(sum(i.quantity), 0)::bigint FROM order_items i WHERE i.order_id = o.id) AS total_items,
        lh.status AS latest_status, lh.notes AS latest_notes, lu.name AS latest_by, lh.created_at AS latest_at,
        f.rating AS feedback_rating, f.comment AS feedback_comment
    FROM orders o
    {JOINS}
    LEFT JOIN LATERAL (SELECT h.status, h.notes, h.updated_by, h.created_at FROM order_status_history h
                       WHERE h.order_id = o.id ORDER BY h.seq DESC LIMIT 1) lh ON true
    LEFT JOIN users lu ON lu.id = lh.updated_by
    LEFT JOIN order_feedback f ON f.order_id = o.id"
    )
});

fn summary(row: &Row) -> OrderSummary {
    let latest = row
        .get::<_, Option<DateTime<Utc>>>("latest_at")
        .map(|at| LatestUpdate {
            status: OrderStatus::parse(row.get("latest_status")).unwrap_or(OrderStatus::Pending),
            notes: row.get("latest_notes"),
            updated_by: row.get("latest_by"),
            updated_at: at,
        });
    OrderSummary {
        order: OrderRow::from_row(row),
        total_items: row.get("total_items"),
        latest,
        feedback: row
            .get::<_, Option<i16>>("feedback_rating")
            .map(|r| (r, row.get("feedback_comment"))),
    }
}

/// Orders still in progress (pending, confirmed, preparing, ready), newest first: one owner's
/// or everyone's, optionally in one status.
pub async fn active(
    pool: &Pool,
    owner: Option<i64>,
    status: Option<OrderStatus>,
    window: Window,
) -> Result<(Vec<OrderSummary>, i64), DbError> {
    let client = pool.get().await?;
    let filter = "o.deleted_at IS NULL AND o.status IN ('pending', 'confirmed', 'preparing', 'ready')
                  AND ($1::bigint IS NULL OR o.user_id = $1) AND ($2::text IS NULL OR o.status = $2)";
    let page = client
        .prepare_cached(&format!(
            "{} WHERE {filter} ORDER BY o.id DESC LIMIT $3 OFFSET $4",
            *SUMMARY
        ))
        .await?;
    let count = client
        .prepare_cached(&format!("SELECT count(*) FROM orders o WHERE {filter}"))
        .await?;
    let status = status.map(OrderStatus::as_str);
    let (rows, total) = paged(&client, &page, &count, &[&owner, &status], window).await?;
    Ok((rows.iter().map(summary).collect(), total))
}

/// One user's orders, newest first, filtered by status and creation day.
pub async fn history(
    pool: &Pool,
    owner: i64,
    status: Option<OrderStatus>,
    range: DayRange,
    window: Window,
) -> Result<(Vec<OrderSummary>, i64), DbError> {
    let client = pool.get().await?;
    let filter = "o.deleted_at IS NULL AND o.user_id = $1 AND ($2::text IS NULL OR o.status = $2)
                  AND ($3::timestamptz IS NULL OR o.created_at >= $3)
                  AND ($4::timestamptz IS NULL OR o.created_at < $4)";
    let page = client
        .prepare_cached(&format!(
            "{} WHERE {filter} ORDER BY o.created_at DESC, o.id DESC LIMIT $5 OFFSET $6",
            *SUMMARY
        ))
        .await?;
    let count = client
        .prepare_cached(&format!("SELECT count(*) FROM orders o WHERE {filter}"))
        .await?;
    let status = status.map(OrderStatus::as_str);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&owner, &status, &range.from, &range.until];
    let (rows, total) = paged(&client, &page, &count, &params, window).await?;
    Ok((rows.iter().map(summary).collect(), total))
}

/// One order with its item count, latest entry and feedback.
pub async fn summary_of(pool: &Pool, order_id: i64) -> Result<Option<OrderSummary>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("{} WHERE o.id = $1", *SUMMARY))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&order_id])
        .await?
        .as_ref()
        .map(summary))
}

pub async fn set_payment_status(pool: &Pool, order_id: i64, status: &str) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("UPDATE orders SET payment_status = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL")
        .await?;
    Ok(client.execute(&stmt, &[&order_id, &status]).await? == 1)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedbackRow {
    pub id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub rating: i16,
    pub comment: Option<String>,
    pub food_quality_rating: Option<i16>,
    pub service_rating: Option<i16>,
    pub delivery_rating: Option<i16>,
    pub is_anonymous: bool,
    #[serde(with = "rust_decimal::serde::float")]
    pub overall_rating: Decimal,
    pub is_positive: bool,
    pub created_at: DateTime<Utc>,
}

/// Stores the order's one feedback; `None` if it already has one.
pub async fn insert_feedback(
    pool: &Pool,
    order_id: i64,
    user_id: i64,
    f: &Feedback,
) -> Result<Option<FeedbackRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "INSERT INTO order_feedback (order_id, user_id, rating, comment, food_quality_rating,
                 service_rating, delivery_rating, is_anonymous, overall_rating, is_positive)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING id, created_at",
        )
        .await?;
    let overall = f.overall_rating();
    let result = client
        .query_one(
            &stmt,
            &[
                &order_id,
                &user_id,
                &f.rating,
                &f.comment,
                &f.food_quality_rating,
                &f.service_rating,
                &f.delivery_rating,
                &f.is_anonymous,
                &overall,
                &f.is_positive(),
            ],
        )
        .await;
    match result {
        Ok(row) => Ok(Some(FeedbackRow {
            id: row.get(0),
            order_id,
            user_id,
            rating: f.rating,
            comment: f.comment.clone(),
            food_quality_rating: f.food_quality_rating,
            service_rating: f.service_rating,
            delivery_rating: f.delivery_rating,
            is_anonymous: f.is_anonymous,
            overall_rating: overall,
            is_positive: f.is_positive(),
            created_at: row.get(1),
        })),
        Err(e) if is_unique_violation(&e, "order_feedback_order_id_key") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn rounded(value: Option<f64>) -> Option<f64> {
    value.map(|v| (v * 100.0).round() / 100.0)
}

/// `GET /admin/orders/tracking-stats`: over orders created in the range (and history entries
/// written in it).
pub async fn stats(pool: &Pool, range: DayRange) -> Result<Value, DbError> {
    let client = pool.get().await?;
    let records = client
        .prepare_cached(
            "SELECT count(*) FROM order_status_history
             WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)",
        )
        .await?;
    let distribution = client
        .prepare_cached(
            "SELECT status, count(*) FROM orders
             WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)
             GROUP BY status ORDER BY count(*) DESC, status",
        )
        .await?;
    let processing = client
        .prepare_cached(
            "SELECT avg(extract(epoch FROM h.created_at - o.created_at) / 60)::float8
             FROM orders o JOIN order_status_history h ON h.order_id = o.id AND h.status = 'delivered'
             WHERE ($1::timestamptz IS NULL OR o.created_at >= $1) AND ($2::timestamptz IS NULL OR o.created_at < $2)",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&range.from, &range.until];
    let total_records: i64 = client.query_one(&records, &params).await?.get(0);
    let counts: Vec<(String, i64)> = client
        .query(&distribution, &params)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let orders: i64 = counts.iter().map(|(_, c)| c).sum();
    let share = |count: i64| {
        if orders == 0 {
            0.0
        } else {
            rounded(Some(count as f64 * 100.0 / orders as f64)).unwrap_or(0.0)
        }
    };
    let of = |status: &str| {
        counts
            .iter()
            .find(|(s, _)| s == status)
            .map(|(_, c)| *c)
            .unwrap_or(0)
    };
    let average: Option<f64> = client.query_one(&processing, &params).await?.get(0);
    Ok(serde_json::json!({
        "total_tracking_records": total_records,
        "total_orders": orders,
        "status_distribution": counts.iter().map(|(status, count)| serde_json::json!({
            "status": status, "count": count, "percentage": share(*count)
        })).collect::<Vec<_>>(),
        "average_processing_time": rounded(average),
        "completion_rate": share(of("delivered")),
        "cancellation_rate": share(of("cancelled")),
    }))
}

/// `GET /admin/orders/tracking-analytics`: over history entries and feedback written in the
/// range, and orders created in it.
pub async fn analytics(pool: &Pool, range: DayRange) -> Result<Value, DbError> {
    let client = pool.get().await?;
    let in_range = |column: &str| {
        format!("($1::timestamptz IS NULL OR {column} >= $1) AND ($2::timestamptz IS NULL OR {column} < $2)")
    };
    let times = client
        .prepare_cached(&format!(
            "SELECT avg(m)::float8, min(m)::float8, max(m)::float8 FROM (
                 SELECT extract(epoch FROM h.created_at - o.created_at) / 60 AS m
                 FROM orders o JOIN order_status_history h ON h.order_id = o.id AND h.status = 'delivered'
                 WHERE {}) t",
            in_range("o.created_at")
        ))
        .await?;
    let transitions = client
        .prepare_cached(&format!(
            "SELECT from_status || '_to_' || status, count(*) FROM order_status_history
             WHERE from_status IS NOT NULL AND from_status <> status AND {}
             GROUP BY 1 ORDER BY 1",
            in_range("created_at")
        ))
        .await?;
    let hours = client
        .prepare_cached(&format!(
            "SELECT extract(hour FROM created_at AT TIME ZONE 'UTC')::int, count(*) FROM order_status_history
             WHERE {} GROUP BY 1 ORDER BY 1",
            in_range("created_at")
        ))
        .await?;
    let staff = client
        .prepare_cached(&format!(
            "SELECT u.id, u.name, count(*) FROM order_status_history h JOIN users u ON u.id = h.updated_by
             WHERE h.from_status IS NOT NULL AND u.role IN ('admin', 'driver') AND {}
             GROUP BY u.id, u.name ORDER BY count(*) DESC, u.id",
            in_range("h.created_at")
        ))
        .await?;
    let feedback = client
        .prepare_cached(&format!(
            "SELECT count(*), avg(rating)::float8,
                    count(*) FILTER (WHERE rating >= 4), count(*) FILTER (WHERE rating <= 2),
                    count(*) FILTER (WHERE rating = 1), count(*) FILTER (WHERE rating = 2),
                    count(*) FILTER (WHERE rating = 3), count(*) FILTER (WHERE rating = 4),
                    count(*) FILTER (WHERE rating = 5)
             FROM order_feedback WHERE {}",
            in_range("created_at")
        ))
        .await?;
    let per_day = client
        .prepare_cached(&format!(
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM orders
             WHERE {} GROUP BY 1 ORDER BY 1",
            in_range("created_at")
        ))
        .await?;
    // How long orders stayed in each status: from a status step to the order's next one.
    let stages = client
        .prepare_cached(&format!(
            "SELECT status, avg(extract(epoch FROM next_at - created_at) / 60)::float8 FROM (
                 SELECT status, created_at,
                        lead(created_at) OVER (PARTITION BY order_id ORDER BY seq) AS next_at
                 FROM order_status_history WHERE change = 'status' AND {}) t
             WHERE next_at IS NOT NULL GROUP BY status",
            in_range("created_at")
        ))
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&range.from, &range.until];
    let (times, transitions, hours, staff, feedback, per_day, stages) = futures_util::try_join!(
        client.query_one(&times, &params),
        client.query(&transitions, &params),
        client.query(&hours, &params),
        client.query(&staff, &params),
        client.query_one(&feedback, &params),
        client.query(&per_day, &params),
        client.query(&stages, &params),
    )?;
    let stage_minutes: Map<String, Value> = stages
        .iter()
        .map(|r| (r.get::<_, String>(0), Value::from(rounded(r.get(1)))))
        .collect();
    let transitions: Map<String, Value> = transitions
        .iter()
        .map(|r| (r.get::<_, String>(0), Value::from(r.get::<_, i64>(1))))
        .collect();
    let distribution: Map<String, Value> = (1..=5)
        .rev()
        .map(|star| {
            (
                star.to_string(),
                Value::from(feedback.get::<_, i64>(3 + star)),
            )
        })
        .collect();
    Ok(serde_json::json!({
        "processing_times": {
            "average_time": rounded(times.get(0)),
            "min_time": rounded(times.get(1)),
            "max_time": rounded(times.get(2)),
        },
        "status_transitions": transitions,
        "peak_processing_hours": hours.iter().map(|r| serde_json::json!({
            "hour": r.get::<_, i32>(0), "count": r.get::<_, i64>(1)
        })).collect::<Vec<_>>(),
        "staff_performance": staff.iter().map(|r| serde_json::json!({
            "user_id": r.get::<_, i64>(0), "user_name": r.get::<_, String>(1), "update_count": r.get::<_, i64>(2)
        })).collect::<Vec<_>>(),
        "feedback_analytics": {
            "total_feedbacks": feedback.get::<_, i64>(0),
            "average_rating": rounded(feedback.get(1)),
            "positive_feedbacks": feedback.get::<_, i64>(2),
            "negative_feedbacks": feedback.get::<_, i64>(3),
            "rating_distribution": distribution,
        },
        "orders_per_day": per_day.iter().map(|r| serde_json::json!({
            "day": r.get::<_, String>(0), "count": r.get::<_, i64>(1)
        })).collect::<Vec<_>>(),
        "average_stage_minutes": stage_minutes,
    }))
}
