//! `pgbench-script`: the pgbench script for the `status` baseline, so the database's own ceiling
//! is measured with the very statement the server runs for a status change. The statement comes
//! from the server's library (`db::orders::STATUS_CHANGE`), never from a copy that could drift;
//! only its parameters are filled in here, with what a `status` scenario update sends.

use order_tracker::db::orders::STATUS_CHANGE;
use order_tracker::events::CHANNEL;

/// What pgbench puts where the server binds each named parameter. pgbench variables (`:oid`,
/// `:admin`) become parameters of its prepared statement; the rest are constants. The server
/// names the version it last saw; pgbench keeps no state between transactions, so the version
/// is read in the statement (one index lookup more than the server makes).
fn value(name: &str) -> Option<String> {
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    Some(match name {
        // The owner's notification and its staged event (`Staged::params`).
        "note_title" => text("Order update"),
        "note_message" => text("Order ORD-20260101-0001 is now Preparing"),
        "note_data" => text(r#"{"order_id":0,"status":"preparing"}"#),
        "note_created_at" | "at" => "now()".into(),
        "channel" | "notify_channel" => text(CHANNEL),
        "event_head" | "notify_head" => text(r#"{"type":"notification","topic":"user:0","seq":"#),
        "event_middle" | "notify_middle" => text(r#","id":"#),
        "event_tail" => {
            text(r#","title":"Order update","message":"Order ORD-20260101-0001 is now Preparing"}"#)
        }
        "notify_tail" => text("}"),
        // The change itself (`change_from`).
        "order_id" => ":oid".into(),
        "version" => "(SELECT version FROM orders WHERE id = :oid)".into(),
        "owner_locale" => text("en"),
        "to" | "from" => text("preparing"),
        "estimated_time" => "NULL".into(),
        "hide" => "false".into(),
        "notes" => text("pgbench"),
        "by_user" => ":admin".into(),
        "change" => text("status"),
        "driver_id" => "(SELECT driver_id FROM orders WHERE id = :oid)".into(),
        "code_used" => "false".into(),
        "notify_owner" => "true".into(),
        "payload" => text(
            r#"{"type":"order.status","topic":"order:0","seq":0,"order_id":0,"order_number":"ORD-20260101-0001","status":"preparing","notes":"pgbench","updated_by":"Load Admin"}"#,
        ),
        _ => return None,
    })
}

/// The script: each client updates its own order, `:first + :client_id`, as the `status`
/// scenario's clients do (a shared order, or a shared owner, would make them queue on a row).
pub fn script() -> String {
    // A name without a value stays visible as `<unfilled name>`, which the test catches.
    let statement = STATUS_CHANGE.fill(|name| value(name).unwrap_or(format!("<unfilled {name}>")));
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
        for name in STATUS_CHANGE.names() {
            assert!(value(name).is_some(), "no value for :{name}");
        }
        let script = script();
        assert!(!script.contains('$'), "left unfilled: {script}");
        assert!(script.contains("WHERE id = :oid AND version = (SELECT version"));
    }
}
