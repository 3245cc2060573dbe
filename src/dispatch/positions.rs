//! Drivers' positions on their way to a shipped order's owner.
//!
//! A position is checked once at the edge (`domain::position`), then here: the order must be
//! shipped and the sender its driver (or an admin). Subscribers get at most one position a
//! second per order, the newest: the first at once, later ones when the second is up. The
//! database gets at most one per `dispatch.location_persist_secs`: the order's last position,
//! its ETA, and a row of its trail.
//!
//! Every publish is one statement that announces the position only if the order is still
//! shipped and still the same driver's, so a position never follows the order's delivery
//! through the database; when it finds the order changed, the order is forgotten here and the
//! next position is checked afresh. This process forgets at once the orders it changes itself.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::ArbiterHandle;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;

use crate::auth::caller::AuthUser;
use crate::db::DbError;
use crate::domain::position::{Eta, Point, Position};
use crate::domain::role::Role;
use crate::domain::status::OrderStatus;
use crate::domain::topic::Topic;
use crate::events::{self, LocationEvent};

/// Subscribers get at most one position per order in this time.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// An order no position arrived for in this long is forgotten (its driver stopped sharing).
const FORGET_AFTER: Duration = Duration::from_secs(120);

/// The orders a position may still be announced for: `$1` shipped, visible, and `$2`'s.
const DELIVERABLE: &str = "id = $1 AND status = 'shipped' AND deleted_at IS NULL
                           AND driver_id IS NOT DISTINCT FROM $2";

/// Announces position `$4` on channel `$3` if the order is still deliverable.
static ANNOUNCE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT announce($3, $4) FROM orders WHERE {DELIVERABLE}"));

/// The same, writing the order's last position and ETA and a row of its trail with it.
static WRITE_AND_ANNOUNCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH o AS (
             UPDATE orders SET location = $5, estimated_time = COALESCE($6, estimated_time)
             WHERE {DELIVERABLE} RETURNING id
         ),
         trail AS (
             INSERT INTO order_locations (order_id, at, lat, lng, accuracy, heading, speed)
             SELECT id, $7, $8, $9, $10, $11, $12 FROM o ON CONFLICT DO NOTHING
         )
         SELECT announce($3, $4) FROM o"
    )
});

#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error("order not found")]
    NotFound,
    #[error("this order is assigned to another driver")]
    NotAssigned,
    #[error("positions are taken only while the order is shipped")]
    NotShipped,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for PositionError {
    fn from(e: tokio_postgres::Error) -> Self {
        PositionError::Db(e.into())
    }
}

/// The positions service; cheap to clone.
#[derive(Clone)]
pub struct Positions(Arc<Inner>);

struct Inner {
    pool: Pool,
    /// Where publishes run: the database thread, next to the pool's connections.
    thread: ArbiterHandle,
    /// `dispatch.location_persist_secs`.
    persist_every: Duration,
    /// The shipped orders positions arrive for, as last checked against the database.
    orders: Mutex<HashMap<i64, Tracked>>,
}

/// One shipped order being delivered.
struct Tracked {
    /// The driver it was assigned to when checked; positions from anyone else are refused.
    driver_id: Option<i64>,
    destination: Option<Point>,
    eta: Eta,
    /// The newest position not yet published.
    pending: Option<Position>,
    /// A publish is running or waiting for its second: the next position just replaces
    /// `pending`.
    busy: bool,
    /// The time of the newest position taken, so an older one arriving late is dropped.
    newest: Option<DateTime<Utc>>,
    last_published: Option<Instant>,
    last_persisted: Option<Instant>,
    last_heard: Instant,
}

/// What one publish sends, taken from the order's state under the lock.
struct Outgoing {
    position: Position,
    driver_id: Option<i64>,
    estimated_time: Option<DateTime<Utc>>,
    persist: bool,
}

