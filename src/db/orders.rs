//! Queries on `orders` and `order_status_history`, including the one statement that changes a
//! status: order row, history row, the owner's notification and the NOTIFY commit together or
//! not at all.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use rust_decimal::Decimal;
use tokio_postgres::Row;

use super::named::{Named, Param};
use super::notifications::{Staged, STAGE_NOTIFICATION};
use super::{paged, DbError, Window};
use crate::domain::locale::Locale;
use crate::domain::new_order::NewOrder;
use crate::domain::notification;
use crate::domain::status::{check_transition, Mover, OrderStatus, TransitionError};
use crate::events::{self, StatusEntry};

const COLUMNS: &str = "o.id, o.order_number, o.user_id, o.items, o.description, \
    o.delivery_location, o.special_instructions, o.customer_phone, o.status, o.version, \
    o.estimated_time, o.deleted_at, o.created_at, o.updated_at, ou.locale AS owner_locale, \
    o.warehouse_id, o.total_amount, o.shipping_cost, o.final_amount, o.payment_status, \
    o.actual_ready_time, ou.name AS owner_name";

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: i64,
    pub order_number: String,
    pub user_id: i64,
    pub items: Option<String>,
    pub description: Option<String>,
    pub delivery_location: Option<String>,
    pub special_instructions: Option<String>,
    pub customer_phone: Option<String>,
    pub status: OrderStatus,
    pub version: i32,
    pub estimated_time: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub owner_locale: Locale,
    /// Set for orders bought from stock (checkouts); free-text orders have none.
    pub warehouse_id: Option<i64>,
    pub total_amount: Option<Decimal>,
    pub shipping_cost: Decimal,
    pub final_amount: Option<Decimal>,
    pub payment_status: String,
    /// When the order first became `ready`.
    pub actual_ready_time: Option<DateTime<Utc>>,
    pub owner_name: String,
}

