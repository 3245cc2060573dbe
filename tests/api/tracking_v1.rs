//! Tracking API v1 (seed 003): field-by-field shapes, timeline durations, feedback rules,
//! pagination edges, date filters, statistics against a scripted history, rate limits.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

fn assert_keys(value: &Value, keys: &[&str]) {
    for key in keys {
        assert!(value.get(key).is_some(), "missing {key} in {value}");
    }
}

struct Scripted {
    app: TestApp,
    customer: String,
    admin: String,
    driver: String,
    delivered: i64,
    cancelled: i64,
    waiting: i64,
}

/// Three orders with a known history on 2025-01-05 (UTC): one delivered after 40 minutes, one
/// cancelled, one still pending; one feedback.
async fn scripted() -> Scripted {
    let app = spawn_app().await;
    let (_, customer) = app.customer("John Doe").await;
    let (_, admin) = app.staff("Admin User", "admin").await;
    let (_, driver) = app.staff("Budi", "driver").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let res = app
            .post("/api/v1/orders", Some(&customer), json!({"items": "Nasi Goreng Spesial", "customer_phone": "+6281234567890", "delivery_location": "Table 5"}))
            .await;
        ids.push(res.body["data"]["id"].as_i64().unwrap());
    }
    for (token, status) in [
        (&admin, "confirmed"),
        (&admin, "preparing"),
        (&driver, "ready"),
        (&driver, "delivered"),
    ] {
        assert_eq!(app.set_status(token, ids[0], status).await.status, 200);
    }
    for status in ["confirmed", "cancelled"] {
        assert_eq!(app.set_status(&admin, ids[1], status).await.status, 200);
    }
    let fb = app
        .post(
            &format!("/api/v1/orders/{}/feedback", ids[0]),
            Some(&customer),
            json!({"rating": 5, "service_rating": 4}),
        )
        .await;
    assert_eq!(fb.status, 201, "{}", fb.body);
    let day = "2025-01-05";
    app.sql(&format!(
        "UPDATE orders SET created_at = '{day} 12:00:00+00' WHERE id IN ({}, {}, {})",
        ids[0], ids[1], ids[2]
    ))
    .await;
    for (order, seq, time) in [
        (ids[0], 1, "12:00"),
        (ids[0], 2, "12:05"),
        (ids[0], 3, "12:10"),
        (ids[0], 4, "12:30"),
        (ids[0], 5, "12:40"),
        (ids[1], 1, "12:00"),
        (ids[1], 2, "13:05"),
        (ids[1], 3, "13:20"),
        (ids[2], 1, "12:00"),
    ] {
        app.sql(&format!("UPDATE order_status_history SET created_at = '{day} {time}:00+00' WHERE order_id = {order} AND seq = {seq}")).await;
    }
    app.sql(&format!(
        "UPDATE order_feedback SET created_at = '{day} 14:00:00+00'"
    ))
    .await;
    Scripted {
        app,
        customer,
        admin,
        driver,
        delivered: ids[0],
        cancelled: ids[1],
        waiting: ids[2],
    }
}

