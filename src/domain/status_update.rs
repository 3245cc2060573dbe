//! Parsing a status update: `{status, notes?, estimated_time?}`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::status::OrderStatus;
use super::validation::FieldErrors;

/// Notes travel inside NOTIFY payloads, which PostgreSQL caps at 8000 bytes.
pub const MAX_NOTES_CHARS: usize = 1000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StatusUpdateRequest {
    /// Case-insensitive; the aliases are accepted too (`processing`, `dikirim`, `selesai`, ...).
    #[schema(value_type = OrderStatus, required = true)]
    pub status: Option<String>,
    #[schema(max_length = 1000)]
    pub notes: Option<String>,
    #[schema(format = DateTime)]
    pub estimated_time: Option<String>,
    /// The order's four digits, when a driver marks it delivered.
    #[schema(pattern = "^[0-9]{4}$")]
    pub delivery_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub status: OrderStatus,
    pub notes: Option<String>,
    pub estimated_time: Option<DateTime<Utc>>,
    /// Four digits, when given (`dispatch.require_delivery_code`).
    pub delivery_code: Option<String>,
}

impl StatusUpdateRequest {
    pub fn parse(self) -> Result<StatusUpdate, FieldErrors> {
        let mut errors = FieldErrors::default();
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => {
                errors.add("status", "The status field is required.");
                OrderStatus::Pending
            }
            Some(s) => OrderStatus::parse(s).unwrap_or_else(|| {
                errors.add(
                    "status",
                    "The status must be one of: pending, confirmed, preparing, ready, shipped, delivered, cancelled.",
                );
                OrderStatus::Pending
            }),
        };
        let notes = errors.optional_text("notes", self.notes, MAX_NOTES_CHARS);
        let estimated_time = match self.estimated_time.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => match DateTime::parse_from_rfc3339(t) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    errors.add(
                        "estimated_time",
                        "The estimated time must be an RFC 3339 date and time.",
                    );
                    None
                }
            },
        };
        let delivery_code = match self.delivery_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) if code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()) => {
                Some(code.to_string())
            }
            Some(_) => {
                errors.add("delivery_code", "The delivery code is four digits.");
                None
            }
        };
        errors.finish(StatusUpdate {
            status,
            notes,
            estimated_time,
            delivery_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<StatusUpdate, FieldErrors> {
        serde_json::from_str::<StatusUpdateRequest>(json)
            .unwrap()
            .parse()
    }

    #[test]
    fn aliases_notes_and_time() {
        let u = parse(r#"{"status":"Dikirim","notes":" on the way ","estimated_time":"2025-07-28T10:00:00+07:00"}"#).unwrap();
        assert_eq!(u.status, OrderStatus::Shipped);
        assert_eq!(u.notes.as_deref(), Some("on the way"));
        assert_eq!(
            u.estimated_time.unwrap().to_rfc3339(),
            "2025-07-28T03:00:00+00:00"
        );
    }

    #[test]
    fn refusals() {
        assert!(parse(r#"{}"#).is_err());
        assert!(parse(r#"{"status":"flying"}"#).is_err());
        assert!(parse(r#"{"status":"shipped","estimated_time":"tomorrow"}"#).is_err());
        assert!(parse(r#"{"status":"delivered","delivery_code":"12a4"}"#).is_err());
        assert!(parse(r#"{"status":"delivered","delivery_code":"12345"}"#).is_err());
        assert!(parse(r#"{"status":"delivered","delivery_code":"\u00001234"}"#).is_err());
        let ok = parse(r#"{"status":"delivered","delivery_code":" 0427 "}"#).unwrap();
        assert_eq!(ok.delivery_code.as_deref(), Some("0427"));
        let long = format!(
            r#"{{"status":"shipped","notes":"{}"}}"#,
            "x".repeat(MAX_NOTES_CHARS + 1)
        );
        assert!(parse(&long).is_err());
    }
}
