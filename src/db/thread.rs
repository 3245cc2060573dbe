//! The database thread: every pool connection is opened and driven on one arbiter of its own,
//! and the order and warehouse actors run their transactions there too.
//!
//! The HTTP workers may be busy writing to thousands of sockets. A transaction whose round trips
//! wait in their queues holds its row locks and its pool connection far longer than its
//! statements take; on this thread a round trip costs what the database costs.

use actix::ArbiterHandle;
use deadpool_postgres::Connect;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, Error, NoTls};

/// Opens pool connections on the database thread.
pub struct OnDatabaseThread(pub ArbiterHandle);

impl Connect for OnDatabaseThread {
    fn connect(&self, config: &Config) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), Error>> {
        let (tx, rx) = oneshot::channel();
        let opening = config.clone();
        self.0.spawn(async move {
            let _ = tx.send(open(&opening).await);
        });
        let config = config.clone();
        Box::pin(async move {
            match rx.await {
                Ok(opened) => opened,
                // The thread is gone (the server is stopping): open it here instead.
                Err(_) => open(&config).await,
            }
        })
    }
}

/// Connects and drives the connection on the current thread until the client drops it.
async fn open(config: &Config) -> Result<(Client, JoinHandle<()>), Error> {
    let (client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %crate::db::describe(&e), "database connection failed");
        }
    });
    Ok((client, driver))
}
