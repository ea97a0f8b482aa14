-- 照会書: the letter of a 印鑑登録 by 照会書 is reviewed and printed like a certificate but never issued. Its print
-- job prints the approved bytes of the letter's approval and has no issuance (no 発行番号, no fee, no security
-- paper). A 照会 is recorded as mailed only with a print of its letter that came out of the printer.
ALTER TABLE print_jobs ALTER COLUMN issuance_id DROP NOT NULL;
ALTER TABLE print_jobs ADD COLUMN letter_approval_id BIGINT REFERENCES approvals(id);
ALTER TABLE print_jobs ADD CONSTRAINT print_jobs_print_one_thing
    CHECK ((issuance_id IS NULL) <> (letter_approval_id IS NULL));

CREATE OR REPLACE FUNCTION madoguchi_print_job_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'queued' OR NEW.attempts <> 0 THEN
            RAISE EXCEPTION 'madoguchi: a print job starts queued';
        END IF;
        IF NEW.letter_approval_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM approvals a JOIN outputs o ON o.id = a.output_id
            WHERE a.id = NEW.letter_approval_id AND a.case_id = NEW.case_id
              AND o.media_type = 'application/vnd.madoguchi.inquiry-letter+pdf'
        ) THEN
            RAISE EXCEPTION 'madoguchi: a print job without an issuance prints an approved inquiry letter of its case';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'madoguchi: print jobs are never deleted';
    END IF;
    IF NOT (
        (OLD.state = 'queued' AND NEW.state = 'sending' AND NEW.attempts = OLD.attempts + 1)
        OR (OLD.state = 'sending' AND NEW.state IN ('printed', 'suspect', 'queued') AND NEW.attempts = OLD.attempts)
    ) OR NEW.issuance_id IS DISTINCT FROM OLD.issuance_id
        OR NEW.letter_approval_id IS DISTINCT FROM OLD.letter_approval_id OR NEW.case_id <> OLD.case_id
        OR NEW.printer_station <> OLD.printer_station OR NEW.audit_seq <= OLD.audit_seq THEN
        RAISE EXCEPTION 'madoguchi: a print job moves queued -> sending -> printed or suspect, or back to queued when nothing was sent';
    END IF;
    RETURN NEW;
END $$;

ALTER TABLE seal_inquiries ADD COLUMN letter_job_id BIGINT REFERENCES print_jobs(id);

CREATE FUNCTION madoguchi_inquiry_letter_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NOT EXISTS (
        SELECT 1 FROM print_jobs j LEFT JOIN print_resolutions r ON r.job_id = j.id
        WHERE j.id = NEW.letter_job_id AND j.case_id = NEW.case_id AND j.letter_approval_id IS NOT NULL
          AND (j.state = 'printed' OR r.outcome = 'printed')
    ) THEN
        RAISE EXCEPTION 'madoguchi: an inquiry is recorded as mailed only after its letter came out of the printer';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.letter_job_id IS DISTINCT FROM OLD.letter_job_id THEN
        RAISE EXCEPTION 'madoguchi: the letter of an inquiry never changes';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER seal_inquiries_letter BEFORE INSERT OR UPDATE ON seal_inquiries
    FOR EACH ROW EXECUTE FUNCTION madoguchi_inquiry_letter_rules();
