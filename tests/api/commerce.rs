//! Seed 004's commerce: ownership and roles, stock and carts, and the checkout race it is named
//! after, on one and on two server processes.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

struct Shop {
    admin: String,
    product: i64,
    warehouse: i64,
}

/// An admin, a product priced 15,000,000 and a warehouse holding `stock` of it.
async fn shop(app: &TestApp, stock: i64) -> Shop {
    let (_, admin) = app.staff("Admin", "admin").await;
    let product = app
        .post(
            "/api/products/",
            Some(&admin),
            json!({"name": "Laptop ASUS ROG", "price": 15000000, "category": "Electronics"}),
        )
        .await;
    assert_eq!(product.status, 201, "{}", product.body);
    let warehouse = app
        .post(
            "/api/warehouses/",
            Some(&admin),
            json!({"name": "Gudang Jakarta Pusat", "location": "Jl. Sudirman"}),
        )
        .await;
    assert_eq!(warehouse.status, 201, "{}", warehouse.body);
    let shop = Shop {
        admin,
        product: product.body["data"]["id"].as_i64().unwrap(),
        warehouse: warehouse.body["data"]["id"].as_i64().unwrap(),
    };
    set_stock(app, &shop, shop.warehouse, stock).await;
    shop
}

async fn set_stock(app: &TestApp, shop: &Shop, warehouse: i64, quantity: i64) {
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/warehouseStocks/concurrent",
            Some(&shop.admin),
            Some(json!([{"warehouse_id": warehouse, "product_id": shop.product, "quantity": quantity}])),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["results"][0]["success"], true, "{}", res.body);
}

