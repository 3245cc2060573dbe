//! Queries on `orders` and `order_status_history`, including the one statement that changes a
//! status: order row, history row, the owner's notification and the NOTIFY commit together or
//! not at all.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use rust_decimal::Decimal;
use subtle::ConstantTimeEq;
use tokio_postgres::Row;

use super::named::{Named, Param};
use super::notifications::{Staged, STAGE_NOTIFICATION};
use super::{paged, DbError, Window};
use crate::domain::locale::Locale;
use crate::domain::new_order::NewOrder;
use crate::domain::notification;
use crate::domain::position::{Point, Position};
use crate::domain::status::{check_transition, Mover, OrderStatus, TransitionError};
use crate::events::{self, Change, DriverRef, StatusEntry};

/// What `OrderRow::from_row` reads, from `orders o` (or a CTE named `o`) joined by [`JOINS`].
pub(crate) const COLUMNS: &str = "o.id, o.order_number, o.user_id, o.items, o.description, \
    o.delivery_location, o.special_instructions, o.customer_phone, o.status, o.version, \
    o.estimated_time, o.deleted_at, o.created_at, o.updated_at, ou.locale AS owner_locale, \
    o.warehouse_id, o.total_amount, o.shipping_cost, o.final_amount, o.payment_status, \
    o.actual_ready_time, ou.name AS owner_name, o.driver_id, d.name AS driver_name, \
    o.delivery_lat, o.delivery_lng, o.delivery_code, o.code_failures, o.code_retry_at, o.location";
/// The owner and the driver, as [`COLUMNS`] names them.
pub(crate) const JOINS: &str =
    "JOIN users ou ON ou.id = o.user_id LEFT JOIN users d ON d.id = o.driver_id";

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
    /// Who is bringing it (`PUT /orders/{id}/driver`, or a driver's claim).
    pub driver: Option<DriverRef>,
    pub destination: Option<Point>,
    /// Only ever shown to the owner; the driver asks for it at the door.
    pub delivery_code: String,
    /// Wrong codes in a row, and when the next try is allowed.
    pub code_failures: i32,
    pub code_retry_at: Option<DateTime<Utc>>,
    /// The last position written while shipped (`null` otherwise).
    pub location: Option<serde_json::Value>,
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
            driver: row.get::<_, Option<i64>>("driver_id").map(|id| DriverRef {
                id,
                name: row.get("driver_name"),
            }),
            destination: match (row.get("delivery_lat"), row.get("delivery_lng")) {
                (Some(lat), Some(lng)) => Some(Point { lat, lng }),
                _ => None,
            },
            delivery_code: row.get("delivery_code"),
            code_failures: row.get("code_failures"),
            code_retry_at: row.get("code_retry_at"),
            location: row.get("location"),
        }
    }

    /// The last known position, while the order is shipped (positions are shown only then).
    pub fn live_location(&self) -> Option<&serde_json::Value> {
        self.location
            .as_ref()
            .filter(|_| self.status == OrderStatus::Shipped)
    }

    /// The current state as the first message a new subscriber receives, with the notes and
    /// author of the change that brought it there (`latest`).
    fn snapshot(&self, latest: LatestChange) -> events::Encoded {
        StatusEntry {
            order_id: self.id,
            seq: i64::from(self.version),
            status: self.status,
            change: latest.change,
            notes: latest.notes,
            updated_by: latest.updated_by,
            driver: self.driver.clone(),
            driver_name: latest.driver,
            at: self.updated_at,
            order_number: self.order_number.clone(),
            estimated_time: self.estimated_time,
            owner_locale: self.owner_locale,
        }
        .encode_snapshot(self.live_location().cloned())
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
    /// An assignment leaves the status as it was.
    pub change: Change,
    /// The driver after this entry.
    pub driver: Option<DriverRef>,
    /// The order was marked delivered with its delivery code.
    pub delivery_code_used: bool,
}

pub async fn insert(pool: &Pool, user_id: i64, order: &NewOrder) -> Result<OrderRow, DbError> {
    let mut client = pool.get().await?;
    let number = allocate_numbers(&client, 1).await?.remove(0);
    let tx = client.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO orders (order_number, user_id, items, description, delivery_location,
                                 special_instructions, customer_phone, delivery_lat, delivery_lng)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
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
                &order.destination.map(|p| p.lat),
                &order.destination.map(|p| p.lng),
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
            "SELECT {COLUMNS} FROM orders o {JOINS} WHERE o.id = ANY($1)"
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
            "SELECT {COLUMNS} FROM orders o {JOINS}
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
            "SELECT {COLUMNS} FROM orders o {JOINS}
             WHERE {filter} ORDER BY o.id DESC LIMIT $3 OFFSET $4"
        ))
        .await?;
    let count = client
        .prepare_cached(&format!("SELECT count(*) FROM orders o WHERE {filter}"))
        .await?;
    let (rows, total) = paged(&client, &page, &count, &[&owner, &status], window).await?;
    Ok((rows.iter().map(OrderRow::from_row).collect(), total))
}