impl Positions {
    pub fn new(pool: Pool, thread: ArbiterHandle, persist_every: Duration) -> Self {
        let positions = Positions(Arc::new(Inner {
            pool,
            thread,
            persist_every,
            orders: Mutex::default(),
        }));
        // Weak: the sweeper runs on the database thread, which lives while anything holds its
        // handle; holding the service (and so the handle) would keep the thread and its
        // connections alive after the server is gone.
        let sweeper = Arc::downgrade(&positions.0);
        positions.0.thread.spawn(async move {
            let mut every = tokio::time::interval(FORGET_AFTER);
            loop {
                every.tick().await;
                match sweeper.upgrade() {
                    Some(inner) => Positions(inner).sweep(),
                    None => return,
                }
            }
        });
        positions
    }

    /// Takes a driver's position for an order: refused unless the order is shipped and `by` is
    /// its driver or an admin. Accepted positions reach subscribers within a second.
    pub async fn report(
        &self,
        by: &AuthUser,
        order_id: i64,
        position: Position,
    ) -> Result<(), PositionError> {
        let may = |driver_id: Option<i64>| match by.role() {
            Role::Admin => Ok(()),
            Role::Driver if driver_id == Some(by.id()) => Ok(()),
            Role::Driver => Err(PositionError::NotAssigned),
            Role::User => Err(PositionError::NotFound),
        };
        if by.role() == Role::User {
            return Err(PositionError::NotFound);
        }
        let known = self.orders().get(&order_id).map(|t| t.driver_id);
        let driver_id = match known {
            Some(driver_id) => driver_id,
            None => self.check(order_id).await?,
        };
        may(driver_id)?;
        let start = {
            let mut orders = self.orders();
            let tracked = orders
                .entry(order_id)
                .or_insert_with(|| Tracked::new(driver_id));
            tracked.last_heard = Instant::now();
            // Reports are checked concurrently and may finish out of order: the newest by its
            // own time wins, an older one is taken and dropped.
            if tracked.newest.is_some_and(|newest| position.at < newest) {
                return Ok(());
            }
            tracked.newest = Some(position.at);
            tracked.eta.observe(&position);
            tracked.pending = Some(position);
            !std::mem::replace(&mut tracked.busy, true)
        };
        if start {
            let this = self.clone();
            self.0
                .thread
                .spawn(async move { this.publish_loop(order_id).await });
        }
        Ok(())
    }

    /// The order changed here (its status or driver): the next position is checked afresh.
    pub fn forget(&self, order_id: i64) {
        self.orders().remove(&order_id);
    }

