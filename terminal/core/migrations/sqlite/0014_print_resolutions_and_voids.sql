-- Staff close what the machines could not. A suspect print is resolved once: 'printed' (the sheet came out whole:
-- the issue stands) or 'spoiled' (it did not: the sheet is spoiled paper and the case goes back to its operator to
-- be prepared again under a new 発行番号, approved again and issued again). A case is voided (取消) once, with the
-- reason and what it undoes: the fees collected for it are refunded and an issued sheet taken back is voided paper.
-- The case's own moves (issued -> draft, anything -> voided) are allowed only together with these records.
CREATE TABLE print_resolutions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL UNIQUE REFERENCES print_jobs(id),
    case_id INTEGER NOT NULL REFERENCES cases(id),
    outcome TEXT NOT NULL CHECK (outcome IN ('printed', 'spoiled')),
    reason TEXT NOT NULL,
    decided_by INTEGER NOT NULL REFERENCES users(id),
    decided_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    CHECK (outcome = 'printed' OR reason <> '')
);
CREATE INDEX print_resolutions_case ON print_resolutions(case_id);

CREATE TRIGGER print_resolutions_checked BEFORE INSERT ON print_resolutions
WHEN NOT EXISTS (SELECT 1 FROM print_jobs WHERE id = NEW.job_id AND case_id = NEW.case_id AND state = 'suspect')
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: only a suspect print job of its own case is resolved');
END;
CREATE TRIGGER print_resolutions_immutable BEFORE UPDATE ON print_resolutions
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: print resolutions are immutable');
END;
CREATE TRIGGER print_resolutions_undeletable BEFORE DELETE ON print_resolutions
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: print resolutions are immutable');
END;

CREATE TABLE case_voids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL UNIQUE REFERENCES cases(id),
    post TEXT NOT NULL CHECK (post <> ''),
    reason TEXT NOT NULL CHECK (reason <> ''),
    refund_yen INTEGER NOT NULL CHECK (refund_yen >= 0),
    voided_sheets INTEGER NOT NULL CHECK (voided_sheets >= 0),
    printer_station TEXT,
    decided_by INTEGER NOT NULL REFERENCES users(id),
    decided_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    CHECK (voided_sheets = 0 OR printer_station IS NOT NULL)
);
CREATE INDEX case_voids_decided_at ON case_voids(decided_at_us);

CREATE TRIGGER case_voids_checked BEFORE INSERT ON case_voids
WHEN NEW.refund_yen > (SELECT coalesce(sum(fee_yen), 0) FROM issuances WHERE case_id = NEW.case_id)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a refund is never more than the fees collected for the case');
END;
CREATE TRIGGER case_voids_immutable BEFORE UPDATE ON case_voids
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: voids are immutable');
END;
CREATE TRIGGER case_voids_undeletable BEFORE DELETE ON case_voids
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: voids are immutable');
END;

INSERT INTO case_transitions (from_state, to_state) VALUES ('issued', 'draft');

CREATE TRIGGER cases_prepared_again_only_after_a_spoiled_print BEFORE UPDATE OF state ON cases
WHEN OLD.state = 'issued' AND NEW.state = 'draft'
  AND NOT EXISTS (SELECT 1 FROM print_resolutions WHERE case_id = NEW.id AND outcome = 'spoiled'
                  AND audit_seq = NEW.audit_seq)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an issued case is prepared again only after its print was resolved as spoiled');
END;
CREATE TRIGGER cases_voided_with_their_record BEFORE UPDATE OF state ON cases
WHEN NEW.state = 'voided' AND OLD.state <> 'voided'
  AND NOT EXISTS (SELECT 1 FROM case_voids WHERE case_id = NEW.id AND audit_seq = NEW.audit_seq)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a case is voided only with its void record');
END;
