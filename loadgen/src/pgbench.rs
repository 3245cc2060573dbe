//! `pgbench-script`: the pgbench script for the `status` baseline, so the database's own ceiling
//! is measured with the very statement the server runs for a status change. The statement comes
//! from the server's library (`db::orders::STATUS_CHANGE`), never from a copy that could drift;
//! only its parameters are filled in here, with what a `status` scenario update sends.

use order_tracker::db::orders::STATUS_CHANGE;
use order_tracker::events::CHANNEL;

/// What pgbench puts where the server binds parameter `$n` (index `n - 1`). pgbench variables
/// (`:oid`, `:admin`) become parameters of its prepared statement; the rest are constants.
/// The server names the version it last saw; pgbench keeps no state between transactions, so
/// the version is read in the statement (one index lookup more than the server makes).
fn parameters() -> [String; 23] {
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    [
        // $1-$11: the owner's notification and its staged event (`Staged::params`).
        text("Order update"),
        text("Order ORD-20260101-0001 is now Preparing"),
        text(r#"{"order_id":0,"status":"preparing"}"#),
        "now()".into(),
        text(CHANNEL),
        text(r#"{"type":"notification","topic":"user:0","seq":"#),
        text(r#","id":"#),
        text(r#","title":"Order update","message":"Order ORD-20260101-0001 is now Preparing"}"#),
        text(r#"{"type":"notification","topic":"user:0","seq":"#),
        text(r#","id":"#),
        text("}"),
        // $12-$23: the change itself (`change_from`).
        ":oid".into(),
        "(SELECT version FROM orders WHERE id = :oid)".into(),
        text("en"),
        text("preparing"),
        "NULL".into(),
        "false".into(),
        "now()".into(),
        text("preparing"),
        text("pgbench"),
        ":admin".into(),
        text(CHANNEL),
        text(
            r#"{"type":"order.status","topic":"order:0","seq":0,"order_id":0,"order_number":"ORD-20260101-0001","status":"preparing","notes":"pgbench","updated_by":"Load Admin"}"#,
        ),
    ]
}

/// The script: each client updates its own order, `:first + :client_id`, as the `status`
/// scenario's clients do (a shared order, or a shared owner, would make them queue on a row).
pub fn script() -> String {
    let mut statement = STATUS_CHANGE.to_string();
    // Highest first, so `$1` never matches the start of `$12`.
    for (i, value) in parameters().iter().enumerate().rev() {
        statement = statement.replace(&format!("${}", i + 1), value);
    }
    format!(
        "-- Written by `loadgen pgbench-script`: the server's status-change statement.\n\
         -- Needs -D first=<the first of the status scenario's orders> -D admin=<a staff user id>.\n\
         \\set oid :first + :client_id\n{statement};\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_of_the_server_statement_is_filled() {
        let script = script();
        assert!(STATUS_CHANGE.contains("$23"), "the mapping covers $1..$23");
        assert!(
            !STATUS_CHANGE.contains("$24"),
            "a new parameter needs a value here"
        );
        assert!(!script.contains('$'), "left unfilled: {script}");
        assert!(script.contains("WHERE id = :oid AND version = (SELECT version"));
    }
}
