//! Parsing an order as the seeds' clients describe it: free-text items or a description.

use serde::Deserialize;

use super::position::{self, Point};
use super::validation::FieldErrors;

const MAX_TEXT_CHARS: usize = 2000;
const MAX_SHORT_CHARS: usize = 500;
const MAX_PHONE_CHARS: usize = 32;

/// The body of `POST /orders`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateOrderRequest {
    pub items: Option<String>,
    pub description: Option<String>,
    pub delivery_location: Option<String>,
    pub special_instructions: Option<String>,
    pub customer_phone: Option<String>,
    /// Where it goes, in degrees: both or neither.
    #[schema(value_type = Option<f64>)]
    pub delivery_lat: Option<serde_json::Value>,
    #[schema(value_type = Option<f64>)]
    pub delivery_lng: Option<serde_json::Value>,
}

/// An order that passed every rule.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub items: Option<String>,
    pub description: Option<String>,
    pub delivery_location: Option<String>,
    pub special_instructions: Option<String>,
    pub customer_phone: Option<String>,
    /// Where it goes, for the map and the ETA.
    pub destination: Option<Point>,
}

impl CreateOrderRequest {
    pub fn parse(self) -> Result<NewOrder, FieldErrors> {
        let mut errors = FieldErrors::default();
        let items = errors.optional_text("items", self.items, MAX_TEXT_CHARS);
        let description = errors.optional_text("description", self.description, MAX_TEXT_CHARS);
        if items.is_none() && description.is_none() {
            errors.add("items", "The items or the description field is required.");
        }
        let delivery_location =
            errors.optional_text("delivery_location", self.delivery_location, MAX_SHORT_CHARS);
        let special_instructions = errors.optional_text(
            "special_instructions",
            self.special_instructions,
            MAX_SHORT_CHARS,
        );
        let customer_phone =
            errors.optional_text("customer_phone", self.customer_phone, MAX_PHONE_CHARS);
        if let Some(phone) = &customer_phone {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            let allowed = phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()".contains(c));
            if !allowed || digits < 6 {
                errors.add(
                    "customer_phone",
                    "The customer phone must be a phone number.",
                );
            }
        }
        let destination = position::destination(&mut errors, self.delivery_lat, self.delivery_lng);
        errors.finish(NewOrder {
            items,
            description,
            delivery_location,
            special_instructions,
            customer_phone,
            destination,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<NewOrder, FieldErrors> {
        serde_json::from_str::<CreateOrderRequest>(json)
            .unwrap()
            .parse()
    }

    #[test]
    fn items_or_description() {
        assert!(parse(r#"{"items":"Nasi Goreng, Es Teh"}"#).is_ok());
        assert!(parse(r#"{"description":"Nasi Goreng Special"}"#).is_ok());
        assert!(parse(r#"{"items":"   "}"#).is_err());
        assert!(parse(r#"{}"#).is_err());
    }

    #[test]
    fn destination_is_both_coordinates_or_none() {
        let order = parse(r#"{"items":"x","delivery_lat":-6.2,"delivery_lng":106.8}"#).unwrap();
        assert_eq!(
            order.destination,
            Some(Point {
                lat: -6.2,
                lng: 106.8
            })
        );
        assert!(parse(r#"{"items":"x","delivery_lat":-6.2}"#).is_err());
        assert!(parse(r#"{"items":"x","delivery_lat":"a","delivery_lng":1}"#).is_err());
    }

    #[test]
    fn phone_is_checked() {
        assert!(parse(r#"{"items":"x","customer_phone":"+62 812-3456-7890"}"#).is_ok());
        assert!(parse(r#"{"items":"x","customer_phone":"call me"}"#).is_err());
    }
}
