//! `/warehouses`: everyone signed in reads them; admins create, change and delete them. `PUT`
//! replaces a warehouse (a field left out takes its default); `PATCH` changes only the fields it
//! names.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, Id, NotFound, Success};
use super::routes::Routes;
use super::state::AppState;
use super::views::Removed;
use crate::auth::caller::AuthUser;
use crate::db::warehouses::{self, WarehouseRow};
use crate::domain::commerce::{self, WarehouseInput};

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/warehouses", |r| r.post(create).get(list))
        .resource("/warehouses/{id:\\d+}", |r| {
            r.get(detail).put(replace).patch(patch).delete(delete)
        });
}

#[utoipa::path(
    post,
    path = "/warehouses",
    tag = "Warehouses",
    request_body = WarehouseInput,
    responses(
        (status = 201, description = "The new warehouse (admins only)", body = Success<WarehouseRow>),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    )
)]
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

#[utoipa::path(
    get,
    path = "/warehouses",
    tag = "Warehouses",
    responses(
        (status = 200, description = "Every warehouse", body = Success<Vec<WarehouseRow>>),
    )
)]
async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        Msg::WarehousesRetrieved.text(user.locale),
        warehouses::list(&state.pool).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/warehouses/{id}",
    tag = "Warehouses",
    params(Id),
    responses(
        (status = 200, description = "The warehouse", body = Success<WarehouseRow>),
        (status = 404, response = NotFound),
    )
)]
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

#[utoipa::path(
    put,
    path = "/warehouses/{id}",
    tag = "Warehouses",
    params(Id),
    request_body = WarehouseInput,
    responses(
        (status = 200, description = "The warehouse, replaced (admins only)", body = Success<WarehouseRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    save(&state, &user, *id, &body).await
}

#[utoipa::path(
    patch,
    path = "/warehouses/{id}",
    tag = "Warehouses",
    params(Id),
    request_body(content = WarehouseInput, description = "Any of the warehouse's fields; the others stay"),
    responses(
        (status = 200, description = "The warehouse, with the fields given changed (admins only)", body = Success<WarehouseRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/warehouses/{id}",
    tag = "Warehouses",
    params(Id),
    responses(
        (status = 200, description = "`{id}` of the deleted warehouse (admins only)", body = Success<Removed>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
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
        Removed { id: *id },
    ))
}
