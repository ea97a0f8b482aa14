-- The certificate content of an output, so the reviewer's preview is laid out from exactly what was rendered; the
-- preview is shown only after re-rendering it reproduces the output's SHA-256.
ALTER TABLE outputs ADD COLUMN document TEXT;
