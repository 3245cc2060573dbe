//! The languages a user can read answers in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Id,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Id => "id",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Locale::En),
            "id" => Some(Locale::Id),
            _ => None,
        }
    }

    /// The first supported language in an `Accept-Language` header, by its listed order.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        header.split(',').find_map(|part| {
            let tag = part.split(';').next()?.trim();
            let primary = tag.split(['-', '_']).next()?;
            Locale::parse(primary)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_first_supported() {
        assert_eq!(
            Locale::from_accept_language("id-ID,id;q=0.9,en;q=0.8"),
            Some(Locale::Id)
        );
        assert_eq!(
            Locale::from_accept_language("fr-FR, en-US;q=0.5"),
            Some(Locale::En)
        );
        assert_eq!(Locale::from_accept_language("fr"), None);
    }
}
