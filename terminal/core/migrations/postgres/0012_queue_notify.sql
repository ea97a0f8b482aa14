-- Queue hints: every new or changed case and print job is announced on the channel madoguchi_queue (payload: the
-- row's id), so other terminals and the print workers re-read their queue at once instead of waiting for a poll.
-- A hint, never data: a listener that lost its connection re-reads everything after reconnecting.
CREATE FUNCTION madoguchi_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('madoguchi_queue', NEW.id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER cases_queue_notify AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION madoguchi_queue_notify();
CREATE TRIGGER print_jobs_queue_notify AFTER INSERT OR UPDATE ON print_jobs
    FOR EACH ROW EXECUTE FUNCTION madoguchi_queue_notify();
