//! `/admin/orders`: every order, for admins and drivers.

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::extract::AuthUser;
use super::orders::{list_page, ListQuery};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/orders").route(web::get().to(all_orders)));
}

async fn all_orders(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_staff()?;
    list_page(&state, &user, None, &query).await
}
