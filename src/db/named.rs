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
    /// literal or identifier or a `--` comment, is left as written. (Our statements use no
    /// array slices, `$$` quoting or `E''` escapes, which this does not parse.)
    pub fn new(template: &str) -> Self {
        let mut sql = String::with_capacity(template.len());
        let mut names: Vec<String> = Vec::new();
        let mut chars = template.char_indices().peekable();
        // The character that ends the quote or comment we are in: `'`, `"` or a newline.
        let mut quote: Option<char> = None;
        while let Some((_, c)) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '-') if chars.peek().is_some_and(|&(_, n)| n == '-') => quote = Some('\n'),
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
        let mut filled = String::with_capacity(self.sql.len());
        let mut rest = self.sql.as_str();
        // Every `$` in `sql` is one this type wrote: a parameter's number follows it.
        while let Some(at) = rest.find('$') {
            filled.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len(), |end| at + 1 + end);
            let number: usize = rest[at + 1..digits].parse().unwrap_or(0);
            match number.checked_sub(1).and_then(|i| self.names.get(i)) {
                Some(name) => filled.push_str(&value(name)),
                None => filled.push_str(&rest[at..digits]),
            }
            rest = &rest[digits..];
        }
        filled.push_str(rest);
        filled
    }
}

fn starts_name(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn in_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
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
    fn casts_quoted_text_and_comments_are_not_parameters() {
        let named =
            Named::new("SELECT :v::text, ':not', \":nor\", 'it''s :no' || :yes -- :c's\n, :Z");
        assert_eq!(
            named.sql(),
            "SELECT $1::text, ':not', \":nor\", 'it''s :no' || $2 -- :c's\n, $3"
        );
        assert_eq!(named.names(), ["v", "yes", "Z"]);
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
        let many: Vec<String> = (1..=12).map(|i| format!(":p{i}")).collect();
        let named = Named::new(&format!("SELECT {}, :p1::int", many.join(", ")));
        // A value that looks like a parameter is not filled again.
        let filled = named.fill(|name| format!("'{name}$1'"));
        let expected: Vec<String> = (1..=12).map(|i| format!("'p{i}$1'")).collect();
        assert_eq!(
            filled,
            format!("SELECT {}, 'p1$1'::int", expected.join(", "))
        );
    }
}
