//! One actor per order being changed on this node: it applies that order's status changes one
//! at a time, so concurrent requests for one order queue here instead of on a row lock. It
//! remembers the order as its last change left it, so the next change is a single statement;
//! that statement applies only if the order is still at that version, so a change made on
//! another node is noticed, the order read again and the change checked against it: two nodes
//! cannot skip a state either. It stops after `actors.idle_secs` without work. It runs on the
//! database thread (`db::thread`), so its round trips do not wait behind socket writes.

use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, AtomicResponse, Context, Handler, Message,
    SpawnHandle, WrapFuture,
};
use actix_web::web;

use crate::db::orders::{self, ChangeError, OrderRow, StatusChange};
use crate::http::error::ApiError;
use crate::state::AppState;

pub struct OrderActor {
    order_id: i64,
    /// The pool, and the directory this actor removes itself from when it stops.
    state: web::Data<AppState>,
    /// The pending idle stop, pushed back by every message.
    idle: Option<SpawnHandle>,
    /// The order as the last change here left it; `None` until then, or after a failed change
    /// (then the next one reads the order first).
    known: Option<OrderRow>,
}

impl OrderActor {
    fn new(order_id: i64, state: web::Data<AppState>) -> Self {
        OrderActor {
            order_id,
            state,
            idle: None,
            known: None,
        }
    }

    fn rearm_idle(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle.take() {
            ctx.cancel_future(handle);
        }
        let idle = Duration::from_secs(self.state.settings.actors.idle_secs);
        self.idle = Some(ctx.run_later(idle, |_, ctx| ctx.stop()));
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rearm_idle(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.state.orders.remove(&self.order_id, &ctx.address());
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
        let pool = self.state.pool.clone();
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

/// Routes a status change through the order's actor, starting it if needed.
pub async fn change_status(
    state: &web::Data<AppState>,
    change: StatusChange,
) -> Result<OrderRow, ApiError> {
    let id = change.order_id;
    let start = || {
        let state = state.clone();
        OrderActor::start_in_arbiter(&state.database_thread.clone(), move |_| {
            OrderActor::new(id, state)
        })
    };
    match state.orders.send(&id, start, ChangeStatus(change)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(actix::MailboxError::Closed) => Err(ApiError::internal("order actor kept stopping")),
        Err(e) => Err(e.into()),
    }
}
