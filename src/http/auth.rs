//! `POST /register`, `POST /login`, `GET /me`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::JsonObject;
use super::envelope;
use super::error::ApiError;
use super::extract::{client_address, request_locale};
use super::issued_token::IssuedToken;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, Id, NotFound, Success, TooManyRequests, Unauthorized};
use super::routes::Routes;
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

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/register", |r| r.post(register))
        .resource("/login", |r| r.post(login))
        .resource("/logout-all", |r| r.post(logout_everywhere))
        .resource("/admin/users/{id:\\d+}/role", |r| r.put(change_role))
        .resource("/me", |r| r.get(me).patch(update_me));
}

/// Registration always creates a customer, whatever the body says about roles.
#[utoipa::path(
    post,
    path = "/register",
    tag = "Accounts",
    security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new customer account (`UserView`)", body = Success<UserView>),
        (status = 409, response = Conflict),
    )
)]
async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonObject<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_user = body.into_inner().parse()?;
    let hash = password::hash(new_user.password.clone(), state.settings.auth.bcrypt_cost).await?;
    let user = users::insert(&state.pool, &new_user, &hash, Role::User).await?;
    Ok(envelope::created(
        Msg::UserRegistered.text(request_locale(&req, user.locale)),
        UserView::from(&user),
    ))
}

#[derive(Deserialize, ToSchema)]
struct LoginRequest {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    totp: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct LoginAnswer<'a> {
    #[serde(flatten)]
    issued: IssuedToken,
    user: UserView<'a>,
}

#[utoipa::path(
    post,
    path = "/login",
    tag = "Accounts",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "`{token, token_type, expires_at, user}`; with two-factor login on, `totp` is required (401 `totp_required` without it)", body = Success<LoginAnswer>),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
    )
)]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonObject<LoginRequest>,
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

#[utoipa::path(
    get,
    path = "/me",
    tag = "Accounts",
    responses(
        (status = 200, description = "The caller (`UserView`)", body = Success<UserView>),
    )
)]
async fn me(user: AuthUser) -> HttpResponse {
    envelope::ok(
        Msg::CurrentUser.text(user.locale),
        UserView::from(&user.user),
    )
}

#[derive(Deserialize, ToSchema)]
struct ProfileUpdate {
    #[schema(max_length = 100)]
    name: Option<String>,
    #[schema(value_type = Option<Locale>)]
    locale: Option<String>,
}

/// Changes the caller's display name and the language of their notifications and events.
#[utoipa::path(
    patch,
    path = "/me",
    tag = "Accounts",
    request_body = ProfileUpdate,
    responses(
        (status = 200, description = "The caller, updated", body = Success<UserView>),
    )
)]
async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonObject<ProfileUpdate>,
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

#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: bool,
}

/// Revokes every token of the caller, on every device and server process.
#[utoipa::path(
    post,
    path = "/logout-all",
    tag = "Accounts",
    responses(
        (status = 200, description = "`{revoked: true}`: every token of the caller stops working", body = Success<Revoked>),
    )
)]
async fn logout_everywhere(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    users::bump_token_version(&state.pool, user.id()).await?;
    Ok(envelope::ok(
        Msg::LoggedOutEverywhere.text(user.locale),
        Revoked { revoked: true },
    ))
}

#[derive(Deserialize, ToSchema)]
struct RoleChange {
    #[schema(value_type = Role, required = true)]
    role: Option<String>,
}

/// Admins make drivers and admins (or take the role back); the user's tokens stop working.
#[utoipa::path(
    put,
    path = "/admin/users/{id}/role",
    tag = "Accounts",
    params(Id),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The user with the new role; their tokens stop working", body = Success<UserView>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn change_role(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<RoleChange>,
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
