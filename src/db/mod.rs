//! PostgreSQL access: the connection pool, the embedded default, migrations, and one module of
//! queries per group of tables. Statements are prepared once per connection and cached.

pub mod carts;
pub mod checkout;
pub mod embedded;
pub mod events;
pub mod migrate;
pub mod notifications;
pub mod orders;
pub mod products;
pub mod totp;
pub mod tracking;
pub mod users;
pub mod warehouses;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {}", describe(.0))]
    Query(#[from] tokio_postgres::Error),
    /// A whole warehouse batch failed; each of its jobs reports this.
    #[error("warehouse batch: {0}")]
    Batch(String),
}

/// A pool of at most `size` connections; a request waits for a free one rather than opening more.
pub fn pool(config: tokio_postgres::Config, size: usize) -> Pool {
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
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
