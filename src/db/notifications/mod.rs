//! Queries on `notifications` and `user_events`. Every change a user's devices should hear
//! (a new notification, notifications marked read) takes the next seq of the user's stream,
//! stores the event and NOTIFYs it inside the caller's transaction.

pub mod retention;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::named::{Named, Param};
use super::DbError;
use crate::domain::notification::NewNotification;
use crate::domain::topic::Topic;
use crate::events::{
    self, Encoded, NotificationEvent, ReadEvent, Unnumbered, UnnumberedNotification, UnreadSnapshot,
};

#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: i64,
    pub title: String,
    pub message: String,
    pub data: Map<String, Value>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl NotificationRow {
    fn from_row(row: &Row) -> Self {
        let data: Value = row.get("data");
        NotificationRow {
            id: row.get("id"),
            title: row.get("title"),
            message: row.get("message"),
            data: match data {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            read_at: row.get("read_at"),
            created_at: row.get("created_at"),
        }
    }
}

/// Stages an event of the user's stream. At commit the database takes the user's next seq
/// (locking the user row only then, so seqs are gap-free and commit in order), stores the event
/// and NOTIFYs it (`sql/V5__user_event_outbox.sql`). Nothing happens if the user is gone.
async fn append_event<C, F>(client: &C, user_id: i64, build: F) -> Result<(), DbError>
where
    C: GenericClient,
    F: FnOnce(i64) -> Encoded,
{
    let stage = client
        .prepare_cached(
            "INSERT INTO user_event_outbox
                 (user_id, channel, event_head, event_tail, notify_head, notify_tail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    let event = Unnumbered::new(build);
    client
        .execute(
            &stage,
            &[
                &user_id,
                &events::CHANNEL,
                &event.json.0,
                &event.json.1,
                &event.notify.0,
                &event.notify.1,
            ],
        )
        .await?;
    Ok(())
}

/// Two CTEs that store a notification for the `user_id` of each row of a CTE named `owner`
/// (`n`, returning the stored row) and stage its stream event (`e`), for a statement written
/// with named parameters (`super::named`); [`Staged::params`] binds theirs. The id the INSERT
/// assigns is spliced into the event here, the seq at commit.
pub const STAGE_NOTIFICATION: &str = "
    n AS (
        INSERT INTO notifications (user_id, title, message, data, created_at)
        SELECT user_id, :note_title, :note_message, :note_data, :note_created_at FROM owner
        RETURNING id, user_id, title, message, data, read_at, created_at
    ),
    e AS (
        INSERT INTO user_event_outbox
            (user_id, channel, event_head, event_tail, notify_head, notify_tail)
        SELECT user_id, :channel, :event_head::text,
               :event_middle::text || COALESCE(id || :event_tail::text, ''),
               :notify_head::text, :notify_middle::text || COALESCE(id || :notify_tail::text, '')
        FROM n
    )";

/// A notification on its way into [`STAGE_NOTIFICATION`]: its fields and its event, encoded
/// once with placeholders for the id and seq.
pub struct Staged {
    title: String,
    message: String,
    data: Value,
    created_at: DateTime<Utc>,
    event: UnnumberedNotification,
}

impl Staged {
    /// `created_at` comes from [`super::now`], so the event carries the stored time exactly.
    pub fn new(user_id: i64, new: &NewNotification, created_at: DateTime<Utc>) -> Self {
        let event = UnnumberedNotification::new(|seq, id| {
            events::encode_user_event(
                user_id,
                seq,
                &NotificationEvent {
                    kind: events::NOTIFICATION,
                    topic: Topic::User(user_id),
                    seq,
                    id,
                    title: &new.title,
                    message: &new.message,
                    data: &new.data,
                    created_at,
                },
            )
        });
        Staged {
            title: new.title.clone(),
            message: new.message.clone(),
            data: Value::Object(new.data.clone()),
            created_at,
            event,
        }
    }

    /// The parameters of [`STAGE_NOTIFICATION`], by name.
    pub fn params(&self) -> [Param<'_>; 11] {
        let (json, notify) = (&self.event.json, &self.event.notify);
        [
            ("note_title", &self.title),
            ("note_message", &self.message),
            ("note_data", &self.data),
            ("note_created_at", &self.created_at),
            ("channel", &events::CHANNEL),
            ("event_head", &json.0),
            ("event_middle", &json.1),
            ("event_tail", &json.2),
            ("notify_head", &notify.0),
            ("notify_middle", &notify.1),
            ("notify_tail", &notify.2),
        ]
    }
}

static SEND: LazyLock<Named> = LazyLock::new(|| {
    Named::new(&format!(
        "WITH owner AS (SELECT id AS user_id FROM users WHERE id = :user_id), {STAGE_NOTIFICATION}
         SELECT id, title, message, data, read_at, created_at FROM n"
    ))
});

/// `POST /notifications/send`: the notification and its staged event in one statement.
/// `None` if the user does not exist.
pub async fn send(
    pool: &Pool,
    user_id: i64,
    new: &NewNotification,
) -> Result<Option<NotificationRow>, DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(SEND.sql()).await?;
    let staged = Staged::new(user_id, new, super::now());
    let mut params = staged.params().to_vec();
    params.push(("user_id", &user_id));
    let row = client.query_opt(&stmt, &SEND.bind(&params)?).await?;
    Ok(row.as_ref().map(NotificationRow::from_row))
}

/// What to mark read: one notification or all of them.
#[derive(Debug, Clone, Copy)]
pub enum MarkRead {
    One(i64),
    All,
}

/// Marks notifications read and tells the user's devices. `None` when `One` names a
/// notification that is not the user's; otherwise how many changed state.
pub async fn mark_read(
    pool: &Pool,
    user_id: i64,
    what: MarkRead,
) -> Result<Option<usize>, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (ids, all) = match what {
        MarkRead::One(id) => {
            let exists = tx
                .prepare_cached("SELECT read_at IS NULL AS unread FROM notifications WHERE id = $1 AND user_id = $2")
                .await?;
            let Some(row) = tx.query_opt(&exists, &[&id, &user_id]).await? else {
                return Ok(None);
            };
            let ids = if row.get("unread") {
                vec![id]
            } else {
                Vec::new()
            };
            (ids, false)
        }
        MarkRead::All => (Vec::new(), true),
    };
    let update = tx
        .prepare_cached(
            "UPDATE notifications SET read_at = now()
             WHERE user_id = $1 AND read_at IS NULL AND ($2 OR id = ANY($3)) RETURNING id",
        )
        .await?;
    let changed = tx.query(&update, &[&user_id, &all, &ids]).await?.len();
    if changed > 0 {
        let unread = unread_count_with(&tx, user_id).await?;
        append_event(&tx, user_id, |seq| {
            events::encode_user_event(
                user_id,
                seq,
                &ReadEvent {
                    kind: events::NOTIFICATION_READ,
                    topic: Topic::User(user_id),
                    seq,
                    ids: &ids,
                    all,
                    unread,
                },
            )
        })
        .await?;
    }
    tx.commit().await?;
    Ok(Some(changed))
}

pub async fn unread_count(pool: &Pool, user_id: i64) -> Result<i64, DbError> {
    let client = pool.get().await?;
    unread_count_with(&client, user_id).await
}

async fn unread_count_with<C: GenericClient>(client: &C, user_id: i64) -> Result<i64, DbError> {
    let stmt = client
        .prepare_cached("SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
        .await?;
    Ok(client.query_one(&stmt, &[&user_id]).await?.get(0))
}

/// Filters for listing a user's notifications.
#[derive(Debug, Clone, Copy)]
pub struct ListFilter {
    pub unread_only: bool,
    pub since_id: Option<i64>,
}

/// A page of the user's notifications, newest first, and the total matching.
pub async fn list(
    pool: &Pool,
    user_id: i64,
    filter: ListFilter,
    window: super::Window,
) -> Result<(Vec<NotificationRow>, i64), DbError> {
    let client = pool.get().await?;
    let condition =
        "user_id = $1 AND (NOT $2 OR read_at IS NULL) AND ($3::bigint IS NULL OR id > $3)";
    let page = client
        .prepare_cached(&format!(
            "SELECT id, title, message, data, read_at, created_at FROM notifications
             WHERE {condition} ORDER BY id DESC LIMIT $4 OFFSET $5"
        ))
        .await?;
    let count = client
        .prepare_cached(&format!(
            "SELECT count(*) FROM notifications WHERE {condition}"
        ))
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
        [&user_id, &filter.unread_only, &filter.since_id];
    let (rows, total) = super::paged(&client, &page, &count, &params, window).await?;
    Ok((rows.iter().map(NotificationRow::from_row).collect(), total))
}

/// Stored events of the user's stream after `after_seq`, in order.
pub async fn events_after(
    pool: &Pool,
    user_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Encoded>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT seq, event FROM user_events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
        .await?;
    let rows = client.query(&stmt, &[&user_id, &after_seq, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| Encoded::stored(Topic::User(user_id), row.get("seq"), row.get("event")))
        .collect())
}

/// Where the user's stream is and how many notifications are unread, for a new subscriber.
pub async fn snapshot(pool: &Pool, user_id: i64) -> Result<Option<Encoded>, DbError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT u.event_seq,
                    (SELECT count(*) FROM notifications n WHERE n.user_id = u.id AND n.read_at IS NULL) AS unread
             FROM users u WHERE u.id = $1",
        )
        .await?;
    Ok(client.query_opt(&stmt, &[&user_id]).await?.map(|row| {
        let seq: i64 = row.get("event_seq");
        events::encode_user_event(
            user_id,
            seq,
            &UnreadSnapshot {
                kind: events::NOTIFICATION_UNREAD,
                topic: Topic::User(user_id),
                seq,
                unread: row.get("unread"),
            },
        )
    }))
}

/// Deletes notifications and stream events older than `days`; answers how many notifications.
pub async fn purge_older_than(pool: &Pool, days: u32) -> Result<u64, DbError> {
    let client = pool.get().await?;
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let notifications = client
        .execute(
            "DELETE FROM notifications WHERE created_at < now() - make_interval(days => $1)",
            &[&days],
        )
        .await?;
    // The event streams that replay them go with them; the board's too, which is as old.
    for stream in ["user_events", "board_events"] {
        client
            .execute(
                &format!(
                    "DELETE FROM {stream} WHERE created_at < now() - make_interval(days => $1)"
                ),
                &[&days],
            )
            .await?;
    }
    // Webhook events whose deliveries are all finished go too, with their deliveries and log;
    // one still queued (its endpoint disabled, say) is kept until it is sent or given up.
    client
        .execute(
            "DELETE FROM webhook_events e
             WHERE e.created_at < now() - make_interval(days => $1)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                               WHERE d.event_id = e.id AND d.state = 'pending')",
            &[&days],
        )
        .await?;
    Ok(notifications)
}
