//! Every success message an answer carries, in English and Indonesian. One catalogue, so the
//! wording and its style are the same everywhere and a user reads their own language (the
//! request's `Accept-Language`, else the user's `locale`). The English texts keep the seeds'
//! wording, in sentence case. Error messages stay English: they are for developers, and clients
//! show their own text for a status and field.

use crate::domain::locale::Locale;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    UserRegistered,
    LoginSuccessful,
    CurrentUser,
    ProfileUpdated,
    LoggedOutEverywhere,
    RoleChanged,
    TotpSetUp,
    TotpEnabled,
    TotpDisabled,
    NotificationSent,
    NotificationStored,
    NotificationsRetrieved,
    UnreadCount,
    NotificationRead,
    AllNotificationsRead,
    ProductCreated,
    ProductsRetrieved,
    ProductRetrieved,
    ProductUpdated,
    ProductDeleted,
    WarehouseCreated,
    WarehousesRetrieved,
    WarehouseRetrieved,
    WarehouseUpdated,
    WarehouseDeleted,
    StockCreated,
    StocksRetrieved,
    StockUpdated,
    StocksUpdated,
    StocksPartlyUpdated,
    StockDeleted,
    CartItemAdded,
    CartsRetrieved,
    CartDeleted,
    CartItemDeleted,
    OrderCreated,
    OrdersRetrieved,
    OrderRetrieved,
    StatusHistoryRetrieved,
    OrderStatusUpdated,
    OrderCancelled,
    PaymentUpdated,
    OrderStatusRetrieved,
    TimelineRetrieved,
    FeedbackSubmitted,
    ActiveOrdersRetrieved,
    OrderHistoryRetrieved,
    TrackingUpdated,
    TrackingStatsRetrieved,
    TrackingAnalyticsRetrieved,
    ShareLinkCreated,
    ShareLinksRetrieved,
    ShareLinkRevoked,
    SharedOrderRetrieved,
    DriversRetrieved,
    DriverAssigned,
    DriverUnassigned,
    OrderClaimed,
    PositionAccepted,
    TrailRetrieved,
    WebhookCreated,
    WebhooksRetrieved,
    WebhookRetrieved,
    WebhookUpdated,
    WebhookDeleted,
    WebhookDeliveriesRetrieved,
    WebhookRedeliveryQueued,
}

