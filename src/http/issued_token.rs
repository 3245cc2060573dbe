//! A freshly signed token, as login and two-factor verification hand it out.

use serde::Serialize;

use super::state::AppState;
use crate::domain::role::Role;

#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl IssuedToken {
    pub fn new(state: &AppState, user_id: i64, role: Role, version: i32) -> Self {
        let (token, expires_at) = state.jwt.issue(user_id, role.as_str(), version);
        IssuedToken {
            token,
            token_type: "Bearer",
            expires_at,
        }
    }
}
