//! Queries on `carts` and `cart_items`. A user has at most one open cart, created on demand.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use rust_decimal::Decimal;
use serde::Serialize;

use super::DbError;
use crate::domain::commerce::MAX_QUANTITY;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartHeader {
    pub id: i64,
    pub user_id: i64,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartItemRow {
    pub id: i64,
    pub cart_id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i32,
    #[serde(with = "rust_decimal::serde::float")]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    pub sub_total: Decimal,
}

/// One cart as `GET /cart/` shows it (seed 004's shape).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartView {
    pub cart: CartHeader,
    pub items: Vec<CartItemRow>,
    #[serde(with = "rust_decimal::serde::float")]
    pub total: Decimal,
}

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    #[error("product not found")]
    NoProduct,
    #[error("a cart line may hold at most {MAX_QUANTITY} units")]
    TooMany,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for CartError {
    fn from(e: tokio_postgres::Error) -> Self {
        CartError::Db(e.into())
    }
}

/// Adds `quantity` of a product to the user's open cart (creating the cart); adding a product
/// already there adds to its quantity. Answers the cart item's id.
pub async fn add_item(
    pool: &Pool,
    user_id: i64,
    product_id: i64,
    quantity: i32,
) -> Result<i64, CartError> {
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await?;
    let visible = tx
        .prepare_cached("SELECT 1 FROM products WHERE id = $1 AND deleted_at IS NULL")
        .await?;
    if tx.query_opt(&visible, &[&product_id]).await?.is_none() {
        return Err(CartError::NoProduct);
    }
    let cart = tx
        .prepare_cached(
            "INSERT INTO carts (user_id) VALUES ($1)
             ON CONFLICT (user_id) WHERE status = 'open' DO UPDATE SET updated_at = now()
             RETURNING id",
        )
        .await?;
    let cart_id: i64 = tx.query_one(&cart, &[&user_id]).await?.get(0);
    let add = tx
        .prepare_cached(
            "INSERT INTO cart_items (cart_id, product_id, quantity) VALUES ($1, $2, $3)
             ON CONFLICT (cart_id, product_id) DO UPDATE
                 SET quantity = cart_items.quantity + EXCLUDED.quantity, updated_at = now()
                 WHERE cart_items.quantity + EXCLUDED.quantity <= $4
             RETURNING id",
        )
        .await?;
    let max = MAX_QUANTITY as i32;
    let item = tx
        .query_opt(&add, &[&cart_id, &product_id, &quantity, &max])
        .await?
        .ok_or(CartError::TooMany)?;
    tx.commit().await?;
    Ok(item.get(0))
}

/// The user's carts, newest first, each with its items priced at today's prices.
pub async fn list(pool: &Pool, user_id: i64) -> Result<Vec<CartView>, DbError> {
    let client = pool.get().await?;
    let carts = client
        .prepare_cached(
            "SELECT id, user_id, status, created_at FROM carts WHERE user_id = $1 ORDER BY id DESC",
        )
        .await?;
    let items = client
        .prepare_cached(
            "SELECT i.id, i.cart_id, i.product_id, p.name, i.quantity, p.price
             FROM cart_items i JOIN carts c ON c.id = i.cart_id JOIN products p ON p.id = i.product_id
             WHERE c.user_id = $1 ORDER BY i.id",
        )
        .await?;
    let mut by_cart: BTreeMap<i64, Vec<CartItemRow>> = BTreeMap::new();
    for row in client.query(&items, &[&user_id]).await? {
        let (quantity, price): (i32, Decimal) = (row.get(4), row.get(5));
        let item = CartItemRow {
            id: row.get(0),
            cart_id: row.get(1),
            product_id: row.get(2),
            product_name: row.get(3),
            quantity,
            price,
            sub_total: price * Decimal::from(quantity),
        };
        by_cart.entry(item.cart_id).or_default().push(item);
    }
    Ok(client
        .query(&carts, &[&user_id])
        .await?
        .iter()
        .map(|row| {
            let id: i64 = row.get("id");
            let items = by_cart.remove(&id).unwrap_or_default();
            CartView {
                total: items.iter().map(|i| i.sub_total).sum(),
                cart: CartHeader {
                    id,
                    user_id: row.get("user_id"),
                    status: row.get("status"),
                    created_at: row.get("created_at"),
                },
                items,
            }
        })
        .collect())
}

/// The product lines of the user's open cart `cart_id`; `None` if it is not theirs or not open.
pub async fn open_lines(
    pool: &Pool,
    user_id: i64,
    cart_id: i64,
) -> Result<Option<BTreeMap<i64, i32>>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT c.id, i.product_id, i.quantity FROM carts c LEFT JOIN cart_items i ON i.cart_id = c.id
             WHERE c.id = $1 AND c.user_id = $2 AND c.status = 'open'",
        )
        .await?;
    let rows = client.query(&stmt, &[&cart_id, &user_id]).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .filter_map(|r| Some((r.get::<_, Option<i64>>(1)?, r.get::<_, Option<i32>>(2)?)))
            .collect(),
    ))
}

pub async fn delete_cart(pool: &Pool, user_id: i64, cart_id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("DELETE FROM carts WHERE id = $1 AND user_id = $2")
        .await?;
    Ok(client.execute(&stmt, &[&cart_id, &user_id]).await? == 1)
}

/// Removes an item from the user's open cart.
pub async fn delete_item(pool: &Pool, user_id: i64, item_id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "DELETE FROM cart_items i USING carts c
             WHERE i.id = $1 AND c.id = i.cart_id AND c.user_id = $2 AND c.status = 'open'",
        )
        .await?;
    Ok(client.execute(&stmt, &[&item_id, &user_id]).await? == 1)
}
