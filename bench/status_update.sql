-- pgbench: the statement the server runs for one status update (db::orders::change_status), on
-- order :oid of :orders, as a same-status update with notes like the load generator sends.
-- The server names the version it last saw; pgbench's clients share orders at random, so the
-- version is read in the statement (one more index lookup than the server makes). The owner's
-- notification event is staged in user_event_outbox; the deferred trigger numbers, stores and
-- NOTIFYs it during COMMIT, as it does for the server.
\set oid random(1, :orders)
WITH o AS (
    UPDATE orders SET status = status, version = version + 1,
           estimated_time = COALESCE(NULL, estimated_time), updated_at = now(),
           deleted_at = CASE WHEN false THEN now() ELSE deleted_at END,
           actual_ready_time = CASE WHEN status = 'ready' THEN COALESCE(actual_ready_time, now())
                                    ELSE actual_ready_time END,
           stock_returned = stock_returned OR (status = 'cancelled' AND warehouse_id IS NOT NULL)
    WHERE id = :oid AND version = (SELECT version FROM orders WHERE id = :oid) AND deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM users u WHERE u.id = orders.user_id AND u.locale = 'en')
    RETURNING *
),
h AS (
    INSERT INTO order_status_history
        (order_id, seq, from_status, status, notes, estimated_time, updated_by, created_at)
    SELECT id, version, status, status, 'pgbench', NULL, user_id, updated_at FROM o
),
owner AS (SELECT user_id FROM o),
n AS (
    INSERT INTO notifications (user_id, title, message, data, created_at)
    SELECT user_id, 'Order update', 'Order ORD-20260101-0001 is now Preparing',
           '{"order_id":1,"status":"preparing"}', now() FROM owner
    RETURNING id, user_id, title, message, data, read_at, created_at
),
e AS (
    INSERT INTO user_event_outbox
        (user_id, channel, event_head, event_tail, notify_head, notify_tail)
    SELECT user_id, 'order_tracker_events', '{"type":"notification","topic":"user:1","seq":',
           ',"id":' || COALESCE(id || ',"title":"Order update"}', ''),
           '{"type":"notification","topic":"user:1","seq":',
           ',"id":' || COALESCE(id || ',"title":"Order update"}', '')
    FROM n
),
r AS (
    INSERT INTO warehouse_stocks (warehouse_id, product_id, quantity)
    SELECT o.warehouse_id, i.product_id, sum(i.quantity)::int
    FROM o JOIN order_items i ON i.order_id = o.id
    WHERE o.status = 'cancelled' AND o.warehouse_id IS NOT NULL
    GROUP BY o.warehouse_id, i.product_id
    ON CONFLICT (warehouse_id, product_id)
    DO UPDATE SET quantity = warehouse_stocks.quantity + EXCLUDED.quantity, updated_at = now()
)
SELECT o.id, o.order_number, o.user_id, o.items, o.description, o.delivery_location,
       o.special_instructions, o.customer_phone, o.status, o.version, o.estimated_time,
       o.deleted_at, o.created_at, o.updated_at, ou.locale AS owner_locale, o.warehouse_id,
       o.total_amount, o.shipping_cost, o.final_amount, o.payment_status, o.actual_ready_time,
       ou.name AS owner_name,
       pg_notify('order_tracker_events', '{"type":"order.status","topic":"order:1","seq":0}')
FROM o JOIN users ou ON ou.id = o.user_id;
