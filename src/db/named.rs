//! SQL with named parameters. A statement is written with `:name` where a value goes and
//! numbered once for PostgreSQL (`$1`, `$2`, ... in order of first use); values are bound by
//! name. A piece of SQL shared by two statements (`notifications::STAGE_NOTIFICATION`) then
//! needs no agreement on who takes which number, and a reader checks each value by its name.

use tokio_postgres::types::ToSql;

use super::DbError;

/// A value for one named parameter.
pub type Param<'a> = (&'static str, &'a (dyn ToSql + Sync));

/// A statement with its parameters numbered.
#[derive(Debug)]
pub struct Named {
    /// The statement as PostgreSQL takes it, with `$n` in place of each name.
    sql: String,
    /// The name behind each `$n`, at index `n - 1`.
    names: Vec<String>,
}

impl Named {
    /// Numbers the `:name` parameters of `template`. A `::` cast, and anything inside a quoted
    /// literal or identifier, is left as written.
    pub fn new(template: &str) -> Self {
        let mut sql = String::with_capacity(template.len());
        let mut names: Vec<String> = Vec::new();
        let mut chars = template.char_indices().peekable();
        let mut quote: Option<char> = None;
        while let Some((_, c)) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, ':') if chars.peek().is_some_and(|&(_, n)| n == ':') => {
                    chars.next();
                    sql.push_str("::");
                    continue;
                }
                (None, ':') if chars.peek().is_some_and(|&(_, n)| starts_name(n)) => {
                    let mut name = String::new();
                    while let Some(&(_, n)) = chars.peek().filter(|&&(_, n)| in_name(n)) {
                        name.push(n);
                        chars.next();
                    }
                    let number = match names.iter().position(|known| *known == name) {
                        Some(at) => at + 1,
                        None => {
                            names.push(name);
                            names.len()
                        }
                    };
                    sql.push_str(&format!("${number}"));
                    continue;
                }
                _ => {}
            }
            sql.push(c);
        }
        Named { sql, names }
    }

    /// The statement to prepare.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The parameters' names, in the order PostgreSQL numbers them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values in PostgreSQL's order, found by name in `params`; every name must have one.
    pub fn bind<'a>(&self, params: &[Param<'a>]) -> Result<Vec<&'a (dyn ToSql + Sync)>, DbError> {
        self.names
            .iter()
            .map(|name| {
                params
                    .iter()
                    .find(|(given, _)| given == name)
                    .map(|(_, value)| *value)
                    .ok_or_else(|| DbError::Unbound(name.clone()))
            })
            .collect()
    }

    /// The template with each parameter replaced by `value(name)`: for tools that run the
    /// statement as text (the load generator's pgbench script).
    pub fn fill(&self, value: impl Fn(&str) -> String) -> String {
        let mut filled = self.sql.clone();
        // Highest first, so `$1` never matches the start of `$12`.
        for (at, name) in self.names.iter().enumerate().rev() {
            filled = filled.replace(&format!("${}", at + 1), &value(name));
        }
        filled
    }
}

fn starts_name(c: char) -> bool {
    c.is_ascii_lowercase() || c == '_'
}

fn in_name(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_numbered_in_order_of_first_use_and_reused() {
        let named = Named::new("SELECT :a, :b_2, :a WHERE x = :c");
        assert_eq!(named.sql(), "SELECT $1, $2, $1 WHERE x = $3");
        assert_eq!(named.names(), ["a", "b_2", "c"]);
    }

    #[test]
    fn casts_and_quoted_text_are_not_parameters() {
        let named = Named::new("SELECT :v::text, ':not', \":nor\", 'it''s :no' || :yes");
        assert_eq!(
            named.sql(),
            "SELECT $1::text, ':not', \":nor\", 'it''s :no' || $2"
        );
        assert_eq!(named.names(), ["v", "yes"]);
    }

    #[test]
    fn values_are_bound_in_numbered_order_and_a_missing_one_is_an_error() {
        let named = Named::new("SELECT :second_used, :first_used");
        let (one, two) = (1_i64, 2_i64);
        let bound = named
            .bind(&[("first_used", &one), ("second_used", &two)])
            .unwrap();
        assert_eq!(format!("{bound:?}"), "[2, 1]");
        assert!(matches!(
            named.bind(&[("first_used", &one)]),
            Err(DbError::Unbound(name)) if name == "second_used"
        ));
    }

    #[test]
    fn filling_replaces_every_parameter_by_name() {
        let named = Named::new("SELECT :a1, :a12, :a1::int");
        let filled = named.fill(|name| format!("<{name}>"));
        assert_eq!(filled, "SELECT <a1>, <a12>, <a1>::int");
    }
}
