//! 印鑑登録 by 照会書・回答書: when the applicant cannot prove identity on the spot (and always for a 代理人), the ward
//! mails a 照会書 to the registered address and registers the seal only if the 回答書 comes back by the deadline its
//! ordinance sets (14, 15, 20 or 30 days; 30 here unless the ward says otherwise). The deadline is the last day on
//! which a 回答書 is accepted, on the ward's calendar; the store refuses an acceptance after it.

use jiff::ToSpan as _;
use jiff::civil::Date;

/// The days a ward gives when it says nothing else (中野区・港区).
pub const DEFAULT_INQUIRY_DAYS: u16 = 30;

/// Where a 照会 stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InquiryState {
    /// 照会書 sent, 回答書 awaited.
    Pending,
    /// 回答書 accepted by the deadline: the registration may proceed.
    Answered,
    /// The deadline passed without an accepted 回答書.
    Expired,
}

impl InquiryState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            InquiryState::Pending => "pending",
            InquiryState::Answered => "answered",
            InquiryState::Expired => "expired",
        }
    }

    /// Parse a stored form.
    pub fn parse(text: &str) -> Option<InquiryState> {
        [InquiryState::Pending, InquiryState::Answered, InquiryState::Expired].into_iter().find(|s| s.as_str() == text)
    }

    /// For the screen.
    pub fn label_ja(self) -> &'static str {
        match self {
            InquiryState::Pending => "回答待ち",
            InquiryState::Answered => "回答書受理",
            InquiryState::Expired => "期限切れ",
        }
    }
}

/// A 照会 of a 印鑑登録 case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealInquiry {
    /// The 印鑑登録 case.
    pub case_id: i64,
    /// The day the 照会書 was sent.
    pub sent_on: Date,
    /// The last day a 回答書 is accepted.
    pub deadline: Date,
    /// Where it stands.
    pub state: InquiryState,
    /// The day it was answered or expired.
    pub decided_on: Option<Date>,
}

/// The last day a 回答書 is accepted for a 照会書 sent on `sent_on` with `days` to answer.
pub fn deadline(sent_on: Date, days: u16) -> Option<Date> {
    sent_on.checked_add(i64::from(days).days()).ok()
}

/// Whether a 回答書 brought on `on` is in time.
pub fn in_time(deadline: Date, on: Date) -> bool {
    on <= deadline
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_deadline_day_is_in_time_and_the_next_day_is_not() {
        let sent = date(2026, 11, 20);
        let last = deadline(sent, 30).expect("deadline");
        assert_eq!(last, date(2026, 12, 20));
        assert!(in_time(last, last));
        assert!(!in_time(last, date(2026, 12, 21)));
        assert_eq!(deadline(date(2027, 2, 14), 14), Some(date(2027, 2, 28)));
        assert_eq!(deadline(date(2028, 2, 15), 14), Some(date(2028, 2, 29)), "leap year");
    }

    #[test]
    fn states_round_trip() {
        for state in [InquiryState::Pending, InquiryState::Answered, InquiryState::Expired] {
            assert_eq!(InquiryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(InquiryState::parse("lost"), None);
    }
}