/// A driver's assigned orders that are not delivered or cancelled, oldest first.
pub async fn assigned_to(pool: &Pool, driver_id: i64) -> Result<Vec<OrderRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM orders o {JOINS}
             WHERE o.driver_id = $1 AND o.deleted_at IS NULL
               AND o.status NOT IN ('delivered', 'cancelled')
             ORDER BY o.id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&driver_id])
        .await?
        .iter()
        .map(OrderRow::from_row)
        .collect())
}

/// The order's trail: its positions as written (one per `dispatch.location_persist_secs`),
/// oldest first.
pub async fn trail(pool: &Pool, order_id: i64) -> Result<Vec<Position>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT lat, lng, accuracy, heading, speed, at FROM order_locations
             WHERE order_id = $1 ORDER BY at",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&order_id])
        .await?
        .iter()
        .map(|r| Position {
            lat: r.get(0),
            lng: r.get(1),
            accuracy: r.get(2),
            heading: r.get(3),
            speed: r.get(4),
            at: r.get(5),
        })
        .collect())
}

/// Every status change of one order, oldest first.
pub async fn history(pool: &Pool, order_id: i64) -> Result<Vec<HistoryRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT h.id, h.order_id, h.seq, h.from_status, h.status, h.notes, h.estimated_time,
                    h.updated_by AS updated_by_id, u.name AS updated_by, h.created_at, h.change,
                    h.driver_id, dr.name AS driver, h.delivery_code_used
             FROM order_status_history h LEFT JOIN users u ON u.id = h.updated_by
             LEFT JOIN users dr ON dr.id = h.driver_id
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
            change: Change::parse(row.get("change")),
            driver: row.get::<_, Option<i64>>("driver_id").map(|id| DriverRef {
                id,
                name: row.get("driver"),
            }),
            delivery_code_used: row.get("delivery_code_used"),
        })
        .collect())
}

/// What the latest history entry of an order says beyond its status, and who is bringing it.
struct LatestChange {
    change: Change,
    notes: Option<String>,
    updated_by: Option<String>,
    driver: Option<String>,
}

impl Default for LatestChange {
    fn default() -> Self {
        LatestChange {
            change: Change::Status,
            notes: None,
            updated_by: None,
            driver: None,
        }
    }
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
            "SELECT h.notes, u.name, {LATEST_DRIVER}, h.change FROM order_status_history h
             LEFT JOIN users u ON u.id = h.updated_by
             WHERE h.order_id = $1 AND h.seq = $2"
        ))
        .await?;
    let latest = client
        .query_opt(&stmt, &[&id, &order.version])
        .await?
        .map(|row| LatestChange {
            change: Change::parse(row.get(3)),
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
            "SELECT h.seq, h.status, h.change, h.notes, h.estimated_time, h.created_at,
                    u.name AS updated_by, u.role = 'driver' AS by_driver, o.order_number,
                    ou.locale AS owner_locale, h.driver_id, dr.name AS driver
             FROM order_status_history h
             JOIN orders o ON o.id = h.order_id
             JOIN users ou ON ou.id = o.user_id
             LEFT JOIN users u ON u.id = h.updated_by
             LEFT JOIN users dr ON dr.id = h.driver_id
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
                change: Change::parse(row.get("change")),
                notes: row.get("notes"),
                updated_by: row.get("updated_by"),
                driver: row.get::<_, Option<i64>>("driver_id").map(|id| DriverRef {
                    id,
                    name: row.get("driver"),
                }),
                driver_name: driver_of(row.get("updated_by"), row.get("by_driver")),
                at: row.get("created_at"),
                order_number: row.get("order_number"),
                estimated_time: row.get("estimated_time"),
                owner_locale: Locale::parse(row.get("owner_locale")).unwrap_or_default(),
            }
            .encode()
        })
        .collect())
}

/// A requested change of an order, already parsed and with the mover identified.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub order_id: i64,
    pub action: Action,
    pub notes: Option<String>,
    pub estimated_time: Option<DateTime<Utc>>,
    pub by_user: i64,
    pub by_name: String,
    /// A driver's change names them to the customer as the one bringing the order.
    pub by_driver: bool,
    pub mover: Mover,
    /// For a customer: the order must be theirs, else it does not exist for them.
    pub required_owner: Option<i64>,
    /// For a driver under `dispatch.drivers_assigned_only`: the order must be assigned to them.
    pub required_driver: Option<i64>,
    /// `DELETE /orders/{id}`: cancel and hide from lists in the same step.
    pub hide: bool,
}