#[actix_web::test]
async fn status_timeline_and_feedback_follow_the_seed() {
    let s = scripted().await;
    let app = &s.app;
    let status = app
        .get(
            &format!("/api/v1/orders/{}/status", s.delivered),
            &s.customer,
        )
        .await;
    assert_eq!(status.status, 200);
    assert_eq!(
        status.body["message"],
        "Order status retrieved successfully"
    );
    let d = &status.body["data"];
    assert_keys(
        d,
        &[
            "order_id",
            "order_number",
            "current_status",
            "current_status_display",
            "payment_status",
            "payment_status_display",
            "estimated_ready_time",
            "actual_ready_time",
            "delivery_location",
            "special_instructions",
            "customer_name",
            "customer_phone",
            "total_amount",
            "final_amount",
            "total_items",
            "items",
            "latest_tracking",
            "can_be_cancelled",
            "can_provide_feedback",
        ],
    );
    assert_eq!(d["current_status"], "delivered");
    assert_eq!(d["customer_name"], "John Doe");
    assert_eq!(d["customer_phone"], "+6281234567890");
    assert!(
        d["actual_ready_time"].is_string(),
        "set when the order became ready"
    );
    assert_eq!(d["latest_tracking"]["status"], "delivered");
    assert_eq!(d["latest_tracking"]["updated_by"], "Budi");
    assert_eq!(
        (
            d["can_be_cancelled"].as_bool(),
            d["can_provide_feedback"].as_bool()
        ),
        (Some(false), Some(false))
    );
    let waiting = app
        .get(&format!("/api/v1/orders/{}/status", s.waiting), &s.customer)
        .await;
    assert_eq!(waiting.body["data"]["can_be_cancelled"], true);
    assert!(waiting.body["data"]["actual_ready_time"].is_null());

    let timeline = app
        .get(
            &format!("/api/v1/orders/{}/timeline", s.delivered),
            &s.customer,
        )
        .await;
    let entries = timeline.body["data"].as_array().unwrap();
    assert_keys(
        &entries[0],
        &[
            "id",
            "status",
            "status_display",
            "notes",
            "updated_by",
            "estimated_time",
            "actual_time",
            "duration",
            "created_at",
        ],
    );
    let durations: Vec<Value> = entries.iter().map(|e| e["duration"].clone()).collect();
    assert_eq!(
        durations,
        [Value::Null, json!(5), json!(5), json!(20), json!(10)]
    );
    assert_eq!(entries[1]["updated_by"], "Admin User");

    // Feedback: 422 before delivery, the seed's messages, one per order, others' orders unseen.
    let early = app
        .post(
            &format!("/api/v1/orders/{}/feedback", s.waiting),
            Some(&s.customer),
            json!({"rating": 4}),
        )
        .await;
    assert_eq!(early.status, 422);
    assert_eq!(
        early.body["message"],
        "Feedback can only be submitted for delivered orders"
    );
    let invalid = app
        .post(
            &format!("/api/v1/orders/{}/feedback", s.delivered),
            Some(&s.customer),
            json!({"comment": "x".repeat(1001), "delivery_rating": 9}),
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["message"], "Validation failed");
    assert_eq!(
        invalid.body["errors"]["rating"],
        json!(["The rating field is required."])
    );
    assert_eq!(
        invalid.body["errors"]["comment"],
        json!(["The comment may not be greater than 1000 characters."])
    );
    assert!(invalid.body["errors"]["delivery_rating"].is_array());
    let second = app
        .post(
            &format!("/api/v1/orders/{}/feedback", s.delivered),
            Some(&s.customer),
            json!({"rating": 1}),
        )
        .await;
    assert_eq!(second.status, 409);
    let (_, stranger) = app.customer("Stranger").await;
    let foreign = app
        .post(
            &format!("/api/v1/orders/{}/feedback", s.delivered),
            Some(&stranger),
            json!({"rating": 1}),
        )
        .await;
    assert_eq!(foreign.status, 404);

    let (_, other) = app.customer("Fresh").await;
    let id = app.create_order(&other, "Sate").await;
    app.set_status(&s.admin, id, "delivered").await;
    let fb = app
        .post(&format!("/api/v1/orders/{id}/feedback"), Some(&other),
              json!({"rating": 5, "comment": "Excellent service!", "food_quality_rating": 5, "service_rating": 4, "delivery_rating": 5, "is_anonymous": false}))
        .await;
    assert_eq!(fb.status, 201);
    assert_eq!(fb.body["message"], "Feedback submitted successfully");
    assert_keys(
        &fb.body["data"],
        &[
            "id",
            "order_id",
            "user_id",
            "rating",
            "comment",
            "food_quality_rating",
            "service_rating",
            "delivery_rating",
            "is_anonymous",
            "overall_rating",
            "is_positive",
            "created_at",
        ],
    );
    assert_eq!(
        (
            fb.body["data"]["overall_rating"].as_f64(),
            fb.body["data"]["is_positive"].as_bool()
        ),
        (Some(4.75), Some(true))
    );
}

