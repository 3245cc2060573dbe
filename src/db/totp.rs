//! Two-factor state on `users`: the sealed secret in force, a pending one awaiting its first
//! code, whether two-factor login is on, the last accepted time step and the failure count that
//! throttles guessing across sessions and processes.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::DbError;

#[derive(Debug, Clone)]
pub struct TotpState {
    /// The secret login checks, while `enabled`.
    pub sealed_secret: Option<Vec<u8>>,
    /// A secret from `/totp/setup` that no code has confirmed yet; login never reads it.
    pub sealed_pending: Option<Vec<u8>>,
    pub enabled: bool,
    pub failures: i32,
    pub failed_at: Option<DateTime<Utc>>,
}

pub async fn state(pool: &Pool, user_id: i64) -> Result<Option<TotpState>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT totp_secret, totp_pending_secret, totp_enabled, totp_failures, totp_failed_at
             FROM users WHERE id = $1",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&user_id])
        .await?
        .map(|row| TotpState {
            sealed_secret: row.get("totp_secret"),
            sealed_pending: row.get("totp_pending_secret"),
            enabled: row.get("totp_enabled"),
            failures: row.get("totp_failures"),
            failed_at: row.get("totp_failed_at"),
        }))
}

/// A new secret, kept apart from the one in force until a code from it is verified.
pub async fn store_pending(pool: &Pool, user_id: i64, sealed: &[u8]) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_pending_secret = $2, updated_at = now() WHERE id = $1",
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

/// The pending secret becomes the one in force and two-factor login is on. Every token issued
/// before stops working (the version is bumped); answered with the new version, or `None` if
/// the pending secret changed meanwhile (another setup raced this one).
pub async fn enable_pending(
    pool: &Pool,
    user_id: i64,
    verified: &[u8],
) -> Result<Option<i32>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,
                    totp_enabled = true, token_version = token_version + 1, updated_at = now()
             WHERE id = $1 AND totp_pending_secret = $2
             RETURNING token_version",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&user_id, &verified])
        .await?
        .map(|row| row.get(0)))
}

/// Two-factor login off: both secrets are forgotten.
pub async fn disable(pool: &Pool, user_id: i64) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET totp_enabled = false, totp_secret = NULL,
                    totp_pending_secret = NULL, updated_at = now()
             WHERE id = $1",
        )
        .await?;
    client.execute(&stmt, &[&user_id]).await?;
    Ok(())
}
