//! Every message the relay publishes carries an HMAC-SHA256 of its subject, the time it was
//! published and its payload, keyed from the server's JWT secret (which every process of a
//! deployment shares), and subscribers drop messages without a valid one. Whoever can publish
//! on the NATS server but does not hold the secret cannot put events in front of our users:
//!
//! - a forged message has no valid seal;
//! - a genuine message replayed on another subject (an order's event on its position subject,
//!   where no seq would stop it) does not verify there;
//! - a genuine message replayed later than `MAX_AGE` after it was published (an old position,
//!   an old revocation, which would close sessions opened since) is too old. One replayed
//!   sooner is an event dropped by seq like any repeat, or a position or revocation as recent
//!   as a genuine one.
//!
//! So the hosts of a deployment keep their clocks within `MAX_AGE` of each other (NTP does).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the seal, as hex.
const HEADER: &str = "Order-Tracker-Seal";
/// The header that carries when the relay published the message, in Unix milliseconds.
const SENT_HEADER: &str = "Order-Tracker-Sent";
/// Keeps this key apart from the JWT signing key it is derived from.
const CONTEXT: &[u8] = b"order-tracker nats broker seal v2";
/// How far a message's publication time may be from the subscriber's clock, either way.
pub const MAX_AGE: Duration = Duration::from_secs(60);

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

    /// The headers a message with `payload` is published with on `subject`, now.
    pub fn headers(&self, subject: &str, payload: &[u8]) -> HeaderMap {
        self.headers_at(subject, payload, now_ms())
    }

    fn headers_at(&self, subject: &str, payload: &[u8], sent: i64) -> HeaderMap {
        let sent = sent.to_string();
        let hex: String = self
            .mac(subject, &sent, payload)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, hex.as_str());
        headers.insert(SENT_HEADER, sent.as_str());
        headers
    }

    /// Whether a message received on `subject` carries the seal of its subject, publication
    /// time and payload (compared in constant time), and was published within `MAX_AGE`.
    pub fn verifies(&self, subject: &str, headers: Option<&HeaderMap>, payload: &[u8]) -> bool {
        self.verifies_at(subject, headers, payload, now_ms())
    }

    fn verifies_at(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
        now: i64,
    ) -> bool {
        let Some(headers) = headers else {
            return false;
        };
        let (Some(given), Some(sent)) = (headers.get(HEADER), headers.get(SENT_HEADER)) else {
            return false;
        };
        let Some(tag) = from_hex(given.as_str()) else {
            return false;
        };
        let Ok(sent_ms) = sent.as_str().parse::<i64>() else {
            return false;
        };
        let max_age = MAX_AGE.as_millis() as i64;
        if now.abs_diff(sent_ms) > max_age as u64 {
            return false;
        }
        self.mac(subject, sent.as_str(), payload)
            .verify_slice(&tag)
            .is_ok()
    }

    /// Subjects hold no whitespace and the time only digits, so the lines cannot run together.
    fn mac(&self, subject: &str, sent: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(subject.as_bytes());
        mac.update(b"\n");
        mac.update(sent.as_bytes());
        mac.update(b"\n");
        mac.update(payload);
        mac
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
        let headers = seal.headers("ot.user.1", b"{\"seq\":1}");
        assert!(seal.verifies("ot.user.1", Some(&headers), b"{\"seq\":1}"));
        assert!(!seal.verifies("ot.user.1", Some(&headers), b"{\"seq\":2}"));
        assert!(!seal.verifies("ot.user.1", None, b"{\"seq\":1}"));
        let other = Seal::new(b"another deployment's secret");
        assert!(!other.verifies("ot.user.1", Some(&headers), b"{\"seq\":1}"));
        let mut forged = HeaderMap::new();
        forged.insert(HEADER, "zz");
        forged.insert(SENT_HEADER, now_ms().to_string().as_str());
        assert!(!seal.verifies("ot.user.1", Some(&forged), b"{\"seq\":1}"));
    }

    #[test]
    fn a_seal_holds_only_on_its_subject_and_while_fresh() {
        let seal = Seal::new(b"a secret shared by every process");
        let payload = br#"{"topic":"order:5","seq":2}"#;
        let sent = 1_700_000_000_000;
        let headers = seal.headers_at("ot.order.5", payload, sent);
        let at = |subject, now| seal.verifies_at(subject, Some(&headers), payload, now);
        assert!(at("ot.order.5", sent));
        assert!(!at("ot.order.5.position", sent));
        assert!(!at("ot.order.6", sent));
        let max = MAX_AGE.as_millis() as i64;
        assert!(at("ot.order.5", sent + max));
        assert!(!at("ot.order.5", sent + max + 1));
        assert!(!at("ot.order.5", sent - max - 1));

        // The time is sealed too: moving it forward breaks the seal.
        let mut moved = headers.clone();
        moved.insert(SENT_HEADER, (sent + max).to_string().as_str());
        assert!(!seal.verifies_at("ot.order.5", Some(&moved), payload, sent + 2 * max));
    }
}
