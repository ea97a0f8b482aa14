//! 本人通知 data: when a 住民票の写し or 記載事項証明書 goes to a 代理人 or a 第三者, wards that run a 本人通知 system
//! notify the registered person of the issue date, the certificate, the copies and the kind of requester — never the
//! requester's name or address. This module picks those issues and writes them in the CSV the ward's notice system
//! imports; the CLI hands it over only encrypted.

use jiff::civil::Date;

use crate::request::{CertificateKind, CounterRequest, RequesterCategory, TaskRequest};
use crate::store::Issuance;

/// Why an issue is notified (交付請求者の種別 as the notice prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeClass {
    /// 代理人 (法定代理人 or 任意代理人).
    Representative,
    /// 第三者 (individual, corporation or 特定事務受任者).
    ThirdParty,
}

impl NoticeClass {
    /// The requester kind an issue to `category` is notified as; `None` for 本人, 同一世帯 and 公用 (not notified).
    pub fn of(category: RequesterCategory) -> Option<NoticeClass> {
        match category {
            RequesterCategory::LegalRepresentative | RequesterCategory::Proxy => Some(NoticeClass::Representative),
            RequesterCategory::ThirdPartyIndividual
            | RequesterCategory::ThirdPartyCorporation
            | RequesterCategory::LicensedProfessional(_) => Some(NoticeClass::ThirdParty),
            RequesterCategory::Self_ | RequesterCategory::SameHousehold | RequesterCategory::Official => None,
        }
    }

    /// As printed on the notice.
    pub fn label_ja(self) -> &'static str {
        match self {
            NoticeClass::Representative => "代理人",
            NoticeClass::ThirdParty => "第三者",
        }
    }
}

/// One notifiable issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    /// 交付年月日 (the ward's day).
    pub issued_on: Date,
    /// 証明書の種別.
    pub kind: CertificateKind,
    /// 通数.
    pub copies: i64,
    /// 交付請求者の種別.
    pub class: NoticeClass,
    /// The requester category in detail (for wards that split 個人・法人・八士業).
    pub category: RequesterCategory,
    /// 発行番号 (to trace the issue).
    pub issue_number: i64,
    /// Whose record: the household.
    pub household: i64,
    /// The persons asked for (empty: the whole household).
    pub persons: Vec<i64>,
}

/// The notifiable issues among `issued` (each with the request it answered).
pub fn notice_records(issued: &[(Issuance, CounterRequest)]) -> Vec<NoticeRecord> {
    issued
        .iter()
        .filter_map(|(issuance, request)| {
            let TaskRequest::Certificate(certificate) = &request.task else { return None };
            let class = NoticeClass::of(request.requester.category)?;
            let issued_on = jiff::Timestamp::from_microsecond(issuance.issued_at_us)
                .ok()?
                .to_zoned(crate::clock::ward_zone())
                .date();
            Some(NoticeRecord {
                issued_on,
                kind: certificate.kind,
                copies: issuance.copies,
                class,
                category: request.requester.category,
                issue_number: issuance.issue_number,
                household: certificate.household.0,
                persons: certificate.persons.iter().map(|p| p.0).collect(),
            })
        })
        .collect()
}

/// The CSV the ward's notice system imports (UTF-8, CRLF, a header row).
pub fn to_csv(records: &[NoticeRecord]) -> String {
    let mut csv = String::from("交付年月日,証明書の種別,通数,交付請求者の種別,請求者区分,発行番号,世帯,対象者\r\n");
    for record in records {
        let persons: Vec<String> = record.persons.iter().map(i64::to_string).collect();
        // No field can hold a comma or a quote: dates, fixed labels and numbers only.
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            record.issued_on,
            record.kind.template_ja(),
            record.copies,
            record.class.label_ja(),
            record.category.label_ja(),
            record.issue_number,
            record.household,
            persons.join(" ")
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::LicensedProfession;

    #[test]
    fn representatives_and_third_parties_are_notified_and_no_one_else() {
        assert_eq!(NoticeClass::of(RequesterCategory::Proxy), Some(NoticeClass::Representative));
        assert_eq!(NoticeClass::of(RequesterCategory::LegalRepresentative), Some(NoticeClass::Representative));
        assert_eq!(NoticeClass::of(RequesterCategory::ThirdPartyCorporation), Some(NoticeClass::ThirdParty));
        let professional = RequesterCategory::LicensedProfessional(LicensedProfession::Attorney);
        assert_eq!(NoticeClass::of(professional), Some(NoticeClass::ThirdParty));
        for category in [RequesterCategory::Self_, RequesterCategory::SameHousehold, RequesterCategory::Official] {
            assert_eq!(NoticeClass::of(category), None);
        }
    }
}
