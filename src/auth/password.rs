//! bcrypt hashing and checking on the blocking pool: a cost-12 hash takes a quarter second of
//! CPU, which on the event loop would stall every socket sharing that thread.

use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the blocking pool is gone: {0}")]
    Join(#[from] tokio::task::JoinError),
}

pub async fn hash(password: String, cost: u32) -> Result<String, PasswordError> {
    Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
}

/// Checks `password` against `stored`. With no account (`None`) it still spends the time of
/// one check, so a wrong password and an unknown account cannot be told apart by timing.
pub async fn verify(
    password: String,
    stored: Option<String>,
    cost: u32,
) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || match stored {
        Some(hash) => bcrypt::verify(password, &hash),
        None => bcrypt::verify(password, dummy_hash(cost)).map(|_| false),
    })
    .await?
    .map_err(Into::into)
}

fn dummy_hash(cost: u32) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| bcrypt::hash("no account has this password", cost).expect("bcrypt hashes"))
}
