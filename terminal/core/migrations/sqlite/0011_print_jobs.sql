-- The print queue: one job per issuance, printed by the worker of the station that owns the printer. A worker
-- claims a job ('sending', committed with its audit row before any byte leaves), then marks it 'printed', puts it
-- back ('queued') only when provably nothing was sent, or makes it 'suspect' when the outcome is unknown (bytes
-- left, the worker died mid-job). A printed or suspect job is never sent again by the queue: staff resolve a
-- suspect. Every change carries its audit row.
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issuance_id INTEGER NOT NULL UNIQUE REFERENCES issuances(id),
    case_id INTEGER NOT NULL REFERENCES cases(id),
    printer_station TEXT NOT NULL CHECK (printer_station <> ''),
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'printed', 'suspect')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    worker TEXT,
    updated_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE INDEX print_jobs_queue ON print_jobs(printer_station, state, id);

CREATE TRIGGER print_jobs_start_queued BEFORE INSERT ON print_jobs
WHEN NEW.state <> 'queued' OR NEW.attempts <> 0
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a print job starts queued');
END;

CREATE TRIGGER print_jobs_transitions BEFORE UPDATE ON print_jobs
WHEN NOT (
    (OLD.state = 'queued' AND NEW.state = 'sending' AND NEW.attempts = OLD.attempts + 1)
    OR (OLD.state = 'sending' AND NEW.state IN ('printed', 'suspect', 'queued') AND NEW.attempts = OLD.attempts)
) OR NEW.issuance_id <> OLD.issuance_id OR NEW.case_id <> OLD.case_id OR NEW.printer_station <> OLD.printer_station
    OR NEW.audit_seq <= OLD.audit_seq
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a print job moves queued -> sending -> printed or suspect, or back to queued when nothing was sent');
END;

CREATE TRIGGER print_jobs_undeletable BEFORE DELETE ON print_jobs
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: print jobs are never deleted');
END;
