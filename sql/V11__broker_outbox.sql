-- Every announcement (a committed event, a driver's position, a revoked session or link) goes
-- out through `announce`, so the broker a deployment runs decides how, in one place:
--
-- - `postgres` (the default): NOTIFY, delivered by PostgreSQL at commit, in commit order.
-- - `nats`: a row in `broker_outbox`, written in the announcing transaction and published by
--   the relay after commit (`src/realtime/nats/relay.rs`), so nothing takes NOTIFY's
--   cluster-wide lock at commit and nothing committed is lost if a process dies before it
--   publishes.
--
-- The server says which on each of its connections (`order_tracker.broker`, set from
-- `broker.kind`); a session that does not say, such as psql, NOTIFYs. Hand-written SQL against
-- a NATS deployment sets it first: `SET order_tracker.broker = 'nats'`.
--
-- Per topic the outbox's ids follow commit order: every announcement of a topic is made while
-- its transaction holds the lock that numbers the topic (the order's row, a user's row, the
-- board's counter), so the next one can take its id only after the previous one committed.

CREATE TABLE broker_outbox (
    id       BIGSERIAL PRIMARY KEY,
    channel  TEXT NOT NULL,
    payload  TEXT NOT NULL
);

CREATE FUNCTION announce(channel TEXT, payload TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('order_tracker.broker', true) = 'nats' THEN
        INSERT INTO broker_outbox (channel, payload)
            VALUES (announce.channel, announce.payload);
        -- A position is transient (the next comes a second later): its transaction need not
        -- wait for the disk, as a NOTIFY, which writes nothing, never did.
        IF announce.channel = 'order_tracker_positions' THEN
            PERFORM set_config('synchronous_commit', 'off', true);
        END IF;
    ELSE
        PERFORM pg_notify(announce.channel, announce.payload);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION announce_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM announce('order_tracker_revocations', OLD.id::text || ':0');
        RETURN OLD;
    END IF;
    PERFORM announce('order_tracker_revocations', NEW.id::text || ':' || NEW.token_version::text);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION announce_share_link_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM announce('order_tracker_revocations', 'link:' || OLD.id::text);
        RETURN OLD;
    END IF;
    PERFORM announce('order_tracker_revocations', 'link:' || NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION publish_user_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq BIGINT;
BEGIN
    PERFORM 1 FROM board_counter FOR UPDATE;
    UPDATE users SET event_seq = event_seq + 1 WHERE id = NEW.user_id
        RETURNING event_seq INTO next_seq;
    IF FOUND THEN
        INSERT INTO user_events (user_id, seq, event)
            VALUES (NEW.user_id, next_seq, NEW.event_head || next_seq || NEW.event_tail);
        PERFORM announce(NEW.channel, NEW.notify_head || next_seq || NEW.notify_tail);
    END IF;
    DELETE FROM user_event_outbox WHERE id = NEW.id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION publish_board_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous  BIGINT;
    tail      TEXT;
    next_seq  BIGINT;
    event     TEXT;
BEGIN
    SELECT h.driver_id INTO previous FROM order_status_history h
        WHERE h.order_id = NEW.order_id AND h.seq = NEW.seq - 1;
    tail := ',"change":' || to_json(CASE WHEN NEW.seq = 1 THEN 'created'
                                         WHEN NEW.change = 'assigned' THEN 'assigned'
                                         WHEN NEW.status = 'cancelled' THEN 'cancelled'
                                         ELSE 'status' END)::text
         || ',"previous_driver_id":' || COALESCE(previous::text, 'null')
         || ',"order":' || board_card(NEW.order_id)::text || '}';
    UPDATE board_counter SET last = last + 1 RETURNING last INTO next_seq;
    event := '{"type":"board.order","topic":"board","seq":' || next_seq || tail;
    INSERT INTO board_events (seq, order_id, event) VALUES (next_seq, NEW.order_id, event);
    PERFORM announce('order_tracker_events',
        CASE WHEN octet_length(event) <= 7900 THEN event
             ELSE json_build_object('topic', 'board', 'seq', next_seq, 'ref', true)::text END);
    RETURN NULL;
END
$$;
