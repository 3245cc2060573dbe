//! `/cart`: each user's own carts. Adding an item creates the open cart on demand.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Id, NotFound, Success, Unprocessable};
use super::routes::Routes;
use super::state::AppState;
use super::views::Removed;
use crate::auth::caller::AuthUser;
use crate::db::carts;
use crate::domain::commerce::{self, CartItemInput};

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/cart", |r| r.get(list))
        .resource("/cart/item", |r| r.post(add_item))
        .resource("/cart/item/{id:\\d+}", |r| r.delete(delete_item))
        .resource("/cart/{id:\\d+}", |r| r.delete(delete_cart));
}

/// The line an added product went to (a product already in the cart adds to its line).
#[derive(Serialize, ToSchema)]
struct Added {
    cart_item_id: i64,
}

#[utoipa::path(
    post,
    path = "/cart/item",
    tag = "Carts",
    request_body = CartItemInput,
    responses(
        (status = 201, description = "The cart line, added or increased", body = Success<Added>),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    )
)]
async fn add_item(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let item = commerce::cart_item(&body)?;
    let id = carts::add_item(&state.pool, user.id(), item.product_id, item.quantity).await?;
    Ok(envelope::created(
        Msg::CartItemAdded.text(user.locale),
        Added { cart_item_id: id },
    ))
}

#[utoipa::path(
    get,
    path = "/cart",
    tag = "Carts",
    responses(
        (status = 200, description = "The caller's open cart: `[{cart, items, total}]`", body = Success<Vec<crate::db::carts::CartView>>),
    )
)]
async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        Msg::CartsRetrieved.text(user.locale),
        carts::list(&state.pool, user.id()).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/cart/{id}",
    tag = "Carts",
    params(Id),
    responses(
        (status = 200, description = "The removed cart", body = Success<Removed>),
        (status = 404, response = NotFound),
    )
)]
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
        Removed { id: *id },
    ))
}

#[utoipa::path(
    delete,
    path = "/cart/item/{id}",
    tag = "Carts",
    params(Id),
    responses(
        (status = 200, description = "The removed line", body = Success<Removed>),
        (status = 404, response = NotFound),
    )
)]
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
        Removed { id: *id },
    ))
}