async fn stock_of(app: &TestApp, shop: &Shop, warehouse: i64) -> i64 {
    let res = app
        .get(&format!("/api/warehouseStocks/{warehouse}"), &shop.admin)
        .await;
    res.body["data"]["stocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["product_id"] == shop.product)
        .map(|s| s["quantity"].as_i64().unwrap())
        .unwrap_or(0)
}

async fn buy(app: &TestApp, token: &str, product: i64, quantity: i64) -> (u16, Value) {
    let res = app
        .post(
            "/api/orders",
            Some(token),
            json!({"items": [{"product_id": product, "quantity": quantity}]}),
        )
        .await;
    (res.status, res.body)
}

#[actix_web::test]
async fn products_belong_to_their_owner() {
    let app = spawn_app().await;
    let (_, alice) = app.customer("Alice").await;
    let (_, bob) = app.customer("Bob").await;
    let (_, admin) = app.staff("Admin", "admin").await;
    let created = app
        .post(
            "/api/products/",
            Some(&alice),
            json!({"name": "Kopi Gayo", "price": "85000.50", "description": "250 g"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["data"]["price"], 85000.5);
    let id = created.body["data"]["id"].as_i64().unwrap();

    let by_name = app.get("/api/products/kopi%20gayo", &bob).await;
    assert_eq!(by_name.body["data"]["id"], id);
    assert_eq!(
        app.get(&format!("/api/products/{id}"), &bob).await.status,
        200
    );
    let update = json!({"name": "Kopi Gayo Premium", "price": 90000});
    let path = format!("/api/products/{id}");
    assert_eq!(app.put(&path, &bob, update.clone()).await.status, 403);
    assert_eq!(
        app.request(reqwest::Method::DELETE, &path, Some(&bob), None)
            .await
            .status,
        403
    );
    assert_eq!(app.put(&path, &admin, update.clone()).await.status, 200);
    let updated = app.put(&path, &alice, update).await;
    assert_eq!(updated.body["data"]["name"], "Kopi Gayo Premium");

    let bad = app
        .post(
            "/api/products/",
            Some(&alice),
            json!({"name": "", "price": -5}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["errors"]["name"].is_array() && bad.body["errors"]["price"].is_array());

    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/products/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        app.get(&format!("/api/products/{id}"), &alice).await.status,
        404
    );
}

#[actix_web::test]
async fn warehouses_and_stock_are_admin_business() {
    let app = spawn_app().await;
    let shop = shop(&app, 100).await;
    let (_, customer) = app.customer("Cust").await;
    let w = app
        .post("/api/warehouses/", Some(&customer), json!({"name": "Mine"}))
        .await;
    assert_eq!(w.status, 403);
    assert_eq!(app.get("/api/warehouses/", &customer).await.status, 200);
    let stock = app
        .post(
            "/api/warehouseStocks/",
            Some(&customer),
            json!({"warehouse_id": shop.warehouse, "product_id": shop.product, "quantity": 1}),
        )
        .await;
    assert_eq!(stock.status, 403);

    let view = app
        .get(
            &format!("/api/warehouseStocks/{}", shop.warehouse),
            &customer,
        )
        .await;
    assert_eq!(
        view.body["data"]["warehouse"]["name"],
        "Gudang Jakarta Pusat"
    );
    assert_eq!(
        view.body["data"]["stocks"][0]["product_name"],
        "Laptop ASUS ROG"
    );
    assert_eq!(view.body["data"]["stocks"][0]["quantity"], 100);
    let row = app.get("/api/warehouseStocks/", &shop.admin).await.body["data"][0]["id"]
        .as_i64()
        .unwrap();

    let path = format!("/api/warehouseStocks/{row}");
    let body = |quantity: i64| json!({"warehouse_id": shop.warehouse, "product_id": shop.product, "quantity": quantity});
    assert_eq!(
        app.put(&path, &shop.admin, body(-1)).await.status,
        400,
        "quantity never goes below zero"
    );
    assert_eq!(app.put(&path, &shop.admin, body(150)).await.status, 200);
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 150);
    let duplicate = app
        .post(
            "/api/warehouseStocks/",
            Some(&shop.admin),
            json!({"warehouse_id": shop.warehouse, "product_id": shop.product, "quantity": 1}),
        )
        .await;
    assert_eq!(duplicate.status, 409);
    let renamed = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/warehouses/{}", shop.warehouse),
            Some(&shop.admin),
            Some(json!({"name": "Gudang Selatan", "priority": 5})),
        )
        .await;
    assert_eq!(renamed.body["data"]["priority"], 5);
}

#[actix_web::test]
async fn bulk_update_across_three_warehouses_survives_a_bad_item() {
    let app = spawn_app().await;
    let shop = shop(&app, 1).await;
    let mut warehouses = vec![shop.warehouse];
    for name in ["Bandung", "Surabaya"] {
        let res = app
            .post("/api/warehouses/", Some(&shop.admin), json!({"name": name}))
            .await;
        warehouses.push(res.body["data"]["id"].as_i64().unwrap());
    }
    let items = json!([
        {"warehouse_id": warehouses[0], "product_id": shop.product, "quantity": 10},
        {"warehouse_id": warehouses[1], "product_id": shop.product, "quantity": 20},
        {"warehouse_id": warehouses[2], "product_id": 999999, "quantity": 5},
        {"warehouse_id": warehouses[2], "product_id": shop.product, "quantity": 30},
        {"warehouse_id": warehouses[1], "product_id": shop.product, "quantity": -3},
    ]);
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/warehouseStocks/concurrent",
            Some(&shop.admin),
            Some(items),
        )
        .await;
    assert_eq!(res.status, 200);
    let ok: Vec<bool> = res.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["success"].as_bool().unwrap())
        .collect();
    assert_eq!(ok, [true, true, false, true, false]);
    assert!(res.body["results"][2]["error"].is_string());
    for (w, expected) in warehouses.iter().zip([10, 20, 30]) {
        assert_eq!(stock_of(&app, &shop, *w).await, expected);
    }
}

#[actix_web::test]
async fn carts_add_up_and_stay_private() {
    let app = spawn_app().await;
    let shop = shop(&app, 10).await;
    let (_, token) = app.customer("Shopper").await;
    let (_, other) = app.customer("Other").await;
    // Messages come in the user's language: English by default, Indonesian once chosen.
    for expected in [
        "Item added to the cart",
        "Item berhasil ditambahkan ke keranjang",
    ] {
        let res = app
            .post(
                "/api/cart/item",
                Some(&token),
                json!({"product_id": shop.product, "quantity": 2}),
            )
            .await;
        assert_eq!(res.status, 201);
        assert_eq!(res.body["message"], expected);
        app.set_locale(&token, "id").await;
    }
    let cart = app.get("/api/cart/", &token).await;
    let first = &cart.body["data"][0];
    assert_eq!(first["items"][0]["quantity"], 4);
    assert_eq!(first["items"][0]["sub_total"], 60000000.0);
    assert_eq!(first["total"], 60000000.0);
    let item = first["items"][0]["id"].as_i64().unwrap();
    let cart_id = first["cart"]["id"].as_i64().unwrap();
    assert_eq!(
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/cart/item/{item}"),
            Some(&other),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/cart/{cart_id}"),
            Some(&other),
            None
        )
        .await
        .status,
        404
    );
    let (status, _) = (
        app.post("/api/orders", Some(&other), json!({"cart_id": cart_id}))
            .await
            .status,
        (),
    );
    assert_eq!(status, 404, "nobody checks out another's cart");
    assert_eq!(
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/cart/item/{item}"),
            Some(&token),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.get("/api/cart/", &token).await.body["data"][0]["total"],
        0.0
    );
}

