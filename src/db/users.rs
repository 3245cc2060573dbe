//! Queries on `users`.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::Row;

use super::{is_unique_violation, DbError};
use crate::domain::locale::Locale;
use crate::domain::registration::NewUser;
use crate::domain::role::Role;

const COLUMNS: &str =
    "id, name, email, username, password_hash, role, locale, token_version, totp_enabled, created_at";

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub password_hash: String,
    pub role: Role,
    pub locale: Locale,
    pub token_version: i32,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    fn from_row(row: &Row) -> Self {
        UserRow {
            id: row.get("id"),
            name: row.get("name"),
            email: row.get("email"),
            username: row.get("username"),
            password_hash: row.get("password_hash"),
            role: Role::parse(row.get("role")).unwrap_or(Role::User),
            locale: Locale::parse(row.get("locale")).unwrap_or_default(),
            token_version: row.get("token_version"),
            totp_enabled: row.get("totp_enabled"),
            created_at: row.get("created_at"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The named field (`email` or `username`) is taken, compared case-insensitively.
    #[error("the {0} is already registered")]
    Duplicate(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub async fn insert(
    pool: &Pool,
    user: &NewUser,
    password_hash: &str,
    role: Role,
) -> Result<UserRow, CreateUserError> {
    let client = pool.get().await.map_err(DbError::from)?;
    let sql = format!(
        "INSERT INTO users (name, email, username, password_hash, role, locale)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(DbError::from)?;
    let result = client
        .query_one(
            &stmt,
            &[
                &user.name,
                &user.email,
                &user.username,
                &password_hash,
                &role.as_str(),
                &user.locale.as_str(),
            ],
        )
        .await;
    match result {
        Ok(row) => Ok(UserRow::from_row(&row)),
        Err(e) if is_unique_violation(&e, "users_email_key") => {
            Err(CreateUserError::Duplicate("email"))
        }
        Err(e) if is_unique_violation(&e, "users_username_key") => {
            Err(CreateUserError::Duplicate("username"))
        }
        Err(e) => Err(DbError::from(e).into()),
    }
}

pub async fn find_by_id(pool: &Pool, id: i64) -> Result<Option<UserRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(UserRow::from_row))
}

/// Finds an account by email or username, case-insensitively.
pub async fn find_by_login(pool: &Pool, login: &str) -> Result<Option<UserRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users
             WHERE (email IS NOT NULL AND lower(email) = lower($1))
                OR (username IS NOT NULL AND lower(username) = lower($1))
             LIMIT 1"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&login])
        .await?
        .as_ref()
        .map(UserRow::from_row))
}

/// Sets the name and/or locale (`None` leaves a field as it is); `None` if the user is gone.
pub async fn update_profile(
    pool: &Pool,
    id: i64,
    name: Option<&str>,
    locale: Option<Locale>,
) -> Result<Option<UserRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE users SET name = COALESCE($2, name), locale = COALESCE($3, locale), updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .await?;
    let locale = locale.map(Locale::as_str);
    Ok(client
        .query_opt(&stmt, &[&id, &name, &locale])
        .await?
        .as_ref()
        .map(UserRow::from_row))
}

/// Revokes every token the user holds ("log out everywhere", a role or password change).
pub async fn bump_token_version(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE users SET token_version = token_version + 1, updated_at = now() WHERE id = $1",
        )
        .await?;
    Ok(client.execute(&stmt, &[&id]).await? == 1)
}

/// Gives the user another role and revokes their tokens, which carry the old one.
pub async fn set_role(pool: &Pool, id: i64, role: Role) -> Result<Option<UserRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE users SET role = $2, token_version = token_version + 1, updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id, &role.as_str()])
        .await?
        .as_ref()
        .map(UserRow::from_row))
}

/// Every user, oldest first (the command line's `user list`), or only those of one role.
pub async fn list(pool: &Pool, role: Option<Role>) -> Result<Vec<UserRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users WHERE $1::text IS NULL OR role = $1 ORDER BY id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&role.map(Role::as_str)])
        .await?
        .iter()
        .map(UserRow::from_row)
        .collect())
}

/// A new password for the user; every token they hold stops working.
pub async fn set_password(
    pool: &Pool,
    id: i64,
    password_hash: &str,
) -> Result<Option<UserRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE users SET password_hash = $2, token_version = token_version + 1,
                    updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id, &password_hash])
        .await?
        .as_ref()
        .map(UserRow::from_row))
}
