-- Security paper (改ざん防止用紙) per printer station: sheets received and spoiled (書き損じ, with the reason); sheets
-- issued are the issuances' own. And the business day's close: what the records said, what staff counted, and —
-- whenever the two differ — the explanation, without which the database refuses the close. Both immutable.
CREATE TABLE paper_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL CHECK (station <> ''),
    kind TEXT NOT NULL CHECK (kind IN ('received', 'spoiled')),
    sheets INTEGER NOT NULL CHECK (sheets > 0),
    reason TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    CHECK (kind = 'received' OR reason <> '')
);
CREATE INDEX paper_movements_station ON paper_movements(station, at_us);

CREATE TABLE day_closes (
    day TEXT PRIMARY KEY CHECK (length(day) = 10),
    expected TEXT NOT NULL,
    counted TEXT NOT NULL,
    mismatch INTEGER NOT NULL CHECK (mismatch IN (0, 1)),
    explanation TEXT,
    closed_by INTEGER NOT NULL REFERENCES users(id),
    closed_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    CHECK (mismatch = 0 OR (explanation IS NOT NULL AND explanation <> ''))
);

CREATE TRIGGER paper_movements_immutable BEFORE UPDATE ON paper_movements
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: paper movements are immutable');
END;
CREATE TRIGGER paper_movements_kept BEFORE DELETE ON paper_movements
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: paper movements are immutable');
END;
CREATE TRIGGER day_closes_immutable BEFORE UPDATE ON day_closes
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a closed day stays closed');
END;
CREATE TRIGGER day_closes_kept BEFORE DELETE ON day_closes
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a closed day stays closed');
END;
