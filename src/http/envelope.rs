//! The one JSON envelope every answer uses, built so each seed's client finds its fields:
//! `status` (000/001), `success` and `message` (003), `data`, and `error`/`errors` on failure.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use crate::domain::validation::FieldErrors;

#[derive(Serialize)]
struct Success<'a, T: Serialize, M: Serialize> {
    status: &'static str,
    success: bool,
    message: &'a str,
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<M>,
}

#[derive(Serialize)]
struct Failure<'a> {
    status: &'static str,
    success: bool,
    message: &'a str,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
}

pub fn ok<T: Serialize>(message: &str, data: T) -> HttpResponse {
    respond(StatusCode::OK, message, data, None::<()>)
}

pub fn created<T: Serialize>(message: &str, data: T) -> HttpResponse {
    respond(StatusCode::CREATED, message, data, None::<()>)
}

/// Taken, to be acted on shortly (a position published within the second).
pub fn accepted<T: Serialize>(message: &str, data: T) -> HttpResponse {
    respond(StatusCode::ACCEPTED, message, data, None::<()>)
}

/// A list with its pagination beside it in `meta`.
pub fn page<T: Serialize, M: Serialize>(message: &str, data: T, meta: M) -> HttpResponse {
    respond(StatusCode::OK, message, data, Some(meta))
}

fn respond<T: Serialize, M: Serialize>(
    code: StatusCode,
    message: &str,
    data: T,
    meta: Option<M>,
) -> HttpResponse {
    HttpResponse::build(code).json(Success {
        status: "success",
        success: true,
        message,
        data,
        meta,
    })
}

/// A batch answer in seed 004's shape: `results` at the top level, and in `data` too.
pub fn results<T: Serialize>(message: &str, results: T) -> HttpResponse {
    let results = serde_json::to_value(results).expect("results serialize");
    let mut body = serde_json::to_value(Success {
        status: "success",
        success: true,
        message,
        data: serde_json::json!({ "results": results }),
        meta: None::<()>,
    })
    .expect("envelope serializes");
    body["results"] = results;
    HttpResponse::Ok().json(body)
}

/// The body of an error answer; `errors` only for validation failures, `data` for details
/// such as which products are short.
pub fn failure_body(
    message: &str,
    errors: Option<&FieldErrors>,
    data: Option<&serde_json::Value>,
) -> String {
    serde_json::to_string(&Failure {
        status: "error",
        success: false,
        message,
        error: message,
        errors,
        data,
    })
    .expect("envelope serializes")
}
