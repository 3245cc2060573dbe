//! HS256 tokens with the algorithm pinned and `exp`, `iss`, `aud` required.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated between nodes when checking `exp`.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: String,
    /// The user's token version when issued; a newer version in the database revokes this token.
    pub ver: i32,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

/// Signing and checking keys, shared by every worker.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        }
    }

    /// A token for the user, and when it expires.
    pub fn issue(&self, user_id: i64, role: &str, version: i32) -> (String, DateTime<Utc>) {
        let now = Utc::now();
        let expires_at = now + chrono::Duration::seconds(self.ttl_secs);
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.to_string(),
            ver: version,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail");
        (token, expires_at)
    }

    /// Checks signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[7u8; 32], "order-tracker", "order-tracker", 60)
    }

    #[test]
    fn round_trip() {
        let (token, _) = keys().issue(42, "driver", 3);
        let claims = keys().verify(&token).unwrap();
        assert_eq!(claims.user_id(), Some(42));
        assert_eq!(claims.ver, 3);
    }

    #[test]
    fn other_secret_or_audience_is_refused() {
        let (token, _) = keys().issue(1, "user", 1);
        assert!(
            JwtKeys::new(&[8u8; 32], "order-tracker", "order-tracker", 60)
                .verify(&token)
                .is_err()
        );
        assert!(JwtKeys::new(&[7u8; 32], "order-tracker", "elsewhere", 60)
            .verify(&token)
            .is_err());
    }

    #[test]
    fn expired_is_refused() {
        let (token, _) =
            JwtKeys::new(&[7u8; 32], "order-tracker", "order-tracker", -120).issue(1, "user", 1);
        assert!(keys().verify(&token).is_err());
    }
}
