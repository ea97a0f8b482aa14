-- Grant changes need a second admin (四つの目): a role grant is requested by one admin and takes effect only when a
-- different admin approves it. The database refuses a decision by the requester and any second decision.
CREATE TABLE grant_requests (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL CHECK (role IN ('operator', 'reviewer', 'supervisor', 'admin', 'auditor')),
    valid_until_us INTEGER,
    requested_by INTEGER NOT NULL REFERENCES users(id),
    requested_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    decision TEXT CHECK (decision IN ('approved', 'rejected')),
    decided_by INTEGER REFERENCES users(id),
    decided_at_us INTEGER,
    decision_audit_seq INTEGER REFERENCES audit_log(seq),
    CHECK ((decision IS NULL) = (decided_by IS NULL))
);
CREATE TRIGGER grant_requests_second_admin BEFORE UPDATE ON grant_requests
WHEN OLD.decision IS NOT NULL
  OR NEW.decided_by = OLD.requested_by
  OR NEW.user_id IS NOT OLD.user_id OR NEW.role IS NOT OLD.role OR NEW.valid_until_us IS NOT OLD.valid_until_us
  OR NEW.requested_by IS NOT OLD.requested_by
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a grant request is decided once, by another admin than its requester');
END;
CREATE TRIGGER grant_requests_kept BEFORE DELETE ON grant_requests
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: grant requests are kept');
END;
