-- Two-factor setup keeps its new secret apart until a code from it is verified, so an
-- unverified setup never changes how login works.
ALTER TABLE users ADD COLUMN totp_pending_secret BYTEA;  -- nonce || ciphertext, as totp_secret

-- Revocation reaches open sockets on every process: a token version bump (log out everywhere,
-- a role or password change, two-factor switched on) or a deleted user is announced on a
-- channel of its own, on commit, whichever code path made it (the HTTP API or the command line).
CREATE FUNCTION announce_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('order_tracker_revocations', OLD.id::text || ':0');
        RETURN OLD;
    END IF;
    PERFORM pg_notify('order_tracker_revocations', NEW.id::text || ':' || NEW.token_version::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_revocation_on_version
    AFTER UPDATE OF token_version ON users
    FOR EACH ROW WHEN (OLD.token_version IS DISTINCT FROM NEW.token_version)
    EXECUTE FUNCTION announce_revocation();

CREATE TRIGGER users_revocation_on_delete
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION announce_revocation();
