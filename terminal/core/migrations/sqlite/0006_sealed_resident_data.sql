-- Resident data at rest is sealed under data keys kept outside the database (terminal/core/src/datakeys.rs), so
-- contract-end erasure is crypto-shredding. This table names the keys that exist and when each was destroyed; the
-- key material is never here. The triggers refuse resident data stored in the clear.
CREATE TABLE data_keys (
    key_id TEXT PRIMARY KEY CHECK (length(key_id) = 16),
    dataset TEXT NOT NULL CHECK (dataset IN ('case_requests', 'outputs')),
    created_at_us INTEGER NOT NULL,
    destroyed_at_us INTEGER
);

CREATE TRIGGER data_keys_no_delete BEFORE DELETE ON data_keys
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: data key records are kept');
END;

CREATE TRIGGER data_keys_change_once BEFORE UPDATE ON data_keys
WHEN OLD.destroyed_at_us IS NOT NULL OR NEW.destroyed_at_us IS NULL
  OR NEW.key_id IS NOT OLD.key_id OR NEW.dataset IS NOT OLD.dataset OR NEW.created_at_us IS NOT OLD.created_at_us
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a data key record changes once, when its key is destroyed');
END;

CREATE TRIGGER cases_request_sealed BEFORE INSERT ON cases
WHEN substr(NEW.request, 1, 8) IS NOT '4d444731'
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a request is stored sealed under its data key');
END;

CREATE TRIGGER cases_request_stays_sealed BEFORE UPDATE OF request ON cases
WHEN substr(NEW.request, 1, 8) IS NOT '4d444731'
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a request is stored sealed under its data key');
END;

CREATE TRIGGER outputs_sealed BEFORE INSERT ON outputs
WHEN substr(NEW.bytes, 1, 4) IS NOT X'4D444731'
  OR (NEW.document IS NOT NULL AND substr(NEW.document, 1, 8) IS NOT '4d444731')
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an output is stored sealed under its data key');
END;
