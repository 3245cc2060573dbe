//! Share links: `/orders/{id}/share-links` (the owner or staff make, list and revoke them) and
//! `/track/{token}`, the public view of one order that a link opens without a login.
//!
//! The token is 256 random bits in hex, shown once at creation and stored only as a hash.
//! An unknown, malformed, revoked or expired token gets the same 404. The public view carries
//! the order's progress only (statuses, times, the notes written for the customer): never the
//! customer's name, contact, address or prices, nor who on the staff made a change.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::OptionalObject;
use super::envelope;
use super::error::ApiError;
use super::extract::request_locale;
use super::messages::Msg;
use super::openapi::{Conflict, Id, NotFound, Success, Unprocessable};
use super::routes::Routes;
use super::state::AppState;
use super::views::Removed;
use crate::access::visible_order;
use crate::auth::caller::AuthUser;
use crate::db::{orders, share_links};
use crate::domain::locale::Locale;
use crate::domain::position::{Point, Position};
use crate::domain::status::OrderStatus;
use crate::events::{first_name, Change};

/// Random bytes in a token: 256 bits, written as 64 lowercase hex digits (URL-safe as is).
const TOKEN_BYTES: usize = 32;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/orders/{id:\\d+}/share-links", |r| {
            r.post(create).get(list)
        })
        .resource("/orders/{id:\\d+}/share-links/{link_id:\\d+}", |r| {
            r.delete(revoke)
        })
        .resource("/track/{token}", |r| r.get(track));
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ShareLinkRequest)]
struct CreateRequest {
    /// An end earlier than the default one (`share.ttl_days` after the order is final), in
    /// RFC 3339.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ShareLink)]
struct Created {
    id: i64,
    token: String,
    url: String,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

#[utoipa::path(
    post,
    path = "/orders/{id}/share-links",
    tag = "Share links",
    params(Id),
    request_body(content = Option<CreateRequest>, description = "Optional: without a body the link lasts the default time"),
    responses(
        (status = 201, description = "`{id, token, url, expires_at, created_at}`: a link anyone may open to follow the order", body = Success<Created>),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: OptionalObject<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    // No body means the default end.
    let request = body.into_inner();
    let expires_at = match request.expires_at.as_deref() {
        None => None,
        Some(text) => Some(future_time(text)?),
    };
    let order = visible_order(&state.pool, &user, *id).await?;
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let share = &state.settings.share;
    let link = share_links::create(
        &state.pool,
        order.id,
        user.id(),
        &token,
        expires_at,
        share.max_links_per_order,
        share.ttl_days,
    )
    .await?;
    // Never from the request's Host or X-Forwarded-* headers: whoever sent those would choose
    // where the link leads. Without `share.public_url` the answer is the path alone.
    let url = format!("{}/track/{token}", share.public_url.trim_end_matches('/'));
    Ok(envelope::created(
        Msg::ShareLinkCreated.text(user.locale),
        Created {
            id: link.id,
            token,
            url,
            expires_at: link.expires_at,
            created_at: link.created_at,
        },
    ))
}

/// An RFC 3339 time after now, in the years PostgreSQL and every client can write (to 9999).
fn future_time(text: &str) -> Result<DateTime<Utc>, ApiError> {
    let at = DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::Unprocessable("expires_at must be an RFC 3339 date and time".into())
        })?;
    if at <= Utc::now() || at.year() > 9999 {
        return Err(ApiError::Unprocessable(
            "expires_at must be in the future, before the year 10000".into(),
        ));
    }
    Ok(at)
}

#[utoipa::path(
    get,
    path = "/orders/{id}/share-links",
    tag = "Share links",
    params(Id),
    responses(
        (status = 200, description = "The order's links `[{id, expires_at, created_at, active}]`, never their tokens", body = Success<Vec<crate::db::share_links::ShareLinkRow>>),
        (status = 404, response = NotFound),
    )
)]
async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = visible_order(&state.pool, &user, *id).await?;
    let links = share_links::list(&state.pool, order.id, state.settings.share.ttl_days).await?;
    Ok(envelope::ok(
        Msg::ShareLinksRetrieved.text(user.locale),
        links,
    ))
}