#[actix_web::test]
async fn cart_checkout_deducts_stock_and_closes_the_cart() {
    let app = spawn_app().await;
    let shop = shop(&app, 10).await;
    let (_, token) = app.customer("Buyer").await;
    app.post(
        "/api/cart/item",
        Some(&token),
        json!({"product_id": shop.product, "quantity": 2}),
    )
    .await;
    let cart_id = app.get("/api/cart/", &token).await.body["data"][0]["cart"]["id"]
        .as_i64()
        .unwrap();
    let res = app
        .post(
            "/api/orders/",
            Some(&token),
            json!({"cart_id": cart_id, "status": "pending", "shipping_cost": 50000}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let order = &res.body["data"];
    assert_eq!(order["total_amount"], 30000000.0);
    assert_eq!(order["shipping_cost"], 50000.0);
    assert_eq!(order["final_amount"], 30050000.0);
    assert_eq!(order["warehouse_id"], shop.warehouse);
    assert_eq!(order["order_items"][0]["product_name"], "Laptop ASUS ROG");
    assert_eq!(order["order_items"][0]["total_price"], 30000000.0);
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 8);
    let again = app
        .post("/api/orders/", Some(&token), json!({"cart_id": cart_id}))
        .await;
    assert_eq!(again.status, 404, "the cart is checked out");
    let by_status = app.get("/api/orders/status/pending", &token).await;
    assert_eq!(by_status.body["data"][0]["total_price"], 30000000.0);
    let processed = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/orders/{}/status", order["id"]),
            Some(&shop.admin),
            Some(json!({"status": "processed"})),
        )
        .await;
    assert_eq!(processed.body["data"]["status"], "preparing");
}

#[actix_web::test]
async fn lines_for_one_product_are_summed_and_priority_picks_the_warehouse() {
    let app = spawn_app().await;
    let shop = shop(&app, 50).await;
    let (_, token) = app.customer("Greedy").await;
    let twice = app
        .post("/api/orders", Some(&token), json!({"items": [{"product_id": shop.product, "quantity": 30}, {"product_id": shop.product, "quantity": 30}]}))
        .await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    assert_eq!(twice.body["data"]["short"][0]["requested"], 60);
    assert_eq!(twice.body["data"]["short"][0]["available"], 50);

    let backup = app
        .post(
            "/api/warehouses/",
            Some(&shop.admin),
            json!({"name": "First", "priority": 1}),
        )
        .await;
    let backup = backup.body["data"]["id"].as_i64().unwrap();
    set_stock(&app, &shop, backup, 5).await;
    let (status, body) = buy(&app, &token, shop.product, 3).await;
    assert_eq!(
        (status, body["data"]["warehouse_id"].as_i64()),
        (201, Some(backup)),
        "lower priority goes first"
    );
    let (_, body) = buy(&app, &token, shop.product, 4).await;
    assert_eq!(
        body["data"]["warehouse_id"], shop.warehouse,
        "the first one that can fill the order"
    );
    let named = app
        .post("/api/orders", Some(&token), json!({"items": [{"product_id": shop.product, "quantity": 1}], "warehouse_id": shop.warehouse}))
        .await;
    assert_eq!(named.body["data"]["warehouse_id"], shop.warehouse);
}

async fn race(apps: &[&TestApp], shop: &Shop, buyers: &[String]) -> (usize, usize) {
    let attempts = buyers.iter().enumerate().map(|(i, token)| {
        let app = apps[i % apps.len()];
        async move { buy(app, token, shop.product, 1).await.0 }
    });
    let statuses = join_all(attempts).await;
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    (
        statuses.iter().filter(|s| **s == 201).count(),
        statuses.iter().filter(|s| **s == 409).count(),
    )
}

async fn buyers(app: &TestApp, n: usize) -> Vec<String> {
    join_all((0..n).map(|i| async move { app.customer(&format!("Buyer{i}")).await.1 })).await
}

