-- Accounts, orders and the status history that is every order's event stream.

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    email          TEXT CHECK (length(email) <= 254),
    username       TEXT CHECK (length(username) <= 50),
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'driver', 'admin')),
    locale         TEXT NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'id')),
    -- Bumped by a password or role change: every token carrying an older version stops working.
    token_version  INTEGER NOT NULL DEFAULT 1,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (email IS NOT NULL OR username IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE username IS NOT NULL;

-- One row a day hands out the running number in ORD-YYYYMMDD-NNNN.
CREATE TABLE order_number_counters (
    day   DATE PRIMARY KEY,
    last  INTEGER NOT NULL
);

CREATE TABLE orders (
    id                    BIGSERIAL PRIMARY KEY,
    order_number          TEXT NOT NULL UNIQUE,
    user_id               BIGINT NOT NULL REFERENCES users (id),
    items                 TEXT,
    description           TEXT,
    delivery_location     TEXT,
    special_instructions  TEXT,
    customer_phone        TEXT,
    status                TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                            ('pending', 'confirmed', 'preparing', 'ready', 'shipped',
                             'delivered', 'cancelled')),
    -- The seq of the order's event stream: 1 at creation, +1 on every status change.
    version               INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    estimated_time        TIMESTAMPTZ,
    deleted_at            TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id, id DESC);
CREATE INDEX orders_status_idx ON orders (status, id DESC);

CREATE TABLE order_status_history (
    id              BIGSERIAL PRIMARY KEY,
    order_id        BIGINT NOT NULL REFERENCES orders (id),
    seq             INTEGER NOT NULL,
    from_status     TEXT,
    status          TEXT NOT NULL,
    notes           TEXT,
    estimated_time  TIMESTAMPTZ,
    updated_by      BIGINT REFERENCES users (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Gap-free, strictly increasing per order: resume with `since` relies on it.
    UNIQUE (order_id, seq)
);
