-- Dispatch: drivers assigned to orders, destinations and positions, delivery codes, and the
-- staff board's own event stream.

ALTER TABLE orders
    ADD COLUMN driver_id      BIGINT REFERENCES users (id),
    ADD COLUMN delivery_lat   DOUBLE PRECISION CHECK (delivery_lat BETWEEN -90 AND 90),
    ADD COLUMN delivery_lng   DOUBLE PRECISION CHECK (delivery_lng BETWEEN -180 AND 180),
    -- Four digits only the owner sees; gen_random_uuid draws from the strong random source,
    -- which random() does not.
    ADD COLUMN delivery_code  TEXT NOT NULL DEFAULT lpad(
                                  (('x' || substr(md5(gen_random_uuid()::text), 1, 8))::bit(32)::bigint
                                   % 10000)::text, 4, '0')
                              CHECK (delivery_code ~ '^[0-9]{4}$'),
    -- Wrong delivery codes in a row, and when the next try is allowed after too many.
    ADD COLUMN code_failures  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN code_retry_at  TIMESTAMPTZ,
    -- The last position written (at most once per dispatch.location_persist_secs), while shipped.
    ADD COLUMN location       JSONB,
    ADD CHECK ((delivery_lat IS NULL) = (delivery_lng IS NULL));
CREATE INDEX orders_driver_idx ON orders (driver_id, id) WHERE driver_id IS NOT NULL;
CREATE INDEX orders_unfinished_idx ON orders (id)
    WHERE status NOT IN ('delivered', 'cancelled') AND deleted_at IS NULL;

ALTER TABLE order_status_history
    -- 'assigned': the driver changed, the status did not.
    ADD COLUMN change               TEXT NOT NULL DEFAULT 'status'
                                    CHECK (change IN ('status', 'assigned')),
    -- The order's driver after this entry.
    ADD COLUMN driver_id            BIGINT REFERENCES users (id),
    ADD COLUMN delivery_code_used   BOOLEAN NOT NULL DEFAULT false;

-- A shipped order's positions, thinned to one per dispatch.location_persist_secs.
CREATE TABLE order_locations (
    order_id  BIGINT NOT NULL REFERENCES orders (id),
    at        TIMESTAMPTZ NOT NULL,
    lat       DOUBLE PRECISION NOT NULL,
    lng       DOUBLE PRECISION NOT NULL,
    accuracy  DOUBLE PRECISION,
    heading   DOUBLE PRECISION,
    speed     DOUBLE PRECISION,
    PRIMARY KEY (order_id, at)
);

-- The board: every order created, changed, assigned or cancelled, numbered gap-free across all
-- orders in commit order.
CREATE TABLE board_counter (
    only_row  BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    last      BIGINT NOT NULL
);
INSERT INTO board_counter (last) VALUES (0);

CREATE TABLE board_events (
    seq         BIGINT PRIMARY KEY,
    order_id    BIGINT NOT NULL,
    -- The event exactly as sockets receive it.
    event       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX board_events_created_idx ON board_events (created_at);

-- Times as the server's own JSON writes them (RFC 3339, UTC, microseconds).
CREATE FUNCTION board_time(t TIMESTAMPTZ) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- An order as a board card shows it; the snapshot and every event use this one shape.
CREATE FUNCTION board_card(order_id BIGINT) RETURNS JSON LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', o.id, 'order_number', o.order_number, 'status', o.status,
        'driver', CASE WHEN d.id IS NULL THEN NULL
                       ELSE json_build_object('id', d.id, 'name', d.name) END,
        'customer', u.name, 'delivery_location', o.delivery_location,
        'delivery_lat', o.delivery_lat, 'delivery_lng', o.delivery_lng,
        'estimated_time', board_time(o.estimated_time), 'updated_at', board_time(o.updated_at),
        'version', o.version,
        'location', CASE WHEN o.status = 'shipped' THEN o.location END)
    FROM orders o JOIN users u ON u.id = o.user_id LEFT JOIN users d ON d.id = o.driver_id
    WHERE o.id = board_card.order_id
$$;

-- Numbered at commit, as user events are (V5): the counter's row is locked from here to the end
-- of the commit, and commits that take it get consecutive numbers in their commit order. The
-- event is built before the lock is taken, so the lock covers only numbering, storing and
-- announcing it.
CREATE FUNCTION publish_board_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
    PERFORM pg_notify('order_tracker_events',
        CASE WHEN octet_length(event) <= 7900 THEN event
             ELSE json_build_object('topic', 'board', 'seq', next_seq, 'ref', true)::text END);
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER publish_board_event
    AFTER INSERT ON order_status_history
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION publish_board_event();

-- A transaction that commits a user event and a board event takes the board's lock first,
-- whichever trigger fires first: two commits never wait on each other's locks the other way
-- round.
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
        PERFORM pg_notify(NEW.channel, NEW.notify_head || next_seq || NEW.notify_tail);
    END IF;
    DELETE FROM user_event_outbox WHERE id = NEW.id;
    RETURN NULL;
END
$$;
