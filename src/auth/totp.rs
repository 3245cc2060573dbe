//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of drift) with secrets sealed at rest.
//!
//! A secret is 160 random bits from the OS. In the database it is stored as
//! `nonce || ChaCha20-Poly1305(secret)` under a server key, so a copy of the database alone
//! does not let anyone mint codes.

use std::sync::Arc;

use totp_rs::{Builder, Secret, Totp};

use super::sealed::SealingKey;

const SECRET_BYTES: usize = 20;

pub struct TotpKeys {
    /// Seals the secrets in the database (shared with the webhooks' signing secrets).
    sealing: Arc<SealingKey>,
    issuer: String,
}

/// What a user scans to set up an authenticator app.
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_png_base64: String,
}

impl TotpKeys {
    pub fn new(sealing: Arc<SealingKey>, issuer: &str) -> Self {
        TotpKeys {
            sealing,
            issuer: issuer.to_string(),
        }
    }

    pub fn new_secret() -> Vec<u8> {
        rand::random::<[u8; SECRET_BYTES]>().to_vec()
    }

    pub fn seal(&self, secret: &[u8]) -> Vec<u8> {
        self.sealing.seal(secret)
    }

    /// `None` if the blob was not sealed with this key (or was tampered with).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        self.sealing.open(sealed)
    }

    fn totp(&self, secret: Vec<u8>, account: &str) -> Totp {
        Builder::new()
            .with_secret(secret)
            .with_issuer(Some(self.issuer.as_str()))
            .with_account_name(account.replace(':', ""))
            .build()
            .expect("a 160-bit secret with RFC 6238 defaults is valid")
    }

    pub fn enrollment(&self, secret: &[u8], account: &str) -> Enrollment {
        let totp = self.totp(secret.to_vec(), account);
        Enrollment {
            secret_base32: Secret::from(secret.to_vec()).to_base32(),
            otpauth_uri: totp.to_url().unwrap_or_default(),
            qr_png_base64: totp.to_qr_base64().unwrap_or_default(),
        }
    }

    /// The time step `code` is valid for at `now` (the current step or one either side).
    pub fn matching_step(&self, secret: &[u8], code: &str, now: u64) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp(secret.to_vec(), "check");
        totp.check(code, now)
            .and_then(|step| i64::try_from(step).ok())
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TotpKeys {
        TotpKeys::new(
            Arc::new(SealingKey::from_hex(&"ab".repeat(32))),
            "OrderTracker",
        )
    }

    #[test]
    fn one_step_of_drift_and_no_more() {
        let secret = TotpKeys::new_secret();
        let k = keys();
        let totp = k.totp(secret.clone(), "a");
        let now = 1_700_000_000u64;
        let step = (now / 30) as i64;
        for (offset, accepted) in [
            (-60i64, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = totp.generate((now as i64 + offset) as u64).to_string();
            let found = k.matching_step(&secret, &code, now);
            assert_eq!(found.is_some(), accepted, "offset {offset}");
            if let Some(s) = found {
                assert_eq!(s, step + offset / 30);
            }
        }
        assert_eq!(k.matching_step(&secret, "12345", now), None);
    }

    #[test]
    fn enrollment_uri_names_issuer_and_account() {
        let e = keys().enrollment(&TotpKeys::new_secret(), "ann@example.com");
        assert!(
            e.otpauth_uri.starts_with("otpauth://totp/OrderTracker:ann"),
            "{}",
            e.otpauth_uri
        );
        assert!(e
            .otpauth_uri
            .contains(&format!("secret={}", e.secret_base32)));
        assert!(e.otpauth_uri.contains("issuer=OrderTracker"));
        assert!(!e.qr_png_base64.is_empty());
    }
}
