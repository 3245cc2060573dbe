-- User-stream events are numbered at commit time, not when a transaction stages them.
--
-- A user's seq must commit in seq order (subscribers detect gaps by it), so taking the next one
-- locks the user's row until the commit. Taken inside the transaction, the lock was held across
-- client round trips, and every transaction touching the same user (all status changes of one
-- customer's orders) queued behind them. Staged here instead, the row is numbered, stored and
-- announced by a deferred trigger: during COMMIT, with the lock held only for that.

CREATE TABLE user_event_outbox (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    channel      TEXT NOT NULL,
    -- The event's JSON and its NOTIFY payload, each split where the seq goes.
    event_head   TEXT NOT NULL,
    event_tail   TEXT NOT NULL,
    notify_head  TEXT NOT NULL,
    notify_tail  TEXT NOT NULL
);

CREATE FUNCTION publish_user_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq BIGINT;
BEGIN
    UPDATE users SET event_seq = event_seq + 1 WHERE id = NEW.user_id
        RETURNING event_seq INTO next_seq;
    IF FOUND THEN
        INSERT INTO user_events (user_id, seq, event)
            VALUES (NEW.user_id, next_seq, NEW.event_head || next_seq || NEW.event_tail);
        PERFORM pg_notify(NEW.channel, NEW.notify_head || next_seq || NEW.notify_tail);
    END IF;
    DELETE FROM user_event_outbox WHERE id = NEW.id;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER publish_user_event
    AFTER INSERT ON user_event_outbox
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION publish_user_event();