/// What a change does to the order.
#[derive(Debug, Clone)]
pub enum Action {
    /// A move along the status machine (or an update in the same status). `code`: the delivery
    /// code given, checked when `code_required` and the move is to `delivered`.
    Move {
        to: OrderStatus,
        code: Option<String>,
        code_required: bool,
    },
    /// An admin assigns a driver, or unassigns with `None`.
    Assign(Option<DriverRef>),
    /// A driver takes an unassigned order.
    Claim(DriverRef),
}

impl Action {
    pub fn to(to: OrderStatus) -> Self {
        Action::Move {
            to,
            code: None,
            code_required: false,
        }
    }
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
    #[error("this order is assigned to another driver")]
    NotAssigned,
    #[error("this order is already assigned to another driver")]
    Taken,
    #[error("the delivery code is required to mark this order delivered")]
    CodeRequired,
    #[error("the delivery code is wrong")]
    WrongCode,
    /// Too many wrong codes: the next try is allowed after the wait.
    #[error("too many wrong delivery codes")]
    CodeLocked(std::time::Duration),
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

/// Applies a change. `known` is the order as this node last saw it (the order actor keeps it),
/// so the usual change is one statement; the statement applies only if the order is still at
/// that version, else the order is read again and the change checked against what it is now.
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
/// Positions are kept only while shipped, and by the driver who sent them (a reassignment drops it).
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
                                     OR (:to = 'cancelled' AND warehouse_id IS NOT NULL),
                    driver_id = :driver_id,
                    code_failures = CASE WHEN :code_used THEN 0 ELSE code_failures END,
                    location = CASE WHEN :to = 'shipped' AND :change = 'status' THEN location END
             WHERE id = :order_id AND version = :version AND deleted_at IS NULL
               AND EXISTS (SELECT 1 FROM users u
                           WHERE u.id = orders.user_id AND u.locale = :owner_locale)
             RETURNING *
         ),
         h AS (
             INSERT INTO order_status_history
                 (order_id, seq, from_status, status, notes, estimated_time, updated_by, created_at,
                  change, driver_id, delivery_code_used)
             SELECT id, version, :from, status, :notes, :estimated_time, :by_user, updated_at,
                    :change, driver_id, :code_used
             FROM o
         ),
         owner AS (SELECT user_id FROM o WHERE :notify_owner),
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
         SELECT {COLUMNS}, announce(:notify_channel, :payload) FROM o {JOINS}"
    ))
});

/// What a change comes to against the order as it is: the status after it, what the history
/// records, the driver after it, whether the delivery code was used, and the owner's
/// notification (none for an unassignment). `Ok(None)`: nothing to change (a driver claiming
/// or being given the order they already have).
struct Outcome {
    to: OrderStatus,
    change: Change,
    driver: Option<DriverRef>,
    code_used: bool,
    notification: Option<notification::NewNotification>,
}

/// Checks the change against `current`: who may make it, the status machine, the delivery code.
/// A wrong code is counted on the order before the refusal.
async fn decide<C: GenericClient>(
    client: &C,
    change: &StatusChange,
    current: &OrderRow,
) -> Result<Option<Outcome>, ChangeError> {
    let reassign = |driver: Option<DriverRef>| -> Result<Option<Outcome>, ChangeError> {
        if current.status.is_final() {
            return Err(TransitionError::Final(current.status).into());
        }
        if driver == current.driver {
            return Ok(None);
        }
        let notification = driver.as_ref().map(|d| {
            notification::driver_assigned(
                current.id,
                &current.order_number,
                &events::first_name(&d.name),
                current.owner_locale,
            )
        });
        Ok(Some(Outcome {
            to: current.status,
            change: Change::Assigned,
            driver,
            code_used: false,
            notification,
        }))
    };
    match &change.action {
        Action::Assign(driver) => reassign(driver.clone()),
        Action::Claim(driver) => match &current.driver {
            Some(held) if held.id != driver.id => Err(ChangeError::Taken),
            _ => reassign(Some(driver.clone())),
        },
        Action::Move {
            to,
            code,
            code_required,
        } => {
            if change
                .required_driver
                .is_some_and(|me| current.driver.as_ref().map(|d| d.id) != Some(me))
            {
                return Err(ChangeError::NotAssigned);
            }
            let has_news = change.notes.is_some() || change.estimated_time.is_some();
            check_transition(current.status, *to, change.mover, has_news)?;
            let code_used = *to == OrderStatus::Delivered && *code_required;
            // Only the assigned driver may try codes on an assigned order: another driver's
            // wrong tries would lock the delivery out for the one at the door.
            let someone_elses = current
                .driver
                .as_ref()
                .is_some_and(|d| d.id != change.by_user);
            if code_used && change.by_driver && someone_elses {
                return Err(ChangeError::NotAssigned);
            }
            if code_used {
                check_code(client, current, code.as_deref()).await?;
            }
            Ok(Some(Outcome {
                to: *to,
                change: Change::Status,
                driver: current.driver.clone(),
                code_used,
                notification: Some(notification::order_status_changed(
                    current.id,
                    &current.order_number,
                    *to,
                    current.owner_locale,
                )),
            }))
        }
    }
}