impl OrderRow {
    pub(crate) fn from_row(row: &Row) -> Self {
        OrderRow {
            id: row.get("id"),
            order_number: row.get("order_number"),
            user_id: row.get("user_id"),
            items: row.get("items"),
            description: row.get("description"),
            delivery_location: row.get("delivery_location"),
            special_instructions: row.get("special_instructions"),
            customer_phone: row.get("customer_phone"),
            status: parse_status(row.get("status")),
            version: row.get("version"),
            estimated_time: row.get("estimated_time"),
            deleted_at: row.get("deleted_at"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            owner_locale: Locale::parse(row.get("owner_locale")).unwrap_or_default(),
            warehouse_id: row.get("warehouse_id"),
            total_amount: row.get("total_amount"),
            shipping_cost: row.get("shipping_cost"),
            final_amount: row.get("final_amount"),
            payment_status: row.get("payment_status"),
            actual_ready_time: row.get("actual_ready_time"),
            owner_name: row.get("owner_name"),
        }
    }

    /// The current state as the first message a new subscriber receives, with the notes and
    /// author of the change that brought it there (`latest`).
    fn snapshot(&self, latest: LatestChange) -> events::Encoded {
        StatusEntry {
            order_id: self.id,
            seq: i64::from(self.version),
            status: self.status,
            notes: latest.notes,
            updated_by: latest.updated_by,
            driver_name: latest.driver,
            at: self.updated_at,
            order_number: self.order_number.clone(),
            estimated_time: self.estimated_time,
            owner_locale: self.owner_locale,
        }
        .encode(events::ORDER_SNAPSHOT)
    }
}

/// The database CHECK constraint allows only canonical statuses.
fn parse_status(s: &str) -> OrderStatus {
    OrderStatus::parse(s).unwrap_or(OrderStatus::Pending)
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub id: i64,
    pub order_id: i64,
    pub seq: i32,
    pub from_status: Option<OrderStatus>,
    pub status: OrderStatus,
    pub notes: Option<String>,
    pub estimated_time: Option<DateTime<Utc>>,
    pub updated_by_id: Option<i64>,
    pub updated_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(pool: &Pool, user_id: i64, order: &NewOrder) -> Result<OrderRow, DbError> {
    let mut client = pool.get().await?;
    let number = allocate_numbers(&client, 1).await?.remove(0);
    let tx = client.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO orders (order_number, user_id, items, description, delivery_location,
                                 special_instructions, customer_phone)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .await?;
    let id: i64 = tx
        .query_one(
            &insert,
            &[
                &number,
                &user_id,
                &order.items,
                &order.description,
                &order.delivery_location,
                &order.special_instructions,
                &order.customer_phone,
            ],
        )
        .await?
        .get(0);
    insert_first_history(&tx, &[id], &[user_id]).await?;
    let created = select_in(&tx, id).await?;
    tx.commit().await?;
    Ok(created)
}

/// Hands out `n` order numbers `ORD-YYYYMMDD-NNNN` for today (UTC). Run outside the order's
/// transaction so the day's counter row is locked only briefly; a rolled-back order leaves a
/// gap in the numbers, which is harmless.
pub async fn allocate_numbers<C: GenericClient>(
    client: &C,
    n: usize,
) -> Result<Vec<String>, DbError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let counter = client
        .prepare_cached(
            "INSERT INTO order_number_counters (day, last)
             VALUES ((now() AT TIME ZONE 'UTC')::date, $1)
             ON CONFLICT (day) DO UPDATE SET last = order_number_counters.last + $1
             RETURNING day, last",
        )
        .await?;
    let count = n as i32;
    let row = client.query_one(&counter, &[&count]).await?;
    let day: NaiveDate = row.get("day");
    let last: i32 = row.get("last");
    Ok((last - count + 1..=last)
        .map(|k| format!("ORD-{}-{k:04}", day.format("%Y%m%d")))
        .collect())
}

/// The `pending` entry every order's history starts with (seq 1), for each order and the
/// user who placed it.
pub async fn insert_first_history<C: GenericClient>(
    client: &C,
    order_ids: &[i64],
    user_ids: &[i64],
) -> Result<(), DbError> {
    let history = client
        .prepare_cached(
            "INSERT INTO order_status_history (order_id, seq, status, notes, updated_by)
             SELECT o, 1, 'pending', 'Order created', u FROM unnest($1::bigint[], $2::bigint[]) AS h(o, u)",
        )
        .await?;
    client.execute(&history, &[&order_ids, &user_ids]).await?;
    Ok(())
}

/// Orders by id, hidden ones included, in no particular order.
pub async fn select_many<C: GenericClient>(
    client: &C,
    ids: &[i64],
) -> Result<Vec<OrderRow>, DbError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM orders o JOIN users ou ON ou.id = o.user_id WHERE o.id = ANY($1)"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&ids])
        .await?
        .iter()
        .map(OrderRow::from_row)
        .collect())
}

/// An order just written in this transaction.
pub async fn select_in<C: GenericClient>(client: &C, id: i64) -> Result<OrderRow, DbError> {
    Ok(select_one(client, id, true)
        .await?
        .expect("the order was written in this transaction"))
}

/// One order, hidden (deleted) ones only when `include_hidden`.
pub async fn find(pool: &Pool, id: i64, include_hidden: bool) -> Result<Option<OrderRow>, DbError> {
    let client = pool.get().await?;
    select_one(&client, id, include_hidden).await
}

async fn select_one<C: GenericClient>(
    client: &C,
    id: i64,
    include_hidden: bool,
) -> Result<Option<OrderRow>, DbError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM orders o JOIN users ou ON ou.id = o.user_id
             WHERE o.id = $1 AND ($2 OR o.deleted_at IS NULL)"
        ))
        .await?;
    let row = client.query_opt(&stmt, &[&id, &include_hidden]).await?;
    Ok(row.as_ref().map(OrderRow::from_row))
}

/// A page of visible orders, newest first: one owner's (`owner`) or everyone's (`None`).
pub async fn list(
    pool: &Pool,
    owner: Option<i64>,
    status: Option<OrderStatus>,
    window: Window,
) -> Result<(Vec<OrderRow>, i64), DbError> {
    let client = pool.get().await?;
    let status = status.map(OrderStatus::as_str);
    let filter = "o.deleted_at IS NULL AND ($1::bigint IS NULL OR o.user_id = $1)
                  AND ($2::text IS NULL OR o.status = $2)";
    let page = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM orders o JOIN users ou ON ou.id = o.user_id
             WHERE {filter} ORDER BY o.id DESC LIMIT $3 OFFSET $4"
        ))
        .await?;
    let count = client
        .prepare_cached(&format!("SELECT count(*) FROM orders o WHERE {filter}"))
        .await?;
    let (rows, total) = paged(&client, &page, &count, &[&owner, &status], window).await?;
    Ok((rows.iter().map(OrderRow::from_row).collect(), total))
}

