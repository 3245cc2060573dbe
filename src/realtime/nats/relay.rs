//! The relay: publishes committed announcements from the outbox (`broker_outbox`,
//! `sql/V11__broker_outbox.sql`) to NATS, then deletes them.
//!
//! One relay works at a time, whichever process holds the database's advisory lock; the
//! others stand by and one takes over within a second of the holder's connection ending (its
//! process stopped or was killed). Rows are read in id order, which per topic is commit order,
//! and deleted only after the client has written them to the server, so a relay that dies in
//! between leaves them to be published again (subscribers take each seq once). While NATS is
//! unreachable nothing is deleted and the outbox grows; it drains when NATS is back.

use std::convert::Infallible;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::Client;
use tokio_postgres::NoTls;

use super::seal::Seal;
use super::subjects::Subjects;
use crate::config::BrokerSettings;
use crate::realtime::announcement::Channel;

/// The advisory lock whose holder relays (any number that other code does not use).
const RELAY_LOCK: i64 = 0x006f_7472_656c_6179; // "otrelay" in ASCII
/// How often a standing-by relay asks for the lock.
const STANDBY: Duration = Duration::from_secs(1);
/// The longest wait before connecting to the database again.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How long handing a round to the NATS client may take; longer means the server is
/// unreachable, and the round is tried again.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Relay {
    pg_config: tokio_postgres::Config,
    client: Client,
    subjects: Subjects,
    seal: Seal,
    poll: Duration,
    batch: i64,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

impl Relay {
    pub fn new(
        pg_config: tokio_postgres::Config,
        client: Client,
        subjects: Subjects,
        seal: Seal,
        settings: &BrokerSettings,
    ) -> Self {
        Relay {
            pg_config,
            client,
            subjects,
            seal,
            poll: Duration::from_millis(settings.relay_poll_ms),
            batch: settings.relay_batch,
        }
    }

    /// Relays while this process holds the lock, stands by otherwise; never returns.
    pub async fn run(self) {
        let mut retry = STANDBY;
        loop {
            match self.pg_config.connect(NoTls).await {
                Ok((db, connection)) => {
                    // The database answered: a later failure backs off afresh.
                    retry = STANDBY;
                    let driver = tokio::spawn(connection);
                    let Err(e) = self.lead(&db).await;
                    // Ending the connection releases the lock for the next relay.
                    drop(db);
                    driver.abort();
                    tracing::warn!(error = %e, "relay lost its database connection");
                }
                Err(e) => tracing::warn!(error = %e, "relay cannot reach the database"),
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_RETRY);
        }
    }

    /// Waits for the lock, then relays until the connection fails: returns only its error.
    async fn lead(&self, db: &tokio_postgres::Client) -> Result<Infallible, RelayError> {
        let try_lock = db.prepare("SELECT pg_try_advisory_lock($1)").await?;
        while !db
            .query_one(&try_lock, &[&RELAY_LOCK])
            .await?
            .get::<_, bool>(0)
        {
            tokio::time::sleep(STANDBY).await;
        }
        tracing::info!("this process relays announcements to NATS");
        // A delete lost in a crash only means those rows are published again (subscribers
        // take each seq once), so the relay's commits need not wait for the disk.
        db.batch_execute("SET synchronous_commit = off").await?;
        let take = db
            .prepare("SELECT id, channel, payload FROM broker_outbox ORDER BY id LIMIT $1")
            .await?;
        let done = db
            .prepare("DELETE FROM broker_outbox WHERE id = ANY($1)")
            .await?;
        loop {
            if self.client.connection_state() != State::Connected {
                tokio::time::sleep(self.poll).await;
                continue;
            }
            let rows = db.query(&take, &[&self.batch]).await?;
            if rows.is_empty() {
                tokio::time::sleep(self.poll).await;
                continue;
            }
            let mut published = Vec::with_capacity(rows.len());
            let round = async {
                for row in &rows {
                    let (id, channel, payload): (i64, &str, &str) =
                        (row.get(0), row.get(1), row.get(2));
                    let subject = Channel::named(channel)
                        .and_then(|c| self.subjects.of_announcement(c, payload));
                    match subject {
                        Some(subject) => {
                            let headers = self.seal.headers(&subject, payload.as_bytes());
                            let body = bytes::Bytes::copy_from_slice(payload.as_bytes());
                            self.client
                                .publish_with_headers(subject, headers, body)
                                .await?;
                        }
                        None => tracing::warn!(channel, payload, "unreadable announcement dropped"),
                    }
                    published.push(id);
                }
                self.client.flush().await?;
                Ok::<(), async_nats::Error>(())
            };
            match tokio::time::timeout(PUBLISH_TIMEOUT, round).await {
                Ok(Ok(())) => {
                    db.execute(&done, &[&published]).await?;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "publishing to NATS failed; retrying");
                    // A server that refuses at once would otherwise be asked again at once.
                    tokio::time::sleep(self.poll).await;
                }
                Err(_) => tracing::warn!("publishing to NATS timed out; retrying"),
            }
        }
    }
}
