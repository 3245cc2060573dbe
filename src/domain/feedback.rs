//! Order feedback: seed 003's validation rules and how the overall rating is derived.

use rust_decimal::Decimal;
use serde_json::Value;

use super::commerce::Fields;
use super::validation::FieldErrors;

const SUB_RATINGS: [&str; 3] = ["food_quality_rating", "service_rating", "delivery_rating"];

#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub rating: i16,
    pub comment: Option<String>,
    pub food_quality_rating: Option<i16>,
    pub service_rating: Option<i16>,
    pub delivery_rating: Option<i16>,
    pub is_anonymous: bool,
}

impl Feedback {
    /// The mean of every rating given, to two places.
    pub fn overall_rating(&self) -> Decimal {
        let given: Vec<i16> = [
            Some(self.rating),
            self.food_quality_rating,
            self.service_rating,
            self.delivery_rating,
        ]
        .into_iter()
        .flatten()
        .collect();
        (Decimal::from(given.iter().map(|r| i64::from(*r)).sum::<i64>())
            / Decimal::from(given.len()))
        .round_dp(2)
    }

    pub fn is_positive(&self) -> bool {
        self.overall_rating() >= Decimal::from(4)
    }
}

pub fn parse(body: &Value) -> Result<Feedback, FieldErrors> {
    let mut f = Fields::new(body)?;
    let rating = |f: &mut Fields, field: &str, required: bool| match body.get(field) {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|r| (1..=5).contains(&r)) => {
            n.as_i64().map(|r| r as i16)
        }
        None | Some(Value::Null) if !required => None,
        None | Some(Value::Null) => {
            f.errors.add(
                field,
                format!("The {} field is required.", field.replace('_', " ")),
            );
            None
        }
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            f.errors.add(
                field,
                format!("The {} must be between 1 and 5.", field.replace('_', " ")),
            );
            None
        }
        Some(_) => {
            f.errors.add(
                field,
                format!("The {} must be an integer.", field.replace('_', " ")),
            );
            None
        }
    };
    let main = rating(&mut f, "rating", true);
    let subs: Vec<Option<i16>> = SUB_RATINGS
        .iter()
        .map(|field| rating(&mut f, field, false))
        .collect();
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.chars().count() > 1000 {
                f.errors.add(
                    "comment",
                    "The comment may not be greater than 1000 characters.",
                );
            }
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(_) => {
            f.errors.add("comment", "The comment must be a string.");
            None
        }
    };
    let is_anonymous = match body.get("is_anonymous") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            f.errors.add(
                "is_anonymous",
                "The is anonymous field must be true or false.",
            );
            false
        }
    };
    f.errors.finish(Feedback {
        rating: main.unwrap_or(1),
        comment,
        food_quality_rating: subs[0],
        service_rating: subs[1],
        delivery_rating: subs[2],
        is_anonymous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_example_overall() {
        let f = parse(
            &json!({"rating": 5, "comment": "Excellent service!", "food_quality_rating": 5,
                              "service_rating": 4, "delivery_rating": 5, "is_anonymous": false}),
        )
        .unwrap();
        assert_eq!(f.overall_rating().to_string(), "4.75");
        assert!(f.is_positive());
        let low = parse(&json!({"rating": 3, "service_rating": 4})).unwrap();
        assert_eq!(low.overall_rating().to_string(), "3.50");
        assert!(!low.is_positive());
    }

    #[test]
    fn seed_messages() {
        let e = serde_json::to_value(parse(&json!({"comment": "x".repeat(1001)})).unwrap_err())
            .unwrap();
        assert_eq!(e["rating"], json!(["The rating field is required."]));
        assert_eq!(
            e["comment"],
            json!(["The comment may not be greater than 1000 characters."])
        );
        let e = serde_json::to_value(
            parse(&json!({"rating": 6, "service_rating": "4", "is_anonymous": "no"})).unwrap_err(),
        )
        .unwrap();
        assert_eq!(e["rating"], json!(["The rating must be between 1 and 5."]));
        assert_eq!(
            e["service_rating"],
            json!(["The service rating must be an integer."])
        );
        assert!(e["is_anonymous"].is_array());
    }
}
