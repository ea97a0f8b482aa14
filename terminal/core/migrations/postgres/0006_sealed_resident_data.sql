-- Resident data at rest is sealed under data keys kept outside the database (terminal/core/src/datakeys.rs), so
-- contract-end erasure is crypto-shredding. This table names the keys that exist and when each was destroyed; the
-- key material is never here. The constraints refuse resident data stored in the clear.
CREATE TABLE data_keys (
    key_id TEXT PRIMARY KEY CHECK (length(key_id) = 16),
    dataset TEXT NOT NULL CHECK (dataset IN ('case_requests', 'outputs')),
    created_at_us BIGINT NOT NULL,
    destroyed_at_us BIGINT
);

CREATE TRIGGER data_keys_no_delete BEFORE DELETE ON data_keys
    FOR EACH ROW EXECUTE FUNCTION madoguchi_refuse('data key records are kept');

CREATE FUNCTION data_keys_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.destroyed_at_us IS NOT NULL OR NEW.destroyed_at_us IS NULL
       OR NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.dataset IS DISTINCT FROM OLD.dataset
       OR NEW.created_at_us IS DISTINCT FROM OLD.created_at_us THEN
        RAISE EXCEPTION 'madoguchi: a data key record changes once, when its key is destroyed'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER data_keys_change_once BEFORE UPDATE ON data_keys
    FOR EACH ROW EXECUTE FUNCTION data_keys_check_update();

-- The bytes are sealed now, so the database cannot hash them; the seal's associated data binds them to the row's
-- SHA-256 instead, and the store checks the hash of what it opens.
ALTER TABLE outputs DROP CONSTRAINT outputs_hash_is_sha256_of_bytes;
ALTER TABLE outputs ADD CONSTRAINT outputs_sealed
    CHECK (substring(bytes from 1 for 4) = decode('4d444731', 'hex')
           AND (document IS NULL OR left(document, 8) = '4d444731')) NOT VALID;
ALTER TABLE cases ADD CONSTRAINT cases_request_sealed CHECK (left(request, 8) = '4d444731') NOT VALID;
