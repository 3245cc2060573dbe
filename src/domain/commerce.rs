//! Parsing the commerce inputs: products, warehouses, stock rows, cart items and checkouts.
//! Bodies are read as loose JSON so each wrong type gets its own field message.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::money::parse_amount;
use super::validation::FieldErrors;

/// Largest quantity one line or stock row may hold (fits INTEGER with room to add).
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// Reads the fields of a JSON object body; anything else is one error on `body`.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a Value) -> Result<Self, FieldErrors> {
        match body {
            Value::Object(map) => Ok(Fields {
                map,
                errors: FieldErrors::default(),
            }),
            _ => Err(FieldErrors::single(
                "body",
                "The request body must be a JSON object.",
            )),
        }
    }

    fn present(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    pub fn text(&mut self, field: &str, required: bool, max_chars: usize) -> Option<String> {
        match self.present(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                let s = s.trim().to_string();
                if s.chars().count() > max_chars {
                    self.errors.add(
                        field,
                        format!("The {field} may not be greater than {max_chars} characters."),
                    );
                }
                Some(s)
            }
            Some(Value::String(_)) | None => {
                if required {
                    self.errors
                        .add(field, format!("The {field} field is required."));
                }
                None
            }
            Some(_) => {
                self.errors
                    .add(field, format!("The {field} must be a string."));
                None
            }
        }
    }

    /// A whole number in `range`.
    pub fn integer(
        &mut self,
        field: &str,
        required: bool,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        match self.present(field) {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| range.contains(&v)) => n.as_i64(),
            None => {
                if required {
                    self.errors
                        .add(field, format!("The {field} field is required."));
                }
                None
            }
            Some(_) => {
                self.errors.add(
                    field,
                    format!(
                        "The {field} must be a whole number from {} to {}.",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    pub fn amount(&mut self, field: &str, required: bool) -> Option<Decimal> {
        match self.present(field) {
            Some(value) => match parse_amount(value) {
                Ok(amount) => Some(amount),
                Err(why) => {
                    self.errors.add(field, format!("The {field} {why}."));
                    None
                }
            },
            None => {
                if required {
                    self.errors
                        .add(field, format!("The {field} field is required."));
                }
                None
            }
        }
    }

    pub fn id(&mut self, field: &str, required: bool) -> Option<i64> {
        self.integer(field, required, 1..=i64::MAX)
    }

    pub fn quantity(&mut self, field: &str, min: i64) -> Option<i64> {
        self.integer(field, true, min..=MAX_QUANTITY)
    }
}

/// A partial change (`PATCH`): the fields the body names, laid over the record as it stands,
/// so the result is checked by exactly the rules a whole record (`PUT`) is. A field given as
/// `null` is cleared; a field left out keeps its value.
pub fn overlay(current: impl serde::Serialize, patch: &Value) -> Result<Value, FieldErrors> {
    let Value::Object(changes) = patch else {
        return Err(FieldErrors::single(
            "body",
            "The body must be a JSON object.",
        ));
    };
    let mut merged = serde_json::to_value(current).unwrap_or_default();
    if let Value::Object(fields) = &mut merged {
        fields.extend(changes.clone());
    }
    Ok(merged)
}

/// A product as `POST` and `PUT /products` take it (`PATCH`: any of its fields).
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct ProductInput {
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    #[schema(value_type = f64, minimum = 0)]
    pub price: Decimal,
    #[schema(max_length = 100)]
    pub category: Option<String>,
}

pub fn product(body: &Value) -> Result<ProductInput, FieldErrors> {
    let mut f = Fields::new(body)?;
    let name = f.text("name", true, 255).unwrap_or_default();
    let description = f.text("description", false, 5000);
    let price = f.amount("price", true).unwrap_or_default();
    let category = f.text("category", false, 100);
    f.errors.finish(ProductInput {
        name,
        description,
        price,
        category,
    })
}

/// A warehouse as `POST` and `PUT /warehouses` take it (`PATCH`: any of its fields).
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct WarehouseInput {
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub location: Option<String>,
    /// Checkouts take stock from the lowest number first; 100 when left out.
    #[schema(required = false, minimum = 0, maximum = 1_000_000)]
    pub priority: i32,
}

pub fn warehouse(body: &Value) -> Result<WarehouseInput, FieldErrors> {
    let mut f = Fields::new(body)?;
    let name = f.text("name", true, 255).unwrap_or_default();
    let location = f.text("location", false, 1000);
    let priority = f.integer("priority", false, 0..=1_000_000).unwrap_or(100) as i32;
    f.errors.finish(WarehouseInput {
        name,
        location,
        priority,
    })
}

/// One stock row: how many of a product a warehouse holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
pub struct StockInput {
    pub warehouse_id: i64,
    pub product_id: i64,
    #[schema(minimum = 0)]
    pub quantity: i32,
}

pub fn stock(body: &Value) -> Result<StockInput, FieldErrors> {
    let mut f = Fields::new(body)?;
    let warehouse_id = f.id("warehouse_id", true).unwrap_or_default();
    let product_id = f.id("product_id", true).unwrap_or_default();
    let quantity = f.quantity("quantity", 0).unwrap_or_default() as i32;
    f.errors.finish(StockInput {
        warehouse_id,
        product_id,
        quantity,
    })
}

#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
pub struct CartItemInput {
    pub product_id: i64,
    /// 1 when left out.
    #[schema(required = false, minimum = 1)]
    pub quantity: i32,
}

pub fn cart_item(body: &Value) -> Result<CartItemInput, FieldErrors> {
    let mut f = Fields::new(body)?;
    let product_id = f.id("product_id", true).unwrap_or_default();
    let quantity = f.integer("quantity", false, 1..=MAX_QUANTITY).unwrap_or(1) as i32;
    f.errors.finish(CartItemInput {
        product_id,
        quantity,
    })
}

/// What an order is bought from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Cart(i64),
    /// Product id -> quantity, with repeated products already summed.
    Items(BTreeMap<i64, i32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutInput {
    pub source: Source,
    pub shipping_cost: Decimal,
    pub warehouse_id: Option<i64>,
}

/// A checkout body: `{"cart_id", "shipping_cost"?, "warehouse_id"?}` or
/// `{"items": [{"product_id", "quantity"}], ...}`. `None` when it is neither (a text order).
pub fn checkout(body: &Value) -> Option<Result<CheckoutInput, FieldErrors>> {
    let is_checkout = body.get("cart_id").is_some_and(|v| !v.is_null())
        || body.get("items").is_some_and(Value::is_array);
    is_checkout.then(|| parse_checkout(body))
}

fn parse_checkout(body: &Value) -> Result<CheckoutInput, FieldErrors> {
    let mut f = Fields::new(body)?;
    let shipping_cost = f.amount("shipping_cost", false).unwrap_or_default();
    let warehouse_id = f.id("warehouse_id", false);
    let source = match body.get("items").and_then(Value::as_array) {
        Some(lines) => {
            let mut summed: BTreeMap<i64, i64> = BTreeMap::new();
            if lines.is_empty() {
                f.errors
                    .add("items", "The items must list at least one product.");
            }
            for (i, line) in lines.iter().enumerate() {
                match Fields::new(line) {
                    Ok(mut lf) => {
                        let product = lf.id("product_id", true);
                        let quantity = lf.quantity("quantity", 1);
                        if let (Some(p), Some(q)) = (product, quantity) {
                            *summed.entry(p).or_default() += q;
                        }
                        for (field, messages) in lf.errors.into_inner() {
                            for m in messages {
                                f.errors.add(&format!("items.{i}.{field}"), m);
                            }
                        }
                    }
                    Err(_) => f
                        .errors
                        .add(&format!("items.{i}"), "Each item must be an object."),
                }
            }
            if summed.values().any(|q| *q > MAX_QUANTITY) {
                f.errors.add(
                    "items",
                    format!("A product's total quantity may not exceed {MAX_QUANTITY}."),
                );
            }
            Source::Items(summed.into_iter().map(|(p, q)| (p, q as i32)).collect())
        }
        None => Source::Cart(f.id("cart_id", true).unwrap_or_default()),
    };
    f.errors.finish(CheckoutInput {
        source,
        shipping_cost,
        warehouse_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_keeps_what_it_does_not_name() {
        let current = json!({"name": "Kopi", "price": 20000.5, "category": "Drinks"});
        let merged = overlay(&current, &json!({"price": 25000, "category": null})).unwrap();
        let input = product(&merged).unwrap();
        assert_eq!(input.name, "Kopi");
        assert_eq!(input.price, Decimal::from(25000));
        assert_eq!(input.category, None);
        assert!(overlay(&current, &json!([1])).is_err());
    }

    #[test]
    fn product_fields() {
        let p = product(
            &json!({"name": "Laptop ASUS ROG", "price": 15000000, "category": "Electronics"}),
        )
        .unwrap();
        assert_eq!(p.price, Decimal::from(15_000_000));
        let e = product(&json!({"price": -1})).unwrap_err();
        let e = serde_json::to_value(e).unwrap();
        assert!(e["name"].is_array() && e["price"].is_array());
        assert!(product(&json!([1])).is_err());
    }

    #[test]
    fn checkout_sums_repeated_products() {
        let c = checkout(&json!({"items": [
            {"product_id": 1, "quantity": 2}, {"product_id": 1, "quantity": 3}, {"product_id": 2, "quantity": 1}
        ]}))
        .unwrap()
        .unwrap();
        assert_eq!(c.source, Source::Items(BTreeMap::from([(1, 5), (2, 1)])));
        let cart = checkout(&json!({"cart_id": 1, "shipping_cost": 50000}))
            .unwrap()
            .unwrap();
        assert_eq!(cart.source, Source::Cart(1));
        assert_eq!(cart.shipping_cost, Decimal::from(50_000));
        assert!(checkout(&json!({"items": "Nasi Goreng"})).is_none());
        let bad = checkout(&json!({"items": [{"product_id": "x", "quantity": 0}]}))
            .unwrap()
            .unwrap_err();
        let bad = serde_json::to_value(bad).unwrap();
        assert!(bad["items.0.product_id"].is_array() && bad["items.0.quantity"].is_array());
    }

    #[test]
    fn stock_quantity_never_negative() {
        assert!(stock(&json!({"warehouse_id": 1, "product_id": 1, "quantity": -5})).is_err());
        assert!(stock(&json!({"warehouse_id": 1, "product_id": 1, "quantity": 0})).is_ok());
    }
}
