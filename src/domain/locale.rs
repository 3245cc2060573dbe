//! The languages a user can read answers in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The supported language the header prefers most: highest `q` first (1 when not given),
    /// then the order written; `q=0` means "not this one".
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Locale)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let Some(locale) = tag.split(['-', '_']).next().and_then(Locale::parse) else {
                continue;
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite() && *q > 0.0);
            if let Some(q) = q {
                if best.is_none_or(|(top, _)| q > top) {
                    best = Some((q, locale));
                }
            }
        }
        best.map(|(_, locale)| locale)
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
        assert_eq!(
            Locale::from_accept_language("id-ID;q=0.9,en;q=1.0"),
            Some(Locale::En),
            "the higher weight wins, wherever it is written"
        );
        assert_eq!(
            Locale::from_accept_language("id;q=0, en;q=0.1"),
            Some(Locale::En)
        );
        assert_eq!(Locale::from_accept_language("id;q=abc"), None);
    }
}
