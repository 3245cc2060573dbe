//! Field-level validation messages, collected so a client sees every problem at once.

use std::collections::BTreeMap;

use serde::Serialize;

/// Messages per field, in the shape of the envelope's `errors` object.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn into_inner(self) -> BTreeMap<String, Vec<String>> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    /// `Ok(value)` when nothing was added, else the collected errors.
    pub fn finish<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Trims an optional text field and checks its length in characters; empty becomes None.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<String>,
        max_chars: usize,
    ) -> Option<String> {
        let value = value?.trim().to_string();
        if value.is_empty() {
            return None;
        }
        if value.chars().count() > max_chars {
            self.add(
                field,
                format!("The {field} may not be greater than {max_chars} characters."),
            );
        }
        Some(value)
    }
}
