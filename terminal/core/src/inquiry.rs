//! 印鑑登録 by 照会書・回答書: when the applicant cannot prove identity on the spot (and always for a 代理人), the ward
//! mails a 照会書 to the registered address and registers the seal only if the 回答書 comes back by the deadline its
//! ordinance sets (14, 15, 20 or 30 days; 30 here unless the ward says otherwise). The deadline is the last day on
//! which a 回答書 is accepted, on the ward's calendar; the store refuses an acceptance after it.

use jiff::ToSpan as _;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use backend_adapter::types::{Household, Person};

use crate::certificate::Issuer;
use crate::wareki::date_label;

/// Media type of a 照会書兼回答書: a PDF like a certificate, but a letter — reviewed and printed through the same
/// queue, never issued (no 発行番号, no fee, plain paper).
pub const INQUIRY_LETTER_MEDIA_TYPE: &str = "application/vnd.madoguchi.inquiry-letter+pdf";

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

/// 照会書兼回答書: the letter mailed to the registrant's registered address. Its text is decided here, before layout,
/// and the deadline printed on it is the one the 照会 records when it is mailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InquiryLetter {
    /// The 印鑑登録 case (照会番号 on the letter).
    pub case_id: i64,
    /// The registrant's name, exact code points.
    pub addressee: String,
    /// 郵便番号 of the registered address.
    pub postal_code: String,
    /// The registered address.
    pub address: String,
    /// 生年月日 in 和暦.
    pub birth_date: String,
    /// The day the letter is written (and the registration was applied for, when prepared at the counter).
    pub written_on: Date,
    /// The last day a 回答書 is accepted.
    pub deadline: Date,
    /// The ward as sender.
    pub issuer: Issuer,
}

impl InquiryLetter {
    /// The letter for `person` of `household`, written on `written_on` with `days` to answer.
    pub fn new(
        case_id: i64,
        person: &Person,
        household: &Household,
        issuer: &Issuer,
        written_on: Date,
        days: u16,
    ) -> Option<InquiryLetter> {
        Some(InquiryLetter {
            case_id,
            addressee: person.name.display(),
            postal_code: postal_code_display(&household.address.postal_code),
            address: household.address.display(),
            birth_date: date_label(person.birth_date),
            written_on,
            deadline: deadline(written_on, days)?,
            issuer: issuer.clone(),
        })
    }

    /// The lines of the letter's body, as printed.
    pub fn body_ja(&self) -> Vec<String> {
        vec![
            format!("あなたから{}に印鑑登録の申請がありました。", date_label(self.written_on)),
            "この申請があなたご本人の意思によるものであるかを確認するため、照会します。".to_string(),
            "申請に相違ない場合は、下の回答書に記入し、登録する印鑑を押して、".to_string(),
            format!(
                "回答期限の{}までに、この書面と本人確認書類を持って窓口へお越しください。",
                date_label(self.deadline)
            ),
            "期限を過ぎると申請は無効になります。申請に心当たりのない場合は、至急ご連絡ください。".to_string(),
        ]
    }
}

/// 「160-0018」 from the stored 「1600018」 (anything else as stored).
fn postal_code_display(code: &str) -> String {
    match (code.get(..3), code.get(3..)) {
        (Some(head), Some(tail)) if code.len() == 7 && code.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{head}-{tail}")
        }
        _ => code.to_string(),
    }
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
    fn a_postal_code_is_printed_with_its_hyphen() {
        assert_eq!(postal_code_display("1600018"), "160-0018");
        assert_eq!(postal_code_display("160-0018"), "160-0018");
        assert_eq!(postal_code_display("16000"), "16000");
    }

    #[test]
    fn states_round_trip() {
        for state in [InquiryState::Pending, InquiryState::Answered, InquiryState::Expired] {
            assert_eq!(InquiryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(InquiryState::parse("lost"), None);
    }
}
