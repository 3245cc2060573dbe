//! `/admin/orders...`: every order for admins and drivers, and the Tracking API v1 admin
//! endpoints (seed 003), which are for admins only.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::orders::{list_page, status_change, OrderListQuery};
use super::state::AppState;
use super::tracking::{self, active_json, ACTIVE};
use crate::auth::caller::AuthUser;
use crate::db::orders;
use crate::db::tracking::{self as queries, DayRange};
use crate::domain::status::OrderStatus;
use crate::domain::status_update::StatusUpdateRequest;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/orders").route(web::get().to(all_orders)))
        .service(web::resource("/admin/orders/active").route(web::get().to(active)))
        .service(web::resource("/admin/orders/tracking-stats").route(web::get().to(stats)))
        .service(web::resource("/admin/orders/tracking-analytics").route(web::get().to(analytics)))
        .service(
            web::resource("/admin/orders/{id:\\d+}/tracking")
                .route(web::post().to(update_tracking)),
        );
}

async fn all_orders(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OrderListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    list_page(&state, &user, None, &query).await
}

async fn active(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<tracking::StatusRangeQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let (status, page, _) = query.parse(&ACTIVE)?;
    let (rows, total) = queries::active(&state.pool, None, status, page.window()).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|s| active_json(s, user.locale, true))
        .collect();
    Ok(envelope::page(
        Msg::ActiveOrdersRetrieved.text(user.locale),
        data,
        page.meta(total, rows.len()),
    ))
}

/// The same transition rules and commit-then-notify path as every status change.
async fn update_tracking(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<StatusUpdateRequest>,
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
        json!({
            "id": entry.id,
            "order_id": order.id,
            "status": entry.status,
            "notes": entry.notes,
            "updated_by": entry.updated_by_id,
            "estimated_time": entry.estimated_time,
            "actual_time": entry.created_at,
            "created_at": entry.created_at,
        }),
    ))
}

/// The day range of an admin report, for admins only.
fn report_range(user: &AuthUser, query: &tracking::StatusRangeQuery) -> Result<DayRange, ApiError> {
    user.require_admin()?;
    Ok(query.parse(&OrderStatus::ALL)?.2)
}

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
