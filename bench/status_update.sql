-- pgbench: the transaction the server runs for one status update (db::orders::change_status),
-- on order :oid of :orders, as a same-status update with notes like the load generator sends.
\set oid random(1, :orders)
BEGIN;
SELECT user_id, status FROM orders WHERE id = :oid AND deleted_at IS NULL FOR UPDATE;
UPDATE orders SET status = status, version = version + 1, updated_at = now() WHERE id = :oid;
SELECT o.id, o.version, o.order_number, ou.locale FROM orders o JOIN users ou ON ou.id = o.user_id WHERE o.id = :oid;
INSERT INTO order_status_history (order_id, seq, from_status, status, notes, updated_by, created_at)
    SELECT id, version, status, status, 'pgbench', user_id, updated_at FROM orders WHERE id = :oid;
SELECT pg_notify('order_tracker_events', '{"topic":"order:0","seq":0}');
INSERT INTO notifications (user_id, title, message, data)
    SELECT user_id, 'Order update', 'Order is now Preparing', '{}' FROM orders WHERE id = :oid;
UPDATE users SET event_seq = event_seq + 1 WHERE id = (SELECT user_id FROM orders WHERE id = :oid) RETURNING event_seq;
INSERT INTO user_events (user_id, seq, event)
    SELECT id, event_seq, '{"type":"notification"}' FROM users WHERE id = (SELECT user_id FROM orders WHERE id = :oid);
SELECT pg_notify('order_tracker_events', '{"topic":"user:0","seq":0}');
END;
