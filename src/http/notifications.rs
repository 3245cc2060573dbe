//! `/notifications`: send (admins), list, unread count, mark read.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::body::JsonObject;
use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Forbidden, Id, NotFound, Paged, Success};
use super::pagination::PageQuery;
use super::routes::Routes;
use super::state::AppState;
use crate::auth::caller::AuthUser;
use crate::db::notifications::{self, ListFilter, MarkRead, NotificationRow};
use crate::domain::notification::SendRequest;
use crate::domain::topic::Topic;
use crate::domain::validation::FieldErrors;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/notifications", |r| r.get(list))
        .resource("/notifications/send", |r| r.post(send))
        .resource("/notifications/unread-count", |r| r.get(unread_count))
        .resource("/notifications/read-all", |r| r.post(read_all))
        .resource("/notifications/{id:\\d+}/read", |r| r.post(read_one));
}

#[derive(Serialize, ToSchema)]
struct NotificationView<'a> {
    id: i64,
    title: &'a str,
    message: &'a str,
    #[schema(value_type = Object)]
    data: &'a Map<String, Value>,
    read_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// A sent notification, whom it went to, and whether a socket of theirs was open for it.
#[derive(Serialize, ToSchema)]
struct Sent<'a> {
    #[serde(flatten)]
    notification: NotificationView<'a>,
    user_id: i64,
    delivered_live: bool,
}

#[derive(Serialize, ToSchema)]
struct Unread {
    unread: i64,
}

/// How many notifications this marked read.
#[derive(Serialize, ToSchema)]
struct Marked {
    updated: usize,
}

impl<'a> From<&'a NotificationRow> for NotificationView<'a> {
    fn from(n: &'a NotificationRow) -> Self {
        NotificationView {
            id: n.id,
            title: &n.title,
            message: &n.message,
            data: &n.data,
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

/// Always stored first; delivered live through the same commit-then-NOTIFY path as order events.
#[utoipa::path(
    post,
    path = "/notifications/send",
    tag = "Notifications",
    request_body = SendRequest,
    responses(
        (status = 201, description = "The stored notification, with `delivered_live` (admins only)", body = Success<Sent>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
async fn send(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonObject<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let request = body.into_inner().parse(&state.settings.notifications)?;
    let stored = notifications::send(&state.pool, request.user_id, &request.notification)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let online = state
        .hub
        .has_subscribers(Topic::User(request.user_id))
        .await;
    let data = Sent {
        notification: NotificationView::from(&stored),
        user_id: request.user_id,
        delivered_live: online,
    };
    let message = if online {
        Msg::NotificationSent.text(user.locale)
    } else {
        Msg::NotificationStored.text(user.locale)
    };
    Ok(envelope::created(message, data))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NotificationListQuery {
    /// `true` for unread ones only.
    #[param(value_type = Option<bool>)]
    unread: Option<String>,
    /// Only those with a greater id.
    since_id: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

#[utoipa::path(
    get,
    path = "/notifications",
    tag = "Notifications",
    params(NotificationListQuery, PageQuery),
    responses(
        (status = 200, description = "The caller's notifications, newest first, with `meta`", body = Paged<NotificationView>),
    )
)]
async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<NotificationListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let unread_only = match query.unread.as_deref() {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            errors.add("unread", "The unread filter must be true or false.");
            false
        }
    };
    let since_id = match query.since_id.as_deref() {
        None | Some("") => None,
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).or_else(|| {
            errors.add("since_id", "The since id must be a whole number.");
            None
        }),
    };
    let page = query.page.parse();
    errors.finish(())?;
    let page = page?;
    let filter = ListFilter {
        unread_only,
        since_id,
    };
    let (rows, total) = notifications::list(&state.pool, user.id(), filter, page.window()).await?;
    let views: Vec<NotificationView> = rows.iter().map(NotificationView::from).collect();
    Ok(envelope::page(
        Msg::NotificationsRetrieved.text(user.locale),
        views,
        page.meta(total, rows.len()),
    ))
}

#[utoipa::path(
    get,
    path = "/notifications/unread-count",
    tag = "Notifications",
    responses(
        (status = 200, description = "`{unread}`", body = Success<Unread>),
    )
)]
async fn unread_count(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let unread = notifications::unread_count(&state.pool, user.id()).await?;
    Ok(envelope::ok(
        Msg::UnreadCount.text(user.locale),
        Unread { unread },
    ))
}

#[utoipa::path(
    post,
    path = "/notifications/{id}/read",
    tag = "Notifications",
    params(Id),
    responses(
        (status = 200, description = "The notification, read", body = Success<Marked>),
        (status = 404, response = NotFound),
    )
)]
async fn read_one(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let changed = notifications::mark_read(&state.pool, user.id(), MarkRead::One(id.into_inner()))
        .await?
        .ok_or(ApiError::NotFound("Notification"))?;
    Ok(envelope::ok(
        Msg::NotificationRead.text(user.locale),
        Marked { updated: changed },
    ))
}

#[utoipa::path(
    post,
    path = "/notifications/read-all",
    tag = "Notifications",
    responses(
        (status = 200, description = "How many were marked read", body = Success<Marked>),
    )
)]
async fn read_all(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let changed = notifications::mark_read(&state.pool, user.id(), MarkRead::All)
        .await?
        .unwrap_or(0);
    Ok(envelope::ok(
        Msg::AllNotificationsRead.text(user.locale),
        Marked { updated: changed },
    ))
}
