-- A share link revoked (by its owner, by staff, or with its deleted order) or removed is
-- announced on commit, so every server process closes the link's live viewers at once.
CREATE FUNCTION announce_share_link_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('order_tracker_revocations', 'link:' || OLD.id::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('order_tracker_revocations', 'link:' || NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER share_links_revoked
    AFTER UPDATE OF revoked_at ON share_links
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION announce_share_link_revocation();

CREATE TRIGGER share_links_removed
    AFTER DELETE ON share_links
    FOR EACH ROW
    EXECUTE FUNCTION announce_share_link_revocation();
