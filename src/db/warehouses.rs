//! Queries on `warehouses` and `warehouse_stocks`.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::{is_unique_violation, DbError};
use crate::domain::commerce::{StockInput, WarehouseInput};

const COLUMNS: &str = "id, name, location, priority, created_at, updated_at";
const STOCK_COLUMNS: &str =
    "s.id, s.warehouse_id, s.product_id, p.name AS product_name, s.quantity, s.updated_at";

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WarehouseRow {
    pub id: i64,
    pub name: String,
    pub location: Option<String>,
    pub priority: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WarehouseRow {
    fn from_row(row: &Row) -> Self {
        WarehouseRow {
            id: row.get("id"),
            name: row.get("name"),
            location: row.get("location"),
            priority: row.get("priority"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StockRow {
    pub id: i64,
    pub warehouse_id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i32,
    pub updated_at: DateTime<Utc>,
}

impl StockRow {
    fn from_row(row: &Row) -> Self {
        StockRow {
            id: row.get("id"),
            warehouse_id: row.get("warehouse_id"),
            product_id: row.get("product_id"),
            product_name: row.get("product_name"),
            quantity: row.get("quantity"),
            updated_at: row.get("updated_at"),
        }
    }
}

pub async fn insert(pool: &Pool, w: &WarehouseInput) -> Result<WarehouseRow, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO warehouses (name, location, priority) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(WarehouseRow::from_row(
        &client
            .query_one(&stmt, &[&w.name, &w.location, &w.priority])
            .await?,
    ))
}

pub async fn list(pool: &Pool) -> Result<Vec<WarehouseRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM warehouses ORDER BY priority, id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(WarehouseRow::from_row)
        .collect())
}

pub async fn find(pool: &Pool, id: i64) -> Result<Option<WarehouseRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM warehouses WHERE id = $1"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(WarehouseRow::from_row))
}

pub async fn update(
    pool: &Pool,
    id: i64,
    w: &WarehouseInput,
) -> Result<Option<WarehouseRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE warehouses SET name = $2, location = $3, priority = $4, updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .await?;
    let row = client
        .query_opt(&stmt, &[&id, &w.name, &w.location, &w.priority])
        .await?;
    Ok(row.as_ref().map(WarehouseRow::from_row))
}

pub async fn delete(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    Ok(client
        .execute("DELETE FROM warehouses WHERE id = $1", &[&id])
        .await?
        == 1)
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("warehouse not found")]
    NoWarehouse,
    #[error("product not found")]
    NoProduct,
    #[error("this warehouse already has a stock row for that product")]
    Duplicate,
    #[error("stock row not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for StockError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_unique_violation(&e, "warehouse_stocks_warehouse_id_product_id_key") {
            return StockError::Duplicate;
        }
        match e.as_db_error().and_then(|db| db.constraint()) {
            Some("warehouse_stocks_warehouse_id_fkey") => StockError::NoWarehouse,
            Some("warehouse_stocks_product_id_fkey") => StockError::NoProduct,
            _ => StockError::Db(e.into()),
        }
    }
}

async fn stock_by_id<C: GenericClient>(client: &C, id: i64) -> Result<Option<StockRow>, DbError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {STOCK_COLUMNS} FROM warehouse_stocks s JOIN products p ON p.id = s.product_id WHERE s.id = $1"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(StockRow::from_row))
}

/// A new stock row; the product must be visible.
pub async fn insert_stock(pool: &Pool, s: &StockInput) -> Result<StockRow, StockError> {
    let client = pool.get().await.map_err(DbError::from)?;
    let stmt = client
        .prepare_cached(
            "INSERT INTO warehouse_stocks (warehouse_id, product_id, quantity)
             SELECT $1, p.id, $3 FROM products p WHERE p.id = $2 AND p.deleted_at IS NULL RETURNING id",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&s.warehouse_id, &s.product_id, &s.quantity])
        .await?
        .ok_or(StockError::NoProduct)?;
    stock_by_id(&client, row.get(0))
        .await?
        .ok_or(StockError::NotFound)
}

/// Sets a quantity: the row with `stock_id`, or the (warehouse, product) row, created if missing.
/// Runs on the caller's connection: the warehouse actor's transaction.
pub async fn set_quantity<C: GenericClient>(
    client: &C,
    s: &StockInput,
) -> Result<StockRow, StockError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO warehouse_stocks (warehouse_id, product_id, quantity)
             SELECT $1, p.id, $3 FROM products p WHERE p.id = $2 AND p.deleted_at IS NULL
             ON CONFLICT (warehouse_id, product_id)
             DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()
             RETURNING id",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&s.warehouse_id, &s.product_id, &s.quantity])
        .await?
        .ok_or(StockError::NoProduct)?;
    stock_by_id(client, row.get(0))
        .await?
        .ok_or(StockError::NotFound)
}

pub async fn find_stock(pool: &Pool, id: i64) -> Result<Option<StockRow>, DbError> {
    let client = pool.get().await?;
    stock_by_id(&client, id).await
}

pub async fn list_stocks(pool: &Pool, warehouse_id: Option<i64>) -> Result<Vec<StockRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {STOCK_COLUMNS} FROM warehouse_stocks s JOIN products p ON p.id = s.product_id
             WHERE $1::bigint IS NULL OR s.warehouse_id = $1 ORDER BY s.warehouse_id, s.product_id"
        ))
        .await?;
    Ok(client
        .query(&stmt, &[&warehouse_id])
        .await?
        .iter()
        .map(StockRow::from_row)
        .collect())
}

pub async fn delete_stock(pool: &Pool, id: i64) -> Result<bool, DbError> {
    let client = pool.get().await?;
    Ok(client
        .execute("DELETE FROM warehouse_stocks WHERE id = $1", &[&id])
        .await?
        == 1)
}
