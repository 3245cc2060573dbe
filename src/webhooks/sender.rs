//! The sender each server process runs: it takes due deliveries from the shared queue
//! (`db::webhooks::claim`), posts each one signed, and records what came of it. A delivery is
//! held by a lease while it is in flight; a process killed mid-send leaves it to be taken again
//! when the lease runs out, so every event arrives at least once, in its endpoint's order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::watch;
use tokio::task::JoinSet;
use url::Url;

use super::{client, signature};
use crate::auth::sealed::SealingKey;
use crate::config::WebhookSettings;
use crate::db::webhooks::{self, AttemptResult, Claimed};
use crate::db::{self, DbError};
use crate::domain::notification;
use crate::domain::role::Role;
use crate::domain::topic::Topic;
use crate::domain::webhook::retry_delay;
use crate::metrics::WebhookLabels;

/// The longest wait between polls while the queue cannot be reached.
const MAX_POLL_WAIT: Duration = Duration::from_secs(30);
/// What of a receiver's error answer is kept in the log.
const MAX_ERROR_CHARS: usize = 300;

pub struct Sender {
    pool: Pool,
    client: reqwest::Client,
    /// `webhook_attempts` of `/metrics`.
    attempts: Family<WebhookLabels, Counter>,
    /// Opens the endpoints' signing secrets, sealed in the database.
    sealing: Arc<SealingKey>,
    settings: WebhookSettings,
}

