//! `/totp/setup/{id}`, `/totp/verify/{id}`, `/totp/disable/{id}`, and the code check that
//! login shares with them.
//!
//! Policy: a bearer token alone never changes how an account logs in. Setup writes a pending
//! secret that login ignores; only a code from it together with the account's password (verify)
//! puts it in force, which also ends every other session of the account (the caller gets a fresh
//! token). While two-factor login is on, a new setup needs a current code from the secret in
//! force, and turning it off a current code or the password. Passwords given here count against
//! the same throttle as logins. An admin managing another account needs no password of theirs.
//! A wrong code here is a 422, not a 401: the caller's token is fine, only the code is not.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::{JsonObject, OptionalObject};
use super::envelope;
use super::error::ApiError;
use super::extract::client_address;
use super::issued_token::IssuedToken;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, Id, NotFound, Success, TooManyRequests, Unprocessable};
use super::routes::Routes;
use super::state::AppState;
use crate::auth::caller::AuthUser;
use crate::auth::password;
use crate::auth::throttle::LoginThrottle;
use crate::auth::totp::{unix_now, TotpKeys};
use crate::db::totp::{self as store, TotpState};
use crate::db::users::UserRow;
use crate::domain::role::Role;
use crate::domain::validation::FieldErrors;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/totp/setup/{id:\\d+}", |r| r.post(setup))
        .resource("/totp/verify/{id:\\d+}", |r| r.post(verify))
        .resource("/totp/disable/{id:\\d+}", |r| r.post(disable));
}

/// Which of the account's secrets a code is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// The one login uses, while two-factor login is on.
    InForce,
    /// The one `/totp/setup` made, waiting for its first code.
    Pending,
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("Invalid two-factor code")]
    Invalid,
    #[error("too many wrong codes")]
    Throttled(Duration),
    #[error("Two-factor login is not set up; call /totp/setup first")]
    NotSetUp,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::db::DbError> for CodeError {
    fn from(e: crate::db::DbError) -> Self {
        CodeError::Api(e.into())
    }
}

/// For a caller who is already signed in: a wrong code is a rule violation (422).
impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::Invalid => ApiError::Unprocessable(e.to_string()),
            CodeError::Throttled(wait) => ApiError::TooManyRequests(wait),
            CodeError::NotSetUp => ApiError::Conflict(e.to_string()),
            CodeError::Api(api) => api,
        }
    }
}

#[derive(Deserialize, Default, ToSchema)]
struct CodeBody {
    code: Option<String>,
    password: Option<String>,
}

