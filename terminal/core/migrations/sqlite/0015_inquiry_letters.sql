-- no-transaction
-- 照会書: the letter of a 印鑑登録 by 照会書 is reviewed and printed like a certificate but never issued. Its print
-- job prints the approved bytes of the letter's approval and has no issuance (no 発行番号, no fee, no security
-- paper). A 照会 is recorded as mailed only with a print of its letter that came out of the printer.
--
-- SQLite cannot drop a NOT NULL constraint: print_jobs is rebuilt the documented way (foreign keys off outside the
-- transaction; the legacy rename, so the triggers of other tables that name print_jobs are left as written), every
-- row copied, and its index and triggers made again; a foreign key check that finds anything aborts it.
PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
BEGIN IMMEDIATE;

CREATE TABLE print_jobs_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issuance_id INTEGER UNIQUE REFERENCES issuances(id),
    letter_approval_id INTEGER REFERENCES approvals(id),
    case_id INTEGER NOT NULL REFERENCES cases(id),
    printer_station TEXT NOT NULL CHECK (printer_station <> ''),
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'printed', 'suspect')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    worker TEXT,
    updated_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    CHECK ((issuance_id IS NULL) <> (letter_approval_id IS NULL))
);
INSERT INTO print_jobs_rebuilt (id, issuance_id, case_id, printer_station, state, attempts, worker, updated_at_us, audit_seq)
    SELECT id, issuance_id, case_id, printer_station, state, attempts, worker, updated_at_us, audit_seq FROM print_jobs;
DROP TABLE print_jobs;
ALTER TABLE print_jobs_rebuilt RENAME TO print_jobs;
CREATE INDEX print_jobs_queue ON print_jobs(printer_station, state, id);

CREATE TRIGGER print_jobs_start_queued BEFORE INSERT ON print_jobs
WHEN NEW.state <> 'queued' OR NEW.attempts <> 0
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a print job starts queued');
END;

CREATE TRIGGER print_jobs_letters_are_approved BEFORE INSERT ON print_jobs
WHEN NEW.letter_approval_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM approvals a JOIN outputs o ON o.id = a.output_id
    WHERE a.id = NEW.letter_approval_id AND a.case_id = NEW.case_id
      AND o.media_type = 'application/vnd.madoguchi.inquiry-letter+pdf')
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a print job without an issuance prints an approved inquiry letter of its case');
END;

CREATE TRIGGER print_jobs_transitions BEFORE UPDATE ON print_jobs
WHEN NOT (
    (OLD.state = 'queued' AND NEW.state = 'sending' AND NEW.attempts = OLD.attempts + 1)
    OR (OLD.state = 'sending' AND NEW.state IN ('printed', 'suspect', 'queued') AND NEW.attempts = OLD.attempts)
) OR NEW.issuance_id IS NOT OLD.issuance_id OR NEW.letter_approval_id IS NOT OLD.letter_approval_id
    OR NEW.case_id <> OLD.case_id OR NEW.printer_station <> OLD.printer_station OR NEW.audit_seq <= OLD.audit_seq
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a print job moves queued -> sending -> printed or suspect, or back to queued when nothing was sent');
END;

CREATE TRIGGER print_jobs_undeletable BEFORE DELETE ON print_jobs
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: print jobs are never deleted');
END;

ALTER TABLE seal_inquiries ADD COLUMN letter_job_id INTEGER REFERENCES print_jobs(id);

CREATE TRIGGER seal_inquiries_mailed_after_the_letter_printed BEFORE INSERT ON seal_inquiries
WHEN NOT EXISTS (
    SELECT 1 FROM print_jobs j LEFT JOIN print_resolutions r ON r.job_id = j.id
    WHERE j.id = NEW.letter_job_id AND j.case_id = NEW.case_id AND j.letter_approval_id IS NOT NULL
      AND (j.state = 'printed' OR r.outcome = 'printed'))
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an inquiry is recorded as mailed only after its letter came out of the printer');
END;
CREATE TRIGGER seal_inquiries_letter_kept BEFORE UPDATE OF letter_job_id ON seal_inquiries
WHEN NEW.letter_job_id IS NOT OLD.letter_job_id
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: the letter of an inquiry never changes');
END;

CREATE TEMP TABLE migration_0015_foreign_keys (violations INTEGER NOT NULL CHECK (violations = 0));
INSERT INTO migration_0015_foreign_keys SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0015_foreign_keys;

COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;
