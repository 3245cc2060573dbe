//! Who a user is to the system: a customer, a driver or an administrator.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Driver,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Driver => "driver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "driver" => Some(Role::Driver),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Staff read every order, move any order and subscribe to any order.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Driver | Role::Admin)
    }
}
