-- Webhooks: endpoints admins register, the events they hear, and one delivery per endpoint and
-- event, all written by triggers in the transaction of the change that caused them, so every
-- way of changing an order (on any process) feeds them and a crash after commit loses nothing.

CREATE TABLE webhook_endpoints (
    id                     BIGSERIAL PRIMARY KEY,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    events                 TEXT[] NOT NULL,
    enabled                BOOLEAN NOT NULL DEFAULT true,
    -- Why it is disabled: 'admin' or 'failing' (turned off after failing for too long).
    disabled_reason        TEXT,
    -- Signing secrets, sealed with the server's key (`auth.totp_key`). The previous one still
    -- signs until `previous_secret_until`, so receivers can roll over without losing events.
    secret                 BYTEA NOT NULL,
    previous_secret        BYTEA,
    previous_secret_until  TIMESTAMPTZ,
    -- Set at the first failure after a success, cleared by the next success.
    failing_since          TIMESTAMPTZ,
    created_by             BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One event an outside system hears. It points at the stream event it reports (`topic`, `seq`);
-- its body is built from the stored rows at the first attempt and kept, so every retry sends
-- the same bytes. Ids are taken at commit under the board's lock (V9), so they follow commit
-- order across all processes.
CREATE TABLE webhook_events (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    type        TEXT NOT NULL,
    topic       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    body        TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_created_idx ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    endpoint_id      BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A process sending it holds it until `leased_until`; `lease` names that holder, so a late
    -- answer from a holder whose lease ran out changes nothing.
    lease            UUID,
    leased_until     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ
);
-- An endpoint's queue: its oldest pending delivery is the only one that may be sent.
CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (endpoint_id, id)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      INT NOT NULL,
    status_code  INT,
    duration_ms  INT NOT NULL,
    error        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);

-- Stores the events of the given types that some enabled endpoint listens to, with one delivery
-- per such endpoint. Runs during COMMIT: the board's counter is locked first (whichever
-- publishing trigger fired before took it already), so ids are handed out in commit order.
CREATE FUNCTION stage_webhook_events(kinds TEXT[], topic TEXT, seq BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM board_counter FOR UPDATE;
    WITH e AS (
        INSERT INTO webhook_events (type, topic, seq)
        SELECT k, stage_webhook_events.topic, stage_webhook_events.seq
        FROM unnest(kinds) WITH ORDINALITY AS t(k, n)
        WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.enabled AND k = ANY (w.events))
        ORDER BY n
        RETURNING id, type
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id)
    SELECT w.id, e.id FROM e JOIN webhook_endpoints w ON w.enabled AND e.type = ANY (w.events)
    ORDER BY e.id, w.id;
END
$$;

-- An order's history row: created (and, bought from stock, checkout completed), assigned, or a
-- status change (and, for the final ones, cancelled or delivered).
CREATE FUNCTION webhook_order_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kinds TEXT[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN
        RETURN NULL;
    END IF;
    IF NEW.seq = 1 THEN
        kinds := ARRAY['order.created'];
        IF EXISTS (SELECT 1 FROM orders WHERE id = NEW.order_id AND warehouse_id IS NOT NULL) THEN
            kinds := kinds || 'checkout.completed'::text;
        END IF;
    ELSIF NEW.change = 'assigned' THEN
        kinds := ARRAY['order.assigned'];
    ELSE
        kinds := ARRAY['order.status_changed'];
        IF NEW.status = 'cancelled' THEN
            kinds := kinds || 'order.cancelled'::text;
        ELSIF NEW.status = 'delivered' THEN
            kinds := kinds || 'order.delivered'::text;
        END IF;
    END IF;
    PERFORM stage_webhook_events(kinds, 'order:' || NEW.order_id, NEW.seq);
    RETURN NULL;
END
$$;

-- Named to fire after publish_board_event (triggers on one event fire in name order), which
-- builds its event before it takes the counter's lock.
CREATE CONSTRAINT TRIGGER stage_webhook_order_event
    AFTER INSERT ON order_status_history
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_order_event();

-- A user's new notification, numbered in their stream (user events are written during COMMIT
-- by publish_user_event, V5/V9).
CREATE FUNCTION webhook_user_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints
               WHERE enabled AND 'notification.created' = ANY (events))
       AND NEW.event::json ->> 'type' = 'notification' THEN
        PERFORM stage_webhook_events(ARRAY['notification.created'], 'user:' || NEW.user_id,
                                     NEW.seq);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER stage_webhook_user_event
    AFTER INSERT ON user_events
    FOR EACH ROW EXECUTE FUNCTION webhook_user_event();