impl Sender {
    pub fn new(
        pool: Pool,
        sealing: Arc<SealingKey>,
        settings: WebhookSettings,
        attempts: Family<WebhookLabels, Counter>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Sender {
            client: client::build(&settings)?,
            attempts,
            pool,
            sealing,
            settings,
        })
    }

    /// Sends until `stop` changes. Deliveries in flight then are dropped; their leases run out
    /// and some process sends them again.
    pub fn start(self, mut stop: watch::Receiver<bool>) {
        let sender = Arc::new(self);
        actix::spawn(async move {
            let mut in_flight = JoinSet::new();
            let poll = Duration::from_millis(sender.settings.poll_ms);
            // Polls in a row that found the queue unreachable: the wait grows with them, and
            // only the first is logged, so a database outage is one line, not one per poll.
            let mut unreachable = 0u32;
            loop {
                let room = sender.settings.concurrency.saturating_sub(in_flight.len());
                if room > 0 {
                    match webhooks::claim(&sender.pool, room as i64, sender.lease()).await {
                        Ok(claimed) => {
                            if unreachable > 0 {
                                tracing::info!("webhook queue reachable again");
                            }
                            unreachable = 0;
                            for delivery in claimed {
                                let sender = sender.clone();
                                in_flight.spawn(async move { sender.deliver(delivery).await });
                            }
                        }
                        Err(e) => {
                            if unreachable == 0 {
                                tracing::warn!(error = %e, "webhook queue unavailable");
                            }
                            unreachable = unreachable.saturating_add(1);
                        }
                    }
                }
                let wait = poll
                    .saturating_mul(1 << unreachable.min(6))
                    .min(MAX_POLL_WAIT);
                tokio::select! {
                    _ = stop.changed() => break,
                    Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
    }

    /// Long enough for a request that runs into its timeout to be recorded before anyone else
    /// may take the delivery.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_secs * 2 + 10)
    }

    async fn deliver(&self, claimed: Claimed) {
        let result = match self.attempt(&claimed).await {
            Ok(result) => result,
            Err(e) => {
                // The database went away mid-attempt: the lease runs out and the delivery is
                // taken again, so nothing is recorded (or lost) here.
                tracing::warn!(error = %e, delivery = claimed.delivery_id, "webhook attempt not recorded");
                return;
            }
        };
        let outcome = match (result.delivered, result.retry_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "retrying",
            (false, None) => "given_up",
        };
        self.attempts
            .get_or_create(&WebhookLabels { outcome })
            .inc();
        let disable_before = Utc::now()
            - chrono::Duration::seconds(
                self.settings.disable_after_secs.min(i64::MAX as u64) as i64
            );
        match webhooks::finish(&self.pool, &claimed, &result, disable_before).await {
            Ok(true) => self.tell_admins(&claimed).await,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, delivery = claimed.delivery_id, "webhook result not recorded")
            }
        }
    }

    /// One try: the body, the target check, the signed POST, and when to try again.
    async fn attempt(&self, claimed: &Claimed) -> Result<AttemptResult, DbError> {
        let Some(body) = self.body(claimed).await? else {
            return Ok(AttemptResult {
                status_code: None,
                duration_ms: 0,
                error: Some("the event is no longer stored".into()),
                retry_at: None,
                delivered: false,
            });
        };
        let started = Instant::now();
        let outcome = self.post(claimed, &body).await;
        let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        let (status_code, error) = match outcome {
            Ok(code) if (200..300).contains(&code) => (Some(code), None),
            Ok(code) if (300..400).contains(&code) => (
                Some(code),
                Some(
                    "redirect not followed: another origin, one that drops the body (301, 302, \
                     303), or too many"
                        .to_string(),
                ),
            ),
            Ok(code) => (Some(code), Some(format!("the receiver answered {code}"))),
            Err(e) => (None, Some(e)),
        };
        let delivered = error.is_none();
        Ok(AttemptResult {
            status_code: status_code.map(i32::from),
            duration_ms,
            retry_at: if delivered {
                None
            } else {
                self.next_try(claimed.attempt, claimed.created_at)
            },
            error: error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
            delivered,
        })
    }

    /// After failed attempt `attempt`, when to try again; `None` once the delivery is older than
    /// `retry_for_secs` by then.
    fn next_try(&self, attempt: i32, created_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let s = &self.settings;
        let wait = retry_delay(
            attempt,
            Duration::from_millis(s.retry_base_ms),
            Duration::from_millis(s.retry_max_ms),
            rand::random::<f64>(),
        );
        let at = Utc::now() + chrono::Duration::from_std(wait).ok()?;
        let give_up =
            created_at + chrono::Duration::seconds(s.retry_for_secs.min(i64::MAX as u64) as i64);
        (at <= give_up).then_some(at)
    }

    /// The body: `{"id", "type", "created_at", "data"}`, `data` being the stream's event (or,
    /// for `checkout.completed`, the order the checkout placed) byte for byte. Built once per
    /// event and kept, so retries and every endpoint send the same bytes.
    async fn body(&self, claimed: &Claimed) -> Result<Option<String>, DbError> {
        let event = &claimed.event;
        if let Some(body) = &event.body {
            return Ok(Some(body.clone()));
        }
        let data = match (Topic::parse(&event.topic), event.kind.as_str()) {
            (Some(Topic::Order(id)), "checkout.completed") => {
                webhooks::checkout_summary(&self.pool, id)
                    .await?
                    .map(|v| v.to_string())
            }
            (Some(topic), _) => db::events::load(&self.pool, topic, event.seq)
                .await?
                .map(|e| e.json.to_string()),
            (None, _) => None,
        };
        let Some(data) = data else { return Ok(None) };
        let body = format!(
            r#"{{"id":{},"type":{},"created_at":{},"data":{data}}}"#,
            serde_json::Value::from(event.event_id.as_str()),
            serde_json::Value::from(event.kind.as_str()),
            serde_json::to_string(&event.created_at).unwrap_or_else(|_| "null".into()),
        );
        webhooks::keep_body(&self.pool, event.id, &body)
            .await
            .map(Some)
    }

    /// Posts the body; the receiver's status, or why there was none.
    async fn post(&self, claimed: &Claimed, body: &str) -> Result<u16, String> {
        let url =
            Url::parse(&claimed.url).map_err(|_| "the stored url does not parse".to_string())?;
        if !client::literal_target_allowed(&url, self.settings.allow_private_targets) {
            return Err("the url points at a private or reserved address".into());
        }
        let current = self.sealing.open(&claimed.secret);
        let previous = claimed
            .previous_secret
            .as_deref()
            .and_then(|s| self.sealing.open(s));
        let Some(current) = current else {
            return Err("the signing secret cannot be opened (was auth.totp_key changed?)".into());
        };
        let mut secrets: Vec<&[u8]> = vec![&current];
        secrets.extend(previous.as_deref());
        let timestamp = Utc::now().timestamp();
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("Webhook-Id", &claimed.event.event_id)
            .header("Webhook-Event", &claimed.event.kind)
            .header(
                signature::HEADER,
                signature::header_value(&secrets, timestamp, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(describe)?;
        Ok(response.status().as_u16())
    }

    /// Every admin hears, in their language, that an endpoint was turned off. The target is
    /// named by its origin only: URLs often carry a secret of the receiver's in their path or
    /// query, and notifications travel further (to `notification.created` receivers too).
    async fn tell_admins(&self, claimed: &Claimed) {
        let origin = Url::parse(&claimed.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        tracing::warn!(endpoint = claimed.endpoint_id, %origin, "webhook endpoint disabled after failing too long");
        let admins = match db::users::list(&self.pool, Some(Role::Admin)).await {
            Ok(admins) => admins,
            Err(e) => return tracing::warn!(error = %e, "admins not told of a disabled webhook"),
        };
        for admin in admins {
            let note = notification::webhook_disabled(claimed.endpoint_id, &origin, admin.locale);
            if let Err(e) = db::notifications::send(&self.pool, admin.id, &note).await {
                tracing::warn!(error = %e, admin = admin.id, "admin not told of a disabled webhook");
            }
        }
    }
}

/// A send error in a line an admin can act on, with its causes (the resolver's refusal among
/// them).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
