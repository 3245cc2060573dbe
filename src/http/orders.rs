//! `/orders`: create, list, read, history, status changes and cancellation by delete.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::body::{from_object, JsonObject};
use super::checkout::checkout;
use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{
    Conflict, Forbidden, Id, NotFound, Paged, Success, TooManyRequests, Unprocessable,
};
use super::pagination::PageQuery;
use super::routes::Routes;
use super::state::AppState;
use super::views::{HistoryView, OrderView};
use crate::access::visible_order;
use crate::auth::caller::AuthUser;
use crate::config::DispatchSettings;
use crate::db::orders::{self, Action, StatusChange};
use crate::domain::commerce;
use crate::domain::new_order::CreateOrderRequest;
use crate::domain::role::Role;
use crate::domain::status::{Mover, OrderStatus};
use crate::domain::status_update::{StatusUpdate, StatusUpdateRequest};
use crate::domain::validation::FieldErrors;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/orders", |r| r.post(create).get(list_own))
        .resource("/orders/status/{status}", |r| r.get(list_by_status))
        .resource("/orders/{id:\\d+}", |r| r.get(detail).delete(delete))
        .resource("/orders/{id:\\d+}/status", |r| {
            r.get(super::tracking::status)
                .put(update_status)
                .patch(update_status)
        })
        .resource("/orders/{id:\\d+}/payment", |r| r.patch(update_payment))
        .resource("/orders/{id:\\d+}/history", |r| r.get(history));
}

/// A checkout (`cart_id`, or `items` as a list of products) or a free-text order (`items` as
/// text, or `description`).
#[utoipa::path(
    post,
    path = "/orders",
    tag = "Orders",
    request_body(content = CreateOrderRequest, description = "A free-text order (`items` as text, or `description`), or a checkout: `{cart_id, shipping_cost?, warehouse_id?}` or `{items: [{product_id, quantity}], shipping_cost?, warehouse_id?}`"),
    responses(
        (status = 201, description = "The new order (`OrderView`): free-text, described, checked out from a cart, or itemized", body = Success<OrderView>),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    if let Some(input) = commerce::checkout(&body) {
        return checkout(&state, &user, &req, input?, &body).await;
    }
    let order = from_object::<CreateOrderRequest>(body.into_inner())?.parse()?;
    let created = orders::insert(&state.pool, user.id(), &order).await?;
    Ok(envelope::created(
        Msg::OrderCreated.text(user.locale),
        OrderView::new(&created, &user),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// Only orders in this status (aliases accepted).
    pub status: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageQuery,
}

fn parse_status_filter(status: Option<&str>) -> Result<Option<OrderStatus>, ApiError> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => OrderStatus::parse(s)
            .map(Some)
            .ok_or_else(|| FieldErrors::single("status", format!("Unknown status: {s}")).into()),
    }
}

/// A page of orders for `owner` (everyone's with `None`), in the envelope with `meta`.
pub async fn list_page(
    state: &AppState,
    user: &AuthUser,
    owner: Option<i64>,
    query: &OrderListQuery,
) -> Result<HttpResponse, ApiError> {
    let status = parse_status_filter(query.status.as_deref())?;
    let page = query.page.parse()?;
    let (rows, total) = orders::list(&state.pool, owner, status, page.window()).await?;
    Ok(envelope::page(
        Msg::OrdersRetrieved.text(user.locale),
        OrderView::list(&rows, user),
        page.meta(total, rows.len()),
    ))
}

#[utoipa::path(
    get,
    path = "/orders",
    tag = "Orders",
    params(OrderListQuery, PageQuery),
    responses(
        (status = 200, description = "The caller's orders, newest first, with `meta`", body = Paged<OrderView>),
    )
)]
async fn list_own(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OrderListQuery>,
) -> Result<HttpResponse, ApiError> {
    list_page(&state, &user, Some(user.id()), &query).await
}

/// Customers see their own orders in that status; staff see everyone's.
#[utoipa::path(
    get,
    path = "/orders/status/{status}",
    tag = "Orders",
    params(("status" = String, Path, description = "A status, or one of its aliases (`processing`, `dikirim`, ...)"), PageQuery),
    responses(
        (status = 200, description = "Orders in that status (customers: their own), with `meta`", body = Paged<OrderView>),
        (status = 404, response = NotFound),
    )
)]
async fn list_by_status(
    state: web::Data<AppState>,
    user: AuthUser,
    status: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = (!user.role().is_staff()).then(|| user.id());
    let query = OrderListQuery {
        status: Some(status.into_inner()),
        page: query.into_inner(),
    };
    if query
        .status
        .as_deref()
        .and_then(OrderStatus::parse)
        .is_none()
    {
        return Err(ApiError::NotFound("Status"));
    }
    list_page(&state, &user, owner, &query).await
}

