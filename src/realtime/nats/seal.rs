//! Every message the relay publishes carries an HMAC-SHA256 of its payload, keyed from the
//! server's JWT secret (which every process of a deployment shares), and subscribers drop
//! messages without a valid one. Whoever can publish on the NATS server but does not hold the
//! secret cannot put events in front of our users; an old genuine message replayed is dropped
//! by seq like any repeat.

use async_nats::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the seal, as hex.
const HEADER: &str = "Order-Tracker-Seal";
/// Keeps this key apart from the JWT signing key it is derived from.
const CONTEXT: &[u8] = b"order-tracker nats broker seal v1";

#[derive(Clone)]
pub struct Seal {
    key: Hmac<Sha256>,
}

impl Seal {
    pub fn new(server_secret: &[u8]) -> Self {
        let mut derive =
            Hmac::<Sha256>::new_from_slice(server_secret).expect("HMAC takes a key of any length");
        derive.update(CONTEXT);
        let key = derive.finalize().into_bytes();
        Seal {
            key: Hmac::new_from_slice(&key).expect("HMAC takes a key of any length"),
        }
    }

    /// The headers a message with `payload` is published with.
    pub fn headers(&self, payload: &[u8]) -> HeaderMap {
        let mut mac = self.key.clone();
        mac.update(payload);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, hex.as_str());
        headers
    }

    /// Whether a message carries the seal of its payload (compared in constant time).
    pub fn verifies(&self, headers: Option<&HeaderMap>, payload: &[u8]) -> bool {
        let Some(given) = headers.and_then(|h| h.get(HEADER)) else {
            return false;
        };
        let Some(tag) = from_hex(given.as_str()) else {
            return false;
        };
        let mut mac = self.key.clone();
        mac.update(payload);
        mac.verify_slice(&tag).is_ok()
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sealed_payload_under_the_same_secret_verifies() {
        let seal = Seal::new(b"a secret shared by every process");
        let headers = seal.headers(b"{\"seq\":1}");
        assert!(seal.verifies(Some(&headers), b"{\"seq\":1}"));
        assert!(!seal.verifies(Some(&headers), b"{\"seq\":2}"));
        assert!(!seal.verifies(None, b"{\"seq\":1}"));
        let other = Seal::new(b"another deployment's secret");
        assert!(!other.verifies(Some(&headers), b"{\"seq\":1}"));
        let mut forged = HeaderMap::new();
        forged.insert(HEADER, "zz");
        assert!(!seal.verifies(Some(&forged), b"{\"seq\":1}"));
    }
}
