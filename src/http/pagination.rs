//! `?page=&per_page=` parsing and the pagination object lists answer with.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::Window;
use crate::domain::validation::FieldErrors;

pub const DEFAULT_PER_PAGE: i64 = 15;
/// Larger asks are clamped to this rather than refused.
pub const MAX_PER_PAGE: i64 = 100;
/// Highest page or page size a client may ask for: far past any real list, and small enough that
/// offsets and counts computed from it cannot overflow.
const MAX_PAGE: i64 = 1_000_000_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<String>,
    /// How many a page holds (at most 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    pub per_page: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl PageQuery {
    pub fn parse(&self) -> Result<Page, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |field: &str, value: &Option<String>, default: i64| match value.as_deref()
        {
            None | Some("") => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    errors.add(
                        field,
                        format!("The {field} must be a whole number from 1 to {MAX_PAGE}."),
                    );
                    default
                }
            },
        };
        let page = number("page", &self.page, 1);
        let per_page = number("per_page", &self.per_page, DEFAULT_PER_PAGE).min(MAX_PER_PAGE);
        errors.finish(Page { page, per_page })
    }
}

impl Page {
    pub fn window(self) -> Window {
        Window {
            limit: self.per_page,
            offset: (self.page - 1).saturating_mul(self.per_page),
        }
    }

    pub fn meta(self, total: i64, shown: usize) -> PageMeta {
        let from = self.window().offset + 1;
        let shown = shown as i64;
        PageMeta {
            current_page: self.page,
            per_page: self.per_page,
            total,
            last_page: ((total + self.per_page - 1) / self.per_page).max(1),
            from: (shown > 0).then_some(from),
            to: (shown > 0).then_some(from + shown - 1),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    pub current_page: i64,
    pub per_page: i64,
    pub total: i64,
    pub last_page: i64,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: Option<&str>, per_page: Option<&str>) -> PageQuery {
        PageQuery {
            page: page.map(Into::into),
            per_page: per_page.map(Into::into),
        }
    }

    #[test]
    fn defaults_clamp_and_refusals() {
        let p = q(None, None).parse().unwrap();
        assert_eq!((p.page, p.per_page), (1, DEFAULT_PER_PAGE));
        assert_eq!(q(None, Some("500")).parse().unwrap().per_page, MAX_PER_PAGE);
        assert!(q(Some("0"), None).parse().is_err());
        assert!(q(Some("x"), None).parse().is_err());
        assert!(q(None, Some("-3")).parse().is_err());
    }

    #[test]
    fn meta_edges() {
        let p = Page {
            page: 2,
            per_page: 10,
        };
        let m = p.meta(15, 5);
        assert_eq!((m.last_page, m.from, m.to), (2, Some(11), Some(15)));
        let empty = Page {
            page: 3,
            per_page: 10,
        }
        .meta(15, 0);
        assert_eq!((empty.from, empty.to), (None, None));
        assert_eq!(
            Page {
                page: 1,
                per_page: 10
            }
            .meta(0, 0)
            .last_page,
            1
        );
    }
}
