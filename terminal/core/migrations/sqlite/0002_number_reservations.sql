-- 発行番号 and 管理番号 are printed on the certificate, so they belong to the output under review: they are reserved
-- before the output is rendered, the output records its reservation, and an issuance must use exactly that number.
-- A reservation whose output is never issued stays as an accounted gap; numbers are never reused.

CREATE TABLE number_reservations (
    issue_number INTEGER PRIMARY KEY CHECK (issue_number > 0),
    control_number TEXT NOT NULL UNIQUE,
    station TEXT NOT NULL,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    reserved_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);

CREATE TRIGGER reservations_only_grow BEFORE INSERT ON number_reservations
WHEN NEW.issue_number <= (SELECT coalesce(max(issue_number), 0) FROM number_reservations)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an issue number is never reused');
END;

CREATE TRIGGER reservations_no_update BEFORE UPDATE ON number_reservations
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: reservations are immutable');
END;

CREATE TRIGGER reservations_no_delete BEFORE DELETE ON number_reservations
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: reservations are immutable');
END;

ALTER TABLE outputs ADD COLUMN issue_number INTEGER REFERENCES number_reservations(issue_number);
CREATE UNIQUE INDEX outputs_issue_number ON outputs(issue_number) WHERE issue_number IS NOT NULL;

CREATE TRIGGER outputs_use_their_case_reservation BEFORE INSERT ON outputs
WHEN NEW.issue_number IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM number_reservations WHERE issue_number = NEW.issue_number AND case_id = NEW.case_id)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an output uses a number reserved for its own case');
END;

-- Issuances no longer draw numbers themselves: they carry the number printed on the approved output.
DROP TRIGGER issuances_numbers_only_grow;

CREATE TRIGGER issuances_carry_the_printed_number BEFORE INSERT ON issuances
WHEN NOT EXISTS (SELECT 1 FROM approvals a JOIN outputs o ON o.id = a.output_id
                 JOIN number_reservations r ON r.issue_number = o.issue_number
                 WHERE a.id = NEW.approval_id AND r.issue_number = NEW.issue_number
                   AND r.control_number = NEW.control_number)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an issuance carries the numbers printed on its approved output');
END;
