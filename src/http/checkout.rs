//! Checkout: `POST /orders` with `{"cart_id", "shipping_cost"}` or
//! `{"items": [{"product_id", "quantity"}], "warehouse_id"?}`. One order comes from one
//! warehouse: the one named, else the first by priority that can fill every line.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::state::AppState;
use super::views::OrderView;
use crate::auth::caller::AuthUser;
use crate::db::checkout::{self, CheckoutJob, JobError, Placed};
use crate::db::orders;
use crate::db::{carts, warehouses};
use crate::domain::checkout::Refusal;
use crate::domain::commerce::{CheckoutInput, Source};

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

pub async fn checkout(
    state: &web::Data<AppState>,
    user: &AuthUser,
    req: &HttpRequest,
    input: CheckoutInput,
    body: &Value,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(req)?;
    // serde_json objects keep their keys sorted, so equal bodies have equal text.
    let canonical = body.to_string();
    if let Some(key) = &key {
        if let Some(placed) = replay(state, user, key, &canonical).await? {
            return Ok(answer(user, &placed));
        }
    }
    let (lines, cart_id) = match input.source {
        Source::Items(lines) => (lines, None),
        Source::Cart(id) => {
            let lines = carts::open_lines(&state.pool, user.id(), id)
                .await?
                .ok_or(ApiError::NotFound("Open cart"))?;
            (lines, Some(id))
        }
    };
    if lines.is_empty() {
        return Err(ApiError::Unprocessable("The cart is empty".into()));
    }
    let warehouse_id = match input.warehouse_id {
        Some(id) => {
            warehouses::find(&state.pool, id)
                .await?
                .ok_or(ApiError::NotFound("Warehouse"))?
                .id
        }
        None => match checkout::pick_warehouse(&state.pool, &lines).await? {
            Some(id) => id,
            None => {
                return Err(ApiError::Shortage(
                    checkout::best_availability(&state.pool, &lines).await?,
                ))
            }
        },
    };
    let job = CheckoutJob {
        user_id: user.id(),
        lines,
        shipping_cost: input.shipping_cost,
        cart_id,
        idempotency: key.clone().map(|k| (k, canonical.clone())),
    };
    match state.warehouses.checkout(warehouse_id, job).await {
        // Committed: the answer is built from what the transaction returned, so a database
        // that fails from here on cannot turn a placed order into an error.
        Ok(placed) => Ok(answer(user, &placed)),
        // A concurrent retry with the same key won: answer with its order.
        Err(JobError::Refused(Refusal::IdempotencyKeyUsed)) => {
            match replay(state, user, key.as_deref().unwrap_or(""), &canonical).await? {
                Some(placed) => Ok(answer(user, &placed)),
                None => Err(Refusal::IdempotencyKeyUsed.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible characters".into(),
        ));
    }
    Ok(Some(key.to_string()))
}

/// The order an earlier request with this key created; 422 if that request had another body.
async fn replay(
    state: &AppState,
    user: &AuthUser,
    key: &str,
    body: &str,
) -> Result<Option<Placed>, ApiError> {
    let Some((first_body, order_id)) = checkout::remembered(&state.pool, user.id(), key).await?
    else {
        return Ok(None);
    };
    if first_body != body {
        return Err(ApiError::Unprocessable(
            "This Idempotency-Key was used with a different request body".into(),
        ));
    }
    let Some(order) = orders::find(&state.pool, order_id, true).await? else {
        return Ok(None);
    };
    let items = orders::items(&state.pool, order_id).await?;
    Ok(Some(Placed { order, items }))
}

fn answer(user: &AuthUser, placed: &Placed) -> HttpResponse {
    envelope::created(
        Msg::OrderCreated.text(user.locale),
        OrderView::new(&placed.order, user).with_items(&placed.items),
    )
}
