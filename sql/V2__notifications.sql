-- Notifications and each user's event stream (`user:{id}`), which resume with `since` replays.

-- The last seq handed out in the user's stream; bumped in the transaction that adds an event.
ALTER TABLE users ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE notifications (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    message     TEXT NOT NULL,
    data        JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    read_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_created_idx ON notifications (created_at);

-- Every event of every user stream, exactly as sockets receive it.
CREATE TABLE user_events (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    event       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX user_events_created_idx ON user_events (created_at);
