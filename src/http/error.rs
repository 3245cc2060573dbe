//! Every error an HTTP answer can carry, and the one place that maps each to a status code.
//! Internal causes are logged here and never reach a response body.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use super::envelope;
use crate::auth::caller::AccessError;
use crate::auth::password::PasswordError;
use crate::db::carts::CartError;
use crate::db::checkout::{JobError, Shortage};
use crate::db::orders::ChangeError;
use crate::db::share_links::ShareError;
use crate::db::users::CreateUserError;
use crate::db::warehouses::StockError;
use crate::db::DbError;
use crate::dispatch::positions::PositionError;
use crate::domain::checkout::Refusal;
use crate::domain::status::TransitionError;
use crate::domain::validation::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Validation failed")]
    Validation(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A checkout no warehouse can fill; `data.short` lists the products.
    #[error("Insufficient stock")]
    Shortage(Vec<Shortage>),
    #[error("Request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("The request body did not arrive in time")]
    RequestTimeout,
    #[error("The URL is longer than {0} bytes")]
    UriTooLong(usize),
    #[error("The request headers are larger than {0} bytes")]
    HeadersTooLarge(usize),
    #[error("{0}")]
    Unprocessable(String),
    #[error("Too many requests, retry in {} seconds", retry_secs(.0))]
    TooManyRequests(Duration),
    #[error("Service unavailable")]
    Unavailable,
    /// Events do not reach this process now (`/readyz`): the named broker is unreachable.
    #[error("Service unavailable: the {0} broker is unreachable")]
    BrokerUnavailable(&'static str),
    #[error("Internal server error")]
    Internal(String),
}

/// What a 503 asks the client to wait: about as long as a database restart takes.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(5);

fn retry_secs(wait: &Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl ApiError {
    /// For causes a client must never see: logged in full, answered as a bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Shortage(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::BrokerUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let errors = match self {
            ApiError::Validation(errors) => Some(errors),
            _ => None,
        };
        let data = match self {
            ApiError::Shortage(short) => Some(serde_json::json!({ "short": short })),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        let retry = match self {
            ApiError::TooManyRequests(wait) => Some(wait),
            ApiError::Unavailable | ApiError::BrokerUnavailable(_) => Some(&UNAVAILABLE_RETRY),
            _ => None,
        };
        if let Some(wait) = retry {
            response.insert_header((header::RETRY_AFTER, retry_secs(wait).to_string()));
        }
        response
            .content_type("application/json")
            .body(envelope::failure_body(
                &self.to_string(),
                errors,
                data.as_ref(),
            ))
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::Unavailable
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Forbidden(message) => ApiError::Forbidden(message),
            AccessError::NotFound(what) => ApiError::NotFound(what),
            AccessError::Db(e) => e.into(),
        }
    }
}

impl From<ShareError> for ApiError {
    fn from(e: ShareError) -> Self {
        match e {
            ShareError::TooMany(_) | ShareError::Ended => ApiError::Conflict(e.to_string()),
            ShareError::Db(e) => e.into(),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        ApiError::internal(e)
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        ApiError::internal(e)
    }
}

impl From<CreateUserError> for ApiError {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::Duplicate(field) => {
                ApiError::Conflict(format!("The {field} has already been taken."))
            }
            CreateUserError::Db(db) => db.into(),
        }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::StaffOnly(_) => {
                ApiError::Forbidden("Only admins and drivers may change an order's status")
            }
            other => ApiError::Conflict(capitalize(&other.to_string())),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotFound => ApiError::NotFound("Order"),
            ChangeError::Transition(t) => t.into(),
            ChangeError::Busy | ChangeError::Taken => {
                ApiError::Conflict(capitalize(&e.to_string()))
            }
            ChangeError::NotAssigned => {
                ApiError::Forbidden("This order is assigned to another driver")
            }
            ChangeError::CodeRequired => FieldErrors::single(
                "delivery_code",
                "The delivery code is required to mark this order delivered.",
            )
            .into(),
            ChangeError::WrongCode => ApiError::Unprocessable(capitalize(&e.to_string())),
            ChangeError::CodeLocked(wait) => ApiError::TooManyRequests(wait),
            ChangeError::Db(db) => db.into(),
        }
    }
}

impl From<PositionError> for ApiError {
    fn from(e: PositionError) -> Self {
        match e {
            PositionError::NotFound => ApiError::NotFound("Order"),
            PositionError::NotAssigned => {
                ApiError::Forbidden("This order is assigned to another driver")
            }
            PositionError::NotShipped => ApiError::Conflict(capitalize(&e.to_string())),
            PositionError::Db(db) => db.into(),
        }
    }
}

impl From<StockError> for ApiError {
    fn from(e: StockError) -> Self {
        match e {
            StockError::NoWarehouse => ApiError::NotFound("Warehouse"),
            StockError::NoProduct => ApiError::NotFound("Product"),
            StockError::NotFound => ApiError::NotFound("Warehouse stock"),
            StockError::Duplicate => ApiError::Conflict(capitalize(&e.to_string())),
            StockError::Db(db) => db.into(),
        }
    }
}

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::NoProduct => ApiError::NotFound("Product"),
            CartError::TooMany => ApiError::Unprocessable(capitalize(&e.to_string())),
            CartError::Db(db) => db.into(),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Refused(refusal) => refusal.into(),
            JobError::Stock(stock) => stock.into(),
            JobError::Db(db) => db.into(),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(e: Refusal) -> Self {
        match e {
            Refusal::InsufficientStock(short) => ApiError::Shortage(short),
            Refusal::TotalTooLarge => {
                FieldErrors::single("total_amount", "The order total is too large.").into()
            }
            Refusal::ProductsUnavailable(_)
            | Refusal::CartNotOpen
            | Refusal::IdempotencyKeyUsed => ApiError::Conflict(capitalize(&e.to_string())),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
