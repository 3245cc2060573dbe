//! The caller of a request or the user behind a socket, as their token proved them, and the
//! ways an action can be refused to them. HTTP handlers and real-time sessions share both, so a
//! rule reads the same wherever it is asked.

use crate::db::users::UserRow;
use crate::db::DbError;
use crate::domain::locale::Locale;
use crate::domain::role::Role;

/// A user proven by a valid, unrevoked token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: UserRow,
    /// The language answers are written in: `Accept-Language` if supported, else the user's.
    pub locale: Locale,
    /// When the token expires (Unix seconds); a socket closes then.
    pub token_exp: i64,
}

/// Why an action or a read is refused to a caller. HTTP maps it to a status code in
/// `http::error`; a socket puts its text in an error frame.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The caller's role does not allow it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl AuthUser {
    pub fn id(&self) -> i64 {
        self.user.id
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn require_staff(&self) -> Result<(), AccessError> {
        if self.role().is_staff() {
            Ok(())
        } else {
            Err(AccessError::Forbidden(
                "This action is for admins and drivers only",
            ))
        }
    }

    pub fn require_admin(&self) -> Result<(), AccessError> {
        if self.role() == Role::Admin {
            Ok(())
        } else {
            Err(AccessError::Forbidden(
                "Access denied. Admin role required.",
            ))
        }
    }
}
