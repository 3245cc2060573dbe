//! Notifications: parsing what an admin sends, and the text of automatic ones.

use serde_json::{Map, Value};

use super::locale::Locale;
use super::status::OrderStatus;
use super::validation::FieldErrors;
use crate::config::NotificationSettings;

/// The body of `POST /notifications/send`, read loosely so a wrong type gets a field message.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    #[schema(value_type = i64, required = true)]
    pub user_id: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub title: Option<Value>,
    /// Up to 1000 characters.
    #[schema(value_type = String, required = true)]
    pub message: Option<Value>,
    /// Any JSON object up to 4 KiB.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// A notification ready to store.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub title: String,
    pub message: String,
    pub data: Map<String, Value>,
}

/// A send request that passed every rule.
#[derive(Debug, Clone)]
pub struct Send {
    pub user_id: i64,
    pub notification: NewNotification,
}

impl SendRequest {
    pub fn parse(self, limits: &NotificationSettings) -> Result<Send, FieldErrors> {
        let mut errors = FieldErrors::default();
        let user_id = match self.user_id {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|id| id > 0) => {
                n.as_i64().unwrap_or_default()
            }
            None | Some(Value::Null) => {
                errors.add("user_id", "The user id field is required.");
                0
            }
            Some(_) => {
                errors.add("user_id", "The user id must be a positive integer.");
                0
            }
        };
        let mut text = |field: &str, value: Option<Value>, max: usize, required: bool| match value {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                let s = s.trim().to_string();
                if s.chars().count() > max {
                    errors.add(
                        field,
                        format!("The {field} may not be greater than {max} characters."),
                    );
                }
                Some(s)
            }
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) | Some(Value::String(_)) => {
                errors.add(field, format!("The {field} field is required."));
                None
            }
            Some(_) => {
                errors.add(field, format!("The {field} must be a string."));
                None
            }
        };
        let message =
            text("message", self.message, limits.max_message_chars, true).unwrap_or_default();
        let title = text("title", self.title, limits.max_title_chars, false)
            .unwrap_or_else(|| "Notification".into());
        let data = match self.data {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => {
                if Value::Object(map.clone()).to_string().len() > limits.max_data_bytes {
                    errors.add(
                        "data",
                        format!(
                            "The data may not be larger than {} bytes.",
                            limits.max_data_bytes
                        ),
                    );
                }
                map
            }
            Some(_) => {
                errors.add("data", "The data must be a JSON object.");
                Map::new()
            }
        };
        errors.finish(Send {
            user_id,
            notification: NewNotification {
                title,
                message,
                data,
            },
        })
    }
}

/// The notification an order's owner gets when its status changes, in the owner's language.
pub fn order_status_changed(
    order_id: i64,
    order_number: &str,
    status: OrderStatus,
    locale: Locale,
) -> NewNotification {
    let display = status.display(locale);
    let (title, message) = match locale {
        Locale::En => (
            "Order update".to_string(),
            format!("Order {order_number} is now {display}"),
        ),
        Locale::Id => (
            "Pembaruan pesanan".to_string(),
            format!("Pesanan {order_number} sekarang {display}"),
        ),
    };
    let mut data = Map::new();
    data.insert("order_id".into(), Value::from(order_id));
    data.insert("status".into(), Value::from(status.as_str()));
    NewNotification {
        title,
        message,
        data,
    }
}

/// The notification every admin gets when a webhook endpoint was turned off for failing;
/// `origin` names its target without path or query (which may hold a secret).
pub fn webhook_disabled(endpoint_id: i64, origin: &str, locale: Locale) -> NewNotification {
    let (title, message) = match locale {
        Locale::En => (
            "Webhook disabled".to_string(),
            format!("Webhook {endpoint_id} ({origin}) kept failing and was disabled. Fix the receiver, then enable it again."),
        ),
        Locale::Id => (
            "Webhook dinonaktifkan".to_string(),
            format!("Webhook {endpoint_id} ({origin}) terus gagal dan dinonaktifkan. Perbaiki penerimanya, lalu aktifkan kembali."),
        ),
    };
    let mut data = Map::new();
    data.insert("webhook_id".into(), Value::from(endpoint_id));
    data.insert("origin".into(), Value::from(origin));
    NewNotification {
        title,
        message,
        data,
    }
}

/// The notification an order's owner gets when a driver is assigned to it.
pub fn driver_assigned(
    order_id: i64,
    order_number: &str,
    driver_first_name: &str,
    locale: Locale,
) -> NewNotification {
    let (title, message) = match locale {
        Locale::En => (
            "Driver assigned".to_string(),
            format!("{driver_first_name} will bring order {order_number}"),
        ),
        Locale::Id => (
            "Pengemudi ditugaskan".to_string(),
            format!("{driver_first_name} akan mengantar pesanan {order_number}"),
        ),
    };
    let mut data = Map::new();
    data.insert("order_id".into(), Value::from(order_id));
    data.insert("driver".into(), Value::from(driver_first_name));
    NewNotification {
        title,
        message,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn parse(json: &str) -> Result<Send, FieldErrors> {
        serde_json::from_str::<SendRequest>(json)
            .unwrap()
            .parse(&Settings::defaults().notifications)
    }

    #[test]
    fn seed_002_body() {
        let send = parse(r#"{"user_id": 1, "message": "Pesananmu sudah dikirim!"}"#).unwrap();
        assert_eq!(send.user_id, 1);
        assert_eq!(send.notification.title, "Notification");
    }

    #[test]
    fn field_messages_for_each_mistake() {
        let errors = parse(r#"{"user_id": "1", "data": [1]}"#).unwrap_err();
        let json = serde_json::to_value(errors).unwrap();
        assert!(
            json["user_id"].is_array() && json["message"].is_array() && json["data"].is_array()
        );
        let long = format!(r#"{{"user_id": 1, "message": "{}"}}"#, "x".repeat(1001));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn automatic_text_in_both_languages() {
        let en = order_status_changed(7, "ORD-20250105-0001", OrderStatus::Shipped, Locale::En);
        assert_eq!(en.message, "Order ORD-20250105-0001 is now Shipped");
        let id = order_status_changed(7, "ORD-20250105-0001", OrderStatus::Shipped, Locale::Id);
        assert_eq!(id.message, "Pesanan ORD-20250105-0001 sekarang Dikirim");
        assert_eq!(id.data["status"], "shipped");
    }
}
