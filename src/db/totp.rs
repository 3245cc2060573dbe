//! Two-factor state on `users`: the sealed secret, whether it is on, the last accepted time step
//! and the failure count that throttles guessing across sessions and processes.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::DbError;

#[derive(Debug, Clone)]
pub struct TotpState {
    pub sealed_secret: Option<Vec<u8>>,
    pub enabled: bool,
    pub failures: i32,
    pub failed_at: Option<DateTime<Utc>>,
}

pub async fn state(pool: &Pool, user_id: i64) -> Result<Option<TotpState>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT totp_secret, totp_enabled, totp_failures, totp_failed_at FROM users WHERE id = $1")
        .await?;
    Ok(client
        .query_opt(&stmt, &[&user_id])
        .await?
        .map(|row| TotpState {
            sealed_secret: row.get("totp_secret"),
            enabled: row.get("totp_enabled"),
            failures: row.get("totp_failures"),
            failed_at: row.get("totp_failed_at"),
        }))
}

/// A new secret, not active until a code from it is verified.
pub async fn store_pending(pool: &Pool, user_id: i64, sealed: &[u8]) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_secret = $2, totp_enabled = false, totp_last_step = NULL,
                    totp_failures = 0, updated_at = now() WHERE id = $1",
        )
        .await?;
    client.execute(&stmt, &[&user_id, &sealed]).await?;
    Ok(())
}

/// Records `step` as used if it is newer than the last accepted one; false if the code's step
/// was already used (a replay), here or on another process. Success clears the failure count.
pub async fn accept_step(pool: &Pool, user_id: i64, step: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_last_step = $2, totp_failures = 0
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .await?;
    Ok(client.execute(&stmt, &[&user_id, &step]).await? == 1)
}

pub async fn record_failure(pool: &Pool, user_id: i64) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("UPDATE users SET totp_failures = totp_failures + 1, totp_failed_at = now() WHERE id = $1")
        .await?;
    client.execute(&stmt, &[&user_id]).await?;
    Ok(())
}

pub async fn set_enabled(pool: &Pool, user_id: i64, enabled: bool) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_enabled = $2,
                    totp_secret = CASE WHEN $2 THEN totp_secret END, updated_at = now()
             WHERE id = $1",
        )
        .await?;
    client.execute(&stmt, &[&user_id, &enabled]).await?;
    Ok(())
}
