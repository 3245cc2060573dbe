//! The order status machine: canonical statuses, the seeds' aliases, who may move an order where.

use serde::{Serialize, Serializer};

use super::locale::Locale;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Preparing,
    Ready,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Preparing,
        OrderStatus::Ready,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Preparing => "preparing",
            OrderStatus::Ready => "ready",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Case-insensitive, accepting the words the seeds' clients send.
    pub fn parse(input: &str) -> Option<Self> {
        let word = input.trim().to_lowercase();
        let status = match word.as_str() {
            "pending" | "menunggu" => OrderStatus::Pending,
            "confirmed" | "dikonfirmasi" => OrderStatus::Confirmed,
            "preparing" | "processing" | "processed" | "diproses" => OrderStatus::Preparing,
            "ready" | "siap" => OrderStatus::Ready,
            "shipped" | "dikirim" => OrderStatus::Shipped,
            "delivered" | "completed" | "selesai" => OrderStatus::Delivered,
            "cancelled" | "canceled" | "dibatalkan" => OrderStatus::Cancelled,
            _ => return None,
        };
        Some(status)
    }

    pub fn display(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::En, OrderStatus::Pending) => "Pending",
            (Locale::En, OrderStatus::Confirmed) => "Confirmed",
            (Locale::En, OrderStatus::Preparing) => "Preparing",
            (Locale::En, OrderStatus::Ready) => "Ready",
            (Locale::En, OrderStatus::Shipped) => "Shipped",
            (Locale::En, OrderStatus::Delivered) => "Delivered",
            (Locale::En, OrderStatus::Cancelled) => "Cancelled",
            (Locale::Id, OrderStatus::Pending) => "Menunggu",
            (Locale::Id, OrderStatus::Confirmed) => "Dikonfirmasi",
            (Locale::Id, OrderStatus::Preparing) => "Diproses",
            (Locale::Id, OrderStatus::Ready) => "Siap",
            (Locale::Id, OrderStatus::Shipped) => "Dikirim",
            (Locale::Id, OrderStatus::Delivered) => "Selesai",
            (Locale::Id, OrderStatus::Cancelled) => "Dibatalkan",
        }
    }

    /// `delivered` and `cancelled` end an order's life.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::Cancelled)
    }

    /// The owner may cancel only before the kitchen or warehouse starts on the order.
    pub fn owner_may_cancel(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Confirmed)
    }

    /// Staff may cancel until the order leaves for delivery.
    pub fn staff_may_cancel(self) -> bool {
        self < OrderStatus::Shipped
    }
}

impl Serialize for OrderStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Who asks for a move, as far as the status machine cares.
#[derive(Debug, Clone, Copy)]
pub struct Mover {
    pub is_staff: bool,
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("order is already {}, which is final", .0.as_str())]
    Final(OrderStatus),
    #[error("order cannot move back from {} to {}", .from.as_str(), .to.as_str())]
    Backwards { from: OrderStatus, to: OrderStatus },
    #[error("order is already {}; send notes or an estimated time to add an update", .0.as_str())]
    Unchanged(OrderStatus),
    #[error("order cannot be cancelled once it is {}", .0.as_str())]
    TooLateToCancel(OrderStatus),
    #[error("only staff may set an order to {}", .0.as_str())]
    StaffOnly(OrderStatus),
}

/// Decides whether `mover` may move an order from `from` to `to`.
///
/// Forward moves may skip statuses; a same-status update is a timeline entry and needs
/// something new (`has_news`: notes or an estimated time).
pub fn check_transition(
    from: OrderStatus,
    to: OrderStatus,
    mover: Mover,
    has_news: bool,
) -> Result<(), TransitionError> {
    if from.is_final() {
        return Err(TransitionError::Final(from));
    }
    if to == OrderStatus::Cancelled {
        let allowed = if mover.is_staff {
            from.staff_may_cancel()
        } else {
            from.owner_may_cancel()
        };
        return if allowed {
            Ok(())
        } else {
            Err(TransitionError::TooLateToCancel(from))
        };
    }
    if !mover.is_staff {
        return Err(TransitionError::StaffOnly(to));
    }
    if to == from {
        return if has_news {
            Ok(())
        } else {
            Err(TransitionError::Unchanged(from))
        };
    }
    if to < from {
        return Err(TransitionError::Backwards { from, to });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    const STAFF: Mover = Mover { is_staff: true };
    const OWNER: Mover = Mover { is_staff: false };

    #[test]
    fn aliases_from_the_seeds() {
        for (word, status) in [
            ("Diproses", Preparing),
            ("Dikirim", Shipped),
            ("Selesai", Delivered),
            ("Processing", Preparing),
            ("processed", Preparing),
            ("SHIPPED", Shipped),
            ("Completed", Delivered),
            ("canceled", Cancelled),
            ("dibatalkan", Cancelled),
            ("dikonfirmasi", Confirmed),
            ("siap", Ready),
            (" pending ", Pending),
        ] {
            assert_eq!(OrderStatus::parse(word), Some(status), "{word}");
        }
        assert_eq!(OrderStatus::parse("teleported"), None);
        assert_eq!(OrderStatus::parse(""), None);
    }

    #[test]
    fn every_status_round_trips_and_has_both_displays() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(OrderStatus::parse(s.display(Locale::Id)), Some(s));
        }
        assert_eq!(Shipped.display(Locale::Id), "Dikirim");
        assert_eq!(Shipped.display(Locale::En), "Shipped");
    }

    #[test]
    fn seed_000_flow_skips_forward() {
        assert!(check_transition(Pending, Preparing, STAFF, false).is_ok());
        assert!(check_transition(Preparing, Shipped, STAFF, false).is_ok());
        assert!(check_transition(Shipped, Delivered, STAFF, false).is_ok());
    }

    #[test]
    fn no_moves_back_or_out_of_final() {
        assert_eq!(
            check_transition(Shipped, Pending, STAFF, true),
            Err(TransitionError::Backwards {
                from: Shipped,
                to: Pending
            })
        );
        assert_eq!(
            check_transition(Delivered, Cancelled, STAFF, false),
            Err(TransitionError::Final(Delivered))
        );
        assert_eq!(
            check_transition(Cancelled, Pending, STAFF, false),
            Err(TransitionError::Final(Cancelled))
        );
    }

    #[test]
    fn same_status_needs_news() {
        assert_eq!(
            check_transition(Ready, Ready, STAFF, false),
            Err(TransitionError::Unchanged(Ready))
        );
        assert!(check_transition(Ready, Ready, STAFF, true).is_ok());
    }

    #[test]
    fn owner_only_cancels_early() {
        assert!(check_transition(Pending, Cancelled, OWNER, false).is_ok());
        assert!(check_transition(Confirmed, Cancelled, OWNER, false).is_ok());
        assert_eq!(
            check_transition(Preparing, Cancelled, OWNER, false),
            Err(TransitionError::TooLateToCancel(Preparing))
        );
        assert_eq!(
            check_transition(Pending, Confirmed, OWNER, false),
            Err(TransitionError::StaffOnly(Confirmed))
        );
    }

    #[test]
    fn staff_cancel_until_shipped() {
        assert!(check_transition(Ready, Cancelled, STAFF, false).is_ok());
        assert_eq!(
            check_transition(Shipped, Cancelled, STAFF, false),
            Err(TransitionError::TooLateToCancel(Shipped))
        );
    }
}
