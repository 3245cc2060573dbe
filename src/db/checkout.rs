//! The stock-changing work of one warehouse, run as a batch in one transaction. Checkouts are
//! decided one by one, in arrival order, against the stock, products, carts and idempotency
//! keys read under row locks; a refused checkout (out of stock, product gone, cart already
//! used) writes nothing, and the accepted ones are written together with set-based statements,
//! so a batch costs about the same few round trips whatever its size. A batch of one is the
//! plain, unbatched transaction.
//!
//! Overselling is impossible whatever calls this: stock only goes down through a conditional
//! `UPDATE ... WHERE quantity >= n` on locked rows, and `CHECK (quantity >= 0)` backs it up.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::{GenericClient, Pool, Transaction};
use rust_decimal::Decimal;

use super::orders::{self, OrderItemRow, OrderRow};
use super::warehouses::{self, StockError, StockRow};
use super::DbError;
pub use crate::domain::checkout::Shortage;
use crate::domain::checkout::{self as verdict, Line, Locked, Refusal, Request};
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
    Order(Box<Placed>),
    Stock(StockRow),
}

/// An order a checkout wrote, as the transaction that wrote it returned it: once it has
/// committed, the answer needs nothing more from the database.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: OrderRow,
    pub items: Vec<OrderItemRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The verdict refused the checkout (`domain::checkout`).
    #[error(transparent)]
    Refused(#[from] Refusal),
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
            let unavailable = e.is_unavailable();
            (0..count)
                .map(|_| {
                    Err(JobError::Db(match unavailable {
                        true => DbError::BatchUnavailable(message.clone()),
                        false => DbError::Batch(message.clone()),
                    }))
                })
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
    let mut jobs = jobs.into_iter().peekable();
    while let Some(job) = jobs.next() {
        match job {
            Job::SetStock(s) => {
                let sp = tx.savepoint("stock").await?;
                match warehouses::set_quantity(&sp, &s).await {
                    Ok(row) => {
                        sp.commit().await?;
                        results.push(Ok(Outcome::Stock(row)));
                    }
                    Err(e) => {
                        sp.rollback().await?;
                        results.push(Err(JobError::Stock(e)));
                    }
                }
            }
            Job::Checkout(first) => {
                // Consecutive checkouts are one run, written with a handful of set-based
                // statements whatever its length.
                let mut run = vec![(first, numbers.next().expect("one number per checkout"))];
                while let Some(Job::Checkout(_)) = jobs.peek() {
                    let Some(Job::Checkout(next)) = jobs.next() else {
                        unreachable!()
                    };
                    run.push((next, numbers.next().expect("one number per checkout")));
                }
                results.extend(checkout_run_isolated(&mut tx, warehouse_id, &run).await?);
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// A run of checkouts in a savepoint; if the database refuses the run as a whole (which the
/// checks under lock should prevent), each checkout is retried alone so one cannot sink the rest.
async fn checkout_run_isolated(
    tx: &mut Transaction<'_>,
    warehouse_id: i64,
    run: &[(CheckoutJob, String)],
) -> Result<Vec<Result<Outcome, JobError>>, DbError> {
    let sp = tx.savepoint("run").await?;
    match checkout_run(&sp, warehouse_id, run).await {
        Ok(results) => {
            sp.commit().await?;
            return Ok(results
                .into_iter()
                .map(|r| r.map(|o| Outcome::Order(Box::new(o))))
                .collect());
        }
        Err(e) => {
            sp.rollback().await?;
            if run.len() == 1 {
                return Ok(vec![Err(JobError::Db(e))]);
            }
            tracing::warn!(error = %e, size = run.len(), "checkout run failed; retrying one by one");
        }
    }
    let mut results = Vec::with_capacity(run.len());
    for one in run.chunks(1) {
        let sp = tx.savepoint("one").await?;
        match checkout_run(&sp, warehouse_id, one).await {
            Ok(mut result) => {
                sp.commit().await?;
                results.push(result.remove(0).map(|o| Outcome::Order(Box::new(o))));
            }
            Err(e) => {
                sp.rollback().await?;
                results.push(Err(JobError::Db(e)));
            }
        }
    }
    Ok(results)
}

/// What one accepted checkout writes.
struct Accepted<'a> {
    job: &'a CheckoutJob,
    number: &'a str,
    lines: Vec<Line>,
}

/// Checks every checkout of the run in order against the stock, products, carts and keys it
/// reads under lock, then writes all accepted ones at once. A refused checkout writes nothing.
async fn checkout_run<C: GenericClient>(
    client: &C,
    warehouse_id: i64,
    run: &[(CheckoutJob, String)],
) -> Result<Vec<Result<Placed, JobError>>, DbError> {
    let ids: Vec<i64> = run
        .iter()
        .flat_map(|(j, _)| j.lines.keys().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let products = client
        .prepare_cached(
            "SELECT id, name, price FROM products WHERE id = ANY($1) AND deleted_at IS NULL",
        )
        .await?;
    let products: BTreeMap<i64, (String, Decimal)> = client
        .query(&products, &[&ids])
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    // Locked in product order, so concurrent transactions on several products cannot deadlock.
    let stock = client
        .prepare_cached(
            "SELECT product_id, quantity FROM warehouse_stocks
             WHERE warehouse_id = $1 AND product_id = ANY($2) ORDER BY product_id FOR UPDATE",
        )
        .await?;
    let left: BTreeMap<i64, i32> = client
        .query(&stock, &[&warehouse_id, &ids])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let cart_ids: Vec<i64> = run.iter().filter_map(|(j, _)| j.cart_id).collect();
    // Most runs name no cart and no key: skip those round trips then.
    let mut open_carts: BTreeMap<i64, i64> = BTreeMap::new();
    if !cart_ids.is_empty() {
        let carts = client
            .prepare_cached(
                "SELECT id, user_id FROM carts WHERE id = ANY($1) AND status = 'open' FOR UPDATE",
            )
            .await?;
        open_carts = client
            .query(&carts, &[&cart_ids])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    }
    let (key_users, keys): (Vec<i64>, Vec<String>) = run
        .iter()
        .filter_map(|(j, _)| j.idempotency.as_ref().map(|(k, _)| (j.user_id, k.clone())))
        .unzip();
    let mut used_keys: BTreeSet<(i64, String)> = BTreeSet::new();
    if !keys.is_empty() {
        let used = client
            .prepare_cached(
                "SELECT k.user_id, k.key FROM idempotency_keys k
                 JOIN unnest($1::bigint[], $2::text[]) AS q(user_id, key) USING (user_id, key)",
            )
            .await?;
        used_keys = client
            .query(&used, &[&key_users, &keys])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    }

    let requests: Vec<Request> = run
        .iter()
        .map(|(job, _)| Request {
            user_id: job.user_id,
            lines: &job.lines,
            shipping_cost: job.shipping_cost,
            cart_id: job.cart_id,
            idempotency_key: job.idempotency.as_ref().map(|(k, _)| k.as_str()),
        })
        .collect();
    let locked = Locked {
        products,
        stock: left,
        open_carts,
        used_keys,
    };
    let mut accepted: Vec<Accepted> = Vec::new();
    let verdicts: Vec<Result<usize, JobError>> = verdict::decide(&requests, locked)
        .into_iter()
        .zip(run)
        .map(|(verdict, (job, number))| {
            let lines = verdict?;
            accepted.push(Accepted { job, number, lines });
            Ok(accepted.len() - 1)
        })
        .collect();
    let written = write_orders(client, warehouse_id, &accepted).await?;
    Ok(verdicts
        .into_iter()
        .map(|v| v.map(|i| written[i].clone()))
        .collect())
}

/// Writes the accepted checkouts: stock, orders, items, first history rows, carts, keys.
async fn write_orders<C: GenericClient>(
    client: &C,
    warehouse_id: i64,
    accepted: &[Accepted<'_>],
) -> Result<Vec<Placed>, DbError> {
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    let mut taken: BTreeMap<i64, i32> = BTreeMap::new();
    for a in accepted {
        for line in &a.lines {
            *taken.entry(line.product_id).or_default() += line.quantity;
        }
    }
    let (products, quantities): (Vec<i64>, Vec<i32>) = taken.into_iter().unzip();
    let deduct = client
        .prepare_cached(
            "UPDATE warehouse_stocks s SET quantity = s.quantity - l.qty, updated_at = now()
             FROM unnest($2::bigint[], $3::int[]) AS l(product_id, qty)
             WHERE s.warehouse_id = $1 AND s.product_id = l.product_id AND s.quantity >= l.qty",
        )
        .await?;
    if client
        .execute(&deduct, &[&warehouse_id, &products, &quantities])
        .await? as usize
        != products.len()
    {
        return Err(DbError::Batch("stock changed while locked".into()));
    }

    let numbers: Vec<&str> = accepted.iter().map(|a| a.number).collect();
    let users: Vec<i64> = accepted.iter().map(|a| a.job.user_id).collect();
    let summaries: Vec<String> = accepted
        .iter()
        .map(|a| {
            a.lines
                .iter()
                .map(|line| format!("{} x{}", line.name, line.quantity))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    let carts: Vec<Option<i64>> = accepted.iter().map(|a| a.job.cart_id).collect();
    let totals: Vec<Decimal> = accepted
        .iter()
        .map(|a| {
            a.lines
                .iter()
                .map(|line| line.unit_price * Decimal::from(line.quantity))
                .sum()
        })
        .collect();
    let shipping: Vec<Decimal> = accepted.iter().map(|a| a.job.shipping_cost).collect();
    let insert = client
        .prepare_cached(
            "INSERT INTO orders (order_number, user_id, items, warehouse_id, cart_id,
                                 total_amount, shipping_cost, final_amount)
             SELECT n, u, i, $1, c, t, s, t + s
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::numeric[], $7::numeric[])
                  AS o(n, u, i, c, t, s)
             RETURNING id, order_number",
        )
        .await?;
    let ids_by_number: BTreeMap<String, i64> = client
        .query(
            &insert,
            &[
                &warehouse_id,
                &numbers,
                &users,
                &summaries,
                &carts,
                &totals,
                &shipping,
            ],
        )
        .await?
        .iter()
        .map(|r| (r.get(1), r.get(0)))
        .collect();
    let order_ids: Vec<i64> = numbers.iter().map(|n| ids_by_number[*n]).collect();

    let mut item_orders = Vec::new();
    let (mut item_products, mut item_names, mut item_prices, mut item_quantities, mut item_totals) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (a, order_id) in accepted.iter().zip(&order_ids) {
        for line in &a.lines {
            item_orders.push(*order_id);
            item_products.push(line.product_id);
            item_names.push(line.name.as_str());
            item_prices.push(line.unit_price);
            item_quantities.push(line.quantity);
            item_totals.push(line.unit_price * Decimal::from(line.quantity));
        }
    }
    let items = client
        .prepare_cached(
            "INSERT INTO order_items (order_id, product_id, product_name, unit_price, quantity, total_price)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[], $5::int[], $6::numeric[])
             RETURNING order_id, id, product_id, product_name, unit_price, quantity, total_price",
        )
        .await?;
    let mut items_by_order: BTreeMap<i64, Vec<OrderItemRow>> = BTreeMap::new();
    for r in client
        .query(
            &items,
            &[
                &item_orders,
                &item_products,
                &item_names,
                &item_prices,
                &item_quantities,
                &item_totals,
            ],
        )
        .await?
    {
        items_by_order
            .entry(r.get(0))
            .or_default()
            .push(OrderItemRow {
                id: r.get(1),
                product_id: r.get(2),
                product_name: r.get(3),
                unit_price: r.get(4),
                quantity: r.get(5),
                total_price: r.get(6),
            });
    }
    orders::insert_first_history(client, &order_ids, &users).await?;

    let closing: Vec<i64> = carts.iter().flatten().copied().collect();
    if !closing.is_empty() {
        let close = client
            .prepare_cached(
                "UPDATE carts SET status = 'checked_out', updated_at = now() WHERE id = ANY($1)",
            )
            .await?;
        client.execute(&close, &[&closing]).await?;
    }
    let (mut key_users, mut keys, mut bodies, mut key_orders) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (a, order_id) in accepted.iter().zip(&order_ids) {
        if let Some((key, body)) = &a.job.idempotency {
            key_users.push(a.job.user_id);
            keys.push(key.as_str());
            bodies.push(body.as_str());
            key_orders.push(*order_id);
        }
    }
    if !keys.is_empty() {
        let remember = client
            .prepare_cached(
                "INSERT INTO idempotency_keys (user_id, key, request_body, order_id)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
            )
            .await?;
        client
            .execute(&remember, &[&key_users, &keys, &bodies, &key_orders])
            .await?;
    }

    let mut rows: BTreeMap<i64, OrderRow> = orders::select_many(client, &order_ids)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    Ok(order_ids
        .iter()
        .filter_map(|id| {
            let mut items = items_by_order.remove(id).unwrap_or_default();
            items.sort_by_key(|item| item.id);
            Some(Placed {
                order: rows.remove(id)?,
                items,
            })
        })
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
