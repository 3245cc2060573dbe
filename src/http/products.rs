//! `/products`: the catalogue. Anyone signed in reads it and adds products (they own what they
//! add); only the owner or an admin changes or deletes one. `PUT` replaces a product (a field
//! left out is cleared, or refused if required); `PATCH` changes only the fields it names.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, NotFound, Success};
use super::routes::Routes;
use super::state::AppState;
use super::views::Removed;
use crate::auth::caller::AuthUser;
use crate::db::products::{self, ProductRow};
use crate::domain::commerce::{self, ProductInput};
use crate::domain::role::Role;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/products", |r| r.post(create).get(list))
        .resource("/products/{key}", |r| {
            r.get(by_id_or_name)
                .put(replace)
                .patch(patch)
                .delete(delete)
        });
}

#[utoipa::path(
    post,
    path = "/products",
    tag = "Products",
    request_body = ProductInput,
    responses(
        (status = 201, description = "The new product, owned by the caller", body = Success<ProductRow>),
    )
)]
async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let input = commerce::product(&body)?;
    let product = products::insert(&state.pool, user.id(), &input).await?;
    Ok(envelope::created(
        Msg::ProductCreated.text(user.locale),
        product,
    ))
}

#[utoipa::path(
    get,
    path = "/products",
    tag = "Products",
    responses(
        (status = 200, description = "Every product", body = Success<Vec<ProductRow>>),
    )
)]
async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(envelope::ok(
        Msg::ProductsRetrieved.text(user.locale),
        products::list(&state.pool).await?,
    ))
}

/// `/products/12` by id, `/products/Laptop%20ASUS%20ROG` by name (seed 004 reads by name).
#[utoipa::path(
    get,
    path = "/products/{key}",
    tag = "Products",
    params(("key" = String, Path, description = "The product's id; reading also takes its name")),
    responses(
        (status = 200, description = "The product", body = Success<ProductRow>),
        (status = 404, response = NotFound),
    )
)]
async fn by_id_or_name(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = key.into_inner();
    let product = match key.parse::<i64>() {
        Ok(id) => products::find(&state.pool, id).await?,
        Err(_) => products::find_by_name(&state.pool, &key).await?,
    };
    Ok(envelope::ok(
        Msg::ProductRetrieved.text(user.locale),
        product.ok_or(ApiError::NotFound("Product"))?,
    ))
}

/// The product behind `key` if the caller may change it.
async fn owned(state: &AppState, user: &AuthUser, key: &str) -> Result<ProductRow, ApiError> {
    let id = key
        .parse::<i64>()
        .map_err(|_| ApiError::NotFound("Product"))?;
    let product = products::find(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("Product"))?;
    if product.user_id != user.id() && user.role() != Role::Admin {
        return Err(ApiError::Forbidden(
            "Only the product's owner or an admin may change it",
        ));
    }
    Ok(product)
}

#[utoipa::path(
    put,
    path = "/products/{key}",
    tag = "Products",
    params(("key" = String, Path, description = "The product's id; reading also takes its name")),
    request_body = ProductInput,
    responses(
        (status = 200, description = "The product, replaced (its owner or an admin)", body = Success<ProductRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let product = owned(&state, &user, &key).await?;
    save(&state, &user, product.id, &body).await
}

#[utoipa::path(
    patch,
    path = "/products/{key}",
    tag = "Products",
    params(("key" = String, Path, description = "The product's id; reading also takes its name")),
    request_body(content = ProductInput, description = "Any of the product's fields; the others stay"),
    responses(
        (status = 200, description = "The product, with the fields given changed (its owner or an admin)", body = Success<ProductRow>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let product = owned(&state, &user, &key).await?;
    let merged = commerce::overlay(&product, &body)?;
    save(&state, &user, product.id, &merged).await
}

/// Writes the product as `body` describes it whole.
async fn save(
    state: &AppState,
    user: &AuthUser,
    id: i64,
    body: &Value,
) -> Result<HttpResponse, ApiError> {
    let input = commerce::product(body)?;
    let updated = products::update(&state.pool, id, &input)
        .await?
        .ok_or(ApiError::NotFound("Product"))?;
    Ok(envelope::ok(Msg::ProductUpdated.text(user.locale), updated))
}

#[utoipa::path(
    delete,
    path = "/products/{key}",
    tag = "Products",
    params(("key" = String, Path, description = "The product's id; reading also takes its name")),
    responses(
        (status = 200, description = "`{id}` of the deleted product (its owner or an admin)", body = Success<Removed>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let product = owned(&state, &user, &key).await?;
    products::delete(&state.pool, product.id).await?;
    Ok(envelope::ok(
        Msg::ProductDeleted.text(user.locale),
        Removed { id: product.id },
    ))
}