#[actix_web::test]
async fn statistics_and_analytics_match_the_script() {
    let s = scripted().await;
    let app = &s.app;
    let stats = app
        .get(
            "/api/v1/admin/orders/tracking-stats?start_date=2025-01-05&end_date=2025-01-05",
            &s.admin,
        )
        .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let d = &stats.body["data"];
    assert_eq!(d["total_tracking_records"], 9);
    assert_eq!(d["average_processing_time"], 40.0);
    assert_eq!(d["completion_rate"], 33.33);
    assert_eq!(d["cancellation_rate"], 33.33);
    let distribution = d["status_distribution"].as_array().unwrap();
    assert_eq!(distribution.len(), 3);
    assert!(distribution
        .iter()
        .all(|r| r["count"] == 1 && r["percentage"] == 33.33));

    let analytics = app
        .get(
            "/api/v1/admin/orders/tracking-analytics?start_date=2025-01-05&end_date=2025-01-05",
            &s.admin,
        )
        .await;
    let a = &analytics.body["data"];
    assert_eq!(
        a["processing_times"],
        json!({"average_time": 40.0, "min_time": 40.0, "max_time": 40.0})
    );
    assert_eq!(
        a["status_transitions"],
        json!({
            "pending_to_confirmed": 2, "confirmed_to_preparing": 1, "preparing_to_ready": 1,
            "ready_to_delivered": 1, "confirmed_to_cancelled": 1
        })
    );
    assert_eq!(
        a["peak_processing_hours"],
        json!([{"hour": 12, "count": 7}, {"hour": 13, "count": 2}])
    );
    let staff: Vec<(String, i64)> = a["staff_performance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user_name"].as_str().unwrap().to_string(),
                r["update_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        staff,
        [("Admin User".to_string(), 4), ("Budi".to_string(), 2)]
    );
    assert_eq!(
        a["feedback_analytics"],
        json!({
            "total_feedbacks": 1, "average_rating": 5.0, "positive_feedbacks": 1, "negative_feedbacks": 0,
            "rating_distribution": {"5": 1, "4": 0, "3": 0, "2": 0, "1": 0}
        })
    );
    // For the analytics page's charts: orders per day and minutes spent in each status.
    assert_eq!(
        a["orders_per_day"],
        json!([{"day": "2025-01-05", "count": 3}])
    );
    assert_eq!(
        a["average_stage_minutes"],
        json!({"pending": 35.0, "confirmed": 10.0, "preparing": 20.0, "ready": 10.0})
    );

    let later = app
        .get(
            "/api/v1/admin/orders/tracking-stats?start_date=2025-01-06",
            &s.admin,
        )
        .await;
    assert_eq!(later.body["data"]["total_tracking_records"], 0);
    let bad = app
        .get(
            "/api/v1/admin/orders/tracking-stats?start_date=05-01-2025",
            &s.admin,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["errors"]["start_date"].is_array());
    for token in [&s.customer, &s.driver] {
        let refused = app
            .get("/api/v1/admin/orders/tracking-analytics", token)
            .await;
        assert_eq!(refused.status, 403);
        assert_eq!(
            refused.body["message"],
            "Access denied. Admin role required."
        );
    }
}

#[actix_web::test]
async fn active_lists_and_admin_tracking() {
    let s = scripted().await;
    let app = &s.app;
    let active = app.get("/api/v1/orders/active", &s.customer).await;
    let rows = active.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only pending..ready orders");
    assert_keys(
        &rows[0],
        &[
            "order_id",
            "order_number",
            "status",
            "status_display",
            "customer_name",
            "total_items",
            "estimated_ready_time",
            "delivery_location",
            "latest_update",
            "time_elapsed",
        ],
    );
    assert!(
        rows[0]["time_elapsed"].as_i64().unwrap() > 60 * 24,
        "created on 2025-01-05"
    );
    let admin_active = app
        .get("/api/v1/admin/orders/active?status=pending", &s.admin)
        .await;
    assert_eq!(
        admin_active.body["data"][0]["customer_phone"],
        "+6281234567890"
    );
    assert_eq!(
        app.get("/api/v1/admin/orders/active", &s.driver)
            .await
            .status,
        403
    );
    assert_eq!(
        app.get("/api/v1/admin/orders/active?status=delivered", &s.admin)
            .await
            .status,
        400
    );

    let mut ws = app
        .ws(&format!("/ws/orders/{}", s.waiting), &s.customer)
        .await;
    next_json(&mut ws).await;
    let tracked = app
        .post(&format!("/api/v1/admin/orders/{}/tracking", s.waiting), Some(&s.admin),
              json!({"status": "preparing", "notes": "Order is being prepared", "estimated_time": "2025-01-05T15:30:00Z"}))
        .await;
    assert_eq!(tracked.status, 200, "{}", tracked.body);
    assert_eq!(
        tracked.body["message"],
        "Order tracking updated successfully"
    );
    assert_keys(
        &tracked.body["data"],
        &[
            "id",
            "order_id",
            "status",
            "notes",
            "updated_by",
            "estimated_time",
            "actual_time",
            "created_at",
        ],
    );
    let event = next_json(&mut ws).await;
    assert_eq!(
        (event["status"].as_str(), event["notes"].as_str()),
        (Some("preparing"), Some("Order is being prepared"))
    );
    let illegal = app
        .post(
            &format!("/api/v1/admin/orders/{}/tracking", s.cancelled),
            Some(&s.admin),
            json!({"status": "ready"}),
        )
        .await;
    assert_eq!(illegal.status, 409);
    let by_driver = app
        .post(
            &format!("/api/v1/admin/orders/{}/tracking", s.waiting),
            Some(&s.driver),
            json!({"status": "ready"}),
        )
        .await;
    assert_eq!(by_driver.status, 403);

    let paid = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/orders/{}/payment", s.waiting),
            Some(&s.driver),
            Some(json!({"payment_status": "confirmed"})),
        )
        .await;
    assert_eq!(paid.status, 200);
    let status = app
        .get(&format!("/api/v1/orders/{}/status", s.waiting), &s.customer)
        .await;
    assert_eq!(status.body["data"]["payment_status_display"], "Confirmed");
    let by_customer = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/orders/{}/payment", s.waiting),
            Some(&s.customer),
            Some(json!({"payment_status": "refunded"})),
        )
        .await;
    assert_eq!(by_customer.status, 403);
}

