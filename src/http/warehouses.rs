//! `/warehouses`: everyone signed in reads them; admins create, change and delete them. `PUT`
//! replaces a warehouse (a field left out takes its default); `PATCH` changes only the fields it
//! names.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::state::AppState;
use crate::auth::caller::AuthUser;
use crate::db::warehouses;
use crate::domain::commerce;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/warehouses")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/warehouses/{id:\\d+}")
            .route(web::get().to(detail))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete)),
    );
}

async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let input = commerce::warehouse(&body)?;
    Ok(envelope::created(
        Msg::WarehouseCreated.text(user.locale),
        warehouses::insert(&state.pool, &input).await?,
    ))
}

async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        Msg::WarehousesRetrieved.text(user.locale),
        warehouses::list(&state.pool).await?,
    ))
}

async fn detail(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouses::find(&state.pool, *id)
        .await?
        .ok_or(ApiError::NotFound("Warehouse"))?;
    Ok(envelope::ok(
        Msg::WarehouseRetrieved.text(user.locale),
        warehouse,
    ))
}

async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    save(&state, &user, *id, &body).await
}

async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let current = warehouses::find(&state.pool, *id)
        .await?
        .ok_or(ApiError::NotFound("Warehouse"))?;
    let merged = commerce::overlay(&current, &body)?;
    save(&state, &user, *id, &merged).await
}

/// Writes the warehouse as `body` describes it whole.
async fn save(
    state: &AppState,
    user: &AuthUser,
    id: i64,
    body: &Value,
) -> Result<HttpResponse, ApiError> {
    let input = commerce::warehouse(body)?;
    let updated = warehouses::update(&state.pool, id, &input)
        .await?
        .ok_or(ApiError::NotFound("Warehouse"))?;
    Ok(envelope::ok(
        Msg::WarehouseUpdated.text(user.locale),
        updated,
    ))
}

async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    if !warehouses::delete(&state.pool, *id).await? {
        return Err(ApiError::NotFound("Warehouse"));
    }
    Ok(envelope::ok(
        Msg::WarehouseDeleted.text(user.locale),
        serde_json::json!({"id": *id}),
    ))
}
