-- The outbox to the resident system: an approved 異動 entry is written here in the approval's own transaction, and
-- a sender commits it to the resident system afterwards, with the case's idempotency key so that a resend (after a
-- lost reply or a dead sender) changes nothing there. 'sending' is a lease: a sender that dies leaves the entry to
-- be taken again once next_attempt_at_us has passed. An unreachable resident system defers the entry ('pending'
-- again, attempts kept, next try later); a refusal ('rejected') waits for staff and is never resent; 'committed'
-- holds the resident system's receipt. Every change carries its audit row; rows are never deleted.
CREATE TABLE resident_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL UNIQUE REFERENCES cases(id),
    approval_id INTEGER NOT NULL UNIQUE REFERENCES approvals(id),
    kind TEXT NOT NULL CHECK (kind IN ('move')),
    idempotency_key TEXT NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    output_sha256 BLOB NOT NULL CHECK (length(output_sha256) = 32),
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'committed', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_us INTEGER NOT NULL,
    sender TEXT,
    last_error TEXT,
    last_error_ja TEXT,
    receipt TEXT,
    updated_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE INDEX resident_outbox_due ON resident_outbox(state, next_attempt_at_us, id);

CREATE TRIGGER resident_outbox_starts_pending BEFORE INSERT ON resident_outbox
WHEN NEW.state <> 'pending' OR NEW.attempts <> 0 OR NEW.receipt IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an outbox entry starts pending');
END;

CREATE TRIGGER resident_outbox_transitions BEFORE UPDATE ON resident_outbox
WHEN NOT (
    (OLD.state IN ('pending', 'sending') AND NEW.state = 'sending' AND NEW.attempts = OLD.attempts + 1)
    OR (OLD.state = 'sending' AND NEW.state IN ('pending', 'committed', 'rejected') AND NEW.attempts = OLD.attempts)
) OR (NEW.state = 'committed') <> (NEW.receipt IS NOT NULL)
    OR NEW.case_id <> OLD.case_id OR NEW.approval_id <> OLD.approval_id OR NEW.kind <> OLD.kind
    OR NEW.idempotency_key <> OLD.idempotency_key OR NEW.output_sha256 <> OLD.output_sha256
    OR NEW.audit_seq <= OLD.audit_seq
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an outbox entry moves pending -> sending -> committed, rejected or pending again');
END;

CREATE TRIGGER resident_outbox_undeletable BEFORE DELETE ON resident_outbox
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: outbox entries are never deleted');
END;
