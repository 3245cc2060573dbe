//! Object-level access: who may see which order, and which topic. REST routes and WebSocket
//! subscriptions ask the same question here, so the answer cannot drift between them.

use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::auth::caller::{AccessError, AuthUser};
use crate::db::orders::{self, OrderRow};
use crate::db::users;
use crate::domain::topic::Topic;
use crate::realtime::services::Authorize;

/// The order, if `user` may see it: staff see every order (hidden ones too), a customer only
/// their own visible ones. Anything else is "not found", never "forbidden", so ids leak nothing.
pub async fn visible_order(
    pool: &Pool,
    user: &AuthUser,
    order_id: i64,
) -> Result<OrderRow, AccessError> {
    let staff = user.role().is_staff();
    match orders::find(pool, order_id, staff).await? {
        Some(order) if staff || order.user_id == user.id() => Ok(order),
        _ => Err(AccessError::NotFound("Order")),
    }
}

/// The rules of the real-time path, asked by every session before it follows a topic.
pub struct TopicAccess(pub Pool);

impl Authorize for TopicAccess {
    fn current(
        &self,
        user: &AuthUser,
    ) -> BoxFuture<'static, Result<Option<AuthUser>, AccessError>> {
        let (pool, user) = (self.0.clone(), user.clone());
        async move {
            let now = users::find_by_id(&pool, user.id()).await?;
            Ok(now
                .filter(|now| now.token_version == user.user.token_version)
                .map(|now| AuthUser { user: now, ..user }))
        }
        .boxed()
    }

    /// Their own orders (staff: any order), their own user topic.
    fn authorize(
        &self,
        user: &AuthUser,
        topic: Topic,
    ) -> BoxFuture<'static, Result<(), AccessError>> {
        let (pool, user) = (self.0.clone(), user.clone());
        async move {
            match topic {
                Topic::Order(id) => visible_order(&pool, &user, id).await.map(|_| ()),
                Topic::User(id) if id == user.id() => Ok(()),
                Topic::User(_) => Err(AccessError::NotFound("Topic")),
            }
        }
        .boxed()
    }
}