impl CodeBody {
    fn code(&self) -> Option<&str> {
        self.code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }
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

/// A current code from the secret in force, required to change an account that has two-factor
/// login on.
async fn require_current_code(
    state: &AppState,
    account: &UserRow,
    body: &CodeBody,
) -> Result<(), ApiError> {
    if !account.totp_enabled {
        return Ok(());
    }
    let code = body.code().ok_or_else(|| {
        FieldErrors::single(
            "code",
            "Two-factor login is on: a current code from the authenticator app is required.",
        )
    })?;
    check_code(state, account.id, code, Secret::InForce).await?;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/totp/setup/{id}",
    tag = "Two-factor login",
    params(Id),
    request_body(content = Option<CodeBody>, description = "Optional while two-factor login is off; with it on, a current `code` is required"),
    responses(
        (status = 200, description = "`{secret, otpauth_uri, qr_png, enabled}`: a new secret, not in force until verified", body = Success<SetUp>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn setup(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: OptionalObject<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let account = account(&state, &user, id.into_inner()).await?;
    let body = body.into_inner();
    require_current_code(&state, &account, &body).await?;
    let secret = TotpKeys::new_secret();
    store::store_pending(&state.pool, account.id, &state.totp.seal(&secret)).await?;
    let label = account
        .email
        .as_deref()
        .or(account.username.as_deref())
        .unwrap_or(&account.name);
    let enrollment = state.totp.enrollment(&secret, label);
    Ok(envelope::ok(
        Msg::TotpSetUp.text(user.locale),
        SetUp {
            secret: enrollment.secret_base32,
            otpauth_uri: enrollment.otpauth_uri,
            qr_png: format!("data:image/png;base64,{}", enrollment.qr_png_base64),
            enabled: account.totp_enabled,
        },
    ))
}

/// A code from the pending secret puts it in force and ends the account's other sessions; the
/// caller, if it is the account itself, gets a fresh token to go on with.
#[utoipa::path(
    post,
    path = "/totp/verify/{id}",
    tag = "Two-factor login",
    params(Id),
    request_body = CodeBody,
    responses(
        (status = 200, description = "`{enabled: true, token, token_type, expires_at}`: two-factor login is on and the account's other sessions end; the caller's own fresh token when it is the account", body = Success<serde_json::Value>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let account = account(&state, &user, id.into_inner()).await?;
    let body = body.into_inner();
    let code = body
        .code()
        .ok_or_else(|| FieldErrors::single("code", "The code field is required."))?;
    if account.id == user.id() {
        let password = body
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                FieldErrors::single(
                    "password",
                    "The password is required to turn on two-factor login.",
                )
            })?;
        require_password(&state, &req, &account, password).await?;
    }
    let pending = check_code(&state, account.id, code, Secret::Pending).await?;
    let version = store::enable_pending(&state.pool, account.id, &pending)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(
                "The setup was replaced meanwhile; verify a code from the new one".into(),
            )
        })?;
    let token = (account.id == user.id())
        .then(|| IssuedToken::new(&state, account.id, account.role, version));
    Ok(envelope::ok(
        Msg::TotpEnabled.text(user.locale),
        Enabled {
            enabled: true,
            token,
        },
    ))
}

/// A new secret, not in force until a code from it is verified.
#[derive(Serialize, ToSchema)]
struct SetUp {
    /// Base32, for typing into an authenticator app.
    secret: String,
    otpauth_uri: String,
    /// The URI as a QR code: a `data:image/png;base64,...` URL.
    qr_png: String,
    /// Whether two-factor login is on (still the old secret, until verified).
    enabled: bool,
}

#[derive(Serialize, ToSchema)]
struct TwoFactor {
    enabled: bool,
}

#[derive(Serialize)]
struct Enabled {
    enabled: bool,
    /// Every earlier token of the account stopped working; the caller goes on with this one.
    #[serde(flatten)]
    token: Option<IssuedToken>,
}

/// Turning it off takes a current code, or the account's password.
#[utoipa::path(
    post,
    path = "/totp/disable/{id}",
    tag = "Two-factor login",
    params(Id),
    request_body = CodeBody,
    responses(
        (status = 200, description = "`{enabled: false}`", body = Success<TwoFactor>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn disable(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let account = account(&state, &user, id.into_inner()).await?;
    let body = body.into_inner();
    match (body.code(), body.password.clone()) {
        (Some(code), _) => {
            check_code(&state, account.id, code, Secret::InForce).await?;
        }
        (None, Some(password)) => require_password(&state, &req, &account, password).await?,
        (None, None) => {
            return Err(FieldErrors::single("code", "A code or the password is required.").into())
        }
    }
    store::disable(&state.pool, account.id).await?;
    Ok(envelope::ok(
        Msg::TotpDisabled.text(user.locale),
        TwoFactor { enabled: false },
    ))
}

/// The account's password, checked as a login attempt is: throttled per account and address,
/// so these routes are no way around the login throttle. Wrong: 422 (the token is fine).
async fn require_password(
    state: &AppState,
    req: &HttpRequest,
    account: &UserRow,
    password: String,
) -> Result<(), ApiError> {
    let keys = LoginThrottle::keys(&account.id.to_string(), Some(&client_address(req)));
    state
        .login_throttle
        .check(&keys)
        .map_err(ApiError::TooManyRequests)?;
    let cost = state.settings.auth.bcrypt_cost;
    if !password::verify(password, Some(account.password_hash.clone()), cost).await? {
        state.login_throttle.record_failure(&keys);
        return Err(ApiError::Unprocessable("Invalid password".into()));
    }
    state.login_throttle.record_success(&keys);
    Ok(())
}

/// Accepts `code` for the user once: throttled after repeated failures (counted in the
/// database, so across sessions and processes), refused if its time step was already used.
/// Answers the sealed secret the code matched.
async fn check_code(
    state: &AppState,
    user_id: i64,
    code: &str,
    which: Secret,
) -> Result<Vec<u8>, CodeError> {
    let totp = store::state(&state.pool, user_id)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let wait = throttle_wait(state, &totp);
    if !wait.is_zero() {
        return Err(CodeError::Throttled(wait));
    }
    let sealed = match which {
        Secret::InForce => totp.sealed_secret.filter(|_| totp.enabled),
        Secret::Pending => totp.sealed_pending,
    }
    .ok_or(CodeError::NotSetUp)?;
    let secret = state.totp.open(&sealed).ok_or(CodeError::NotSetUp)?;
    match state.totp.matching_step(&secret, code, unix_now()) {
        Some(step) if store::accept_step(&state.pool, user_id, step).await? => Ok(sealed),
        _ => {
            store::record_failure(&state.pool, user_id).await?;
            Err(CodeError::Invalid)
        }
    }
}

fn throttle_wait(state: &AppState, totp: &TotpState) -> Duration {
    let free = state.settings.auth.totp_free_failures as i32;
    let (Some(at), true) = (totp.failed_at, totp.failures >= free) else {
        return Duration::ZERO;
    };
    let delay = Duration::from_secs(1u64 << (totp.failures - free).min(20)).min(
        Duration::from_secs(state.settings.auth.login_max_delay_secs),
    );
    let elapsed = (Utc::now() - at).to_std().unwrap_or_default();
    delay.saturating_sub(elapsed)
}

/// The login step after the password: a TOTP user must send a valid, unused code. Here a wrong
/// code is a failed login (401), like a wrong password.
pub async fn second_factor(
    state: &AppState,
    user: &UserRow,
    code: Option<&str>,
) -> Result<(), ApiError> {
    if !user.totp_enabled {
        return Ok(());
    }
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::Unauthorized("totp_required"))?;
    match check_code(state, user.id, code, Secret::InForce).await {
        Ok(_) => Ok(()),
        Err(CodeError::Invalid) => Err(ApiError::Unauthorized("Invalid two-factor code")),
        Err(other) => Err(other.into()),
    }
}
