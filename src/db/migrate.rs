//! Applies the SQL files in `sql/` (embedded at build time) to the database.

use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("sql");
}

/// Any number that is ours alone: two processes starting at once take turns migrating.
const MIGRATION_LOCK: i64 = 0x6f72_6465_7274_726b;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] tokio_postgres::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
}

/// Brings the schema up to date; returns how many migrations were applied.
pub async fn run(config: &tokio_postgres::Config) -> Result<usize, MigrateError> {
    // refinery creates its table "IF NOT EXISTS", which PostgreSQL answers with a NOTICE on every
    // start after the first; notices are not worth a log line here.
    let mut config = config.clone();
    let quiet = "-c client_min_messages=warning";
    let options = match config.get_options() {
        Some(given) => format!("{given} {quiet}"),
        None => quiet.to_string(),
    };
    config.options(&options);
    let (mut client, connection) = config.connect(NoTls).await?;
    let conn = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner().run_async(&mut client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    drop(client);
    let _ = conn.await;
    let applied = report?.applied_migrations().len();
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    Ok(applied)
}
