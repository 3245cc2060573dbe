//! Prometheus metrics for `GET /metrics`: open sockets, events delivered, webhook attempts,
//! request latency, pool use.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// A standard method's name, or `other`: clients may send any token as a method.
    pub method: &'static str,
    /// The matched route pattern (`/api/orders/{id}`), so ids do not explode the label set.
    pub route: String,
    pub status: u16,
}

/// What came of one webhook attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// `delivered`, `retrying` or `given_up`.
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub open_sockets: Gauge,
    pub events_delivered: Counter,
    pub broker_events_received: Counter,
    pub webhook_attempts: Family<WebhookLabels, Counter>,
    pub requests: Family<RequestLabels, Histogram>,
    pool_size: Gauge,
    pool_available: Gauge,
    pool_max: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms .. about 8 s.
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("order_tracker");
        let open_sockets = Gauge::default();
        let events_delivered = Counter::default();
        let broker_events_received = Counter::default();
        let webhook_attempts = Family::<WebhookLabels, Counter>::default();
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let (pool_size, pool_available, pool_max) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "websocket_open",
            "WebSocket connections open now",
            open_sockets.clone(),
        );
        registry.register(
            "events_delivered",
            "Events queued to WebSocket and event-stream clients",
            events_delivered.clone(),
        );
        registry.register(
            "broker_events_received",
            "Events and positions this process received from the broker: with nats only those \
             of topics its sockets follow, with postgres all",
            broker_events_received.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook requests sent by this process, by outcome",
            webhook_attempts.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            requests.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Connections the pool holds",
            pool_size.clone(),
        );
        registry.register(
            "db_pool_available",
            "Idle connections in the pool",
            pool_available.clone(),
        );
        registry.register(
            "db_pool_max",
            "Most connections the pool may hold",
            pool_max.clone(),
        );
        Metrics {
            registry,
            open_sockets,
            events_delivered,
            broker_events_received,
            webhook_attempts,
            requests,
            pool_size,
            pool_available,
            pool_max,
        }
    }
}

impl Metrics {
    /// The text exposition, with the pool gauges read at this moment.
    pub fn render(&self, pool: &deadpool_postgres::Pool) -> String {
        let status = pool.status();
        self.pool_size.set(status.size as i64);
        self.pool_available.set(status.available as i64);
        self.pool_max.set(status.max_size as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
