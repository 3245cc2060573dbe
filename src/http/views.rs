//! How stored rows look on the wire.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use rust_decimal::Decimal;

use crate::auth::caller::AuthUser;
use crate::db::orders::{HistoryRow, OrderItemRow, OrderRow};
use crate::db::users::UserRow;
use crate::domain::locale::Locale;
use crate::domain::position::Position;
use crate::domain::role::Role;
use crate::domain::status::OrderStatus;
use crate::events::DriverRef;

#[derive(Serialize, ToSchema)]
pub struct UserView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    #[schema(value_type = Role)]
    pub role: &'static str,
    #[schema(value_type = Locale)]
    pub locale: &'static str,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl<'a> From<&'a UserRow> for UserView<'a> {
    fn from(u: &'a UserRow) -> Self {
        UserView {
            id: u.id,
            name: &u.name,
            email: u.email.as_deref(),
            username: u.username.as_deref(),
            role: u.role.as_str(),
            locale: u.locale.as_str(),
            totp_enabled: u.totp_enabled,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrderView<'a> {
    pub id: i64,
    pub order_number: &'a str,
    pub user_id: i64,
    pub items: Option<&'a str>,
    pub description: Option<&'a str>,
    pub delivery_location: Option<&'a str>,
    pub special_instructions: Option<&'a str>,
    pub customer_phone: Option<&'a str>,
    pub status: OrderStatus,
    pub status_display: &'static str,
    /// The seq of the order's latest event: a client resumes its socket with `since` = this.
    pub seq: i32,
    pub estimated_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Orders bought from stock (seed 004): where from, what it cost, and the lines.
    pub warehouse_id: Option<i64>,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub total_amount: Option<Decimal>,
    /// Seed 004's name for `total_amount`.
    #[serde(with = "rust_decimal::serde::float_option")]
    pub total_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float")]
    pub shipping_cost: Decimal,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub final_amount: Option<Decimal>,
    /// pending, confirmed, failed or refunded (`PATCH /orders/{id}/payment`).
    pub payment_status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_items: Option<&'a [OrderItemRow]>,
    /// Who is bringing it.
    pub driver: Option<&'a DriverRef>,
    pub delivery_lat: Option<f64>,
    pub delivery_lng: Option<f64>,
    /// The last known position while shipped.
    #[schema(value_type = Option<Position>)]
    pub location: Option<&'a serde_json::Value>,
    /// Only in the owner's views (`for_viewer`): the driver asks for it at the door.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_code: Option<&'a str>,
}

impl<'a> OrderView<'a> {
    pub fn with_items(mut self, items: &'a [OrderItemRow]) -> Self {
        self.order_items = Some(items);
        self
    }

    /// The order as `viewer` sees it: in their language, with the delivery code only if the
    /// order is theirs.
    pub fn new(o: &'a OrderRow, viewer: &AuthUser) -> Self {
        let locale = viewer.locale;
        OrderView {
            id: o.id,
            order_number: &o.order_number,
            user_id: o.user_id,
            items: o.items.as_deref(),
            description: o.description.as_deref(),
            delivery_location: o.delivery_location.as_deref(),
            special_instructions: o.special_instructions.as_deref(),
            customer_phone: o.customer_phone.as_deref(),
            status: o.status,
            status_display: o.status.display(locale),
            seq: o.version,
            estimated_time: o.estimated_time,
            created_at: o.created_at,
            updated_at: o.updated_at,
            warehouse_id: o.warehouse_id,
            total_amount: o.total_amount,
            total_price: o.total_amount,
            shipping_cost: o.shipping_cost,
            final_amount: o.final_amount,
            payment_status: &o.payment_status,
            order_items: None,
            driver: o.driver.as_ref(),
            delivery_lat: o.destination.map(|p| p.lat),
            delivery_lng: o.destination.map(|p| p.lng),
            location: o.live_location(),
            delivery_code: (o.user_id == viewer.id()).then_some(o.delivery_code.as_str()),
        }
    }

    pub fn list(rows: &'a [OrderRow], viewer: &AuthUser) -> Vec<Self> {
        rows.iter().map(|o| OrderView::new(o, viewer)).collect()
    }
}

/// What a delete answers: the id of what is gone.
#[derive(Serialize, ToSchema)]
pub struct Removed {
    pub id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView<'a> {
    pub id: i64,
    pub order_id: i64,
    pub seq: i32,
    pub from_status: Option<OrderStatus>,
    pub status: OrderStatus,
    pub status_display: &'static str,
    pub notes: Option<&'a str>,
    pub estimated_time: Option<DateTime<Utc>>,
    pub updated_by: Option<&'a str>,
    pub updated_by_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// `status`, or `assigned` for a change of driver.
    pub change: &'static str,
    pub driver: Option<&'a DriverRef>,
    pub delivery_code_used: bool,
}

impl<'a> HistoryView<'a> {
    pub fn new(h: &'a HistoryRow, locale: Locale) -> Self {
        HistoryView {
            id: h.id,
            order_id: h.order_id,
            seq: h.seq,
            from_status: h.from_status,
            status: h.status,
            status_display: h.status.display(locale),
            notes: h.notes.as_deref(),
            estimated_time: h.estimated_time,
            updated_by: h.updated_by.as_deref(),
            updated_by_id: h.updated_by_id,
            created_at: h.created_at,
            change: h.change.as_str(),
            driver: h.driver.as_ref(),
            delivery_code_used: h.delivery_code_used,
        }
    }
}
