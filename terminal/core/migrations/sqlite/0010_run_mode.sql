-- Which kind of terminal this store belongs to: 'live' (the ward's residents through its resident system) or
-- 'training' (研修: the embedded reference resident system only, every sheet 「見本」). The first terminal that opens
-- the store sets it, with its audit row; it never changes, so a live terminal refuses a training store and a
-- training terminal refuses a live one.
CREATE TABLE run_mode (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    mode TEXT NOT NULL CHECK (mode IN ('live', 'training')),
    set_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);

CREATE TRIGGER run_mode_immutable BEFORE UPDATE ON run_mode
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a store''s run mode never changes');
END;

CREATE TRIGGER run_mode_undeletable BEFORE DELETE ON run_mode
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a store''s run mode never changes');
END;
