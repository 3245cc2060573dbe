//! The stock-changing work of one warehouse, run as a batch in one transaction with a savepoint
//! per job: a checkout that fails (out of stock, product gone, cart already used) rolls back
//! alone and the others commit together. A batch of one is the plain, unbatched transaction.
//!
//! Overselling is impossible whatever calls this: stock only goes down through a conditional
//! `UPDATE ... WHERE quantity >= n`, and `CHECK (quantity >= 0)` backs it up.

use std::collections::BTreeMap;

use deadpool_postgres::{GenericClient, Pool, Transaction};
use rust_decimal::Decimal;
use serde::Serialize;

use super::orders::{self, OrderRow};
use super::warehouses::{self, StockError, StockRow};
use super::{is_unique_violation, DbError};
use crate::domain::commerce::StockInput;

/// One checkout, fully parsed: product id -> quantity, summed.
#[derive(Debug, Clone)]
pub struct CheckoutJob {
    pub user_id: i64,
    pub lines: BTreeMap<i64, i32>,
    pub shipping_cost: Decimal,
    pub cart_id: Option<i64>,
    /// `(key, canonical JSON of the request)`: stored with the order so a retry finds it.
    pub idempotency: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Job {
    Checkout(CheckoutJob),
    SetStock(StockInput),
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Order(Box<OrderRow>),
    Stock(StockRow),
}

/// A product the warehouse cannot supply in the asked quantity.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Shortage {
    pub product_id: i64,
    pub requested: i32,
    pub available: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("products no longer available: {0:?}")]
    ProductsUnavailable(Vec<i64>),
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    #[error("the cart is not open")]
    CartNotOpen,
    #[error("a request with this idempotency key was already made")]
    IdempotencyKeyUsed,
    #[error(transparent)]
    Stock(StockError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for JobError {
    fn from(e: tokio_postgres::Error) -> Self {
        JobError::Db(e.into())
    }
}

/// Runs `jobs` against `warehouse_id` in one transaction; one result per job, in order.
pub async fn run_batch(
    pool: &Pool,
    warehouse_id: i64,
    jobs: Vec<Job>,
) -> Vec<Result<Outcome, JobError>> {
    let count = jobs.len();
    match try_batch(pool, warehouse_id, jobs).await {
        Ok(results) => results,
        Err(e) => {
            let message = e.to_string();
            tracing::warn!(error = %message, warehouse_id, "warehouse batch failed");
            (0..count)
                .map(|_| Err(JobError::Db(DbError::Batch(message.clone()))))
                .collect()
        }
    }
}

async fn try_batch(
    pool: &Pool,
    warehouse_id: i64,
    jobs: Vec<Job>,
) -> Result<Vec<Result<Outcome, JobError>>, DbError> {
    let mut client = pool.get().await?;
    let checkouts = jobs
        .iter()
        .filter(|j| matches!(j, Job::Checkout(_)))
        .count();
    let mut numbers = orders::allocate_numbers(&client, checkouts)
        .await?
        .into_iter();
    let mut tx = client.transaction().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let sp = tx.savepoint("job").await?;
        let result = match job {
            Job::Checkout(c) => {
                let number = numbers.next().expect("one number per checkout");
                checkout(&sp, warehouse_id, &c, &number)
                    .await
                    .map(|o| Outcome::Order(Box::new(o)))
            }
            Job::SetStock(s) => warehouses::set_quantity(&sp, &s)
                .await
                .map(Outcome::Stock)
                .map_err(JobError::Stock),
        };
        match result {
            Ok(outcome) => {
                sp.commit().await?;
                results.push(Ok(outcome));
            }
            Err(e) => {
                sp.rollback().await?;
                let e = match e {
                    JobError::InsufficientStock(lines) => {
                        JobError::InsufficientStock(shortages(&tx, warehouse_id, &lines).await?)
                    }
                    other => other,
                };
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// One checkout inside its savepoint: products, stock, order, items, history, cart, key.
async fn checkout(
    tx: &Transaction<'_>,
    warehouse_id: i64,
    job: &CheckoutJob,
    number: &str,
) -> Result<OrderRow, JobError> {
    let ids: Vec<i64> = job.lines.keys().copied().collect();
    let quantities: Vec<i32> = job.lines.values().copied().collect();

    let products = tx
        .prepare_cached(
            "SELECT id, name, price FROM products WHERE id = ANY($1) AND deleted_at IS NULL",
        )
        .await?;
    let found: BTreeMap<i64, (String, Decimal)> = tx
        .query(&products, &[&ids])
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let missing: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !found.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(JobError::ProductsUnavailable(missing));
    }

    let deduct = tx
        .prepare_cached(
            "UPDATE warehouse_stocks s SET quantity = s.quantity - l.qty, updated_at = now()
             FROM unnest($2::bigint[], $3::int[]) AS l(product_id, qty)
             WHERE s.warehouse_id = $1 AND s.product_id = l.product_id AND s.quantity >= l.qty",
        )
        .await?;
    let deducted = tx
        .execute(&deduct, &[&warehouse_id, &ids, &quantities])
        .await?;
    if deducted as usize != ids.len() {
        let lines = job
            .lines
            .iter()
            .map(|(p, q)| Shortage {
                product_id: *p,
                requested: *q,
                available: 0,
            })
            .collect();
        return Err(JobError::InsufficientStock(lines));
    }

    let names: Vec<String> = ids.iter().map(|id| found[id].0.clone()).collect();
    let prices: Vec<Decimal> = ids.iter().map(|id| found[id].1).collect();
    let totals: Vec<Decimal> = prices
        .iter()
        .zip(&quantities)
        .map(|(p, q)| p * Decimal::from(*q))
        .collect();
    let total: Decimal = totals.iter().sum();
    let summary = names
        .iter()
        .zip(&quantities)
        .map(|(n, q)| format!("{n} x{q}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = tx
        .prepare_cached(
            "INSERT INTO orders (order_number, user_id, items, warehouse_id, cart_id,
                                 total_amount, shipping_cost, final_amount)
             VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::numeric, $6::numeric + $7::numeric) RETURNING id",
        )
        .await?;
    let order_id: i64 = tx
        .query_one(
            &insert,
            &[
                &number,
                &job.user_id,
                &summary,
                &warehouse_id,
                &job.cart_id,
                &total,
                &job.shipping_cost,
            ],
        )
        .await?
        .get(0);
    let items = tx
        .prepare_cached(
            "INSERT INTO order_items (order_id, product_id, product_name, unit_price, quantity, total_price)
             SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::numeric[], $5::int[], $6::numeric[])",
        )
        .await?;
    tx.execute(
        &items,
        &[&order_id, &ids, &names, &prices, &quantities, &totals],
    )
    .await?;
    orders::insert_first_history(tx, order_id, job.user_id).await?;

    if let Some(cart_id) = job.cart_id {
        let close = tx
            .prepare_cached(
                "UPDATE carts SET status = 'checked_out', updated_at = now()
                 WHERE id = $1 AND user_id = $2 AND status = 'open'",
            )
            .await?;
        if tx.execute(&close, &[&cart_id, &job.user_id]).await? != 1 {
            return Err(JobError::CartNotOpen);
        }
    }
    if let Some((key, body)) = &job.idempotency {
        let remember = tx
            .prepare_cached("INSERT INTO idempotency_keys (user_id, key, request_body, order_id) VALUES ($1, $2, $3, $4)")
            .await?;
        if let Err(e) = tx
            .execute(&remember, &[&job.user_id, key, body, &order_id])
            .await
        {
            return Err(if is_unique_violation(&e, "idempotency_keys_pkey") {
                JobError::IdempotencyKeyUsed
            } else {
                e.into()
            });
        }
    }
    Ok(orders::select_in(tx, order_id).await?)
}

/// Which of the asked lines this warehouse cannot fill, with what it holds.
async fn shortages<C: GenericClient>(
    client: &C,
    warehouse_id: i64,
    lines: &[Shortage],
) -> Result<Vec<Shortage>, DbError> {
    let ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let stmt = client
        .prepare_cached("SELECT product_id, quantity FROM warehouse_stocks WHERE warehouse_id = $1 AND product_id = ANY($2)")
        .await?;
    let held: BTreeMap<i64, i32> = client
        .query(&stmt, &[&warehouse_id, &ids])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(lines
        .iter()
        .map(|l| Shortage {
            available: held.get(&l.product_id).copied().unwrap_or(0),
            ..l.clone()
        })
        .filter(|l| l.available < l.requested)
        .collect())
}

/// The first warehouse by priority that holds every line in full.
pub async fn pick_warehouse(
    pool: &Pool,
    lines: &BTreeMap<i64, i32>,
) -> Result<Option<i64>, DbError> {
    let client = pool.get().await?;
    let ids: Vec<i64> = lines.keys().copied().collect();
    let quantities: Vec<i32> = lines.values().copied().collect();
    let stmt = client
        .prepare_cached(
            "SELECT w.id FROM warehouses w
             WHERE NOT EXISTS (
                 SELECT 1 FROM unnest($1::bigint[], $2::int[]) AS l(product_id, qty)
                 LEFT JOIN warehouse_stocks s ON s.warehouse_id = w.id AND s.product_id = l.product_id
                 WHERE COALESCE(s.quantity, 0) < l.qty)
             ORDER BY w.priority, w.id LIMIT 1",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&ids, &quantities])
        .await?
        .map(|r| r.get(0)))
}

/// For a checkout no warehouse can fill: each line with the most any one warehouse holds.
pub async fn best_availability(
    pool: &Pool,
    lines: &BTreeMap<i64, i32>,
) -> Result<Vec<Shortage>, DbError> {
    let client = pool.get().await?;
    let ids: Vec<i64> = lines.keys().copied().collect();
    let stmt = client
        .prepare_cached("SELECT product_id, max(quantity) FROM warehouse_stocks WHERE product_id = ANY($1) GROUP BY product_id")
        .await?;
    let best: BTreeMap<i64, i32> = client
        .query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(lines
        .iter()
        .map(|(p, q)| Shortage {
            product_id: *p,
            requested: *q,
            available: best.get(p).copied().unwrap_or(0),
        })
        .collect())
}

/// The body of the earlier request with this key, and the order it created.
pub async fn remembered(
    pool: &Pool,
    user_id: i64,
    key: &str,
) -> Result<Option<(String, i64)>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT request_body, order_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&user_id, &key])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}
