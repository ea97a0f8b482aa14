-- madoguchi store, SQLite. The rules that must hold whatever code writes here are triggers, so raw SQL cannot
-- break them either: a chained, append-only audit log; a case state machine; approvals by another person bound to
-- the exact output bytes; issue numbers that only grow and are never reused.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    created_at_us INTEGER NOT NULL
);

CREATE TABLE grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL CHECK (role IN ('operator', 'reviewer', 'supervisor', 'admin', 'auditor')),
    valid_until_us INTEGER,
    granted_by INTEGER REFERENCES users(id),
    created_at_us INTEGER NOT NULL
);

-- The audit chain. audit_head holds the last entry; the triggers make every insert extend it.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    station TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash BLOB NOT NULL CHECK (length(entry_hash) = 32)
);

CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
  OR NEW.prev_hash IS NOT (SELECT hash FROM audit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an audit row must extend the chain head');
END;

CREATE TRIGGER audit_log_advances_head AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.entry_hash WHERE id = 1;
END;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: audit rows are append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: audit rows are append-only');
END;

CREATE TRIGGER audit_head_follows_chain BEFORE UPDATE ON audit_head
WHEN NEW.seq IS NOT OLD.seq + 1
  OR NEW.hash IS NOT (SELECT entry_hash FROM audit_log WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: the audit head only follows the chain');
END;

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: the audit head cannot be removed');
END;

-- The case state machine (kept equal to CaseState::allowed_transitions by a test).
CREATE TABLE case_transitions (
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    PRIMARY KEY (from_state, to_state)
);
INSERT INTO case_transitions (from_state, to_state) VALUES
    ('approved', 'issued'),
    ('approved', 'suspect'),
    ('approved', 'voided'),
    ('draft', 'submitted'),
    ('draft', 'voided'),
    ('issued', 'voided'),
    ('returned', 'submitted'),
    ('returned', 'voided'),
    ('submitted', 'approved'),
    ('submitted', 'returned'),
    ('submitted', 'voided'),
    ('suspect', 'issued'),
    ('suspect', 'submitted');

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    family TEXT NOT NULL CHECK (family IN ('move', 'certificate', 'seal')),
    kind TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('draft', 'submitted', 'approved', 'returned', 'issued', 'suspect', 'voided')),
    station TEXT NOT NULL,
    preparer_id INTEGER NOT NULL REFERENCES users(id),
    request TEXT NOT NULL,
    subject TEXT NOT NULL,
    current_output_id INTEGER REFERENCES outputs(id),
    return_reason TEXT,
    created_at_us INTEGER NOT NULL,
    updated_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE INDEX cases_state ON cases(state, updated_at_us);
CREATE INDEX cases_station ON cases(station, updated_at_us);

CREATE TRIGGER cases_start_as_draft BEFORE INSERT ON cases
WHEN NEW.state <> 'draft'
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.audit_seq AND subject = 'case:' || NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a case starts as an audited draft');
END;

CREATE TRIGGER cases_follow_state_machine BEFORE UPDATE OF state ON cases
WHEN NEW.state <> OLD.state
  AND NOT EXISTS (SELECT 1 FROM case_transitions WHERE from_state = OLD.state AND to_state = NEW.state)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: this case state transition is not allowed');
END;

CREATE TRIGGER cases_changes_are_audited BEFORE UPDATE ON cases
WHEN NEW.audit_seq <= OLD.audit_seq
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.audit_seq AND subject = 'case:' || NEW.id)
  OR NEW.id <> OLD.id OR NEW.preparer_id <> OLD.preparer_id OR NEW.family <> OLD.family
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: every case change needs its own audit row and keeps its identity');
END;

