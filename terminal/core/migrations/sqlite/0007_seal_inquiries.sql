-- 印鑑登録 by 照会書・回答書: the ward mails a 照会書 and the applicant brings the 回答書 back by the deadline set by
-- the ward's ordinance. Dates are the ward's calendar days (YYYY-MM-DD, Asia/Tokyo); the deadline is the last day
-- on which a 回答書 is accepted. The database refuses an acceptance after it and any second decision.
CREATE TABLE seal_inquiries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL UNIQUE REFERENCES cases(id),
    sent_on TEXT NOT NULL CHECK (length(sent_on) = 10),
    deadline TEXT NOT NULL CHECK (length(deadline) = 10 AND deadline >= sent_on),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'answered', 'expired')),
    decided_on TEXT CHECK (decided_on IS NULL OR length(decided_on) = 10),
    audit_seq INTEGER NOT NULL REFERENCES audit_log(seq),
    decision_audit_seq INTEGER REFERENCES audit_log(seq)
);

CREATE TRIGGER seal_inquiries_start_pending BEFORE INSERT ON seal_inquiries
WHEN NEW.state <> 'pending' OR NEW.decided_on IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: an inquiry starts pending');
END;

CREATE TRIGGER seal_inquiries_decided_once BEFORE UPDATE ON seal_inquiries
WHEN OLD.state <> 'pending' OR NEW.state = 'pending' OR NEW.decided_on IS NULL OR NEW.decision_audit_seq IS NULL
  OR NEW.case_id IS NOT OLD.case_id OR NEW.sent_on IS NOT OLD.sent_on OR NEW.deadline IS NOT OLD.deadline
  OR (NEW.state = 'answered' AND NEW.decided_on > OLD.deadline)
  OR (NEW.state = 'expired' AND NEW.decided_on <= OLD.deadline)
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: a 回答書 is accepted once, on or before the deadline; an inquiry expires only after it');
END;

CREATE TRIGGER seal_inquiries_kept BEFORE DELETE ON seal_inquiries
BEGIN
    SELECT RAISE(ABORT, 'madoguchi: inquiries are kept');
END;