#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "Orders",
    params(Id),
    responses(
        (status = 200, description = "The order (`OrderView`)", body = Success<OrderView>),
        (status = 404, response = NotFound),
    )
)]
async fn detail(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = visible_order(&state.pool, &user, id.into_inner()).await?;
    Ok(envelope::ok(
        Msg::OrderRetrieved.text(user.locale),
        OrderView::new(&order, &user),
    ))
}

#[utoipa::path(
    get,
    path = "/orders/{id}/history",
    tag = "Orders",
    params(Id),
    responses(
        (status = 200, description = "The order's status history, oldest first", body = Success<Vec<HistoryView>>),
        (status = 404, response = NotFound),
    )
)]
async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = visible_order(&state.pool, &user, id.into_inner()).await?;
    let entries = orders::history(&state.pool, order.id).await?;
    let views: Vec<_> = entries
        .iter()
        .map(|h| HistoryView::new(h, user.locale))
        .collect();
    Ok(envelope::ok(
        Msg::StatusHistoryRetrieved.text(user.locale),
        views,
    ))
}

/// The change `user` asks for: staff move any order (a driver under
/// `dispatch.drivers_assigned_only`: only theirs), a customer only their own. A driver marking
/// an order delivered gives its code under `dispatch.require_delivery_code`.
pub fn status_change(
    user: &AuthUser,
    order_id: i64,
    update: StatusUpdate,
    dispatch: &DispatchSettings,
) -> StatusChange {
    let staff = user.role().is_staff();
    let driver = user.role() == Role::Driver;
    StatusChange {
        order_id,
        action: Action::Move {
            to: update.status,
            code: update.delivery_code,
            code_required: driver && dispatch.require_delivery_code,
        },
        notes: update.notes,
        estimated_time: update.estimated_time,
        by_user: user.id(),
        by_name: user.user.name.clone(),
        by_driver: driver,
        mover: Mover { is_staff: staff },
        required_owner: (!staff).then(|| user.id()),
        required_driver: (driver && dispatch.drivers_assigned_only).then(|| user.id()),
        hide: false,
    }
}

#[utoipa::path(
    method(put, patch),
    path = "/orders/{id}/status",
    tag = "Orders",
    params(Id),
    request_body = StatusUpdateRequest,
    responses(
        (status = 200, description = "The order in its new status", body = Success<OrderView>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn update_status(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<StatusUpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let update = body.into_inner().parse()?;
    let change = status_change(&user, id.into_inner(), update, &state.settings.dispatch);
    let order = state.orders.change_status(change).await??;
    Ok(envelope::ok(
        Msg::OrderStatusUpdated.text(user.locale),
        OrderView::new(&order, &user),
    ))
}

/// Cancels the order and hides it from lists; its history stays. The owner may do this while
/// the order is pending or confirmed, an admin until it ships; drivers may not.
#[utoipa::path(
    delete,
    path = "/orders/{id}",
    tag = "Orders",
    params(Id),
    responses(
        (status = 200, description = "The order, cancelled and hidden from lists", body = Success<OrderView>),
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
    let is_admin = user.role() == Role::Admin;
    let change = StatusChange {
        order_id: id.into_inner(),
        action: Action::to(OrderStatus::Cancelled),
        notes: Some("Order deleted".into()),
        estimated_time: None,
        by_user: user.id(),
        by_name: user.user.name.clone(),
        by_driver: user.role() == Role::Driver,
        mover: Mover { is_staff: is_admin },
        required_owner: (!is_admin).then(|| user.id()),
        required_driver: None,
        hide: true,
    };
    let order = state.orders.change_status(change).await??;
    Ok(envelope::ok(
        Msg::OrderCancelled.text(user.locale),
        OrderView::new(&order, &user),
    ))
}

/// Staff set how the order's payment stands: pending, confirmed, failed or refunded.
#[utoipa::path(
    patch,
    path = "/orders/{id}/payment",
    tag = "Orders",
    params(Id),
    request_body(content = Object, description = "`{payment_status}`: pending, confirmed, failed or refunded"),
    responses(
        (status = 200, description = "The order with its new payment status (staff only)", body = Success<OrderView>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn update_payment(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    const ALLOWED: [&str; 4] = ["pending", "confirmed", "failed", "refunded"];
    let status = body
        .get("payment_status")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase())
        .filter(|s| ALLOWED.contains(&s.as_str()))
        .ok_or_else(|| {
            FieldErrors::single(
                "payment_status",
                "The payment status must be one of: pending, confirmed, failed, refunded.",
            )
        })?;
    if !crate::db::tracking::set_payment_status(&state.pool, *id, &status).await? {
        return Err(ApiError::NotFound("Order"));
    }
    let order = visible_order(&state.pool, &user, *id).await?;
    Ok(envelope::ok(
        Msg::PaymentUpdated.text(user.locale),
        OrderView::new(&order, &user),
    ))
}
