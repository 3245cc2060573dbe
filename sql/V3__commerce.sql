-- Two-factor login, the catalogue, warehouses and their stock, carts, and orders with items.

ALTER TABLE users
    ADD COLUMN totp_secret     BYTEA,              -- nonce || ciphertext, never the plain secret
    ADD COLUMN totp_enabled    BOOLEAN NOT NULL DEFAULT false,
    -- The last accepted time step: a code is accepted once, across every process.
    ADD COLUMN totp_last_step  BIGINT,
    ADD COLUMN totp_failures   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN totp_failed_at  TIMESTAMPTZ;

CREATE TABLE products (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description  TEXT CHECK (length(description) <= 5000),
    price        NUMERIC(15, 2) NOT NULL CHECK (price >= 0),
    category     TEXT CHECK (length(category) <= 100),
    -- Deleted products stay for the orders that name them.
    deleted_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX products_name_idx ON products (lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE warehouses (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    location    TEXT CHECK (length(location) <= 1000),
    -- Checkout without a named warehouse takes the first (lowest) that can fill every line.
    priority    INTEGER NOT NULL DEFAULT 100,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE warehouse_stocks (
    id            BIGSERIAL PRIMARY KEY,
    warehouse_id  BIGINT NOT NULL REFERENCES warehouses (id) ON DELETE CASCADE,
    product_id    BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity      INTEGER NOT NULL CHECK (quantity >= 0),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (warehouse_id, product_id)
);
CREATE INDEX warehouse_stocks_product_idx ON warehouse_stocks (product_id);

CREATE TABLE carts (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'checked_out')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX carts_one_open_per_user ON carts (user_id) WHERE status = 'open';

CREATE TABLE cart_items (
    id          BIGSERIAL PRIMARY KEY,
    cart_id     BIGINT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id  BIGINT NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (cart_id, product_id)
);

ALTER TABLE orders
    ADD COLUMN warehouse_id    BIGINT REFERENCES warehouses (id) ON DELETE SET NULL,
    ADD COLUMN cart_id         BIGINT REFERENCES carts (id) ON DELETE SET NULL,
    ADD COLUMN total_amount    NUMERIC(15, 2) CHECK (total_amount >= 0),
    ADD COLUMN shipping_cost   NUMERIC(15, 2) NOT NULL DEFAULT 0 CHECK (shipping_cost >= 0),
    ADD COLUMN final_amount    NUMERIC(15, 2) CHECK (final_amount >= 0),
    -- Set when a cancellation put the items back: stock returns once, never twice.
    ADD COLUMN stock_returned  BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE order_items (
    id            BIGSERIAL PRIMARY KEY,
    order_id      BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id    BIGINT NOT NULL REFERENCES products (id),
    product_name  TEXT NOT NULL,
    unit_price    NUMERIC(15, 2) NOT NULL CHECK (unit_price >= 0),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    total_price   NUMERIC(15, 2) NOT NULL CHECK (total_price >= 0)
);
CREATE INDEX order_items_order_idx ON order_items (order_id);

-- A retried checkout with the same key and body answers with the order it created.
CREATE TABLE idempotency_keys (
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_body  TEXT NOT NULL,  -- the canonical JSON of the first request
    order_id      BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
