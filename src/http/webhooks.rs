//! `/admin/webhooks`: admins register endpoints, change, disable or delete them, rotate their
//! signing secrets, read the delivery log and send a delivery again. What is sent and how is in
//! `crate::webhooks`; the secret is shown once, at creation or rotation, and kept sealed.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::body::JsonObject;
use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, Id, NotFound, Paged, Success};
use super::pagination::PageQuery;
use super::routes::Routes;
use super::state::AppState;
use super::views::Removed;
use crate::auth::caller::AuthUser;
use crate::db::webhooks::{self, DeliveryRow, EndpointRow, RedeliverError};
use crate::domain::webhook::{CreateRequest, UpdateRequest};
use crate::webhooks::signature;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/admin/webhooks", |r| r.post(create).get(list))
        .resource("/admin/webhooks/{id:\\d+}", |r| {
            r.get(detail).patch(update).delete(delete)
        })
        .resource("/admin/webhooks/{id:\\d+}/deliveries", |r| {
            r.get(deliveries)
        })
        .resource(
            "/admin/webhooks/{id:\\d+}/deliveries/{delivery_id:\\d+}/redeliver",
            |r| r.post(redeliver),
        );
}

/// An endpoint, with its new secret in the answers that made one (creation, rotation): the only
/// answers that show it.
#[derive(Serialize, ToSchema)]
struct WithSecret {
    #[serde(flatten)]
    endpoint: EndpointRow,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/webhooks",
    tag = "Webhooks",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "The endpoint and its signing `secret`, shown this once (admins only)", body = Success<WithSecret>),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonObject<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let settings = &state.settings.webhooks;
    let new = body.into_inner().parse(settings.allow_private_targets)?;
    let secret = signature::new_secret();
    let sealed = state.sealing.seal(secret.as_bytes());
    let endpoint = webhooks::create(
        &state.pool,
        &new,
        &sealed,
        user.id(),
        settings.max_endpoints,
    )
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "There are already {} webhook endpoints, the most allowed",
            settings.max_endpoints
        ))
    })?;
    Ok(envelope::created(
        Msg::WebhookCreated.text(user.locale),
        WithSecret {
            endpoint,
            secret: Some(secret),
        },
    ))
}

#[utoipa::path(
    get,
    path = "/admin/webhooks",
    tag = "Webhooks",
    responses(
        (status = 200, description = "Every endpoint, without secrets (admins only)", body = Success<Vec<EndpointRow>>),
        (status = 403, response = Forbidden),
    )
)]
async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let endpoints = webhooks::list(&state.pool).await?;
    Ok(envelope::ok(
        Msg::WebhooksRetrieved.text(user.locale),
        endpoints,
    ))
}

#[utoipa::path(
    get,
    path = "/admin/webhooks/{id}",
    tag = "Webhooks",
    params(Id),
    responses(
        (status = 200, description = "The endpoint, without its secret", body = Success<EndpointRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn detail(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let endpoint = webhooks::find(&state.pool, *id)
        .await?
        .ok_or(ApiError::NotFound("Webhook"))?;
    Ok(envelope::ok(
        Msg::WebhookRetrieved.text(user.locale),
        endpoint,
    ))
}

/// Changes any of url, events, description, enabled; `rotate_secret: true` issues a new secret
/// (answered once) while the old one keeps signing for `webhooks.secret_grace_secs` (409 while
/// an earlier rotation's grace runs).
#[utoipa::path(
    patch,
    path = "/admin/webhooks/{id}",
    tag = "Webhooks",
    params(Id),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "The endpoint; with `secret` when it was rotated", body = Success<WithSecret>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let settings = &state.settings.webhooks;
    let change = body.into_inner().parse(settings.allow_private_targets)?;
    let secret = change.rotate_secret.then(signature::new_secret);
    let sealed = secret.as_ref().map(|s| state.sealing.seal(s.as_bytes()));
    let grace = std::time::Duration::from_secs(settings.secret_grace_secs);
    let Some(endpoint) =
        webhooks::update(&state.pool, *id, &change, sealed.as_deref(), grace).await?
    else {
        return Err(match webhooks::find(&state.pool, *id).await? {
            Some(found) => ApiError::Conflict(format!(
                "The previous secret still signs until {}; rotate again after that",
                found
                    .previous_secret_until
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            )),
            None => ApiError::NotFound("Webhook"),
        });
    };
    Ok(envelope::ok(
        Msg::WebhookUpdated.text(user.locale),
        WithSecret { endpoint, secret },
    ))
}

#[utoipa::path(
    delete,
    path = "/admin/webhooks/{id}",
    tag = "Webhooks",
    params(Id),
    responses(
        (status = 200, description = "The endpoint, deleted with its queue and log", body = Success<Removed>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    if !webhooks::delete(&state.pool, *id).await? {
        return Err(ApiError::NotFound("Webhook"));
    }
    Ok(envelope::ok(
        Msg::WebhookDeleted.text(user.locale),
        Removed { id: *id },
    ))
}

/// The endpoint's deliveries, newest first, each with every attempt (status code, duration,
/// error).
#[utoipa::path(
    get,
    path = "/admin/webhooks/{id}/deliveries",
    tag = "Webhooks",
    params(Id, PageQuery),
    responses(
        (status = 200, description = "The endpoint's deliveries, newest first, each with its attempts", body = Paged<DeliveryRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let page = query.parse()?;
    webhooks::find(&state.pool, *id)
        .await?
        .ok_or(ApiError::NotFound("Webhook"))?;
    let (rows, total) = webhooks::deliveries(&state.pool, *id, page.window()).await?;
    let meta = page.meta(total, rows.len());
    Ok(envelope::page(
        Msg::WebhookDeliveriesRetrieved.text(user.locale),
        rows,
        meta,
    ))
}

/// Queues a finished (delivered or failed) delivery's event again, same event id.
#[utoipa::path(
    post,
    path = "/admin/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    tag = "Webhooks",
    params(("id" = i64, Path, description = "Webhook id"), ("delivery_id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "A new delivery of the same event, at the back of the queue", body = Success<DeliveryRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn redeliver(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let (id, delivery_id) = path.into_inner();
    let delivery = webhooks::redeliver(&state.pool, id, delivery_id)
        .await
        .map_err(|e| match e {
            RedeliverError::NotFound => ApiError::NotFound("Delivery"),
            RedeliverError::StillPending => ApiError::Conflict(
                "The event is still queued for this endpoint; it is sent when due".into(),
            ),
            RedeliverError::Db(e) => e.into(),
        })?;
    Ok(envelope::accepted(
        Msg::WebhookRedeliveryQueued.text(user.locale),
        delivery,
    ))
}