/// Every status change of one order, oldest first.
pub async fn history(pool: &Pool, order_id: i64) -> Result<Vec<HistoryRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT h.id, h.order_id, h.seq, h.from_status, h.status, h.notes, h.estimated_time,
                    h.updated_by AS updated_by_id, u.name AS updated_by, h.created_at
             FROM order_status_history h LEFT JOIN users u ON u.id = h.updated_by
             WHERE h.order_id = $1 ORDER BY h.seq",
        )
        .await?;
    let rows = client.query(&stmt, &[&order_id]).await?;
    Ok(rows
        .iter()
        .map(|row| HistoryRow {
            id: row.get("id"),
            order_id: row.get("order_id"),
            seq: row.get("seq"),
            from_status: row.get::<_, Option<&str>>("from_status").map(parse_status),
            status: parse_status(row.get("status")),
            notes: row.get("notes"),
            estimated_time: row.get("estimated_time"),
            updated_by_id: row.get("updated_by_id"),
            updated_by: row.get("updated_by"),
            created_at: row.get("created_at"),
        })
        .collect())
}

/// What the latest history entry of an order says beyond its status, and who is bringing it.
#[derive(Default)]
struct LatestChange {
    notes: Option<String>,
    updated_by: Option<String>,
    driver: Option<String>,
}

/// The full name of the driver who last moved order `$1`, as a scalar subquery.
const LATEST_DRIVER: &str = "(SELECT d.name FROM order_status_history dh
      JOIN users d ON d.id = dh.updated_by AND d.role = 'driver'
      WHERE dh.order_id = $1 ORDER BY dh.seq DESC LIMIT 1)";

/// The first name of a change's author, if a driver made it.
fn driver_of(name: Option<String>, by_driver: Option<bool>) -> Option<String> {
    name.filter(|_| by_driver == Some(true))
        .map(|n| events::first_name(&n))
}

/// The first name of the driver who last moved the order, if one has: the one bringing it.
pub async fn latest_driver(pool: &Pool, order_id: i64) -> Result<Option<String>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {LATEST_DRIVER}"))
        .await?;
    let name: Option<String> = client.query_one(&stmt, &[&order_id]).await?.get(0);
    Ok(name.map(|n| events::first_name(&n)))
}

/// The order's current state for a new subscriber (`order.snapshot`), hidden orders included.
pub async fn snapshot(pool: &Pool, id: i64) -> Result<Option<events::Encoded>, DbError> {
    let Some(order) = find(pool, id, true).await? else {
        return Ok(None);
    };
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT h.notes, u.name, {LATEST_DRIVER} FROM order_status_history h
             LEFT JOIN users u ON u.id = h.updated_by
             WHERE h.order_id = $1 AND h.seq = $2"
        ))
        .await?;
    let latest = client
        .query_opt(&stmt, &[&id, &order.version])
        .await?
        .map(|row| LatestChange {
            notes: row.get(0),
            updated_by: row.get(1),
            driver: row
                .get::<_, Option<String>>(2)
                .map(|n| events::first_name(&n)),
        })
        .unwrap_or_default();
    Ok(Some(order.snapshot(latest)))
}

