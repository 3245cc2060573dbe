//! `/warehouseStocks`: how many of each product each warehouse holds. Everyone signed in reads;
//! admins change. Quantity changes go through the warehouse's actor, like checkouts.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use futures_util::future::join_all;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, Id, NotFound, Success};
use super::routes::Routes;
use super::state::AppState;
use super::views::Removed;
use crate::auth::caller::AuthUser;
use crate::db::warehouses::{self, StockRow, WarehouseRow};
use crate::domain::commerce::{self, Fields, StockInput};
use crate::domain::validation::FieldErrors;

/// Most items one bulk update may carry.
const MAX_BULK_ITEMS: usize = 1000;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/warehouseStocks", |r| r.post(create).get(list))
        .resource("/warehouseStocks/concurrent", |r| r.put(bulk_update))
        // GET takes a warehouse id (seed 004); PUT and DELETE a stock row id.
        .resource("/warehouseStocks/{id:\\d+}", |r| {
            r.get(by_warehouse).put(update).delete(delete)
        });
}

#[utoipa::path(
    post,
    path = "/warehouseStocks",
    tag = "Stock",
    request_body = StockInput,
    responses(
        (status = 201, description = "The stock row (admins only)", body = Success<StockRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let input = commerce::stock(&body)?;
    let stock = warehouses::insert_stock(&state.pool, &input).await?;
    Ok(envelope::created(
        Msg::StockCreated.text(user.locale),
        stock,
    ))
}

#[utoipa::path(
    get,
    path = "/warehouseStocks",
    tag = "Stock",
    responses(
        (status = 200, description = "Every stock row", body = Success<Vec<StockRow>>),
    )
)]
async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        Msg::StocksRetrieved.text(user.locale),
        warehouses::list_stocks(&state.pool, None).await?,
    ))
}

/// A warehouse and what it holds.
#[derive(Serialize, ToSchema)]
struct WarehouseStock {
    warehouse: WarehouseRow,
    stocks: Vec<StockRow>,
}

#[utoipa::path(
    get,
    path = "/warehouseStocks/{id}",
    tag = "Stock",
    params(Id),
    responses(
        (status = 200, description = "The stock of the warehouse `{id}` (a warehouse id here)", body = Success<WarehouseStock>),
        (status = 404, response = NotFound),
    )
)]
async fn by_warehouse(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouses::find(&state.pool, *id)
        .await?
        .ok_or(ApiError::NotFound("Warehouse"))?;
    let stocks = warehouses::list_stocks(&state.pool, Some(warehouse.id)).await?;
    Ok(envelope::ok(
        Msg::StocksRetrieved.text(user.locale),
        WarehouseStock { warehouse, stocks },
    ))
}

async fn set(state: &web::Data<AppState>, input: StockInput) -> Result<StockRow, ApiError> {
    Ok(state.warehouses.set_stock(input).await?)
}

/// Sets the quantity of the stock row `id` (seed 004 also sends its warehouse and product).
#[utoipa::path(
    put,
    path = "/warehouseStocks/{id}",
    tag = "Stock",
    params(Id),
    request_body(content = StockInput, description = "The new quantity (seed 004 also sends the warehouse and product)"),
    responses(
        (status = 200, description = "The stock row `{id}` with its new quantity (admins only)", body = Success<StockRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let mut fields = Fields::new(&body)?;
    let quantity = fields.quantity("quantity", 0);
    fields.errors.finish(())?;
    let row = warehouses::find_stock(&state.pool, *id)
        .await?
        .ok_or(ApiError::NotFound("Warehouse stock"))?;
    let input = StockInput {
        warehouse_id: row.warehouse_id,
        product_id: row.product_id,
        quantity: quantity.unwrap_or_default() as i32,
    };
    Ok(envelope::ok(
        Msg::StockUpdated.text(user.locale),
        set(&state, input).await?,
    ))
}

#[derive(Serialize)]
struct ItemResult {
    warehouse_id: Option<i64>,
    product_id: Option<i64>,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<FieldErrors>,
}

/// Applies many quantity updates: each warehouse's items go to its actor together (one batch),
/// warehouses in parallel. Every item reports on its own; one bad item does not stop the rest.
#[utoipa::path(
    put,
    path = "/warehouseStocks/concurrent",
    tag = "Stock",
    request_body(content = Vec<StockInput>, description = "1 to 100 quantity updates, applied per warehouse; each reports on its own"),
    responses(
        (status = 200, description = "`results: [{warehouse_id, product_id, success, quantity | error}]` at the top level and in `data` (admins only)", body = Success<serde_json::Value>),
        (status = 403, response = Forbidden),
    )
)]
async fn bulk_update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let items = body.as_array().ok_or_else(|| {
        FieldErrors::single(
            "body",
            "The body must be an array of {warehouse_id, product_id, quantity}.",
        )
    })?;
    if items.is_empty() || items.len() > MAX_BULK_ITEMS {
        return Err(FieldErrors::single(
            "body",
            format!("Send between 1 and {MAX_BULK_ITEMS} items."),
        )
        .into());
    }
    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(items.len());
    let mut by_warehouse: BTreeMap<i64, Vec<(usize, StockInput)>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        match commerce::stock(item) {
            Ok(input) => {
                by_warehouse
                    .entry(input.warehouse_id)
                    .or_default()
                    .push((i, input));
                results.push(None);
            }
            Err(errors) => results.push(Some(ItemResult {
                warehouse_id: item.get("warehouse_id").and_then(Value::as_i64),
                product_id: item.get("product_id").and_then(Value::as_i64),
                success: false,
                quantity: None,
                error: Some("Validation failed".into()),
                errors: Some(errors),
            })),
        }
    }
    let groups = by_warehouse.into_values().map(|group| {
        let state = state.clone();
        async move {
            let answers = join_all(group.iter().map(|(_, input)| set(&state, *input))).await;
            group.into_iter().zip(answers).collect::<Vec<_>>()
        }
    });
    for ((i, input), answer) in join_all(groups).await.into_iter().flatten() {
        results[i] = Some(ItemResult {
            warehouse_id: Some(input.warehouse_id),
            product_id: Some(input.product_id),
            success: answer.is_ok(),
            quantity: answer.as_ref().ok().map(|row| row.quantity),
            error: answer.err().map(|e| e.to_string()),
            errors: None,
        });
    }
    let results: Vec<ItemResult> = results.into_iter().flatten().collect();
    let message = if results.iter().all(|r| r.success) {
        Msg::StocksUpdated.text(user.locale)
    } else {
        Msg::StocksPartlyUpdated.text(user.locale)
    };
    Ok(envelope::results(message, results))
}

#[utoipa::path(
    delete,
    path = "/warehouseStocks/{id}",
    tag = "Stock",
    params(Id),
    responses(
        (status = 200, description = "The deleted stock row (admins only)", body = Success<Removed>),
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
    if !warehouses::delete_stock(&state.pool, *id).await? {
        return Err(ApiError::NotFound("Warehouse stock"));
    }
    Ok(envelope::ok(
        Msg::StockDeleted.text(user.locale),
        Removed { id: *id },
    ))
}
