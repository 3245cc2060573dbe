//! One actor per order being changed on this node: it applies that order's status changes one
//! at a time, so concurrent requests for one order queue here instead of on a row lock. It
//! remembers the order as its last change left it, so the next change is a single statement;
//! that statement applies only if the order is still at that version, so a change made on
//! another node is noticed, the order read again and the change checked against it: two nodes
//! cannot skip a state either. It stops after `actors.idle_secs` without work. It runs on the
//! database thread (`db::thread`), so its round trips do not wait behind socket writes.

use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, ArbiterHandle, AsyncContext, AtomicResponse, Context,
    Handler, MailboxError, Message, SpawnHandle, WrapFuture,
};
use deadpool_postgres::Pool;

use super::directory::Directory;
use crate::db::orders::{self, ChangeError, OrderRow, StatusChange};
use crate::dispatch::positions::Positions;

/// The way to every order's actor on this node.
#[derive(Clone)]
pub struct Orders {
    /// What the actors change orders through.
    pool: Pool,
    /// Where the actors run, next to the pool's connections (`db::thread`).
    thread: ArbiterHandle,
    /// The live actors, so one order's changes are serialized on this node.
    live: Directory<i64, OrderActor>,
    /// How long an actor waits for work before it stops (`actors.idle_secs`).
    idle: Duration,
    /// Told of every change made here, so the next position for the order is checked against
    /// it (a delivered or reassigned order takes no more positions from its old driver).
    positions: Positions,
}

impl Orders {
    pub fn new(pool: Pool, thread: ArbiterHandle, idle: Duration, positions: Positions) -> Self {
        Orders {
            pool,
            thread,
            live: Directory::default(),
            idle,
            positions,
        }
    }

    /// Routes a status change through the order's actor, starting it if needed. The outer
    /// error says the actor could not be reached; the inner one is the change's own answer.
    pub async fn change_status(
        &self,
        change: StatusChange,
    ) -> Result<Result<OrderRow, ChangeError>, MailboxError> {
        let id = change.order_id;
        let start = || {
            let orders = self.clone();
            OrderActor::start_in_arbiter(&self.thread, move |_| OrderActor {
                order_id: id,
                orders,
                idle: None,
                known: None,
            })
        };
        let result = self.live.send(&id, start, ChangeStatus(change)).await;
        if matches!(result, Ok(Ok(_))) {
            self.positions.forget(id);
        }
        result
    }
}

pub struct OrderActor {
    order_id: i64,
    /// The pool, the idle time, and the directory this actor leaves when it stops.
    orders: Orders,
    /// The pending idle stop, pushed back by every message.
    idle: Option<SpawnHandle>,
    /// The order as the last change here left it; `None` until then, or after a failed change
    /// (then the next one reads the order first).
    known: Option<OrderRow>,
}

impl OrderActor {
    fn rearm_idle(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle.take() {
            ctx.cancel_future(handle);
        }
        self.idle = Some(ctx.run_later(self.orders.idle, |_, ctx| ctx.stop()));
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rearm_idle(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.orders.live.remove(&self.order_id, &ctx.address());
    }
}

/// Apply one status change; answered with the order as it is afterwards.
#[derive(Message, Clone)]
#[rtype(result = "Result<OrderRow, ChangeError>")]
pub struct ChangeStatus(pub StatusChange);

impl Handler<ChangeStatus> for OrderActor {
    // Atomic: the next change starts only after this one has committed or failed.
    type Result = AtomicResponse<Self, Result<OrderRow, ChangeError>>;

    fn handle(
        &mut self,
        ChangeStatus(change): ChangeStatus,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        self.rearm_idle(ctx);
        let pool = self.orders.pool.clone();
        let known = self.known.take();
        AtomicResponse::new(Box::pin(
            async move { orders::change_status(&pool, &change, known).await }
                .into_actor(self)
                .map(|result, actor, _| {
                    actor.known = result.as_ref().ok().cloned();
                    result
                }),
        ))
    }
}