async fn units_sold(app: &TestApp, product: i64) -> i64 {
    let (client, connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_web::rt::spawn(connection);
    let row = client
        .query_one(
            "SELECT COALESCE(sum(quantity), 0)::bigint FROM order_items WHERE product_id = $1",
            &[&product],
        )
        .await
        .unwrap();
    row.get(0)
}

#[actix_web::test]
async fn two_hundred_buyers_fifty_units_no_oversell() {
    let app = spawn_app().await;
    let shop = shop(&app, 50).await;
    let buyers = buyers(&app, 200).await;
    let (sold, refused) = race(&[&app], &shop, &buyers).await;
    assert_eq!((sold, refused), (50, 150));
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 0);
    assert_eq!(units_sold(&app, shop.product).await, 50);
}

#[actix_web::test]
async fn two_processes_cannot_oversell_either() {
    let a = spawn_app().await;
    let b = spawn_app_with(test_settings(&a.database_url)).await;
    let shop = shop(&a, 50).await;
    let buyers = buyers(&a, 200).await;
    let (sold, refused) = race(&[&a, &b], &shop, &buyers).await;
    assert_eq!((sold, refused), (50, 150));
    assert_eq!(stock_of(&a, &shop, shop.warehouse).await, 0);
    assert_eq!(units_sold(&a, shop.product).await, 50);
}

#[actix_web::test]
async fn unbatched_checkouts_hold_the_same_line() {
    let app = spawn_app_tuned(|settings| {
        settings.commerce.batch_checkouts = false;
    })
    .await;
    let shop = shop(&app, 20).await;
    let buyers = buyers(&app, 60).await;
    assert_eq!(race(&[&app], &shop, &buyers).await, (20, 40));
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 0);
}

#[actix_web::test]
async fn a_failed_checkout_leaves_everything_as_it_was() {
    let app = spawn_app().await;
    let shop = shop(&app, 10).await;
    let (_, seller) = app.customer("Seller").await;
    let gone = app
        .post(
            "/api/products/",
            Some(&seller),
            json!({"name": "Vanishing", "price": 1000}),
        )
        .await;
    let gone = gone.body["data"]["id"].as_i64().unwrap();
    set_stock(
        &app,
        &Shop {
            admin: shop.admin.clone(),
            product: gone,
            warehouse: shop.warehouse,
        },
        shop.warehouse,
        10,
    )
    .await;
    let (_, token) = app.customer("Unlucky").await;
    for product in [shop.product, gone] {
        app.post(
            "/api/cart/item",
            Some(&token),
            json!({"product_id": product, "quantity": 1}),
        )
        .await;
    }
    let cart_id = app.get("/api/cart/", &token).await.body["data"][0]["cart"]["id"]
        .as_i64()
        .unwrap();
    // Between add-to-cart and checkout, the seller deletes a product.
    assert_eq!(
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/products/{gone}"),
            Some(&seller),
            None
        )
        .await
        .status,
        200
    );

    let res = app
        .post(
            "/api/orders",
            Some(&token),
            json!({"cart_id": cart_id, "warehouse_id": shop.warehouse}),
        )
        .await;
    assert_eq!(res.status, 409, "{}", res.body);
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 10);
    let cart = app.get("/api/cart/", &token).await;
    assert_eq!(cart.body["data"][0]["cart"]["status"], "open");
    assert_eq!(cart.body["data"][0]["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/api/orders", &token).await.body["meta"]["total"],
        0
    );
}

#[actix_web::test]
async fn idempotent_retries_create_one_order() {
    let app = spawn_app().await;
    let shop = shop(&app, 10).await;
    let (_, token) = app.customer("Retry").await;
    let send = |body: Value, key: &'static str| {
        app.client
            .post(format!("{}/api/orders", app.address))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let body = json!({"items": [{"product_id": shop.product, "quantity": 2}]});
    let answers = join_all((0..5).map(|_| send(body.clone(), "checkout-1"))).await;
    let mut ids = Vec::new();
    for res in answers {
        let res = res.unwrap();
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<Value>().await.unwrap()["data"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 8);
    let other = send(
        json!({"items": [{"product_id": shop.product, "quantity": 3}]}),
        "checkout-1",
    )
    .await
    .unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(
        app.get("/api/orders", &token).await.body["meta"]["total"],
        1
    );
}

#[actix_web::test]
async fn racing_cancels_return_stock_once() {
    let app = spawn_app().await;
    let shop = shop(&app, 10).await;
    let (_, token) = app.customer("Canceller").await;
    let (status, body) = buy(&app, &token, shop.product, 4).await;
    assert_eq!(status, 201);
    let id = body["data"]["id"].as_i64().unwrap();
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 6);
    let cancels = (0..6).map(|i| {
        let token = if i % 2 == 0 {
            token.clone()
        } else {
            shop.admin.clone()
        };
        let app = &app;
        async move {
            if i % 3 == 0 {
                app.request(
                    reqwest::Method::DELETE,
                    &format!("/api/orders/{id}"),
                    Some(&token),
                    None,
                )
                .await
                .status
            } else {
                app.set_status(&token, id, "cancelled").await.status
            }
        }
    });
    let statuses = join_all(cancels).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 10);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[actix_web::test]
