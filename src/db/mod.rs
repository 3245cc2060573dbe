//! PostgreSQL access: the connection pool, the embedded default, migrations, and one module of
//! queries per group of tables. Statements are prepared once per connection and cached.

pub mod board;
pub mod carts;
pub mod checkout;
pub mod embedded;
pub mod events;
pub mod migrate;
pub mod named;
pub mod notifications;
pub mod orders;
pub mod products;
pub mod share_links;
pub mod thread;
pub mod totp;
pub mod tracking;
pub mod users;
pub mod warehouses;
pub mod webhooks;

use std::time::Duration;

use actix::ArbiterHandle;
use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {}", describe(.0))]
    Query(#[from] tokio_postgres::Error),
    /// A whole warehouse batch failed; each of its jobs reports this.
    #[error("warehouse batch: {0}")]
    Batch(String),
    /// A whole warehouse batch failed because the database could not be reached.
    #[error("warehouse batch, database unavailable: {0}")]
    BatchUnavailable(String),
    /// A statement's named parameter was given no value (`named`): a mistake in our code.
    #[error("statement parameter :{0} has no value")]
    Unbound(String),
}

impl DbError {
    /// Whether the database could not be reached or went away (as opposed to refusing a
    /// statement): the request may succeed later, so it is a 503, not a 500.
    pub fn is_unavailable(&self) -> bool {
        use deadpool_postgres::PoolError;
        match self {
            DbError::Pool(PoolError::Timeout(_) | PoolError::Backend(_) | PoolError::Closed) => {
                true
            }
            DbError::Pool(_) | DbError::Batch(_) | DbError::Unbound(_) => false,
            DbError::Query(e) => connection_lost(e),
            DbError::BatchUnavailable(_) => true,
        }
    }
}

/// Connection-class failures: the connection closed or broke, SQLSTATE class 08 (connection
/// exception), 57P01-57P03 (the server shutting down, crashed, or not yet accepting).
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        // No server error at all: an I/O failure on the way there.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// How long a request waits for a pool connection, for a new connection to open, or for an idle
/// one to be checked, before it is answered 503: nothing hangs on a database that is gone.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of at most `size` connections, opened and driven on `thread`; a request waits for a
/// free one rather than opening more.
pub fn pool(config: tokio_postgres::Config, size: usize, thread: ArbiterHandle) -> Pool {
    let manager = Manager::from_connect(
        config,
        thread::OnDatabaseThread(thread),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .expect("a pool with a runtime and no hooks always builds")
}

/// Whether a PostgreSQL error is the unique violation of `constraint`.
pub fn is_unique_violation(err: &tokio_postgres::Error, constraint: &str) -> bool {
    err.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some(constraint)
    })
}

/// A tokio-postgres error with the part that says what went wrong: its `Display` is only
/// "db error" or "error connecting to server"; the server's message or the I/O cause is in the
/// source.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The current time as PostgreSQL stores it (whole microseconds). Statements that write an event
/// and its rows in one go take their time from here, so the event encoded beforehand equals the
/// one rebuilt later from the stored rows.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Where a page of a list starts and how long it is.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

/// Runs a list's page query and its count query. Both take the filter's `params`; the page
/// query takes `LIMIT` and `OFFSET` as its two last parameters.
pub async fn paged<C: GenericClient>(
    client: &C,
    page: &Statement,
    count: &Statement,
    params: &[&(dyn ToSql + Sync)],
    window: Window,
) -> Result<(Vec<Row>, i64), DbError> {
    let mut with_window = params.to_vec();
    with_window.push(&window.limit);
    with_window.push(&window.offset);
    let rows = client.query(page, &with_window).await?;
    let total: i64 = client.query_one(count, params).await?.get(0);
    Ok((rows, total))
}
