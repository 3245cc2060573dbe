//! Object-level access: who may see which order, and which topic. REST routes and WebSocket
//! subscriptions ask the same question here, so the answer cannot drift between them.

use deadpool_postgres::Pool;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::auth::caller::{AccessError, AuthUser};
use crate::db::orders::{self, OrderRow};
use crate::db::{share_links, users};
use crate::domain::role::Role;
use crate::domain::topic::Topic;
use crate::realtime::services::Authorize;
use crate::realtime::viewer::Viewer;

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
pub struct TopicAccess {
    pub pool: Pool,
    /// `share.ttl_days`: how long a link lives on after its order is final.
    pub share_ttl_days: u32,
    /// `dispatch.drivers_assigned_only`: such drivers follow their own board.
    pub drivers_assigned_only: bool,
}

impl Authorize for TopicAccess {
    fn current(&self, viewer: &Viewer) -> BoxFuture<'static, Result<Option<Viewer>, AccessError>> {
        let (pool, viewer, ttl) = (self.pool.clone(), viewer.clone(), self.share_ttl_days);
        async move {
            Ok(match viewer {
                Viewer::User(user) => users::find_by_id(&pool, user.id())
                    .await?
                    .filter(|now| now.token_version == user.user.token_version)
                    .map(|now| Viewer::User(AuthUser { user: now, ..user })),
                Viewer::Link(link) => share_links::is_live(&pool, link.link_id, ttl)
                    .await?
                    .then_some(Viewer::Link(link)),
            })
        }
        .boxed()
    }

    /// Users: their own orders and their public views (staff: any order), their own user
    /// topic; staff: the board (a driver who sees only their own orders: their own board). A
    /// share link: its order's public view and nothing else.
    fn authorize(
        &self,
        viewer: &Viewer,
        topic: Topic,
    ) -> BoxFuture<'static, Result<Topic, AccessError>> {
        const NOT_FOUND: AccessError = AccessError::NotFound("Topic");
        let (pool, viewer) = (self.pool.clone(), viewer.clone());
        let assigned_only = self.drivers_assigned_only;
        async move {
            match (viewer, topic) {
                (Viewer::User(user), Topic::Order(id) | Topic::Track(id)) => {
                    visible_order(&pool, &user, id).await.map(|_| topic)
                }
                (Viewer::User(user), Topic::User(id)) if id == user.id() => Ok(topic),
                (Viewer::User(user), Topic::Board) => match user.role() {
                    Role::Admin => Ok(topic),
                    Role::Driver if assigned_only => Ok(Topic::DriverBoard(user.id())),
                    Role::Driver => Ok(topic),
                    Role::User => Err(AccessError::Forbidden("Only staff may follow the board")),
                },
                (Viewer::Link(link), Topic::Track(id)) if id == link.order_id => Ok(topic),
                _ => Err(NOT_FOUND),
            }
        }
        .boxed()
    }
}