#[actix_web::test]
async fn history_pagination_edges_and_day_boundaries() {
    let app = spawn_app().await;
    let (_, token) = app.customer("Pager").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(app.create_order(&token, &format!("order {i}")).await);
    }
    app.sql(&format!(
        "UPDATE orders SET created_at = '2025-01-05 23:59:59+00' WHERE id = {}",
        ids[0]
    ))
    .await;
    app.sql(&format!(
        "UPDATE orders SET created_at = '2025-01-06 00:00:00+00' WHERE id = {}",
        ids[1]
    ))
    .await;

    let first = app.get("/api/v1/orders/history", &token).await;
    let page = &first.body["data"];
    assert_keys(
        page,
        &[
            "data",
            "current_page",
            "per_page",
            "total",
            "last_page",
            "from",
            "to",
        ],
    );
    assert_eq!(
        (
            page["per_page"].as_i64(),
            page["total"].as_i64(),
            page["last_page"].as_i64()
        ),
        (Some(15), Some(20), Some(2))
    );
    assert_eq!(
        (page["from"].as_i64(), page["to"].as_i64()),
        (Some(1), Some(15))
    );
    assert_keys(
        &page["data"][0],
        &[
            "id",
            "order_number",
            "status",
            "status_display",
            "total_amount",
            "final_amount",
            "payment_status",
            "created_at",
            "feedback",
        ],
    );
    let last = app.get("/api/v1/orders/history?page=2", &token).await;
    assert_eq!(
        (
            last.body["data"]["from"].as_i64(),
            last.body["data"]["to"].as_i64()
        ),
        (Some(16), Some(20))
    );
    let empty = app.get("/api/v1/orders/history?page=5", &token).await;
    assert_eq!(empty.body["data"]["data"], json!([]));
    assert!(empty.body["data"]["from"].is_null());
    let clamped = app.get("/api/v1/orders/history?per_page=500", &token).await;
    assert_eq!(clamped.body["data"]["per_page"], 100);
    for bad in [
        "page=0",
        "per_page=abc",
        "status=flying",
        "start_date=2025-13-01",
        "start_date=2025-01-06&end_date=2025-01-05",
    ] {
        let res = app
            .get(&format!("/api/v1/orders/history?{bad}"), &token)
            .await;
        assert_eq!(res.status, 400, "{bad}: {}", res.body);
    }
    let day5 = app
        .get(
            "/api/v1/orders/history?start_date=2025-01-05&end_date=2025-01-05",
            &token,
        )
        .await;
    let day5: Vec<i64> = day5.body["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(day5, [ids[0]]);
    let day6 = app
        .get(
            "/api/v1/orders/history?start_date=2025-01-06&end_date=2025-01-06",
            &token,
        )
        .await;
    assert_eq!(day6.body["data"]["total"], 1);
    assert_eq!(day6.body["data"]["data"][0]["id"], ids[1]);
}

#[actix_web::test]
async fn rate_limits_per_member_and_admin() {
    let app = spawn_app_tuned(|settings| {
        settings.rate_limit.enabled = true;
        settings.ws.messages_per_minute = 5;
    })
    .await;
    let (_, member) = app.customer("Member").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    // The limiter reads the token before the handler; a forged one is still refused there.
    let forged = app
        .get("/api/v1/orders/active", &format!("{member}x"))
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.body["status"], "error");
    for i in 1..=60 {
        let res = app.get("/api/v1/orders/active", &member).await;
        assert_eq!(res.status, 200, "request {i}");
        assert_eq!(res.headers["ratelimit-limit"], "60");
        assert_eq!(
            res.headers["ratelimit-remaining"],
            (60 - i).to_string().as_str()
        );
        assert!(res.headers.get("ratelimit-reset").is_some());
    }
    let refused = app.get("/api/v1/orders/active", &member).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["status"], "error");
    assert!(refused.headers.get("retry-after").is_some());
    assert_eq!(refused.headers["ratelimit-remaining"], "0");
    for i in 1..=120 {
        assert_eq!(
            app.get("/api/v1/admin/orders/active", &admin).await.status,
            200,
            "admin request {i}"
        );
    }
    assert_eq!(
        app.get("/api/v1/admin/orders/active", &admin).await.status,
        429
    );

    // A socket that floods is closed with 1008 (its handshake counts as a request too: the
    // admin's budget is spent, so another admin opens it).
    let (_, flooder) = app.staff("Flooder", "admin").await;
    let mut ws = app.ws("/ws", &flooder).await;
    for _ in 0..6 {
        send_json(&mut ws, json!({"type": "ping"})).await;
    }
    let frame = next_close(&mut ws).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
