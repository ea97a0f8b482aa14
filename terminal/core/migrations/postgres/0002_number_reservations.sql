-- 発行番号 and 管理番号 are printed on the certificate, so they belong to the output under review: they are reserved
-- before the output is rendered, the output records its reservation, and an issuance must use exactly that number.
-- A reservation whose output is never issued stays as an accounted gap; numbers are never reused.

CREATE TABLE number_reservations (
    issue_number BIGINT PRIMARY KEY CHECK (issue_number > 0),
    control_number TEXT NOT NULL UNIQUE,
    station TEXT NOT NULL,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    reserved_at_us BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL REFERENCES audit_log(seq)
);

CREATE FUNCTION reservations_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.issue_number <= (SELECT coalesce(max(issue_number), 0) FROM number_reservations) THEN
        RAISE EXCEPTION 'madoguchi: an issue number is never reused' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER reservations_only_grow BEFORE INSERT ON number_reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_check_insert();
CREATE TRIGGER reservations_immutable BEFORE UPDATE OR DELETE ON number_reservations
    FOR EACH ROW EXECUTE FUNCTION madoguchi_refuse('reservations are immutable');

ALTER TABLE outputs ADD COLUMN issue_number BIGINT REFERENCES number_reservations(issue_number);
CREATE UNIQUE INDEX outputs_issue_number ON outputs(issue_number) WHERE issue_number IS NOT NULL;

CREATE FUNCTION outputs_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.issue_number IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM number_reservations WHERE issue_number = NEW.issue_number AND case_id = NEW.case_id) THEN
        RAISE EXCEPTION 'madoguchi: an output uses a number reserved for its own case' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER outputs_use_their_case_reservation BEFORE INSERT ON outputs
    FOR EACH ROW EXECUTE FUNCTION outputs_check_insert();

-- Issuances no longer draw numbers themselves: they carry the number printed on the approved output.
CREATE OR REPLACE FUNCTION issuances_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM approvals a JOIN cases c ON c.id = a.case_id
                   WHERE a.id = NEW.approval_id AND a.case_id = NEW.case_id AND a.output_sha256 = NEW.output_sha256
                     AND a.output_id = c.current_output_id AND c.state = 'approved') THEN
        RAISE EXCEPTION 'madoguchi: only approved bytes can be issued' USING ERRCODE = 'check_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM approvals a JOIN outputs o ON o.id = a.output_id
                   JOIN number_reservations r ON r.issue_number = o.issue_number
                   WHERE a.id = NEW.approval_id AND r.issue_number = NEW.issue_number
                     AND r.control_number = NEW.control_number) THEN
        RAISE EXCEPTION 'madoguchi: an issuance carries the numbers printed on its approved output'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
