//! The stock-changing work of one warehouse, run as a batch in one transaction. Checkouts are
//! decided one by one, in arrival order, against the stock, products, carts and idempotency
//! keys read under row locks; a refused checkout (out of stock, product gone, cart already
//! used) writes nothing, and the accepted ones are written together with set-based statements,
//! so a batch costs about the same few round trips whatever its size. A batch of one is the
//! plain, unbatched transaction.
//!
//! Overselling is impossible whatever calls this: stock only goes down through a conditional
//! `UPDATE ... WHERE quantity >= n` on locked rows, and `CHECK (quantity >= 0)` backs it up.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use deadpool_postgres::{GenericClient, Pool, Transaction};
use rust_decimal::Decimal;
use tokio::sync::oneshot;

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

/// How a job's answer gets back to whoever submitted it, once its batch has committed.
pub type Reply<T> = oneshot::Sender<Result<T, JobError>>;

/// One unit of a warehouse's stock-changing work, with where its answer goes.
pub enum Job {
    Checkout(CheckoutJob, Reply<Placed>),
    SetStock(StockInput, Reply<StockRow>),
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

/// Consecutive jobs as the batch runs them: a stock change alone, checkouts as one run.
enum Segment {
    Stock(StockInput, Reply<StockRow>),
    Checkouts(Vec<(CheckoutJob, Reply<Placed>)>),
}

/// A segment that ran; its answers go out once the batch has committed.
enum Done {
    Stock(Reply<StockRow>, Result<StockRow, JobError>),
    Checkouts(Vec<(Reply<Placed>, Result<Placed, JobError>)>),
}

fn segments(jobs: Vec<Job>) -> VecDeque<Segment> {
    let mut segments = VecDeque::new();
    for job in jobs {
        match (job, segments.back_mut()) {
            (Job::Checkout(job, reply), Some(Segment::Checkouts(run))) => run.push((job, reply)),
            (Job::Checkout(job, reply), _) => {
                segments.push_back(Segment::Checkouts(vec![(job, reply)]))
            }
            (Job::SetStock(input, reply), _) => segments.push_back(Segment::Stock(input, reply)),
        }
    }
    segments
}

/// What every job of a failed batch is answered: nothing of it was written.
fn batch_failed(e: &DbError) -> JobError {
    JobError::Db(match e.is_unavailable() {
        true => DbError::BatchUnavailable(e.to_string()),
        false => DbError::Batch(e.to_string()),
    })
}

/// Answers one job of a failed batch.
fn fail<T>(reply: Reply<T>, e: &DbError) {
    // A submitter that stopped waiting has nobody to tell.
    let _ = reply.send(Err(batch_failed(e)));
}

impl Segment {
    fn fail(self, e: &DbError) {
        match self {
            Segment::Stock(_, reply) => fail(reply, e),
            Segment::Checkouts(run) => run.into_iter().for_each(|(_, reply)| fail(reply, e)),
        }
    }
}

impl Done {
    fn send(self) {
        match self {
            Done::Stock(reply, answer) => drop(reply.send(answer)),
            Done::Checkouts(run) => run
                .into_iter()
                .for_each(|(reply, answer)| drop(reply.send(answer))),
        }
    }

    fn fail(self, e: &DbError) {
        match self {
            Done::Stock(reply, _) => fail(reply, e),
            Done::Checkouts(run) => run.into_iter().for_each(|(reply, _)| fail(reply, e)),
        }
    }
}

/// Runs `jobs` against `warehouse_id` in one transaction and answers each of them, in order,
/// once it has committed (or each with the error that stopped it).
pub async fn run_batch(pool: &Pool, warehouse_id: i64, jobs: Vec<Job>) {
    let mut waiting = segments(jobs);
    let mut done = Vec::with_capacity(waiting.len());
    match try_batch(pool, warehouse_id, &mut waiting, &mut done).await {
        Ok(()) => done.into_iter().for_each(Done::send),
        Err(e) => {
            tracing::warn!(error = %e, warehouse_id, "warehouse batch failed");
            done.into_iter().for_each(|d| d.fail(&e));
            waiting.into_iter().for_each(|s| s.fail(&e));
        }
    }
}

/// Runs the segments in `waiting`, moving each to `done` as it runs; on an error the segment
/// that met it is put back, so every job is still answered.
async fn try_batch(
    pool: &Pool,
    warehouse_id: i64,
    waiting: &mut VecDeque<Segment>,
    done: &mut Vec<Done>,
) -> Result<(), DbError> {
    let mut client = pool.get().await?;
    let checkouts = waiting
        .iter()
        .map(|s| match s {
            Segment::Checkouts(run) => run.len(),
            Segment::Stock(..) => 0,
        })
        .sum();
    let mut numbers = orders::allocate_numbers(&client, checkouts)
        .await?
        .into_iter();
    let mut tx = client.transaction().await?;
    while let Some(segment) = waiting.pop_front() {
        match segment {
            Segment::Stock(input, reply) => match set_stock(&mut tx, &input).await {
                Ok(answer) => done.push(Done::Stock(reply, answer)),
                Err(e) => {
                    waiting.push_front(Segment::Stock(input, reply));
                    return Err(e);
                }
            },
            Segment::Checkouts(run) => {
                // Written with a handful of set-based statements whatever the run's length.
                let numbered: Vec<(&CheckoutJob, String)> = run
                    .iter()
                    .map(|(job, _)| (job, numbers.next().expect("one number per checkout")))
                    .collect();
                match checkout_run_isolated(&mut tx, warehouse_id, &numbered).await {
                    Ok(answers) => done.push(Done::Checkouts(
                        run.into_iter()
                            .map(|(_, reply)| reply)
                            .zip(answers)
                            .collect(),
                    )),
                    Err(e) => {
                        waiting.push_front(Segment::Checkouts(run));
                        return Err(e);
                    }
                }
            }
        }
    }
    tx.commit().await.map_err(DbError::from)
}

/// One stock change in a savepoint, so a refused one leaves the rest of the batch alone.
async fn set_stock(
    tx: &mut Transaction<'_>,
    input: &StockInput,
) -> Result<Result<StockRow, JobError>, DbError> {
    let sp = tx.savepoint("stock").await?;
    match warehouses::set_quantity(&sp, input).await {
        Ok(row) => {
            sp.commit().await?;
            Ok(Ok(row))
        }
        Err(e) => {
            sp.rollback().await?;
            Ok(Err(JobError::Stock(e)))
        }
    }
}

/// A run of checkouts in a savepoint; if the database refuses the run as a whole (which the
/// checks under lock should prevent), each checkout is retried alone so one cannot sink the rest.
async fn checkout_run_isolated(
    tx: &mut Transaction<'_>,
    warehouse_id: i64,
    run: &[(&CheckoutJob, String)],
) -> Result<Vec<Result<Placed, JobError>>, DbError> {
    let sp = tx.savepoint("run").await?;
    match checkout_run(&sp, warehouse_id, run).await {
        Ok(results) => {
            sp.commit().await?;
            return Ok(results);
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
                results.push(result.remove(0));
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
    run: &[(&CheckoutJob, String)],
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
