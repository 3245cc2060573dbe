-- Tracking API v1: payment status, ready time, feedback, and indexes for the analytics.

ALTER TABLE orders
    ADD COLUMN payment_status     TEXT NOT NULL DEFAULT 'pending'
                                  CHECK (payment_status IN ('pending', 'confirmed', 'failed', 'refunded')),
    -- Set the first time the order becomes `ready`.
    ADD COLUMN actual_ready_time  TIMESTAMPTZ;

CREATE TABLE order_feedback (
    id                   BIGSERIAL PRIMARY KEY,
    order_id             BIGINT NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    user_id              BIGINT NOT NULL REFERENCES users (id),
    rating               SMALLINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment              TEXT CHECK (length(comment) <= 1000),
    food_quality_rating  SMALLINT CHECK (food_quality_rating BETWEEN 1 AND 5),
    service_rating       SMALLINT CHECK (service_rating BETWEEN 1 AND 5),
    delivery_rating      SMALLINT CHECK (delivery_rating BETWEEN 1 AND 5),
    is_anonymous         BOOLEAN NOT NULL DEFAULT false,
    overall_rating       NUMERIC(3, 2) NOT NULL CHECK (overall_rating BETWEEN 1 AND 5),
    is_positive          BOOLEAN NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX order_feedback_created_idx ON order_feedback (created_at);

CREATE INDEX order_status_history_created_idx ON order_status_history (created_at);
CREATE INDEX order_status_history_updated_by_idx ON order_status_history (updated_by, created_at);
CREATE INDEX orders_created_idx ON orders (created_at);
CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC);