#[utoipa::path(
    delete,
    path = "/orders/{id}/share-links/{link_id}",
    tag = "Share links",
    params(("id" = i64, Path, description = "Order id"), ("link_id" = i64, Path, description = "Share link id")),
    responses(
        (status = 200, description = "The link, revoked", body = Success<Removed>),
        (status = 404, response = NotFound),
    )
)]
async fn revoke(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (order_id, link_id) = path.into_inner();
    let order = visible_order(&state.pool, &user, order_id).await?;
    if !share_links::revoke(&state.pool, order.id, link_id).await? {
        return Err(ApiError::NotFound("Share link"));
    }
    Ok(envelope::ok(
        Msg::ShareLinkRevoked.text(user.locale),
        Removed { id: link_id },
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TrackQuery {
    /// The language of `status_display`: `en` or `id` (else `Accept-Language`).
    lang: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SharedOrder)]
struct PublicView {
    order_number: String,
    status: OrderStatus,
    status_display: &'static str,
    seq: i32,
    estimated_time: Option<DateTime<Utc>>,
    /// The first name of the driver bringing the order: the assigned one, else the one who
    /// last moved it.
    driver_name: Option<String>,
    /// Where the order goes, for the map.
    destination: Option<Point>,
    /// The driver's last known position while shipped; live ones follow on the socket.
    #[schema(value_type = Option<Position>)]
    location: Option<serde_json::Value>,
    timeline: Vec<PublicStep>,
}

#[derive(Serialize, ToSchema)]
struct PublicStep {
    status: OrderStatus,
    status_display: &'static str,
    /// Written for the customer (the owner sees them too); who wrote them stays out.
    notes: Option<String>,
    at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/track/{token}",
    tag = "Share links",
    security(()),
    params(("token" = String, Path, description = "The link's token: 64 hex digits, the only credential needed"), TrackQuery),
    responses(
        (status = 200, description = "The public view of the order the link opens: no login, the token is the credential", body = Success<PublicView>),
        (status = 404, response = NotFound),
    )
)]
async fn track(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    query: web::Query<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    if !well_formed_token(&token) {
        return Err(UNKNOWN);
    }
    let order_id = share_links::find_live(&state.pool, &token, state.settings.share.ttl_days)
        .await?
        .ok_or(UNKNOWN)?
        .order_id;
    // A deleted order's links were revoked with it; this covers one deleted meanwhile.
    let order = orders::find(&state.pool, order_id, false)
        .await?
        .ok_or(UNKNOWN)?;
    let history = orders::history(&state.pool, order_id).await?;
    let driver = match &order.driver {
        Some(assigned) => Some(first_name(&assigned.name)),
        None => orders::latest_driver(&state.pool, order_id).await?,
    };
    let locale = match query.lang.as_deref().and_then(Locale::parse) {
        Some(locale) => locale,
        None => request_locale(&req, Locale::En),
    };
    let location = order.live_location().cloned();
    let view = PublicView {
        order_number: order.order_number,
        status: order.status,
        status_display: order.status.display(locale),
        seq: order.version,
        estimated_time: order.estimated_time,
        driver_name: driver,
        destination: order.destination,
        location,
        timeline: history
            .into_iter()
            .filter(|h| h.change == Change::Status)
            .map(|h| PublicStep {
                status: h.status,
                status_display: h.status.display(locale),
                notes: h.notes,
                at: h.created_at,
            })
            .collect(),
    };
    let mut answer = envelope::ok(Msg::SharedOrderRetrieved.text(locale), view);
    // A link is a credential: it must not leak through a Referer from the page it opens.
    answer.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    Ok(answer)
}

/// What an unknown, revoked, expired or malformed token gets, on every route that takes one.
pub(super) const UNKNOWN: ApiError = ApiError::NotFound("Tracking link");

/// Whether `token` could be one we issued (64 lowercase hex digits); others are not looked up.
pub(super) fn well_formed_token(token: &str) -> bool {
    token.len() == TOKEN_BYTES * 2
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
