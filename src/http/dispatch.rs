//! Dispatch routes: `/drivers`, `/orders/{id}/driver` (assign), `/orders/{id}/claim`,
//! `/driver/orders`, `/orders/{id}/location` and `/orders/{id}/trail`. Assignments are order changes, through the
//! order's actor like status changes; positions go to `dispatch::positions`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::body::JsonObject;
use super::envelope;
use super::error::ApiError;
use super::messages::Msg;
use super::openapi::{Conflict, Forbidden, Id, NotFound, Success};
use super::routes::Routes;
use super::state::AppState;
use super::views::OrderView;
use crate::access::visible_order;
use crate::auth::caller::AuthUser;
use crate::db::orders::{self, Action, StatusChange};
use crate::db::users;
use crate::domain::position::PositionRequest;
use crate::domain::role::Role;
use crate::domain::status::Mover;
use crate::domain::validation::FieldErrors;
use crate::events::DriverRef;

pub fn routes(routes: &mut Routes) {
    routes
        .resource("/drivers", |r| r.get(drivers))
        .resource("/driver/orders", |r| r.get(my_orders))
        .resource("/orders/{id:\\d+}/driver", |r| r.put(assign))
        .resource("/orders/{id:\\d+}/claim", |r| r.post(claim))
        .resource("/orders/{id:\\d+}/location", |r| r.post(location))
        .resource("/orders/{id:\\d+}/trail", |r| r.get(trail));
}

/// Whom an admin may assign; staff see the list (the board filters by driver).
#[utoipa::path(
    get,
    path = "/drivers",
    tag = "Dispatch",
    responses(
        (status = 200, description = "The drivers (staff only)", body = Success<Vec<DriverRef>>),
        (status = 403, response = Forbidden),
    )
)]
async fn drivers(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    let drivers: Vec<DriverRef> = users::list(&state.pool, Some(Role::Driver))
        .await?
        .into_iter()
        .map(|d| DriverRef {
            id: d.id,
            name: d.name,
        })
        .collect();
    Ok(envelope::ok(
        Msg::DriversRetrieved.text(user.locale),
        drivers,
    ))
}

/// The caller's assigned orders that are still on their way.
#[utoipa::path(
    get,
    path = "/driver/orders",
    tag = "Dispatch",
    responses(
        (status = 200, description = "The caller's assigned orders still on their way (staff only)", body = Success<Vec<OrderView>>),
        (status = 403, response = Forbidden),
    )
)]
async fn my_orders(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    let rows = orders::assigned_to(&state.pool, user.id()).await?;
    Ok(envelope::ok(
        Msg::OrdersRetrieved.text(user.locale),
        OrderView::list(&rows, &user),
    ))
}

#[derive(Deserialize, ToSchema)]
struct AssignRequest {
    /// Required, and `null` to unassign: a missing key is a mistake, not an unassignment.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, required = true)]
    driver_id: Option<Value>,
}

/// Tells a key given as `null` (`Some(Value::Null)`) from a missing one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[utoipa::path(
    put,
    path = "/orders/{id}/driver",
    tag = "Dispatch",
    params(Id),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "The order with its driver (`driver_id: null` unassigns; admins only)", body = Success<OrderView>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn assign(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let driver = match body.into_inner().driver_id {
        None => {
            return Err(FieldErrors::single(
                "driver_id",
                "The driver id field is required (null unassigns).",
            )
            .into())
        }
        Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|id| id > 0) => {
            let id = n.as_i64().unwrap_or_default();
            let found = users::find_by_id(&state.pool, id).await?;
            match found.filter(|u| u.role == Role::Driver) {
                Some(d) => Some(DriverRef {
                    id: d.id,
                    name: d.name,
                }),
                None => {
                    return Err(FieldErrors::single("driver_id", "No driver has this id.").into())
                }
            }
        }
        Some(_) => {
            return Err(FieldErrors::single(
                "driver_id",
                "The driver id must be a positive integer or null.",
            )
            .into())
        }
    };
    let message = match driver {
        Some(_) => Msg::DriverAssigned,
        None => Msg::DriverUnassigned,
    };
    let order = change(&state, &user, *id, Action::Assign(driver)).await?;
    Ok(envelope::ok(
        message.text(user.locale),
        OrderView::new(&order, &user),
    ))
}

/// A driver takes an unassigned order; of two drivers claiming at once, one wins.
#[utoipa::path(
    post,
    path = "/orders/{id}/claim",
    tag = "Dispatch",
    params(Id),
    responses(
        (status = 200, description = "The order, now the caller's (drivers only)", body = Success<OrderView>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn claim(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    if user.role() != Role::Driver {
        return Err(ApiError::Forbidden("Only drivers claim orders"));
    }
    let me = DriverRef {
        id: user.id(),
        name: user.user.name.clone(),
    };
    let order = change(&state, &user, *id, Action::Claim(me)).await?;
    Ok(envelope::ok(
        Msg::OrderClaimed.text(user.locale),
        OrderView::new(&order, &user),
    ))
}

/// An assignment through the order's actor, as the staff member `user`.
async fn change(
    state: &AppState,
    user: &AuthUser,
    order_id: i64,
    action: Action,
) -> Result<orders::OrderRow, ApiError> {
    let change = StatusChange {
        order_id,
        action,
        notes: None,
        estimated_time: None,
        by_user: user.id(),
        by_name: user.user.name.clone(),
        by_driver: user.role() == Role::Driver,
        mover: Mover { is_staff: true },
        required_owner: None,
        required_driver: None,
        hide: false,
    };
    Ok(state.orders.change_status(change).await??)
}

/// A position taken: it is published within the second.
#[derive(Serialize, ToSchema)]
struct Accepted {
    order_id: i64,
    at: chrono::DateTime<chrono::Utc>,
}

/// A driver's position over REST, for clients without a socket; the same rules as the
/// socket's `location` frame.
#[utoipa::path(
    post,
    path = "/orders/{id}/location",
    tag = "Dispatch",
    params(Id),
    request_body = PositionRequest,
    responses(
        (status = 202, description = "The position, published within the second", body = Success<Accepted>),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
async fn location(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<PositionRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    let position = body.into_inner().parse(chrono::Utc::now())?;
    state.positions.report(&user, *id, position).await?;
    Ok(envelope::accepted(
        Msg::PositionAccepted.text(user.locale),
        Accepted {
            order_id: *id,
            at: position.at,
        },
    ))
}

/// Where the order went: its written positions, for whoever may see the order.
#[utoipa::path(
    get,
    path = "/orders/{id}/trail",
    tag = "Dispatch",
    params(Id),
    responses(
        (status = 200, description = "The order's written positions, oldest first", body = Success<Vec<crate::domain::position::Position>>),
        (status = 404, response = NotFound),
    )
)]
async fn trail(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = visible_order(&state.pool, &user, *id).await?;
    let trail = orders::trail(&state.pool, order.id).await?;
    Ok(envelope::ok(Msg::TrailRetrieved.text(user.locale), trail))
}
