//! Many clients racing conflicting transitions on one order, across two server processes'
//! worth of instances on one database: the history stays a legal path, and every subscriber
//! sees the same gap-free sequence.

use std::collections::HashSet;

use futures_util::future::join_all;

use crate::helpers::*;

const CLIENTS: usize = 50;
const SUBSCRIBERS: usize = 6;
const TARGETS: [&str; 6] = [
    "confirmed",
    "preparing",
    "ready",
    "shipped",
    "delivered",
    "cancelled",
];
const ORDER: [&str; 6] = [
    "pending",
    "confirmed",
    "preparing",
    "ready",
    "shipped",
    "delivered",
];

fn rank(status: &str) -> usize {
    ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap_or(usize::MAX)
}

#[actix_web::test]
async fn fifty_clients_race_transitions_on_one_order() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let (_, owner) = a.customer("Owner").await;
    let (_, staff) = a.staff("Admin", "admin").await;
    let id = a.create_order(&owner, "Nasi Uduk").await;

    let mut sockets = Vec::new();
    for i in 0..SUBSCRIBERS {
        let app = if i % 2 == 0 { &a } else { &b };
        let mut ws = app.ws(&format!("/ws/orders/{id}"), &staff).await;
        assert_eq!(next_json(&mut ws).await["seq"], 1);
        sockets.push(ws);
    }

    let requests = (0..CLIENTS).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let target = TARGETS[(i * 7 + i / 3) % TARGETS.len()];
        let staff = staff.clone();
        async move { (target, app.set_status(&staff, id, target).await.status) }
    });
    let results = join_all(requests).await;
    let accepted = results.iter().filter(|(_, s)| *s == 200).count();
    assert!(
        results.iter().all(|(_, s)| *s == 200 || *s == 409),
        "{:?}",
        results
    );
    assert!(accepted >= 1);

    let history = a.get(&format!("/api/orders/{id}/history"), &staff).await;
    let entries = history.body["data"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        accepted + 1,
        "one history entry per accepted change"
    );
    let mut previous = "pending";
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["seq"], i as i64 + 1, "gap-free seq");
        let status = entry["status"].as_str().unwrap();
        if i > 0 {
            assert_eq!(entry["from_status"], previous);
            assert!(
                previous != "delivered" && previous != "cancelled",
                "nothing after a final status"
            );
            assert!(
                status == "cancelled" || rank(status) > rank(previous),
                "{previous} -> {status}"
            );
        }
        previous = status;
    }

    let expected: Vec<(i64, String)> = entries[1..]
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut seen_sequences = HashSet::new();
    for ws in sockets.iter_mut() {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            let event = next_json(ws).await;
            got.push((
                event["seq"].as_i64().unwrap(),
                event["status"].as_str().unwrap().to_string(),
            ));
        }
        assert_silent(ws, std::time::Duration::from_millis(300)).await;
        assert_eq!(
            got, expected,
            "every subscriber sees the committed sequence"
        );
        seen_sequences.insert(got);
    }
    assert_eq!(seen_sequences.len(), 1);
}