/// Stored status events of one order after `after_seq`, oldest first, as subscribers get them.
pub async fn events_after(
    pool: &Pool,
    order_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<events::Encoded>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT h.seq, h.status, h.notes, h.estimated_time, h.created_at, u.name AS updated_by,
                    u.role = 'driver' AS by_driver, o.order_number, ou.locale AS owner_locale
             FROM order_status_history h
             JOIN orders o ON o.id = h.order_id
             JOIN users ou ON ou.id = o.user_id
             LEFT JOIN users u ON u.id = h.updated_by
             WHERE h.order_id = $1 AND h.seq > $2 ORDER BY h.seq LIMIT $3",
        )
        .await?;
    let after = i32::try_from(after_seq).unwrap_or(i32::MAX);
    let rows = client.query(&stmt, &[&order_id, &after, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            StatusEntry {
                order_id,
                seq: i64::from(row.get::<_, i32>("seq")),
                status: parse_status(row.get("status")),
                notes: row.get("notes"),
                updated_by: row.get("updated_by"),
                driver_name: driver_of(row.get("updated_by"), row.get("by_driver")),
                at: row.get("created_at"),
                order_number: row.get("order_number"),
                estimated_time: row.get("estimated_time"),
                owner_locale: Locale::parse(row.get("owner_locale")).unwrap_or_default(),
            }
            .encode(events::ORDER_STATUS)
        })
        .collect())
}

/// A requested status change, already parsed and with the mover identified.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub order_id: i64,
    pub to: OrderStatus,
    pub notes: Option<String>,
    pub estimated_time: Option<DateTime<Utc>>,
    pub by_user: i64,
    pub by_name: String,
    /// A driver's change names them to the customer as the one bringing the order.
    pub by_driver: bool,
    pub mover: Mover,
    /// For a customer: the order must be theirs, else it does not exist for them.
    pub required_owner: Option<i64>,
    /// `DELETE /orders/{id}`: cancel and hide from lists in the same step.
    pub hide: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The order changed under every attempt (changes made on other nodes at the same time).
    #[error("the order is being changed by someone else, try again")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for ChangeError {
    fn from(e: tokio_postgres::Error) -> Self {
        ChangeError::Db(e.into())
    }
}

/// How many times a change is tried against a fresh read when the order keeps changing under
/// it (on another node) before the caller is told to try again.
const ATTEMPTS: usize = 5;

/// Applies a status change. `known` is the order as this node last saw it (the order actor keeps
/// it), so the usual change is one statement; the statement applies only if the order is still
/// at that version, else the order is read again and the change checked against what it is now.
pub async fn change_status(
    pool: &Pool,
    change: &StatusChange,
    known: Option<OrderRow>,
) -> Result<OrderRow, ChangeError> {
    let client = pool.get().await.map_err(DbError::from)?;
    let mut current = match known {
        Some(order) => order,
        None => visible(&client, change.order_id).await?,
    };
    for _ in 0..ATTEMPTS {
        if let Some(changed) = change_from(&client, change, &current).await? {
            return Ok(changed);
        }
        current = visible(&client, change.order_id).await?;
    }
    Err(ChangeError::Busy)
}

async fn visible<C: GenericClient>(client: &C, id: i64) -> Result<OrderRow, ChangeError> {
    select_one(client, id, false)
        .await?
        .ok_or(ChangeError::NotFound)
}

/// The statement of [`change_from`], built once: it runs on every status change. Public so the
/// load generator can hand pgbench this very statement as the database's baseline.
/// Cancelled is final, so the stock goes back at most once; `stock_returned` records it.
pub static STATUS_CHANGE: LazyLock<Named> = LazyLock::new(|| {
    Named::new(&format!(
        "WITH o AS (
             UPDATE orders SET status = :to, version = version + 1,
                    estimated_time = COALESCE(:estimated_time, estimated_time), updated_at = :at,
                    deleted_at = CASE WHEN :hide THEN :at ELSE deleted_at END,
                    actual_ready_time = CASE WHEN :to = 'ready'
                                             THEN COALESCE(actual_ready_time, :at)
                                             ELSE actual_ready_time END,
                    stock_returned = stock_returned
                                     OR (:to = 'cancelled' AND warehouse_id IS NOT NULL)
             WHERE id = :order_id AND version = :version AND deleted_at IS NULL
               AND EXISTS (SELECT 1 FROM users u
                           WHERE u.id = orders.user_id AND u.locale = :owner_locale)
             RETURNING *
         ),
         h AS (
             INSERT INTO order_status_history
                 (order_id, seq, from_status, status, notes, estimated_time, updated_by, created_at)
             SELECT id, version, :from, status, :notes, :estimated_time, :by_user, updated_at
             FROM o
         ),
         owner AS (SELECT user_id FROM o),
         unshared AS (
             UPDATE share_links SET revoked_at = :at
             WHERE :hide AND order_id = (SELECT id FROM o) AND revoked_at IS NULL
         ),
         {STAGE_NOTIFICATION},
         r AS (
             INSERT INTO warehouse_stocks (warehouse_id, product_id, quantity)
             SELECT o.warehouse_id, i.product_id, sum(i.quantity)::int
             FROM o JOIN order_items i ON i.order_id = o.id
             WHERE o.status = 'cancelled' AND o.warehouse_id IS NOT NULL
             GROUP BY o.warehouse_id, i.product_id
             ON CONFLICT (warehouse_id, product_id)
             DO UPDATE SET quantity = warehouse_stocks.quantity + EXCLUDED.quantity,
                           updated_at = now()
         )
         SELECT {COLUMNS}, pg_notify(:notify_channel, :payload) FROM o JOIN users ou ON ou.id = o.user_id"
    ))
});