CREATE TRIGGER cases_submitted_with_output BEFORE UPDATE OF state ON cases
WHEN NEW.state = 'submitted'
  AND NOT EXISTS (SELECT 1 FROM outputs WHERE id = NEW.current_output_id AND case_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a case is submitted with its output');
END;

CREATE TRIGGER cases_approved_by_approval BEFORE UPDATE OF state ON cases
WHEN NEW.state = 'approved'
  AND NOT EXISTS (SELECT 1 FROM approvals WHERE case_id = NEW.id AND output_id = NEW.current_output_id
                  AND audit_seq = NEW.audit_seq)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a case is approved only by an approval of its current output');
END;

CREATE TRIGGER cases_issued_by_issuance BEFORE UPDATE OF state ON cases
WHEN NEW.state = 'issued' AND OLD.state = 'approved'
  AND NOT EXISTS (SELECT 1 FROM issuances WHERE case_id = NEW.id AND audit_seq = NEW.audit_seq)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a case is issued only with an issuance record');
END;

CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: cases are never deleted; void them');
END;

-- Outputs: the exact bytes handed to review. Immutable.
CREATE TABLE outputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    sha256 BLOB NOT NULL CHECK (length(sha256) = 32),
    media_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE INDEX outputs_case ON outputs(case_id);

CREATE TRIGGER outputs_no_update BEFORE UPDATE ON outputs
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: outputs are immutable');
END;

CREATE TRIGGER outputs_no_delete BEFORE DELETE ON outputs
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: outputs are immutable');
END;

-- Approvals: by someone other than the preparer, naming the SHA-256 of the case's current output.
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    output_id INTEGER NOT NULL REFERENCES outputs(id),
    approver_id INTEGER NOT NULL REFERENCES users(id),
    output_sha256 BLOB NOT NULL CHECK (length(output_sha256) = 32),
    decided_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE INDEX approvals_case ON approvals(case_id);

CREATE TRIGGER approvals_by_another_person BEFORE INSERT ON approvals
WHEN NEW.approver_id = (SELECT preparer_id FROM cases WHERE id = NEW.case_id)
  OR NEW.approver_id = (SELECT created_by FROM outputs WHERE id = NEW.output_id)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: the preparer cannot approve their own case');
END;

CREATE TRIGGER approvals_bound_to_output BEFORE INSERT ON approvals
WHEN NOT EXISTS (SELECT 1 FROM outputs o JOIN cases c ON c.id = o.case_id
                 WHERE o.id = NEW.output_id AND o.case_id = NEW.case_id AND o.sha256 = NEW.output_sha256
                   AND c.current_output_id = o.id AND c.state = 'submitted')
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an approval must name the exact output under review');
END;

CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: approvals are immutable');
END;

CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: approvals are immutable');
END;

-- Returns (差戻し) with a coded reason.
CREATE TABLE returns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    output_id INTEGER NOT NULL REFERENCES outputs(id),
    reviewer_id INTEGER NOT NULL REFERENCES users(id),
    reason_code TEXT NOT NULL CHECK (reason_code IN ('R01', 'R02', 'R03', 'R04', 'R05', 'R06', 'R07', 'R99')),
    decided_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);

CREATE TRIGGER returns_no_change BEFORE UPDATE ON returns
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: returns are immutable');
END;

-- Issuances: a 発行番号 that only grows, a per-station 管理番号, and the approval of the exact bytes issued.
CREATE TABLE issuances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    approval_id INTEGER NOT NULL REFERENCES approvals(id),
    issue_number INTEGER NOT NULL UNIQUE CHECK (issue_number > 0),
    control_number TEXT NOT NULL UNIQUE,
    station TEXT NOT NULL,
    output_sha256 BLOB NOT NULL CHECK (length(output_sha256) = 32),
    sheets INTEGER NOT NULL CHECK (sheets >= 1),
    copies INTEGER NOT NULL CHECK (copies >= 1),
    issued_by INTEGER NOT NULL REFERENCES users(id),
    issued_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE INDEX issuances_case ON issuances(case_id);

CREATE TRIGGER issuances_numbers_only_grow BEFORE INSERT ON issuances
WHEN NEW.issue_number <= (SELECT coalesce(max(issue_number), 0) FROM issuances)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an issue number is never reused');
END;

CREATE TRIGGER issuances_need_approval_of_bytes BEFORE INSERT ON issuances
WHEN NOT EXISTS (SELECT 1 FROM approvals a JOIN cases c ON c.id = a.case_id
                 WHERE a.id = NEW.approval_id AND a.case_id = NEW.case_id AND a.output_sha256 = NEW.output_sha256
                   AND a.output_id = c.current_output_id AND c.state = 'approved')
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: only approved bytes can be issued');
END;

CREATE TRIGGER issuances_no_update BEFORE UPDATE ON issuances
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: issuances are immutable');
END;

CREATE TRIGGER issuances_no_delete BEFORE DELETE ON issuances
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: issuances are immutable');
END;
