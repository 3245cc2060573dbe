//! Object-level access: who may see which order. REST routes and WebSocket subscriptions ask
//! the same question here, so the answer cannot drift between them.

use deadpool_postgres::Pool;

use crate::db::orders::{self, OrderRow};
use crate::http::error::ApiError;
use crate::http::extract::AuthUser;

/// The order, if `user` may see it: staff see every order (hidden ones too), a customer only
/// their own visible ones. Anything else is "not found", never "forbidden", so ids leak nothing.
pub async fn visible_order(
    pool: &Pool,
    user: &AuthUser,
    order_id: i64,
) -> Result<OrderRow, ApiError> {
    let staff = user.role().is_staff();
    match orders::find(pool, order_id, staff).await? {
        Some(order) if staff || order.user_id == user.id() => Ok(order),
        _ => Err(ApiError::NotFound("Order")),
    }
}
