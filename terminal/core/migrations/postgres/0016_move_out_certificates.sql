-- A paper 転出 ends in one 転出証明書: its certificate case names the 転出 case in its subject
-- ('move-out-of-case:N'), and while that certificate case stands (anything but voided) no second one can be opened.
-- A spoiled sheet is printed again on the same case under a new 発行番号, so a second case is never needed.
CREATE UNIQUE INDEX cases_one_move_out_certificate ON cases(subject)
WHERE subject LIKE 'move-out-of-case:%' AND state <> 'voided';
