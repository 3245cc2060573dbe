//! Queries on `products`. Deleting hides a product; orders that name it keep their rows.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use rust_decimal::Decimal;
use tokio_postgres::Row;

use super::DbError;
use crate::domain::commerce::ProductInput;

const COLUMNS: &str = "id, user_id, name, description, price, category, created_at, updated_at";

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProductRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "rust_decimal::serde::float")]
    pub price: Decimal,
    pub category: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProductRow {
    fn from_row(row: &Row) -> Self {
        ProductRow {
            id: row.get("id"),
            user_id: row.get("user_id"),
            name: row.get("name"),
            description: row.get("description"),
            price: row.get("price"),
            category: row.get("category"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

pub async fn insert(pool: &Pool, owner: i64, p: &ProductInput) -> Result<ProductRow, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO products (user_id, name, description, price, category)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .await?;
    let row = client
        .query_one(
            &stmt,
            &[&owner, &p.name, &p.description, &p.price, &p.category],
        )
        .await?;
    Ok(ProductRow::from_row(&row))
}

pub async fn list(pool: &Pool) -> Result<Vec<ProductRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM products WHERE deleted_at IS NULL ORDER BY id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(ProductRow::from_row)
        .collect())
}

pub async fn find(pool: &Pool, id: i64) -> Result<Option<ProductRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM products WHERE id = $1 AND deleted_at IS NULL"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(ProductRow::from_row))
}

/// The oldest visible product with this name, compared case-insensitively.
pub async fn find_by_name(pool: &Pool, name: &str) -> Result<Option<ProductRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM products WHERE lower(name) = lower($1) AND deleted_at IS NULL ORDER BY id LIMIT 1"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&name])
        .await?
        .as_ref()
        .map(ProductRow::from_row))
}

pub async fn update(pool: &Pool, id: i64, p: &ProductInput) -> Result<Option<ProductRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE products SET name = $2, description = $3, price = $4, category = $5, updated_at = now()
             WHERE id = $1 AND deleted_at IS NULL RETURNING {COLUMNS}"
        ))
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[&id, &p.name, &p.description, &p.price, &p.category],
        )
        .await?;
    Ok(row.as_ref().map(ProductRow::from_row))
}

/// Hides the product and drops it from every warehouse and open cart.
pub async fn delete(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let hide = tx
        .prepare_cached(
            "UPDATE products SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
        )
        .await?;
    let hidden = tx.execute(&hide, &[&id]).await? == 1;
    if hidden {
        tx.execute("DELETE FROM warehouse_stocks WHERE product_id = $1", &[&id])
            .await?;
    }
    tx.commit().await?;
    Ok(hidden)
}
