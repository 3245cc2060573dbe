//! The `Webhook-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one
//! `v1` per secret in force (two during a rotation's grace period), as Stripe signs. Receivers
//! recompute the HMAC with their secret, compare in constant time, and refuse old timestamps,
//! which stops replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "Webhook-Signature";
/// Secrets start with this, so one pasted in the wrong place is recognisable.
const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: 32 random bytes as hex, after the prefix. The HMAC key is the whole
/// text, so receivers use it as they were given it.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{SECRET_PREFIX}{hex}")
}

fn hmac_hex(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The header's value for `body` sent at `timestamp`, signed with each of `secrets`.
pub fn header_value(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&hmac_hex(secret, timestamp, body));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_timestamp_and_body_with_every_secret() {
        // RFC 4231-style check: HMAC-SHA256("key", "1.{}") computed independently.
        let value = header_value(&[b"key"], 1, b"{}");
        let expected = {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
            mac.update(b"1.{}");
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(value, format!("t=1,v1={expected}"));
        let two = header_value(&[b"new", b"old"], 7, b"x");
        assert_eq!(two.matches(",v1=").count(), 2);
        assert_ne!(header_value(&[b"key"], 2, b"{}"), value);
        assert!(new_secret().starts_with("whsec_") && new_secret().len() == 70);
        assert_ne!(new_secret(), new_secret());
    }
}
