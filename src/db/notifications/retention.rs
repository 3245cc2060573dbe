//! Purges notifications (and the user and board stream events) older than
//! `notifications.retention_days`, at start and then every
//! `notifications.purge_interval_secs`. Every process runs it; the deletes are idempotent.

use std::time::Duration;

use actix::{Actor, AsyncContext, Context, WrapFuture};
use deadpool_postgres::Pool;

use crate::config::NotificationSettings;

pub struct Retention {
    pool: Pool,
    settings: NotificationSettings,
}

impl Retention {
    pub fn new(pool: Pool, settings: NotificationSettings) -> Self {
        Retention { pool, settings }
    }

    fn purge(&self, ctx: &mut Context<Self>) {
        let (pool, days) = (self.pool.clone(), self.settings.retention_days);
        ctx.spawn(
            async move {
                match super::purge_older_than(&pool, days).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, days, "old notifications purged"),
                    Err(e) => tracing::warn!(error = %e, "notification purge failed"),
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for Retention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.purge(ctx);
        ctx.run_interval(
            Duration::from_secs(self.settings.purge_interval_secs),
            |act, ctx| act.purge(ctx),
        );
    }
}
