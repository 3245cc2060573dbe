//! Tracking API v1 for members (seed 003): `/orders/{id}/status`, `/orders/{id}/timeline`,
//! `/orders/{id}/feedback`, `/orders/active`, `/orders/history`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Conflict, Id, NotFound, Paged, Success, Unprocessable};
use super::pagination::{Page, PageQuery};
use super::routes::Routes;
use super::state::AppState;
use super::tracking_views::{ActiveOrder, HistoryPage, PastOrder, TrackingStatus};
use crate::access::visible_order;
use crate::auth::caller::AuthUser;
use crate::db::orders;
use crate::db::tracking::{self, DayRange};
use crate::domain::feedback;
use crate::domain::status::OrderStatus;
use crate::domain::validation::FieldErrors;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/orders/active", |r| r.get(active))
        .resource("/orders/history", |r| r.get(history))
        .resource("/orders/{id:\\d+}/timeline", |r| r.get(timeline))
        .resource("/orders/{id:\\d+}/feedback", |r| r.post(submit_feedback));
}

/// `GET /orders/{id}/status` (registered with the status routes in `orders.rs`).
#[utoipa::path(
    get,
    path = "/orders/{id}/status",
    tag = "Tracking v1",
    params(Id),
    responses(
        (status = 200, description = "The order's tracking summary (seed 003's fields)", body = Success<TrackingStatus>),
        (status = 404, response = NotFound),
    )
)]
pub async fn status(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = visible_order(&state.pool, &user, *id).await?;
    let summary = tracking::summary_of(&state.pool, order.id)
        .await?
        .ok_or(ApiError::NotFound("Order"))?;
    let items = orders::items(&state.pool, order.id).await?;
    Ok(envelope::ok(
        Msg::OrderStatusRetrieved.text(user.locale),
        TrackingStatus::new(&summary, &items, &user),
    ))
}

#[derive(Serialize, ToSchema)]
struct TimelineEntry<'a> {
    id: i64,
    status: OrderStatus,
    status_display: &'static str,
    notes: Option<&'a str>,
    updated_by: &'a str,
    estimated_time: Option<DateTime<Utc>>,
    actual_time: DateTime<Utc>,
    /// Whole minutes since the previous entry; none for the first.
    duration: Option<i64>,
    created_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/orders/{id}/timeline",
    tag = "Tracking v1",
    params(Id),
    responses(
        (status = 200, description = "The order's timeline entries", body = Success<Vec<TimelineEntry>>),
        (status = 404, response = NotFound),
    )
)]
async fn timeline(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = visible_order(&state.pool, &user, *id).await?;
    let entries = orders::history(&state.pool, order.id).await?;
    let mut previous: Option<DateTime<Utc>> = None;
    let timeline: Vec<TimelineEntry> = entries
        .iter()
        .map(|h| {
            let duration = previous.map(|p| (h.created_at - p).num_minutes());
            previous = Some(h.created_at);
            TimelineEntry {
                id: h.id,
                status: h.status,
                status_display: h.status.display(user.locale),
                notes: h.notes.as_deref(),
                updated_by: h.updated_by.as_deref().unwrap_or("System"),
                estimated_time: h.estimated_time,
                actual_time: h.created_at,
                duration,
                created_at: h.created_at,
            }
        })
        .collect();
    Ok(envelope::ok(
        Msg::TimelineRetrieved.text(user.locale),
        timeline,
    ))
}