async fn totals_beyond_the_money_columns_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let shop = shop(&app, 2_000_000).await;
    let (_, buyer) = app.customer("Whale").await;
    // 15,000,000 x 1,000,000 is past NUMERIC(15,2); so is the largest shipping cost plus any total.
    for body in [
        json!({"items": [{"product_id": shop.product, "quantity": 1_000_000}]}),
        json!({"items": [{"product_id": shop.product, "quantity": 1}],
               "shipping_cost": 9_999_999_999_999.99_f64}),
    ] {
        let res = app.post("/api/orders/", Some(&buyer), body).await;
        assert_eq!(res.status, 400, "{}", res.body);
        assert!(
            res.body["errors"]["total_amount"].is_array(),
            "{}",
            res.body
        );
    }
    let huge_shipping = app
        .post(
            "/api/orders/",
            Some(&buyer),
            json!({"items": [{"product_id": shop.product, "quantity": 1}],
                   "shipping_cost": 1e20}),
        )
        .await;
    assert_eq!(huge_shipping.status, 400, "{}", huge_shipping.body);
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 2_000_000);
}

#[actix_web::test]
async fn patch_changes_only_the_fields_it_names() {
    let app = spawn_app().await;
    let shop = shop(&app, 1).await;
    let product = format!("/api/products/{}", shop.product);
    let patched = app
        .request(
            reqwest::Method::PATCH,
            &product,
            Some(&shop.admin),
            Some(json!({"price": 18000000})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["data"]["name"], "Laptop ASUS ROG");
    assert_eq!(patched.body["data"]["category"], "Electronics");
    assert_eq!(patched.body["data"]["price"], 18000000.0);
    let warehouse = format!("/api/warehouses/{}", shop.warehouse);
    let moved = app
        .request(
            reqwest::Method::PATCH,
            &warehouse,
            Some(&shop.admin),
            Some(json!({"priority": 2})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["data"]["location"], "Jl. Sudirman");
    assert_eq!(moved.body["data"]["priority"], 2);
    // PUT replaces: what it leaves out is cleared.
    let replaced = app
        .put(
            &warehouse,
            &shop.admin,
            json!({"name": "Gudang Jakarta Selatan"}),
        )
        .await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.body["data"]["location"], Value::Null);
    let bad = app
        .request(
            reqwest::Method::PATCH,
            &product,
            Some(&shop.admin),
            Some(json!({"price": -1})),
        )
        .await;
    assert_eq!(bad.status, 400, "a patch is checked like a whole product");
}

#[actix_web::test]
async fn a_committed_checkout_is_answered_from_its_own_transaction() {
    let app = spawn_app().await;
    let shop = shop(&app, 5).await;
    let (_, buyer) = app.customer("Unlucky").await;
    // As the checkout commits, the order lines' table goes away: any query after the commit
    // fails, as it would with the database gone. The order committed, so the buyer must hear so.
    app.sql_batch(
        "CREATE FUNCTION hide_items() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN ALTER TABLE order_items RENAME TO order_items_hidden; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER hide_items_at_commit AFTER INSERT ON orders
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hide_items();",
    )
    .await;
    let res = app
        .post(
            "/api/orders/",
            Some(&buyer),
            json!({"items": [{"product_id": shop.product, "quantity": 2}]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["data"]["order_items"][0]["quantity"], 2);
    assert_eq!(
        res.body["data"]["order_items"][0]["product_name"],
        "Laptop ASUS ROG"
    );
    app.sql_batch(
        "DROP TRIGGER hide_items_at_commit ON orders;
         ALTER TABLE order_items_hidden RENAME TO order_items;",
    )
    .await;
    assert_eq!(stock_of(&app, &shop, shop.warehouse).await, 3);
}
