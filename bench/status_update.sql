-- pgbench: the transaction the server runs for one status update (db::orders::change_status),
-- on order :oid of :orders, as a same-status update with notes like the load generator sends.
-- The owner's stream event is staged in user_event_outbox; the deferred trigger numbers, stores
-- and NOTIFYs it during COMMIT, as it does for the server.
\set oid random(1, :orders)
BEGIN;
SELECT user_id, status FROM orders WHERE id = :oid AND deleted_at IS NULL FOR UPDATE;
WITH o AS (UPDATE orders SET status = status, version = version + 1, updated_at = now() WHERE id = :oid RETURNING *)
    SELECT o.id, o.version, o.order_number, ou.locale FROM o JOIN users ou ON ou.id = o.user_id;
INSERT INTO order_status_history (order_id, seq, from_status, status, notes, updated_by, created_at)
    SELECT id, version, status, status, 'pgbench', user_id, updated_at FROM orders WHERE id = :oid;
SELECT pg_notify('order_tracker_events', '{"topic":"order:0","seq":0}');
INSERT INTO notifications (user_id, title, message, data)
    SELECT user_id, 'Order update', 'Order is now Preparing', '{}' FROM orders WHERE id = :oid;
INSERT INTO user_event_outbox (user_id, channel, event_head, event_tail, notify_head, notify_tail)
    SELECT user_id, 'order_tracker_events', '{"type":"notification","seq":', '}',
           '{"topic":"user:0","seq":', '}' FROM orders WHERE id = :oid;
END;
