//! How the Tracking API v1 (seed 003) shows orders: the status summary, the active and history
//! lists, and an admin's tracking entry. Seed 003's clients read these field names.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::pagination::PageMeta;
use crate::auth::caller::AuthUser;
use crate::db::orders::{HistoryRow, OrderItemRow};
use crate::db::tracking::{LatestUpdate, OrderSummary};
use crate::domain::locale::Locale;
use crate::domain::status::OrderStatus;

/// `GET /orders/{id}/status`.
#[derive(Serialize, ToSchema)]
pub struct TrackingStatus<'a> {
    pub order_id: i64,
    pub order_number: &'a str,
    pub current_status: OrderStatus,
    pub current_status_display: &'static str,
    /// pending, confirmed, failed or refunded.
    pub payment_status: &'a str,
    pub payment_status_display: &'static str,
    pub estimated_ready_time: Option<DateTime<Utc>>,
    pub actual_ready_time: Option<DateTime<Utc>>,
    pub delivery_location: Option<&'a str>,
    pub special_instructions: Option<&'a str>,
    pub customer_name: &'a str,
    pub customer_phone: Option<&'a str>,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub total_amount: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub final_amount: Option<Decimal>,
    pub total_items: i64,
    pub items: Vec<TrackingItem<'a>>,
    pub latest_tracking: Option<&'a LatestUpdate>,
    pub can_be_cancelled: bool,
    pub can_provide_feedback: bool,
}

impl<'a> TrackingStatus<'a> {
    pub fn new(summary: &'a OrderSummary, items: &'a [OrderItemRow], viewer: &AuthUser) -> Self {
        let o = &summary.order;
        let can_be_cancelled = if viewer.role().is_staff() {
            o.status.staff_may_cancel()
        } else {
            o.status.owner_may_cancel()
        };
        TrackingStatus {
            order_id: o.id,
            order_number: &o.order_number,
            current_status: o.status,
            current_status_display: o.status.display(viewer.locale),
            payment_status: &o.payment_status,
            payment_status_display: payment_display(&o.payment_status),
            estimated_ready_time: o.estimated_time,
            actual_ready_time: o.actual_ready_time,
            delivery_location: o.delivery_location.as_deref(),
            special_instructions: o.special_instructions.as_deref(),
            customer_name: &o.owner_name,
            customer_phone: o.customer_phone.as_deref(),
            total_amount: o.total_amount,
            final_amount: o.final_amount,
            total_items: summary.total_items,
            items: items
                .iter()
                .map(|item| TrackingItem {
                    id: item.id,
                    menu_item_name: &item.product_name,
                    product_id: item.product_id,
                    quantity: item.quantity,
                    unit_price: item.unit_price,
                    total_price: item.total_price,
                    status: o.status,
                    special_instructions: o.special_instructions.as_deref(),
                })
                .collect(),
            latest_tracking: summary.latest.as_ref(),
            can_be_cancelled,
            can_provide_feedback: o.user_id == viewer.id()
                && o.status == OrderStatus::Delivered
                && summary.feedback.is_none(),
        }
    }
}

/// An order line in seed 003's words (it sold menu items).
#[derive(Serialize, ToSchema)]
pub struct TrackingItem<'a> {
    pub id: i64,
    pub menu_item_name: &'a str,
    pub product_id: i64,
    pub quantity: i32,
    #[serde(with = "rust_decimal::serde::float")]
    pub unit_price: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    pub total_price: Decimal,
    /// The order's status: lines have none of their own.
    pub status: OrderStatus,
    pub special_instructions: Option<&'a str>,
}

pub fn payment_display(status: &str) -> &'static str {
    match status {
        "confirmed" => "Confirmed",
        "failed" => "Failed",
        "refunded" => "Refunded",
        _ => "Pending",
    }
}

