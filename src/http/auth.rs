//! `POST /register`, `POST /login`, `GET /me`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::envelope;
use super::error::ApiError;
use super::extract::{client_address, request_locale};
use super::issued_token::IssuedToken;
use super::messages::Msg;
use super::state::AppState;
use super::views::UserView;
use crate::auth::caller::AuthUser;
use crate::auth::password;
use crate::auth::throttle::LoginThrottle;
use crate::db::users;
use crate::domain::locale::Locale;
use crate::domain::registration::{RegisterRequest, MAX_NAME_CHARS};
use crate::domain::role::Role;
use crate::domain::validation::FieldErrors;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/register").route(web::post().to(register)))
        .service(web::resource("/login").route(web::post().to(login)))
        .service(web::resource("/logout-all").route(web::post().to(logout_everywhere)))
        .service(web::resource("/admin/users/{id:\\d+}/role").route(web::put().to(change_role)))
        .service(
            web::resource("/me")
                .route(web::get().to(me))
                .route(web::patch().to(update_me)),
        );
}

/// Registration always creates a customer, whatever the body says about roles.
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_user = body.into_inner().parse()?;
    let hash = password::hash(new_user.password.clone(), state.settings.auth.bcrypt_cost).await?;
    let user = users::insert(&state.pool, &new_user, &hash, Role::User).await?;
    Ok(envelope::created(
        Msg::UserRegistered.text(request_locale(&req, user.locale)),
        UserView::from(&user),
    ))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    totp: Option<String>,
}

#[derive(Serialize)]
struct LoginAnswer<'a> {
    #[serde(flatten)]
    issued: IssuedToken,
    user: UserView<'a>,
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let body_totp = body.totp;
    let login = body
        .email
        .or(body.username)
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    let mut errors = FieldErrors::default();
    if login.is_empty() {
        errors.add("email", "The email or username field is required.");
    }
    let password = body.password.unwrap_or_default();
    if password.is_empty() {
        errors.add("password", "The password field is required.");
    }
    errors.finish(())?;

    // The user first, so every spelling of one account (email, username, case) counts as one.
    let user = users::find_by_login(&state.pool, &login).await?;
    let account = user.as_ref().map_or(login, |u| u.id.to_string());
    let keys = LoginThrottle::keys(&account, Some(&client_address(&req)));
    state
        .login_throttle
        .check(&keys)
        .map_err(ApiError::TooManyRequests)?;

    let cost = state.settings.auth.bcrypt_cost;
    let valid = password::verify(
        password,
        user.as_ref().map(|u| u.password_hash.clone()),
        cost,
    )
    .await?;
    let Some(user) = user.filter(|_| valid) else {
        state.login_throttle.record_failure(&keys);
        return Err(ApiError::Unauthorized("Invalid credentials"));
    };
    state.login_throttle.record_success(&keys);
    super::totp::second_factor(&state, &user, body_totp.as_deref()).await?;
    Ok(envelope::ok(
        Msg::LoginSuccessful.text(request_locale(&req, user.locale)),
        LoginAnswer {
            issued: IssuedToken::new(&state, user.id, user.role, user.token_version),
            user: UserView::from(&user),
        },
    ))
}

async fn me(user: AuthUser) -> HttpResponse {
    envelope::ok(
        Msg::CurrentUser.text(user.locale),
        UserView::from(&user.user),
    )
}

#[derive(Deserialize)]
struct ProfileUpdate {
    name: Option<String>,
    locale: Option<String>,
}

/// Changes the caller's display name and the language of their notifications and events.
async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let name = errors.optional_text("name", body.name, MAX_NAME_CHARS);
    let locale = body.locale.as_deref().and_then(|l| {
        Locale::parse(l).or_else(|| {
            errors.add("locale", "The locale must be one of: en, id.");
            None
        })
    });
    errors.finish(())?;
    let updated = users::update_profile(&state.pool, user.id(), name.as_deref(), locale)
        .await?
        .ok_or(ApiError::Unauthorized("Unauthorized"))?;
    Ok(envelope::ok(
        Msg::ProfileUpdated.text(user.locale),
        UserView::from(&updated),
    ))
}

/// Revokes every token of the caller, on every device and server process.
async fn logout_everywhere(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    users::bump_token_version(&state.pool, user.id()).await?;
    Ok(envelope::ok(
        Msg::LoggedOutEverywhere.text(user.locale),
        serde_json::json!({"revoked": true}),
    ))
}

#[derive(Deserialize)]
struct RoleChange {
    role: Option<String>,
}

/// Admins make drivers and admins (or take the role back); the user's tokens stop working.
async fn change_role(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let role = body.role.as_deref().and_then(Role::parse).ok_or_else(|| {
        FieldErrors::single("role", "The role must be one of: user, driver, admin.")
    })?;
    let updated = users::set_role(&state.pool, *id, role)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    Ok(envelope::ok(
        Msg::RoleChanged.text(user.locale),
        UserView::from(&updated),
    ))
}
