//! The OpenAPI document against the routes: every routed operation under `/api` is described,
//! and nothing is described that is not routed. The route list comes from the same
//! registration that mounts the routes (`http::routes::Routes`), so neither side can drift.

use std::collections::BTreeSet;

use order_tracker::http::api;
use order_tracker::http::routes::{Operation, Routes};
use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The operations a document describes, as `(path, METHOD)`.
fn documented(doc: &Value) -> BTreeSet<Operation> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| Operation {
                    path: path.clone(),
                    method: method.to_uppercase(),
                })
        })
        .collect()
}

#[actix_web::test]
async fn the_document_describes_exactly_the_routes() {
    let app = spawn_app().await;
    let mut routes = Routes::list();
    api(&mut routes);
    let routed: BTreeSet<Operation> = routes.operations().into_iter().collect();

    for prefix in ["/api", "/api/v1"] {
        let res = app
            .client
            .get(format!("{}{prefix}/openapi.json", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let doc: Value = res.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let described = documented(&doc);

        let undocumented: Vec<_> = routed.difference(&described).collect();
        assert!(
            undocumented.is_empty(),
            "routed but not in the document (add #[utoipa::path] and list the handler in \
             http/openapi.rs): {undocumented:#?}"
        );
        let unrouted: Vec<_> = described.difference(&routed).collect();
        assert!(
            unrouted.is_empty(),
            "in the document but not routed: {unrouted:#?}"
        );
    }
}

#[actix_web::test]
async fn every_operation_documents_the_answers_of_the_outer_layers() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "429", "500", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            let public = operation["security"] == serde_json::json!([{}]);
            assert_eq!(
                responses.contains_key("401"),
                !public || path == "/login",
                "{method} {path}: 401 exactly where a token is needed"
            );
        }
    }
}
