-- Share links: a public, read-only view of one order behind an unguessable token. Only the
-- token's SHA-256 is stored, so a copy of the database does not open any link.
CREATE TABLE share_links (
    id          BIGSERIAL PRIMARY KEY,
    order_id    BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- An end the creator chose; the link also ends `share.ttl_days` after the order is final.
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX share_links_order ON share_links (order_id);
