//! `/cart`: each user's own carts. Adding an item creates the open cart on demand.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::state::AppState;
use crate::auth::caller::AuthUser;
use crate::db::carts;
use crate::domain::commerce;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/cart").route(web::get().to(list)))
        .service(web::resource("/cart/item").route(web::post().to(add_item)))
        .service(web::resource("/cart/item/{id:\\d+}").route(web::delete().to(delete_item)))
        .service(web::resource("/cart/{id:\\d+}").route(web::delete().to(delete_cart)));
}

async fn add_item(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let item = commerce::cart_item(&body)?;
    let id = carts::add_item(&state.pool, user.id(), item.product_id, item.quantity).await?;
    Ok(envelope::created(
        Msg::CartItemAdded.text(user.locale),
        json!({"cart_item_id": id}),
    ))
}

async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        Msg::CartsRetrieved.text(user.locale),
        carts::list(&state.pool, user.id()).await?,
    ))
}

async fn delete_cart(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if !carts::delete_cart(&state.pool, user.id(), *id).await? {
        return Err(ApiError::NotFound("Cart"));
    }
    Ok(envelope::ok(
        Msg::CartDeleted.text(user.locale),
        json!({"id": *id}),
    ))
}

async fn delete_item(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if !carts::delete_item(&state.pool, user.id(), *id).await? {
        return Err(ApiError::NotFound("Cart item"));
    }
    Ok(envelope::ok(
        Msg::CartItemDeleted.text(user.locale),
        json!({"id": *id}),
    ))
}
