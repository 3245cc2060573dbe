//! Parsing a registration: every field checked once here, so the rest of the code trusts it.

use serde::Deserialize;

use super::locale::Locale;
use super::validation::FieldErrors;

pub const MIN_PASSWORD_BYTES: usize = 8;
/// bcrypt reads only the first 72 bytes; a longer password would be silently cut, so we refuse it.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_BYTES: usize = 254;
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=50;

/// The body of `POST /register`, as each seed's client sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    /// 8 to 72 bytes.
    #[schema(value_type = String, required = true, min_length = 8)]
    pub password: Option<String>,
    #[schema(value_type = Option<Locale>)]
    pub locale: Option<String>,
}

/// A registration that passed every rule.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: String,
    pub locale: Locale,
}

impl RegisterRequest {
    pub fn parse(self) -> Result<NewUser, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = self
            .email
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
        let username = self
            .username
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if email.is_none() && username.is_none() {
            errors.add("email", "An email or a username is required.");
        }
        if let Some(email) = &email {
            if let Err(message) = check_email(email) {
                errors.add("email", message);
            }
        }
        if let Some(username) = &username {
            if let Err(message) = check_username(username) {
                errors.add("username", message);
            }
        }
        let password = self.password.unwrap_or_default();
        if let Err(message) = check_password(&password) {
            errors.add("password", message);
        }
        let name = errors
            .optional_text("name", self.name, MAX_NAME_CHARS)
            .or_else(|| username.clone())
            .or_else(|| {
                email
                    .as_ref()
                    .and_then(|e| e.split('@').next())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let locale = match self.locale.as_deref() {
            None => Locale::En,
            Some(l) => Locale::parse(l).unwrap_or_else(|| {
                errors.add("locale", "The locale must be one of: en, id.");
                Locale::En
            }),
        };
        errors.finish(NewUser {
            name,
            email,
            username,
            password,
            locale,
        })
    }
}

pub fn check_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        Err("The password field is required.".into())
    } else if password.len() < MIN_PASSWORD_BYTES {
        Err(format!(
            "The password must be at least {MIN_PASSWORD_BYTES} characters."
        ))
    } else if password.len() > MAX_PASSWORD_BYTES {
        Err(format!(
            "The password may not be longer than {MAX_PASSWORD_BYTES} bytes."
        ))
    } else {
        Ok(())
    }
}

fn check_email(email: &str) -> Result<(), String> {
    let invalid = || Err("The email must be a valid email address.".to_string());
    if email.len() > MAX_EMAIL_BYTES || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid();
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid();
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return invalid();
    }
    Ok(())
}

fn check_username(username: &str) -> Result<(), String> {
    let length = username.chars().count();
    if !USERNAME_CHARS.contains(&length) {
        return Err(format!(
            "The username must be between {} and {} characters.",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err("The username may only contain letters, digits, '_', '-' and '.'.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(email: Option<&str>, username: Option<&str>, password: &str) -> RegisterRequest {
        RegisterRequest {
            name: None,
            email: email.map(Into::into),
            username: username.map(Into::into),
            password: Some(password.into()),
            locale: None,
        }
    }

    #[test]
    fn accepts_each_seeds_shape() {
        let u = req(Some("john@example.com"), None, "password123")
            .parse()
            .unwrap();
        assert_eq!(u.name, "john");
        let u = req(None, Some("testuser"), "password123").parse().unwrap();
        assert_eq!(u.name, "testuser");
    }

    #[test]
    fn refuses_bad_fields_all_at_once() {
        let errors = req(Some("not-an-email"), Some("a"), "short")
            .parse()
            .unwrap_err();
        let json = serde_json::to_value(&errors).unwrap();
        assert!(json["email"].is_array());
        assert!(json["username"].is_array());
        assert!(json["password"].is_array());
    }

    #[test]
    fn needs_email_or_username() {
        assert!(req(None, None, "password123").parse().is_err());
    }

    #[test]
    fn password_length_is_in_bytes() {
        assert!(check_password(&"a".repeat(72)).is_ok());
        assert!(check_password(&"a".repeat(73)).is_err());
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(check_password(&"€".repeat(24)).is_ok());
        assert!(check_password(&"€".repeat(25)).is_err());
    }

    #[test]
    fn email_syntax() {
        for bad in [
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@@example.com",
            "a@-x.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email("first.last+tag@sub.example.co.id").is_ok());
    }
}
