//! `/totp/setup/{id}`, `/totp/verify/{id}`, `/totp/disable/{id}`, and the code check that
//! login shares with them.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::envelope;
use super::error::ApiError;
use super::extract::AuthUser;
use crate::auth::password;
use crate::auth::totp::unix_now;
use crate::db::totp as store;
use crate::db::users::UserRow;
use crate::domain::role::Role;
use crate::domain::validation::FieldErrors;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/totp/setup/{id:\\d+}").route(web::post().to(setup)))
        .service(web::resource("/totp/verify/{id:\\d+}").route(web::post().to(verify)))
        .service(web::resource("/totp/disable/{id:\\d+}").route(web::post().to(disable)));
}

/// The account `{id}` names, if the caller may manage its two-factor login: their own, or any
/// as an admin.
async fn account(state: &AppState, user: &AuthUser, id: i64) -> Result<UserRow, ApiError> {
    if user.id() != id && user.role() != Role::Admin {
        return Err(ApiError::Forbidden(
            "You may only manage your own two-factor login",
        ));
    }
    crate::db::users::find_by_id(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("User"))
}

async fn setup(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let account = account(&state, &user, id).await?;
    let secret = crate::auth::totp::TotpKeys::new_secret();
    store::store_pending(&state.pool, id, &state.totp.seal(&secret)).await?;
    let label = account
        .email
        .as_deref()
        .or(account.username.as_deref())
        .unwrap_or(&account.name);
    let enrollment = state.totp.enrollment(&secret, label);
    Ok(envelope::ok(
        "Scan the QR code, then verify a code to enable two-factor login",
        json!({
            "secret": enrollment.secret_base32,
            "otpauth_uri": enrollment.otpauth_uri,
            "qr_png": format!("data:image/png;base64,{}", enrollment.qr_png_base64),
            "enabled": false,
        }),
    ))
}

#[derive(Deserialize)]
struct CodeBody {
    code: Option<String>,
    password: Option<String>,
}

async fn verify(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let account = account(&state, &user, id.into_inner()).await?;
    let code = body.into_inner().code.unwrap_or_default();
    if code.trim().is_empty() {
        return Err(FieldErrors::single("code", "The code field is required.").into());
    }
    check_code(&state, account.id, &code, true).await?;
    store::set_enabled(&state.pool, account.id, true).await?;
    Ok(envelope::ok(
        "Two-factor login enabled",
        json!({"enabled": true}),
    ))
}

/// Turning it off takes a current code, or the account's password.
async fn disable(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let account = account(&state, &user, id).await?;
    let body = body.into_inner();
    match (body.code.filter(|c| !c.trim().is_empty()), body.password) {
        (Some(code), _) => check_code(&state, id, &code, false).await?,
        (None, Some(password)) => {
            let cost = state.settings.auth.bcrypt_cost;
            if !password::verify(password, Some(account.password_hash), cost).await? {
                return Err(ApiError::Unauthorized("Invalid password"));
            }
        }
        (None, None) => {
            return Err(FieldErrors::single("code", "A code or the password is required.").into())
        }
    }
    store::set_enabled(&state.pool, id, false).await?;
    Ok(envelope::ok(
        "Two-factor login disabled",
        json!({"enabled": false}),
    ))
}

/// Accepts `code` for the user once: throttled after repeated failures (counted in the
/// database, so across sessions and processes), refused if its time step was already used.
/// `pending` allows a secret that is set up but not yet enabled.
pub async fn check_code(
    state: &AppState,
    user_id: i64,
    code: &str,
    pending: bool,
) -> Result<(), ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("Invalid two-factor code");
    let totp = store::state(&state.pool, user_id)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let wait = throttle_wait(state, totp.failures, totp.failed_at);
    if !wait.is_zero() {
        return Err(ApiError::TooManyRequests(wait));
    }
    let secret = totp
        .sealed_secret
        .filter(|_| totp.enabled || pending)
        .and_then(|sealed| state.totp.open(&sealed))
        .ok_or(ApiError::Conflict(
            "Two-factor login is not set up; call /totp/setup first".into(),
        ))?;
    let step = state.totp.matching_step(&secret, code, unix_now());
    match step {
        Some(step) if store::accept_step(&state.pool, user_id, step).await? => Ok(()),
        _ => {
            store::record_failure(&state.pool, user_id).await?;
            Err(INVALID)
        }
    }
}

fn throttle_wait(
    state: &AppState,
    failures: i32,
    failed_at: Option<chrono::DateTime<Utc>>,
) -> Duration {
    let free = state.settings.auth.totp_free_failures as i32;
    let (Some(at), true) = (failed_at, failures >= free) else {
        return Duration::ZERO;
    };
    let delay = Duration::from_secs(1u64 << (failures - free).min(20)).min(Duration::from_secs(
        state.settings.auth.login_max_delay_secs,
    ));
    let elapsed = (Utc::now() - at).to_std().unwrap_or_default();
    delay.saturating_sub(elapsed)
}

/// The login step after the password: a TOTP user must send a valid, unused code.
pub async fn second_factor(
    state: &AppState,
    user: &UserRow,
    code: Option<&str>,
) -> Result<(), ApiError> {
    if !user.totp_enabled {
        return Ok(());
    }
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        None => Err(ApiError::Unauthorized("totp_required")),
        Some(code) => check_code(state, user.id, code, false).await,
    }
}