impl Msg {
    pub fn text(self, locale: Locale) -> &'static str {
        let (en, id) = match self {
            Msg::UserRegistered => ("User registered", "Pengguna berhasil terdaftar"),
            Msg::DriversRetrieved => ("Drivers retrieved", "Pengemudi berhasil diambil"),
            Msg::WebhookCreated => (
                "Webhook created; keep its secret, it is not shown again",
                "Webhook dibuat; simpan rahasianya, rahasia tidak ditampilkan lagi",
            ),
            Msg::WebhooksRetrieved => ("Webhooks retrieved", "Webhook berhasil diambil"),
            Msg::WebhookRetrieved => ("Webhook retrieved", "Webhook berhasil diambil"),
            Msg::WebhookUpdated => ("Webhook updated", "Webhook berhasil diperbarui"),
            Msg::WebhookDeleted => ("Webhook deleted", "Webhook berhasil dihapus"),
            Msg::WebhookDeliveriesRetrieved => (
                "Webhook deliveries retrieved",
                "Pengiriman webhook berhasil diambil",
            ),
            Msg::WebhookRedeliveryQueued => {
                ("Delivery queued again", "Pengiriman dijadwalkan ulang")
            }
            Msg::DriverAssigned => ("Driver assigned", "Pengemudi berhasil ditugaskan"),
            Msg::DriverUnassigned => ("Driver unassigned", "Penugasan pengemudi dibatalkan"),
            Msg::OrderClaimed => ("Order claimed", "Pesanan berhasil diambil alih"),
            Msg::PositionAccepted => ("Position accepted", "Posisi diterima"),
            Msg::TrailRetrieved => ("Trail retrieved", "Jejak berhasil diambil"),
            Msg::LoginSuccessful => ("Login successful", "Berhasil masuk"),
            Msg::CurrentUser => ("Current user", "Pengguna saat ini"),
            Msg::ProfileUpdated => ("Profile updated", "Profil berhasil diperbarui"),
            Msg::LoggedOutEverywhere => (
                "Logged out everywhere",
                "Berhasil keluar dari semua perangkat",
            ),
            Msg::RoleChanged => ("Role changed", "Peran berhasil diubah"),
            Msg::TotpSetUp => (
                "Scan the QR code, then verify a code to enable two-factor login",
                "Pindai kode QR, lalu verifikasi satu kode untuk mengaktifkan login dua langkah",
            ),
            Msg::TotpEnabled => ("Two-factor login enabled", "Login dua langkah diaktifkan"),
            Msg::TotpDisabled => (
                "Two-factor login disabled",
                "Login dua langkah dinonaktifkan",
            ),
            Msg::NotificationSent => ("Notification sent", "Notifikasi terkirim"),
            Msg::NotificationStored => (
                "Notification stored; the user is offline",
                "Notifikasi disimpan; pengguna sedang offline",
            ),
            Msg::NotificationsRetrieved => (
                "Notifications retrieved successfully",
                "Notifikasi berhasil diambil",
            ),
            Msg::UnreadCount => ("Unread notifications", "Notifikasi belum dibaca"),
            Msg::NotificationRead => (
                "Notification marked as read",
                "Notifikasi ditandai sudah dibaca",
            ),
            Msg::AllNotificationsRead => (
                "All notifications marked as read",
                "Semua notifikasi ditandai sudah dibaca",
            ),
            Msg::ProductCreated => ("Product created successfully", "Produk berhasil dibuat"),
            Msg::ProductsRetrieved => {
                ("Products retrieved successfully", "Produk berhasil diambil")
            }
            Msg::ProductRetrieved => ("Product retrieved successfully", "Produk berhasil diambil"),
            Msg::ProductUpdated => ("Product updated successfully", "Produk berhasil diperbarui"),
            Msg::ProductDeleted => ("Product deleted successfully", "Produk berhasil dihapus"),
            Msg::WarehouseCreated => ("Warehouse created successfully", "Gudang berhasil dibuat"),
            Msg::WarehousesRetrieved => (
                "Warehouses retrieved successfully",
                "Gudang berhasil diambil",
            ),
            Msg::WarehouseRetrieved => (
                "Warehouse retrieved successfully",
                "Gudang berhasil diambil",
            ),
            Msg::WarehouseUpdated => (
                "Warehouse updated successfully",
                "Gudang berhasil diperbarui",
            ),
            Msg::WarehouseDeleted => ("Warehouse deleted successfully", "Gudang berhasil dihapus"),
            Msg::StockCreated => (
                "Warehouse stock created successfully",
                "Stok gudang berhasil dibuat",
            ),
            Msg::StocksRetrieved => (
                "Warehouse stocks retrieved successfully",
                "Stok gudang berhasil diambil",
            ),
            Msg::StockUpdated => (
                "Stock quantity updated successfully",
                "Jumlah stok berhasil diperbarui",
            ),
            Msg::StocksUpdated => (
                "All stocks updated successfully",
                "Semua stok berhasil diperbarui",
            ),
            Msg::StocksPartlyUpdated => (
                "Some stock updates failed; see results",
                "Sebagian pembaruan stok gagal; lihat results",
            ),
            Msg::StockDeleted => (
                "Warehouse stock deleted successfully",
                "Stok gudang berhasil dihapus",
            ),
            Msg::CartItemAdded => (
                "Item added to the cart",
                "Item berhasil ditambahkan ke keranjang",
            ),
            Msg::CartsRetrieved => ("Carts retrieved successfully", "Keranjang berhasil diambil"),
            Msg::CartDeleted => ("Cart deleted successfully", "Keranjang berhasil dihapus"),
            Msg::CartItemDeleted => (
                "Cart item deleted successfully",
                "Item keranjang berhasil dihapus",
            ),
            Msg::OrderCreated => ("Order created successfully", "Pesanan berhasil dibuat"),
            Msg::OrdersRetrieved => ("Orders retrieved successfully", "Pesanan berhasil diambil"),
            Msg::OrderRetrieved => ("Order retrieved successfully", "Pesanan berhasil diambil"),
            Msg::StatusHistoryRetrieved => (
                "Order status history retrieved successfully",
                "Riwayat status pesanan berhasil diambil",
            ),
            Msg::OrderStatusUpdated => (
                "Order status updated successfully",
                "Status pesanan berhasil diperbarui",
            ),
            Msg::ShareLinkCreated => ("Share link created", "Tautan berbagi dibuat"),
            Msg::ShareLinksRetrieved => (
                "Share links retrieved successfully",
                "Tautan berbagi berhasil diambil",
            ),
            Msg::ShareLinkRevoked => ("Share link revoked", "Tautan berbagi dicabut"),
            Msg::SharedOrderRetrieved => (
                "Order tracking retrieved successfully",
                "Pelacakan pesanan berhasil diambil",
            ),
            Msg::OrderCancelled => (
                "Order cancelled and deleted",
                "Pesanan dibatalkan dan dihapus",
            ),
            Msg::PaymentUpdated => (
                "Payment status updated successfully",
                "Status pembayaran berhasil diperbarui",
            ),
            Msg::OrderStatusRetrieved => (
                "Order status retrieved successfully",
                "Status pesanan berhasil diambil",
            ),
            Msg::TimelineRetrieved => (
                "Order timeline retrieved successfully",
                "Linimasa pesanan berhasil diambil",
            ),
            Msg::FeedbackSubmitted => {
                ("Feedback submitted successfully", "Ulasan berhasil dikirim")
            }
            Msg::ActiveOrdersRetrieved => (
                "Active orders retrieved successfully",
                "Pesanan aktif berhasil diambil",
            ),
            Msg::OrderHistoryRetrieved => (
                "Order history retrieved successfully",
                "Riwayat pesanan berhasil diambil",
            ),
            Msg::TrackingUpdated => (
                "Order tracking updated successfully",
                "Pelacakan pesanan berhasil diperbarui",
            ),
            Msg::TrackingStatsRetrieved => (
                "Tracking statistics retrieved successfully",
                "Statistik pelacakan berhasil diambil",
            ),
            Msg::TrackingAnalyticsRetrieved => (
                "Tracking analytics retrieved successfully",
                "Analitik pelacakan berhasil diambil",
            ),
        };
        match locale {
            Locale::En => en,
            Locale::Id => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_are_written_in_sentence_case() {
        let first = |s: &str| s.chars().next().is_some_and(char::is_uppercase);
        for msg in [Msg::CartItemAdded, Msg::ProductCreated, Msg::OrderCreated] {
            assert!(first(msg.text(Locale::En)) && first(msg.text(Locale::Id)));
            assert_ne!(msg.text(Locale::En), msg.text(Locale::Id));
        }
    }
}
