-- Incidents a terminal raises (removable storage attached, the USB key removed, …), shown to admins and counted in
-- the ward's report; each one has its audit row. And each user's registered USB key (the second factor).
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    station TEXT NOT NULL,
    login_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
CREATE TRIGGER incidents_immutable BEFORE UPDATE ON incidents
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: incidents are immutable');
END;
CREATE TRIGGER incidents_kept BEFORE DELETE ON incidents
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: incidents are immutable');
END;

CREATE TABLE user_keys (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    vendor_id INTEGER NOT NULL CHECK (vendor_id BETWEEN 0 AND 65535),
    product_id INTEGER NOT NULL CHECK (product_id BETWEEN 0 AND 65535),
    serial TEXT NOT NULL CHECK (serial <> ''),
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq)
);