#[utoipa::path(
    post,
    path = "/orders/{id}/feedback",
    tag = "Tracking v1",
    params(Id),
    request_body(content = Object, description = "`{rating}` 1 to 5 (required), optional per-aspect ratings and a comment, as seed 003 sends them"),
    responses(
        (status = 201, description = "The stored feedback", body = Success<crate::db::tracking::FeedbackRow>),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
async fn submit_feedback(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::find(&state.pool, *id, false)
        .await?
        .filter(|o| o.user_id == user.id())
        .ok_or(ApiError::NotFound("Order"))?;
    let feedback = feedback::parse(&body)?;
    if order.status != OrderStatus::Delivered {
        return Err(ApiError::Unprocessable(
            "Feedback can only be submitted for delivered orders".into(),
        ));
    }
    let stored = tracking::insert_feedback(&state.pool, order.id, user.id(), &feedback)
        .await?
        .ok_or(ApiError::Conflict(
            "Feedback has already been submitted for this order".into(),
        ))?;
    Ok(envelope::created(
        Msg::FeedbackSubmitted.text(user.locale),
        stored,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusRangeQuery {
    /// Only orders in this status.
    pub status: Option<String>,
    /// First day (UTC).
    #[param(format = Date)]
    pub start_date: Option<String>,
    /// Last day (UTC).
    #[param(format = Date)]
    pub end_date: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageQuery,
}

impl StatusRangeQuery {
    /// The status filter, limited to `allowed`; the page; the day range. All errors at once.
    pub fn parse(
        &self,
        allowed: &[OrderStatus],
    ) -> Result<(Option<OrderStatus>, Page, DayRange), ApiError> {
        let mut errors = FieldErrors::default();
        let status = match self
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => match OrderStatus::parse(s).filter(|st| allowed.contains(st)) {
                Some(status) => Some(status),
                None => {
                    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                    errors.add(
                        "status",
                        format!("The status must be one of: {}.", names.join(", ")),
                    );
                    None
                }
            },
        };
        let mut date = |field: &str, value: &Option<String>| match value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => None,
            // Years PostgreSQL and every client agree on; year -5000 is well-formed but nobody's.
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|d| (1..=9999).contains(&d.year()))
                .or_else(|| {
                    errors.add(
                        field,
                        format!("The {field} must be a date in the format YYYY-MM-DD."),
                    );
                    None
                }),
        };
        let start = date("start_date", &self.start_date);
        let end = date("end_date", &self.end_date);
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                errors.add(
                    "end_date",
                    "The end date must be a date after or equal to start date.",
                );
            }
        }
        let page = match self.page.parse() {
            Ok(page) => Some(page),
            Err(page_errors) => {
                for (field, messages) in page_errors.into_inner() {
                    messages.into_iter().for_each(|m| errors.add(&field, m));
                }
                None
            }
        };
        let page = errors
            .finish(page)?
            .expect("no errors means the page parsed");
        Ok((status, page, DayRange::new(start, end)))
    }
}

pub const ACTIVE: [OrderStatus; 4] = [
    OrderStatus::Pending,
    OrderStatus::Confirmed,
    OrderStatus::Preparing,
    OrderStatus::Ready,
];

#[utoipa::path(
    get,
    path = "/orders/active",
    tag = "Tracking v1",
    params(StatusRangeQuery, PageQuery),
    responses(
        (status = 200, description = "The caller's orders still under way, with `meta`", body = Paged<ActiveOrder>),
    )
)]
async fn active(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<StatusRangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (status, page, _) = query.parse(&ACTIVE)?;
    let (rows, total) =
        tracking::active(&state.pool, Some(user.id()), status, page.window()).await?;
    let data: Vec<_> = rows
        .iter()
        .map(|s| ActiveOrder::new(s, user.locale, false))
        .collect();
    Ok(envelope::page(
        Msg::ActiveOrdersRetrieved.text(user.locale),
        data,
        page.meta(total, rows.len()),
    ))
}

/// Seed 003's history: the pagination object wraps the rows inside `data`.
#[utoipa::path(
    get,
    path = "/orders/history",
    tag = "Tracking v1",
    params(StatusRangeQuery, PageQuery),
    responses(
        (status = 200, description = "Seed 003's page: `data: {data: [...], current_page, per_page, total, last_page, from, to}`", body = Success<HistoryPage>),
    )
)]
async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<StatusRangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (status, page, range) = query.parse(&OrderStatus::ALL)?;
    let (rows, total) =
        tracking::history(&state.pool, user.id(), status, range, page.window()).await?;
    let body = HistoryPage {
        meta: page.meta(total, rows.len()),
        data: rows
            .iter()
            .map(|s| PastOrder::new(s, user.locale))
            .collect(),
    };
    Ok(envelope::ok(
        Msg::OrderHistoryRetrieved.text(user.locale),
        body,
    ))
}
