-- 手数料: every issuance records the fee charged under the ward's table and, when nothing is charged because the
-- request is exempt (公用 …), why; the day's cash (日計) is reconciled against these.
ALTER TABLE issuances ADD COLUMN fee_yen INTEGER NOT NULL DEFAULT 0 CHECK (fee_yen >= 0);
ALTER TABLE issuances ADD COLUMN fee_exemption TEXT;
CREATE INDEX issuances_issued_at ON issuances(issued_at_us);
