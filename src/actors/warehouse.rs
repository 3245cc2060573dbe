//! One actor per warehouse with work: every change of that warehouse's stock (checkouts and
//! quantity updates) passes through it, one batch at a time. Requests that arrive while a batch
//! runs wait and go into the next batch together, so a hot warehouse does one commit for many
//! checkouts instead of queueing them all on the same row locks. The database still enforces
//! every rule (see `db::checkout`), so correctness never depends on this actor. It runs on the
//! database thread (`db::thread`), where its pool connections are.

use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseFuture,
    SpawnHandle, WrapFuture,
};
use actix_web::web;
use tokio::sync::oneshot;

use crate::db::checkout::{self, Job, JobError, Outcome};
use crate::db::DbError;
use crate::state::AppState;

type Reply = oneshot::Sender<Result<Outcome, JobError>>;

pub struct WarehouseActor {
    warehouse_id: i64,
    /// The pool, settings, and the directory this actor leaves when it stops.
    state: web::Data<AppState>,
    /// Jobs waiting for the next batch, with where to send each answer.
    queue: Vec<(Job, Reply)>,
    /// A batch transaction is running.
    busy: bool,
    /// The pending idle stop, pushed back by every message.
    idle: Option<SpawnHandle>,
}

impl WarehouseActor {
    fn new(warehouse_id: i64, state: web::Data<AppState>) -> Self {
        WarehouseActor {
            warehouse_id,
            state,
            queue: Vec::new(),
            busy: false,
            idle: None,
        }
    }

    fn rearm_idle(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle.take() {
            ctx.cancel_future(handle);
        }
        let idle = Duration::from_secs(self.state.settings.actors.idle_secs);
        self.idle = Some(ctx.run_later(idle, |act, ctx| {
            if act.busy || !act.queue.is_empty() {
                act.rearm_idle(ctx);
            } else {
                ctx.stop();
            }
        }));
    }

    fn run_next_batch(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.queue.is_empty() {
            return;
        }
        self.busy = true;
        let take = self.queue.len().min(self.state.settings.commerce.max_batch);
        let (jobs, replies): (Vec<Job>, Vec<Reply>) = self.queue.drain(..take).unzip();
        let (pool, warehouse_id) = (self.state.pool.clone(), self.warehouse_id);
        ctx.spawn(
            async move { checkout::run_batch(&pool, warehouse_id, jobs).await }
                .into_actor(self)
                .map(move |results, act, ctx| {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
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
        self.state
            .warehouses
            .remove(&self.warehouse_id, &ctx.address());
    }
}

/// One job for this warehouse; answered once its batch has committed (or it failed alone).
#[derive(Message, Clone)]
#[rtype(result = "Result<Outcome, JobError>")]
pub struct Submit(pub Job);

impl Handler<Submit> for WarehouseActor {
    type Result = ResponseFuture<Result<Outcome, JobError>>;

    fn handle(&mut self, Submit(job): Submit, ctx: &mut Context<Self>) -> Self::Result {
        self.rearm_idle(ctx);
        let (reply, answer) = oneshot::channel();
        self.queue.push((job, reply));
        self.run_next_batch(ctx);
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(JobError::Db(DbError::Batch(
                    "warehouse actor stopped".into(),
                )))
            })
        })
    }
}

/// Runs a job for `warehouse_id`: through its actor, or, with `commerce.batch_checkouts` off,
/// as its own transaction.
pub async fn submit(
    state: &web::Data<AppState>,
    warehouse_id: i64,
    job: Job,
) -> Result<Outcome, JobError> {
    if !state.settings.commerce.batch_checkouts {
        return checkout::run_batch(&state.pool, warehouse_id, vec![job])
            .await
            .remove(0);
    }
    let start = || {
        let state = state.clone();
        WarehouseActor::start_in_arbiter(&state.database_thread.clone(), move |_| {
            WarehouseActor::new(warehouse_id, state)
        })
    };
    match state
        .warehouses
        .send(&warehouse_id, start, Submit(job))
        .await
    {
        Ok(result) => result,
        Err(e) => Err(JobError::Db(DbError::Batch(format!(
            "warehouse actor: {e}"
        )))),
    }
}