/// An order under way, as `GET /orders/active` and `GET /admin/orders/active` list it.
#[derive(Serialize, ToSchema)]
pub struct ActiveOrder<'a> {
    pub order_id: i64,
    pub order_number: &'a str,
    pub status: OrderStatus,
    pub status_display: &'static str,
    pub customer_name: &'a str,
    pub total_items: i64,
    pub estimated_ready_time: Option<DateTime<Utc>>,
    pub delivery_location: Option<&'a str>,
    pub latest_update: Option<LatestNote<'a>>,
    /// Minutes since the order was placed.
    pub time_elapsed: i64,
    /// The admins' list only (so both fields are optional).
    #[serde(flatten)]
    #[schema(value_type = Contact)]
    pub contact: Option<Contact<'a>>,
}

/// The newest history entry's words, without its status.
#[derive(Serialize, ToSchema)]
pub struct LatestNote<'a> {
    pub notes: Option<&'a str>,
    pub updated_by: Option<&'a str>,
    pub updated_at: DateTime<Utc>,
}

/// How to reach the customer and what the order is worth, for admins.
#[derive(Serialize, ToSchema)]
pub struct Contact<'a> {
    pub customer_phone: Option<&'a str>,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub total_amount: Option<Decimal>,
}

impl<'a> ActiveOrder<'a> {
    pub fn new(s: &'a OrderSummary, locale: Locale, with_contact: bool) -> Self {
        let o = &s.order;
        ActiveOrder {
            order_id: o.id,
            order_number: &o.order_number,
            status: o.status,
            status_display: o.status.display(locale),
            customer_name: &o.owner_name,
            total_items: s.total_items,
            estimated_ready_time: o.estimated_time,
            delivery_location: o.delivery_location.as_deref(),
            latest_update: s.latest.as_ref().map(|l| LatestNote {
                notes: l.notes.as_deref(),
                updated_by: l.updated_by.as_deref(),
                updated_at: l.updated_at,
            }),
            time_elapsed: (Utc::now() - o.created_at).num_minutes(),
            contact: with_contact.then_some(Contact {
                customer_phone: o.customer_phone.as_deref(),
                total_amount: o.total_amount,
            }),
        }
    }
}

/// `GET /orders/history`: seed 003's page, the rows inside `data` beside the page's numbers.
#[derive(Serialize, ToSchema)]
pub struct HistoryPage<'a> {
    #[serde(flatten)]
    pub meta: PageMeta,
    pub data: Vec<PastOrder<'a>>,
}

/// One of the caller's orders in their history.
#[derive(Serialize, ToSchema)]
pub struct PastOrder<'a> {
    pub id: i64,
    pub order_number: &'a str,
    pub status: OrderStatus,
    pub status_display: &'static str,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub total_amount: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::float_option")]
    pub final_amount: Option<Decimal>,
    pub payment_status: &'a str,
    pub created_at: DateTime<Utc>,
    pub feedback: Option<GivenFeedback<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct GivenFeedback<'a> {
    pub rating: i16,
    pub comment: Option<&'a str>,
}

impl<'a> PastOrder<'a> {
    pub fn new(s: &'a OrderSummary, locale: Locale) -> Self {
        let o = &s.order;
        PastOrder {
            id: o.id,
            order_number: &o.order_number,
            status: o.status,
            status_display: o.status.display(locale),
            total_amount: o.total_amount,
            final_amount: o.final_amount,
            payment_status: &o.payment_status,
            created_at: o.created_at,
            feedback: s.feedback.as_ref().map(|(rating, comment)| GivenFeedback {
                rating: *rating,
                comment: comment.as_deref(),
            }),
        }
    }
}

/// `POST /admin/orders/{id}/tracking`: the timeline entry the change wrote.
#[derive(Serialize, ToSchema)]
pub struct TrackingEntry<'a> {
    pub id: i64,
    pub order_id: i64,
    pub status: OrderStatus,
    pub notes: Option<&'a str>,
    /// The id of who made the change.
    pub updated_by: Option<i64>,
    pub estimated_time: Option<DateTime<Utc>>,
    pub actual_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl<'a> From<&'a HistoryRow> for TrackingEntry<'a> {
    fn from(entry: &'a HistoryRow) -> Self {
        TrackingEntry {
            id: entry.id,
            order_id: entry.order_id,
            status: entry.status,
            notes: entry.notes.as_deref(),
            updated_by: entry.updated_by_id,
            estimated_time: entry.estimated_time,
            actual_time: entry.created_at,
            created_at: entry.created_at,
        }
    }
}