/// Checks the change against `current` and writes it in one statement (its own transaction):
/// the order row, the history row with the next seq, the owner's notification and its staged
/// event, the stock a cancellation returns, and the NOTIFY that reaches subscribers at commit.
/// The events and the notification's text are written beforehand from `current`, so the
/// statement applies only while the order is at `current`'s version and its owner still reads
/// `current`'s language; `None` if it did not apply.
async fn change_from<C: GenericClient>(
    client: &C,
    change: &StatusChange,
    current: &OrderRow,
) -> Result<Option<OrderRow>, ChangeError> {
    if current.deleted_at.is_some()
        || change
            .required_owner
            .is_some_and(|required| required != current.user_id)
    {
        return Err(ChangeError::NotFound);
    }
    let has_news = change.notes.is_some() || change.estimated_time.is_some();
    check_transition(current.status, change.to, change.mover, has_news)?;

    let stmt = client.prepare_cached(STATUS_CHANGE.sql()).await?;
    let at = super::now();
    let event = StatusEntry {
        order_id: current.id,
        seq: i64::from(current.version) + 1,
        status: change.to,
        notes: change.notes.clone(),
        updated_by: Some(change.by_name.clone()),
        driver_name: change
            .by_driver
            .then(|| events::first_name(&change.by_name)),
        at,
        order_number: current.order_number.clone(),
        estimated_time: change.estimated_time,
        owner_locale: current.owner_locale,
    }
    .encode(events::ORDER_STATUS);
    let note = Staged::new(
        current.user_id,
        &notification::order_status_changed(
            current.id,
            &current.order_number,
            change.to,
            current.owner_locale,
        ),
        at,
    );
    let payload = events::notify_payload(&event);
    let to = change.to.as_str();
    let (locale, from) = (current.owner_locale.as_str(), current.status.as_str());
    let own: [Param; 12] = [
        ("order_id", &change.order_id),
        ("version", &current.version),
        ("owner_locale", &locale),
        ("to", &to),
        ("estimated_time", &change.estimated_time),
        ("hide", &change.hide),
        ("at", &at),
        ("from", &from),
        ("notes", &change.notes),
        ("by_user", &change.by_user),
        ("notify_channel", &events::CHANNEL),
        ("payload", &payload),
    ];
    let mut params = note.params().to_vec();
    params.extend_from_slice(&own);
    let row = client
        .query_opt(&stmt, &STATUS_CHANGE.bind(&params)?)
        .await?;
    Ok(row.as_ref().map(OrderRow::from_row))
}

/// The lines of an order bought from stock.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderItemRow {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    #[serde(with = "rust_decimal::serde::float")]
    pub unit_price: Decimal,
    pub quantity: i32,
    #[serde(with = "rust_decimal::serde::float")]
    pub total_price: Decimal,
}

pub async fn items(pool: &Pool, order_id: i64) -> Result<Vec<OrderItemRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT id, product_id, product_name, unit_price, quantity, total_price
             FROM order_items WHERE order_id = $1 ORDER BY id",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&order_id])
        .await?
        .iter()
        .map(|r| OrderItemRow {
            id: r.get(0),
            product_id: r.get(1),
            product_name: r.get(2),
            unit_price: r.get(3),
            quantity: r.get(4),
            total_price: r.get(5),
        })
        .collect())
}
