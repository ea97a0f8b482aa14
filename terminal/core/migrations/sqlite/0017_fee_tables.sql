-- 手数料表 kept in the store: an administrator sets the ward's fees on screen, every terminal sharing the store
-- charges by the same table, and each change is a new row with its audit row (never edited, never deleted), so
-- the fee in force at any moment can be shown to an auditor. The newest row is in force; with none, a terminal
-- charges by its configured file.
CREATE TABLE fee_tables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    table_toml TEXT NOT NULL CHECK (table_toml <> ''),
    set_by INTEGER NOT NULL REFERENCES users(id),
    set_at_us INTEGER NOT NULL,
    audit_seq INTEGER NOT NULL UNIQUE REFERENCES audit_log(seq)
);
CREATE TRIGGER fee_tables_immutable BEFORE UPDATE ON fee_tables
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: fee tables are never changed; a new table is added');
END;
CREATE TRIGGER fee_tables_undeletable BEFORE DELETE ON fee_tables
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: fee tables are never changed; a new table is added');
END;
