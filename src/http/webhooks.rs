//! `/admin/webhooks`: admins register endpoints, change, disable or delete them, rotate their
//! signing secrets, read the delivery log and send a delivery again. What is sent and how is in
//! `crate::webhooks`; the secret is shown once, at creation or rotation, and kept sealed.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::pagination::PageQuery;
use super::state::AppState;
use crate::auth::caller::AuthUser;
use crate::db::webhooks::{self, EndpointRow, RedeliverError};
use crate::domain::webhook::{CreateRequest, UpdateRequest};
use crate::webhooks::signature;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/webhooks")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/admin/webhooks/{id:\\d+}")
            .route(web::get().to(detail))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/admin/webhooks/{id:\\d+}/deliveries").route(web::get().to(deliveries)))
    .service(
        web::resource("/admin/webhooks/{id:\\d+}/deliveries/{delivery_id:\\d+}/redeliver")
            .route(web::post().to(redeliver)),
    );
}

/// An endpoint with its new secret: the one answer that shows it.
#[derive(Serialize)]
struct WithSecret {
    #[serde(flatten)]
    endpoint: EndpointRow,
    secret: String,
}

async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateRequest>,
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
        WithSecret { endpoint, secret },
    ))
}

async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let endpoints = webhooks::list(&state.pool).await?;
    Ok(envelope::ok(
        Msg::WebhooksRetrieved.text(user.locale),
        endpoints,
    ))
}

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
async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<UpdateRequest>,
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
    let message = Msg::WebhookUpdated.text(user.locale);
    Ok(match secret {
        Some(secret) => envelope::ok(message, WithSecret { endpoint, secret }),
        None => envelope::ok(message, endpoint),
    })
}

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
        serde_json::json!({"id": *id}),
    ))
}

/// The endpoint's deliveries, newest first, each with every attempt (status code, duration,
/// error).
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
