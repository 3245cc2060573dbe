//! Money: decimals with two places, never floating point. JSON numbers are read through their
//! text (`15000000.50` stays exactly that) and written back as numbers.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// NUMERIC(15, 2) holds 13 digits before the point.
const MAX_WHOLE_DIGITS: u32 = 13;

/// Parses an amount given as a JSON number or numeric string: at least 0, at most two decimal
/// places, within NUMERIC(15, 2).
pub fn parse_amount(value: &Value) -> Result<Decimal, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("must be a number".into()),
    };
    // The decimal parser takes `1_000` and rounds past 28 places (0.000…01 became 0): only
    // plain digits are amounts, and their places are counted as written.
    let plain = text.strip_prefix('-').unwrap_or(&text);
    let (whole, fraction) = plain.split_once('.').unwrap_or((plain, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let scientific = plain.contains(['e', 'E']);
    if !scientific && (whole.is_empty() || !digits(whole) || !digits(fraction)) {
        return Err("must be a number".into());
    }
    if !scientific && fraction.trim_end_matches('0').len() > 2 {
        return Err("may have at most two decimal places".into());
    }
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| "must be a number".to_string())?
        .normalize();
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err("must be at least 0".into());
    }
    if amount.scale() > 2 {
        return Err("may have at most two decimal places".into());
    }
    if !fits(amount) {
        return Err("is too large".into());
    }
    Ok(amount)
}

/// Whether `amount` fits the money columns, NUMERIC(15, 2). Sums (an order's total, total plus
/// shipping) are checked with this before they are written.
pub fn fits(amount: Decimal) -> bool {
    amount.trunc().abs() < Decimal::from(10u64.pow(MAX_WHOLE_DIGITS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_amounts() {
        assert_eq!(
            parse_amount(&json!(15000000)).unwrap(),
            Decimal::from(15_000_000)
        );
        assert_eq!(parse_amount(&json!(0.1)).unwrap().to_string(), "0.1");
        assert_eq!(parse_amount(&json!("19.99")).unwrap().to_string(), "19.99");
        assert_eq!(parse_amount(&json!(1e3)).unwrap(), Decimal::from(1000));
    }

    #[test]
    fn refusals() {
        for bad in [
            json!(-1),
            json!(1.999),
            json!("abc"),
            json!(true),
            json!(1e20),
            json!("1_000"),
            json!("0.000000000000000000000000000001"),
            json!(".5"),
        ] {
            assert!(parse_amount(&bad).is_err(), "{bad}");
        }
    }
}
