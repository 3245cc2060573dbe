//! HS256 tokens with the algorithm pinned and `exp`, `iss`, `aud` required. Times are checked
//! with a small leeway for clock skew between nodes: not yet valid (`nbf` or `iat` in the
//! future) and lifetimes longer than `auth.jwt_ttl_secs` are refused, so a token minted with a
//! leaked key cannot outlive the configured lifetime.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated between nodes when checking `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: String,
    /// The user's token version when issued; a newer version in the database revokes this token.
    pub ver: i32,
    pub iat: i64,
    /// Not before; our tokens do not carry one, but a token that does is held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
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
            nbf: None,
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail");
        (token, expires_at)
    }

    /// Checks signature, algorithm, expiry, issuer, audience, and that the token is already
    /// valid and lives no longer than the configured lifetime.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| InvalidToken)?;
        let now = Utc::now().timestamp();
        let leeway = LEEWAY_SECS as i64;
        let started = claims.iat.max(claims.nbf.unwrap_or(i64::MIN));
        let lifetime = claims.exp.saturating_sub(claims.iat);
        let timely = started <= now + leeway && lifetime <= self.ttl_secs + leeway;
        timely.then_some(claims).ok_or(InvalidToken)
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

    /// A token signed with the right key but with times we would never issue.
    fn forged(edit: impl FnOnce(&mut Claims)) -> String {
        let now = Utc::now().timestamp();
        let mut claims = Claims {
            sub: "1".into(),
            role: "user".into(),
            ver: 1,
            iat: now,
            nbf: None,
            exp: now + 60,
            iss: "order-tracker".into(),
            aud: "order-tracker".into(),
        };
        edit(&mut claims);
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap()
    }

    #[test]
    fn times_we_would_never_issue_are_refused() {
        let now = Utc::now().timestamp();
        assert!(keys().verify(&forged(|_| {})).is_ok());
        assert!(keys().verify(&forged(|c| c.iat = now + 3600)).is_err());
        assert!(keys()
            .verify(&forged(|c| c.nbf = Some(now + 3600)))
            .is_err());
        assert!(keys()
            .verify(&forged(|c| c.exp = now + 10 * 365 * 86400))
            .is_err());
        // Within the leeway, a node whose clock runs a little ahead is still believed.
        assert!(keys().verify(&forged(|c| c.iat = now + 2)).is_ok());
    }

    #[test]
    fn expired_is_refused() {
        let (token, _) =
            JwtKeys::new(&[7u8; 32], "order-tracker", "order-tracker", -120).issue(1, "user", 1);
        assert!(keys().verify(&token).is_err());
    }
}