/// Free wrong delivery codes per order before each try must wait.
pub const FREE_CODE_TRIES: i32 = 5;
/// The first wait after the free tries; each wrong code after it doubles the wait.
const FIRST_CODE_WAIT_SECS: i64 = 30;
/// The longest wait between tries.
const MAX_CODE_WAIT_SECS: i64 = 3600;

/// Refuses a missing code, a try during the wait, and a wrong code (counting it, and setting
/// the wait once the free tries are spent).
async fn check_code<C: GenericClient>(
    client: &C,
    current: &OrderRow,
    given: Option<&str>,
) -> Result<(), ChangeError> {
    let now = super::now();
    if let Some(until) = current.code_retry_at.filter(|t| *t > now) {
        return Err(ChangeError::CodeLocked(
            (until - now).to_std().unwrap_or_default(),
        ));
    }
    let Some(given) = given else {
        return Err(ChangeError::CodeRequired);
    };
    // The code is four digits; a constant-time compare keeps timing from telling digits apart.
    if bool::from(given.as_bytes().ct_eq(current.delivery_code.as_bytes())) {
        return Ok(());
    }
    let stmt = client
        .prepare_cached(
            "UPDATE orders SET code_failures = code_failures + 1,
                    code_retry_at = CASE WHEN code_failures + 1 >= $2
                        THEN $3 + make_interval(secs => least($4 * 2 ^ (code_failures + 1 - $2), $5))
                        END
             WHERE id = $1 AND (code_retry_at IS NULL OR code_retry_at <= $3)
             RETURNING code_retry_at",
        )
        .await?;
    let first = FIRST_CODE_WAIT_SECS as f64;
    let max = MAX_CODE_WAIT_SECS as f64;
    let row = client
        .query_opt(&stmt, &[&current.id, &FREE_CODE_TRIES, &now, &first, &max])
        .await?;
    match row.map(|r| r.get::<_, Option<DateTime<Utc>>>(0)) {
        // Another try set the wait first.
        None => Err(ChangeError::CodeLocked(std::time::Duration::from_secs(
            FIRST_CODE_WAIT_SECS as u64,
        ))),
        Some(_) => Err(ChangeError::WrongCode),
    }
}

/// Checks the change against `current` and writes it in one statement (its own transaction):
/// the order row, the history row with the next seq, the owner's notification and its staged
/// event, the stock a cancellation returns, and the NOTIFY that reaches subscribers at commit.
/// The events and the notification's text are written beforehand from `current`, so the
/// statement applies only while the order is at `current`'s version and its owner still reads
/// `current`'s language; `None` if it did not apply. A change that changes nothing answers
/// `current`.
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
    let Some(outcome) = decide(client, change, current).await? else {
        return Ok(Some(current.clone()));
    };

    let stmt = client.prepare_cached(STATUS_CHANGE.sql()).await?;
    let at = super::now();
    let event = StatusEntry {
        order_id: current.id,
        seq: i64::from(current.version) + 1,
        status: outcome.to,
        change: outcome.change,
        notes: change.notes.clone(),
        updated_by: Some(change.by_name.clone()),
        driver: outcome.driver.clone(),
        driver_name: change
            .by_driver
            .then(|| events::first_name(&change.by_name)),
        at,
        order_number: current.order_number.clone(),
        estimated_time: change.estimated_time,
        owner_locale: current.owner_locale,
    }
    .encode();
    let notify_owner = outcome.notification.is_some();
    let note = Staged::new(
        current.user_id,
        &outcome.notification.unwrap_or_else(|| {
            notification::order_status_changed(
                current.id,
                &current.order_number,
                outcome.to,
                current.owner_locale,
            )
        }),
        at,
    );
    let payload = events::notify_payload(&event);
    let to = outcome.to.as_str();
    let (locale, from) = (current.owner_locale.as_str(), current.status.as_str());
    let (kind, driver_id) = (outcome.change.as_str(), outcome.driver.map(|d| d.id));
    let own: [Param; 16] = [
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
        ("change", &kind),
        ("driver_id", &driver_id),
        ("code_used", &outcome.code_used),
        ("notify_owner", &notify_owner),
    ];
    let mut params = note.params().to_vec();
    params.extend_from_slice(&own);
    let row = client
        .query_opt(&stmt, &STATUS_CHANGE.bind(&params)?)
        .await?;
    Ok(row.as_ref().map(OrderRow::from_row))
}

/// The lines of an order bought from stock.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
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
