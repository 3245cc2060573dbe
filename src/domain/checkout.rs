//! The checkout verdict: which requests of a warehouse's batch win, under which stock. Requests
//! are decided one by one, in arrival order, against what the batch read under its row locks
//! (products, stock, open carts, used idempotency keys); each accepted one takes its stock
//! before the next is looked at, so a batch can never promise the same unit twice.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;

use super::money;

/// One checkout as the verdict sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub user_id: i64,
    /// Product id -> quantity, summed per product.
    pub lines: &'a BTreeMap<i64, i32>,
    pub shipping_cost: Decimal,
    pub cart_id: Option<i64>,
    pub idempotency_key: Option<&'a str>,
}

/// What the batch read under lock.
#[derive(Debug, Clone, Default)]
pub struct Locked {
    /// Products still on sale: id -> (name, price).
    pub products: BTreeMap<i64, (String, Decimal)>,
    /// The warehouse's stock: product id -> quantity.
    pub stock: BTreeMap<i64, i32>,
    /// Open carts: cart id -> owner.
    pub open_carts: BTreeMap<i64, i64>,
    /// Idempotency keys already used: (user id, key).
    pub used_keys: BTreeSet<(i64, String)>,
}

/// An order line as it will be written: the product's name and price copied at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: i64,
    pub name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
}

/// A product the warehouse cannot supply in the asked quantity.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Shortage {
    pub product_id: i64,
    pub requested: i32,
    pub available: i32,
}

/// Why a checkout was refused; a refused checkout writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("products no longer available: {0:?}")]
    ProductsUnavailable(Vec<i64>),
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    #[error("the cart is not open")]
    CartNotOpen,
    #[error("a request with this idempotency key was already made")]
    IdempotencyKeyUsed,
    /// The order's total, or total plus shipping, is beyond what the money columns hold.
    #[error("the order total is too large")]
    TotalTooLarge,
}

/// The verdict on each request, in order: its lines if it wins, else why not.
pub fn decide(requests: &[Request<'_>], mut locked: Locked) -> Vec<Result<Vec<Line>, Refusal>> {
    requests
        .iter()
        .map(|request| {
            let verdict = judge(request, &locked);
            if verdict.is_ok() {
                for (product, quantity) in request.lines {
                    *locked.stock.entry(*product).or_default() -= quantity;
                }
                if let Some(cart) = request.cart_id {
                    locked.open_carts.remove(&cart);
                }
                if let Some(key) = request.idempotency_key {
                    locked.used_keys.insert((request.user_id, key.to_string()));
                }
            }
            verdict
        })
        .collect()
}

fn judge(request: &Request<'_>, locked: &Locked) -> Result<Vec<Line>, Refusal> {
    let missing: Vec<i64> = request
        .lines
        .keys()
        .copied()
        .filter(|p| !locked.products.contains_key(p))
        .collect();
    if !missing.is_empty() {
        return Err(Refusal::ProductsUnavailable(missing));
    }
    let short: Vec<Shortage> = request
        .lines
        .iter()
        .map(|(p, q)| Shortage {
            product_id: *p,
            requested: *q,
            available: locked.stock.get(p).copied().unwrap_or(0),
        })
        .filter(|s| s.available < s.requested)
        .collect();
    if !short.is_empty() {
        return Err(Refusal::InsufficientStock(short));
    }
    if request
        .cart_id
        .is_some_and(|c| locked.open_carts.get(&c) != Some(&request.user_id))
    {
        return Err(Refusal::CartNotOpen);
    }
    if request
        .idempotency_key
        .is_some_and(|k| locked.used_keys.contains(&(request.user_id, k.to_string())))
    {
        return Err(Refusal::IdempotencyKeyUsed);
    }
    let lines: Vec<Line> = request
        .lines
        .iter()
        .map(|(p, q)| {
            let (name, price) = &locked.products[p];
            Line {
                product_id: *p,
                name: name.clone(),
                unit_price: *price,
                quantity: *q,
            }
        })
        .collect();
    if !total_fits(&lines, request.shipping_cost) {
        return Err(Refusal::TotalTooLarge);
    }
    Ok(lines)
}

/// Whether every line's total, the order's total and the total with shipping fit the money
/// columns (checked, never overflowing: quantities and prices are bounded only by their types).
fn total_fits(lines: &[Line], shipping_cost: Decimal) -> bool {
    let mut total = Some(Decimal::ZERO);
    for line in lines {
        let amount = line.unit_price.checked_mul(Decimal::from(line.quantity));
        total = match (total, amount) {
            (Some(t), Some(a)) if money::fits(a) => t.checked_add(a),
            _ => None,
        };
    }
    total
        .filter(|t| money::fits(*t))
        .and_then(|t| t.checked_add(shipping_cost))
        .is_some_and(money::fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(stock: i32) -> Locked {
        Locked {
            products: BTreeMap::from([(1, ("Kopi".to_string(), Decimal::from(20_000)))]),
            stock: BTreeMap::from([(1, stock)]),
            open_carts: BTreeMap::from([(7, 100)]),
            used_keys: BTreeSet::from([(100, "used".to_string())]),
        }
    }

    fn buy(lines: &BTreeMap<i64, i32>) -> Request<'_> {
        Request {
            user_id: 100,
            lines,
            shipping_cost: Decimal::ZERO,
            cart_id: None,
            idempotency_key: None,
        }
    }

    #[test]
    fn arrival_order_wins_and_stock_is_never_promised_twice() {
        let two = BTreeMap::from([(1, 2)]);
        let verdicts = decide(&[buy(&two), buy(&two), buy(&two)], locked(5));
        assert!(verdicts[0].is_ok() && verdicts[1].is_ok());
        assert_eq!(
            verdicts[2],
            Err(Refusal::InsufficientStock(vec![Shortage {
                product_id: 1,
                requested: 2,
                available: 1
            }]))
        );
        let lines = verdicts[0].as_ref().unwrap();
        assert_eq!(lines[0].name, "Kopi");
        assert_eq!(lines[0].unit_price, Decimal::from(20_000));
    }

    #[test]
    fn a_refused_request_takes_nothing() {
        let many = BTreeMap::from([(1, 9)]);
        let one = BTreeMap::from([(1, 1)]);
        let verdicts = decide(&[buy(&many), buy(&one)], locked(1));
        assert!(verdicts[0].is_err());
        assert!(
            verdicts[1].is_ok(),
            "the refused one left the unit for the next"
        );
    }

    #[test]
    fn carts_keys_products_and_totals_are_checked() {
        let one = BTreeMap::from([(1, 1)]);
        let gone = BTreeMap::from([(2, 1)]);
        let cart = Request {
            cart_id: Some(7),
            ..buy(&one)
        };
        let verdicts = decide(&[cart.clone(), cart], locked(5));
        assert!(verdicts[0].is_ok());
        assert_eq!(
            verdicts[1],
            Err(Refusal::CartNotOpen),
            "a cart checks out once"
        );
        let keyed = Request {
            idempotency_key: Some("used"),
            ..buy(&one)
        };
        assert_eq!(
            decide(&[keyed], locked(5))[0],
            Err(Refusal::IdempotencyKeyUsed)
        );
        assert_eq!(
            decide(&[buy(&gone)], locked(5))[0],
            Err(Refusal::ProductsUnavailable(vec![2]))
        );
        let costly = Request {
            shipping_cost: Decimal::from(9_999_999_999_999i64),
            ..buy(&one)
        };
        assert_eq!(decide(&[costly], locked(5))[0], Err(Refusal::TotalTooLarge));
    }
}
