//! `/admin/orders...`: every order for admins and drivers, and the Tracking API v1 admin
//! endpoints (seed 003), which are for admins only.

use actix_web::{web, HttpResponse};

use super::body::JsonObject;
use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{
    Conflict, Forbidden, Id, NotFound, Paged, Success, TooManyRequests, Unprocessable,
};
use super::orders::{list_page, status_change, OrderListQuery};
use super::pagination::PageQuery;
use super::routes::Routes;
use super::state::AppState;
use super::tracking::{self, ACTIVE};
use super::tracking_views::{ActiveOrder, TrackingEntry};
use super::views::OrderView;
use crate::auth::caller::AuthUser;
use crate::db::orders;
use crate::db::tracking::{self as queries, DayRange};
use crate::domain::status::OrderStatus;
use crate::domain::status_update::StatusUpdateRequest;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/admin/orders", |r| r.get(all_orders))
        .resource("/admin/orders/active", |r| r.get(active))
        .resource("/admin/orders/tracking-stats", |r| r.get(stats))
        .resource("/admin/orders/tracking-analytics", |r| r.get(analytics))
        .resource("/admin/orders/{id:\\d+}/tracking", |r| {
            r.post(update_tracking)
        });
}

#[utoipa::path(
    get,
    path = "/admin/orders",
    tag = "Admin",
    params(OrderListQuery, PageQuery),
    responses(
        (status = 200, description = "Every order, with `meta` (staff only)", body = Paged<OrderView>),
        (status = 403, response = Forbidden),
    )
)]
async fn all_orders(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OrderListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    list_page(&state, &user, None, &query).await
}

#[utoipa::path(
    get,
    path = "/admin/orders/active",
    tag = "Admin",
    params(tracking::StatusRangeQuery, PageQuery),
    responses(
        (status = 200, description = "Every order under way, with `meta` (admins only)", body = Paged<ActiveOrder>),
        (status = 403, response = Forbidden),
    )
)]
async fn active(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<tracking::StatusRangeQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let (status, page, _) = query.parse(&ACTIVE)?;
    let (rows, total) = queries::active(&state.pool, None, status, page.window()).await?;
    let data: Vec<_> = rows
        .iter()
        .map(|s| ActiveOrder::new(s, user.locale, true))
        .collect();
    Ok(envelope::page(
        Msg::ActiveOrdersRetrieved.text(user.locale),
        data,
        page.meta(total, rows.len()),
    ))
}

/// The same transition rules and commit-then-notify path as every status change.
#[utoipa::path(
    post,
    path = "/admin/orders/{id}/tracking",
    tag = "Admin",
    params(Id),
    request_body = StatusUpdateRequest,
    responses(
        (status = 200, description = "The new timeline entry (admins only)", body = Success<TrackingEntry>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
    )
)]
async fn update_tracking(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<StatusUpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let update = body.into_inner().parse()?;
    let change = status_change(&user, *id, update, &state.settings.dispatch);
    let order = state.orders.change_status(change).await??;
    let history = orders::history(&state.pool, order.id).await?;
    let entry = history
        .iter()
        .find(|h| h.seq == order.version)
        .ok_or_else(|| ApiError::internal("the new history entry is missing"))?;
    Ok(envelope::ok(
        Msg::TrackingUpdated.text(user.locale),
        TrackingEntry::from(entry),
    ))
}

/// The day range of an admin report, for admins only.
fn report_range(user: &AuthUser, query: &tracking::StatusRangeQuery) -> Result<DayRange, ApiError> {
    user.require_admin()?;
    Ok(query.parse(&OrderStatus::ALL)?.2)
}

#[utoipa::path(
    get,
    path = "/admin/orders/tracking-stats",
    tag = "Admin",
    params(tracking::StatusRangeQuery),
    responses(
        (status = 200, description = "Counts per status over the day range (admins only)", body = Success<serde_json::Value>),
        (status = 403, response = Forbidden),
    )
)]
async fn stats(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<tracking::StatusRangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let stats = queries::stats(&state.pool, report_range(&user, &query)?).await?;
    Ok(envelope::ok(
        Msg::TrackingStatsRetrieved.text(user.locale),
        stats,
    ))
}

#[utoipa::path(
    get,
    path = "/admin/orders/tracking-analytics",
    tag = "Admin",
    params(tracking::StatusRangeQuery),
    responses(
        (status = 200, description = "Seed 003's analytics plus `orders_per_day` and `average_stage_minutes` (admins only)", body = Success<serde_json::Value>),
        (status = 403, response = Forbidden),
    )
)]
async fn analytics(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<tracking::StatusRangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let analytics = queries::analytics(&state.pool, report_range(&user, &query)?).await?;
    Ok(envelope::ok(
        Msg::TrackingAnalyticsRetrieved.text(user.locale),
        analytics,
    ))
}