    /// Reads the order: it must be visible and shipped. Remembers it with its destination.
    async fn check(&self, order_id: i64) -> Result<Option<i64>, PositionError> {
        let client = self.0.pool.get().await.map_err(DbError::from)?;
        let stmt = client
            .prepare_cached(
                "SELECT status, driver_id, delivery_lat, delivery_lng FROM orders
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .await?;
        let row = client
            .query_opt(&stmt, &[&order_id])
            .await?
            .ok_or(PositionError::NotFound)?;
        if OrderStatus::parse(row.get(0)) != Some(OrderStatus::Shipped) {
            return Err(PositionError::NotShipped);
        }
        let driver_id: Option<i64> = row.get(1);
        let destination = match (row.get(2), row.get(3)) {
            (Some(lat), Some(lng)) => Some(Point { lat, lng }),
            _ => None,
        };
        self.orders()
            .entry(order_id)
            .or_insert_with(|| Tracked::new(driver_id))
            .destination = destination;
        Ok(driver_id)
    }

    /// Publishes the order's newest position once its second is up, again while new ones keep
    /// arriving; stops when none is waiting, or when the order is no longer deliverable.
    async fn publish_loop(&self, order_id: i64) {
        loop {
            let slot = {
                let orders = self.orders();
                let Some(tracked) = orders.get(&order_id) else {
                    return;
                };
                tracked
                    .last_published
                    .map(|at| at + PUBLISH_EVERY)
                    .filter(|slot| *slot > Instant::now())
            };
            if let Some(slot) = slot {
                tokio::time::sleep_until(slot.into()).await;
            }
            let Some(outgoing) = self.next_outgoing(order_id, slot) else {
                return;
            };
            let published = self.publish(order_id, &outgoing).await;
            match published {
                Ok(true) => {}
                Ok(false) => return self.forget(order_id),
                Err(e) => {
                    tracing::warn!(error = %e, order_id, "cannot publish a position");
                    return self.forget(order_id);
                }
            }
        }
    }

    /// Takes the pending position for publishing, or marks the order idle when there is none.
    /// `slot`: the second it waited for. The next second counts from the slot, not from when
    /// the timer woke: the timer wakes a little late each time, and a driver sending exactly
    /// once a second would otherwise wait a little longer at every slot, without end.
    fn next_outgoing(&self, order_id: i64, slot: Option<Instant>) -> Option<Outgoing> {
        let mut orders = self.orders();
        let tracked = orders.get_mut(&order_id)?;
        let Some(position) = tracked.pending.take() else {
            tracked.busy = false;
            return None;
        };
        let now = Instant::now();
        let persist = tracked
            .last_persisted
            .is_none_or(|at| now.duration_since(at) >= self.0.persist_every);
        if persist {
            tracked.last_persisted = Some(now);
        }
        tracked.last_published = Some(slot.unwrap_or(now));
        Some(Outgoing {
            position,
            driver_id: tracked.driver_id,
            estimated_time: tracked.destination.and_then(|to| tracked.eta.estimate(to)),
            persist,
        })
    }

    /// Announces the position (and writes it, when `persist`) if the order is still shipped
    /// and still the same driver's; false if it is not.
    async fn publish(&self, order_id: i64, out: &Outgoing) -> Result<bool, PositionError> {
        let event = LocationEvent {
            kind: events::ORDER_LOCATION,
            topic: Topic::Order(order_id),
            order_id: order_id.to_string(),
            driver_id: out.driver_id,
            position: out.position,
            estimated_time: out.estimated_time,
        }
        .encode();
        let payload: &str = &event.json;
        let p = &out.position;
        let location = serde_json::to_value(p).unwrap_or_default();
        let announce: [&(dyn ToSql + Sync); 4] = [
            &order_id,
            &out.driver_id,
            &events::POSITIONS_CHANNEL,
            &payload,
        ];
        let write: [&(dyn ToSql + Sync); 8] = [
            &location,
            &out.estimated_time,
            &p.at,
            &p.lat,
            &p.lng,
            &p.accuracy,
            &p.heading,
            &p.speed,
        ];
        let (sql, params) = if out.persist {
            (&*WRITE_AND_ANNOUNCE, [&announce[..], &write[..]].concat())
        } else {
            (&*ANNOUNCE, announce.to_vec())
        };
        let client = self.0.pool.get().await.map_err(DbError::from)?;
        let stmt = client.prepare_cached(sql).await?;
        let rows = client.query(&stmt, &params).await?;
        Ok(!rows.is_empty())
    }

    /// Forgets orders no position arrived for in a while, so the map holds only live deliveries.
    fn sweep(&self) {
        self.orders()
            .retain(|_, t| t.busy || t.last_heard.elapsed() < FORGET_AFTER);
    }

    fn orders(&self) -> MutexGuard<'_, HashMap<i64, Tracked>> {
        // Nothing panics while holding it; a poisoned map is still a good map.
        self.0.orders.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Tracked {
    fn new(driver_id: Option<i64>) -> Self {
        Tracked {
            driver_id,
            destination: None,
            eta: Eta::new(),
            pending: None,
            busy: false,
            newest: None,
            last_published: None,
            last_persisted: None,
            last_heard: Instant::now(),
        }
    }
}
