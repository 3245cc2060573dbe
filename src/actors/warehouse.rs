//! One actor per warehouse with work: every change of that warehouse's stock (checkouts and
//! quantity updates) passes through it, one batch at a time. Requests that arrive while a batch
//! runs wait and go into the next batch together, so a hot warehouse does one commit for many
//! checkouts instead of queueing them all on the same row locks. The database still enforces
//! every rule (see `db::checkout`), so correctness never depends on this actor. It runs on the
//! database thread (`db::thread`), where its pool connections are.

use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::{
    Actor, ActorContext, ActorFutureExt, ArbiterHandle, AsyncContext, Context, Handler, Message,
    ResponseFuture, SpawnHandle, WrapFuture,
};
use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::directory::Directory;
use crate::config::CommerceSettings;
use crate::db::checkout::{self, CheckoutJob, Job, JobError, Placed, Reply};
use crate::db::warehouses::StockRow;
use crate::db::DbError;
use crate::domain::commerce::StockInput;

/// The way to every warehouse's actor on this node.
#[derive(Clone)]
pub struct Warehouses {
    /// What the batches run on.
    pool: Pool,
    /// Where the actors run, next to the pool's connections (`db::thread`).
    thread: ArbiterHandle,
    /// The live actors, so one warehouse's stock changes are batched on this node.
    live: Directory<i64, WarehouseActor>,
    /// Whether jobs are batched at all, and how many at most (`commerce.*`).
    settings: CommerceSettings,
    /// How long an actor waits for work before it stops (`actors.idle_secs`).
    idle: Duration,
}

impl Warehouses {
    pub fn new(
        pool: Pool,
        thread: ArbiterHandle,
        settings: CommerceSettings,
        idle: Duration,
    ) -> Self {
        Warehouses {
            pool,
            thread,
            live: Directory::default(),
            settings,
            idle,
        }
    }

    /// Places a checkout; answered once it has committed.
    pub async fn checkout(&self, warehouse_id: i64, job: CheckoutJob) -> Result<Placed, JobError> {
        self.submit(warehouse_id, Checkout(job), |Checkout(job), reply| {
            Job::Checkout(job, reply)
        })
        .await
    }

    /// Sets a stock quantity; answered once it has committed.
    pub async fn set_stock(&self, input: StockInput) -> Result<StockRow, JobError> {
        self.submit(
            input.warehouse_id,
            SetStock(input),
            |SetStock(input), reply| Job::SetStock(input, reply),
        )
        .await
    }

    /// Runs a job for `warehouse_id`: through its actor, or, with `commerce.batch_checkouts`
    /// off, as a transaction of its own (`alone` makes it a job of a batch of one).
    async fn submit<M, T>(
        &self,
        warehouse_id: i64,
        msg: M,
        alone: impl FnOnce(M, Reply<T>) -> Job,
    ) -> Result<T, JobError>
    where
        M: Message<Result = Result<T, JobError>> + Send + Clone + 'static,
        T: Send + 'static,
        WarehouseActor: Handler<M>,
        Context<WarehouseActor>: ToEnvelope<WarehouseActor, M>,
    {
        if !self.settings.batch_checkouts {
            let (reply, answer) = oneshot::channel();
            checkout::run_batch(&self.pool, warehouse_id, vec![alone(msg, reply)]).await;
            return answered(answer).await;
        }
        let start = || {
            let warehouses = self.clone();
            WarehouseActor::start_in_arbiter(&self.thread, move |_| WarehouseActor {
                warehouse_id,
                warehouses,
                queue: Vec::new(),
                busy: false,
                idle: None,
            })
        };
        match self.live.send(&warehouse_id, start, msg).await {
            Ok(result) => result,
            Err(e) => Err(JobError::Db(DbError::Batch(format!(
                "warehouse actor: {e}"
            )))),
        }
    }
}

/// A job's answer; a batch that ended without answering (its actor stopped) is a failed one.
async fn answered<T>(answer: oneshot::Receiver<Result<T, JobError>>) -> Result<T, JobError> {
    answer.await.unwrap_or_else(|_| {
        Err(JobError::Db(DbError::Batch(
            "warehouse actor stopped".into(),
        )))
    })
}

pub struct WarehouseActor {
    warehouse_id: i64,
    /// The pool, settings, and the directory this actor leaves when it stops.
    warehouses: Warehouses,
    /// Jobs waiting for the next batch, each with where its answer goes.
    queue: Vec<Job>,
    /// A batch transaction is running.
    busy: bool,
    /// The pending idle stop, pushed back by every message.
    idle: Option<SpawnHandle>,
}

impl WarehouseActor {
    fn rearm_idle(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle.take() {
            ctx.cancel_future(handle);
        }
        self.idle = Some(ctx.run_later(self.warehouses.idle, |act, ctx| {
            if act.busy || !act.queue.is_empty() {
                act.rearm_idle(ctx);
            } else {
                ctx.stop();
            }
        }));
    }

    /// Queues a job for the next batch and answers with its result once that batch is done.
    fn enqueue<T: Send + 'static>(
        &mut self,
        job: impl FnOnce(Reply<T>) -> Job,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<T, JobError>> {
        self.rearm_idle(ctx);
        let (reply, answer) = oneshot::channel();
        self.queue.push(job(reply));
        self.run_next_batch(ctx);
        Box::pin(answered(answer))
    }

    fn run_next_batch(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.queue.is_empty() {
            return;
        }
        self.busy = true;
        let take = self.queue.len().min(self.warehouses.settings.max_batch);
        let jobs: Vec<Job> = self.queue.drain(..take).collect();
        let (pool, warehouse_id) = (self.warehouses.pool.clone(), self.warehouse_id);
        ctx.spawn(
            async move { checkout::run_batch(&pool, warehouse_id, jobs).await }
                .into_actor(self)
                .map(move |(), act, ctx| {
                    act.busy = false;
                    act.run_next_batch(ctx);
                }),
        );
    }
}

impl Actor for WarehouseActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rearm_idle(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.warehouses
            .live
            .remove(&self.warehouse_id, &ctx.address());
    }
}

/// A checkout for this warehouse; answered once its batch has committed (or it failed alone).
#[derive(Message, Clone)]
#[rtype(result = "Result<Placed, JobError>")]
pub struct Checkout(pub CheckoutJob);

impl Handler<Checkout> for WarehouseActor {
    type Result = ResponseFuture<Result<Placed, JobError>>;

    fn handle(&mut self, Checkout(job): Checkout, ctx: &mut Context<Self>) -> Self::Result {
        self.enqueue(|reply| Job::Checkout(job, reply), ctx)
    }
}

/// A new quantity for one of this warehouse's stock rows; answered like a checkout.
#[derive(Message, Clone)]
#[rtype(result = "Result<StockRow, JobError>")]
pub struct SetStock(pub StockInput);

impl Handler<SetStock> for WarehouseActor {
    type Result = ResponseFuture<Result<StockRow, JobError>>;

    fn handle(&mut self, SetStock(input): SetStock, ctx: &mut Context<Self>) -> Self::Result {
        self.enqueue(|reply| Job::SetStock(input, reply), ctx)
    }
}
