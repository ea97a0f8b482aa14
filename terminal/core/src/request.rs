//! What a resident (or someone on their behalf) asks for at the counter, recorded as structured data: who asks
//! (請求者種別, for 本人通知 and 不正取得 investigations), why, how identity was checked, and which items the output
//! may carry. Validation here is the law's part of the judgement an operator may not make alone.

use serde::{Deserialize, Serialize};

use backend_adapter::types::{HouseholdId, MoveEntry, PersonId};

use crate::error::{FieldError, ValidationErrors};

/// 八士業 (特定事務受任者).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LicensedProfession {
    /// 弁護士
    Attorney,
    /// 司法書士
    JudicialScrivener,
    /// 土地家屋調査士
    LandSurveyor,
    /// 税理士
    TaxAccountant,
    /// 社会保険労務士
    LabourConsultant,
    /// 弁理士
    PatentAttorney,
    /// 海事代理士
    MaritimeProcedureAgent,
    /// 行政書士
    AdministrativeScrivener,
}

impl LicensedProfession {
    /// The Japanese name.
    pub fn label_ja(self) -> &'static str {
        match self {
            LicensedProfession::Attorney => "弁護士",
            LicensedProfession::JudicialScrivener => "司法書士",
            LicensedProfession::LandSurveyor => "土地家屋調査士",
            LicensedProfession::TaxAccountant => "税理士",
            LicensedProfession::LabourConsultant => "社会保険労務士",
            LicensedProfession::PatentAttorney => "弁理士",
            LicensedProfession::MaritimeProcedureAgent => "海事代理士",
            LicensedProfession::AdministrativeScrivener => "行政書士",
        }
    }
}

/// 請求者種別.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequesterCategory {
    /// 本人
    Self_,
    /// 同一世帯員
    SameHousehold,
    /// 法定代理人
    LegalRepresentative,
    /// 任意代理人 (with 委任状)
    Proxy,
    /// 第三者（個人）
    ThirdPartyIndividual,
    /// 第三者（法人）
    ThirdPartyCorporation,
    /// 特定事務受任者 (八士業), which one
    LicensedProfessional(LicensedProfession),
    /// 公用請求
    Official,
}

impl RequesterCategory {
    /// The Japanese label.
    pub fn label_ja(self) -> String {
        match self {
            RequesterCategory::Self_ => "本人".into(),
            RequesterCategory::SameHousehold => "同一世帯員".into(),
            RequesterCategory::LegalRepresentative => "法定代理人".into(),
            RequesterCategory::Proxy => "任意代理人".into(),
            RequesterCategory::ThirdPartyIndividual => "第三者（個人）".into(),
            RequesterCategory::ThirdPartyCorporation => "第三者（法人）".into(),
            RequesterCategory::LicensedProfessional(p) => {
                format!("特定事務受任者（{}）", p.label_ja())
            }
            RequesterCategory::Official => "公用".into(),
        }
    }

    /// 本人等 (住基法12条): the person, their household, or a representative acting for them.
    pub fn is_person_or_household(self) -> bool {
        matches!(
            self,
            RequesterCategory::Self_
                | RequesterCategory::SameHousehold
                | RequesterCategory::LegalRepresentative
                | RequesterCategory::Proxy
        )
    }

    /// 第三者 and 八士業 requests (住基法12条の3): 基礎証明事項 by default, never 住民票コード or 個人番号.
    pub fn is_third_party(self) -> bool {
        matches!(
            self,
            RequesterCategory::ThirdPartyIndividual
                | RequesterCategory::ThirdPartyCorporation
                | RequesterCategory::LicensedProfessional(_)
        )
    }

    /// Whether an issue to this requester feeds the 本人通知 system (代理人 and 第三者).
    pub fn notifies_person(self) -> bool {
        matches!(self, RequesterCategory::LegalRepresentative | RequesterCategory::Proxy) || self.is_third_party()
    }
}

/// 本人確認書類.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityDocument {
    /// マイナンバーカード
    MyNumberCard,
    /// 運転免許証
    DriversLicence,
    /// 旅券
    Passport,
    /// 在留カード
    ResidenceCard,
    /// 資格確認書 (health insurance)
    InsuranceCertificate,
    /// 年金証書
    PensionCertificate,
    /// 職務上請求書 with the professional's ID
    ProfessionalForm,
    /// 公用請求書
    OfficialRequestForm,
}

impl IdentityDocument {
    /// The Japanese name.
    pub fn label_ja(self) -> &'static str {
        match self {
            IdentityDocument::MyNumberCard => "マイナンバーカード",
            IdentityDocument::DriversLicence => "運転免許証",
            IdentityDocument::Passport => "旅券",
            IdentityDocument::ResidenceCard => "在留カード",
            IdentityDocument::InsuranceCertificate => "資格確認書",
            IdentityDocument::PensionCertificate => "年金証書",
            IdentityDocument::ProfessionalForm => "職務上請求書",
            IdentityDocument::OfficialRequestForm => "公用請求書",
        }
    }

    /// 顔写真付公的身分証明書: one is enough; otherwise two documents.
    pub fn has_photo(self) -> bool {
        matches!(
            self,
            IdentityDocument::MyNumberCard
                | IdentityDocument::DriversLicence
                | IdentityDocument::Passport
                | IdentityDocument::ResidenceCard
        )
    }
}

/// How identity was checked at the counter (recorded, never inferred).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityCheck {
    /// Documents presented.
    pub documents: Vec<IdentityDocument>,
    /// 委任状 presented (任意代理人).
    pub letter_of_attorney: bool,
}

/// The person asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// 請求者種別.
    pub category: RequesterCategory,
    /// 請求者氏名 (or the corporation's name).
    pub name: String,
    /// 請求者住所.
    pub address: String,
    /// 法人番号 for a corporation.
    pub corporate_number: Option<String>,
    /// 請求事由 / 使用目的.
    pub purpose: String,
    /// 本人確認.
    pub identity: IdentityCheck,
}

/// Which certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CertificateKind {
    /// 住民票の写し（世帯連記式）
    ResidentRecordHousehold,
    /// 住民票の写し（個人票）
    ResidentRecordIndividual,
    /// 住民票記載事項証明書
    ResidentRecordItems,
    /// 転出証明書
    MoveOutCertificate,
    /// 印鑑登録証明書
    SealCertificate,
}

impl CertificateKind {
    /// Every certificate the counter issues.
    pub const ALL: [CertificateKind; 5] = [
        CertificateKind::ResidentRecordHousehold,
        CertificateKind::ResidentRecordIndividual,
        CertificateKind::ResidentRecordItems,
        CertificateKind::MoveOutCertificate,
        CertificateKind::SealCertificate,
    ];

    /// Parse a stored name.
    pub fn parse(name: &str) -> Option<CertificateKind> {
        CertificateKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The template's name as staff call it.
    pub fn template_ja(self) -> &'static str {
        match self {
            CertificateKind::ResidentRecordHousehold => "住民票の写し（世帯連記式）",
            CertificateKind::ResidentRecordIndividual => "住民票の写し（個人票）",
            CertificateKind::ResidentRecordItems => "住民票記載事項証明書",
            CertificateKind::MoveOutCertificate => "転出証明書",
            CertificateKind::SealCertificate => "印鑑登録証明書",
        }
    }

    /// The title printed on the sheet.
    pub fn title_ja(self) -> &'static str {
        match self {
            CertificateKind::ResidentRecordHousehold | CertificateKind::ResidentRecordIndividual => "住民票の写し",
            CertificateKind::ResidentRecordItems => "住民票記載事項証明書",
            CertificateKind::MoveOutCertificate => "転出証明書",
            CertificateKind::SealCertificate => "印鑑登録証明書",
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateKind::ResidentRecordHousehold => "juminhyo-setai",
            CertificateKind::ResidentRecordIndividual => "juminhyo-kojin",
            CertificateKind::ResidentRecordItems => "kisai-jiko",
            CertificateKind::MoveOutCertificate => "tenshutsu",
            CertificateKind::SealCertificate => "inkan",
        }
    }
}

/// Optional items of a 住民票の写し (printed only when asked for, and only when the requester may have them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalItems {
    /// 世帯主・続柄
    pub head_and_relationship: bool,
    /// 本籍・筆頭者 (国籍・地域 for foreign residents)
    pub registry: bool,
    /// 住民票コード
    pub resident_code: bool,
    /// 個人番号
    pub individual_number: bool,
    /// 異動前住所 / 転入前住所
    pub previous_address: bool,
    /// 旧氏
    pub former_family_name: bool,
    /// 振り仮名
    pub furigana: bool,
}

/// A field of a resident's record that an operator sees only when the case's task needs it (field-level visibility):
/// everything else an operator handles is on the search hit or the certificate asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProtectedField {
    /// 個人番号 (特定個人情報).
    IndividualNumber,
    /// 住民票コード.
    ResidentCode,
    /// 本籍・筆頭者 (国籍・地域 for foreign residents).
    Registry,
}

impl ProtectedField {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtectedField::IndividualNumber => "individual_number",
            ProtectedField::ResidentCode => "resident_code",
            ProtectedField::Registry => "registry",
        }
    }

    /// The Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            ProtectedField::IndividualNumber => "個人番号",
            ProtectedField::ResidentCode => "住民票コード",
            ProtectedField::Registry => "本籍・筆頭者",
        }
    }

    /// Whether a certificate with these (effective) items shows the field.
    pub fn needed_by(self, items: OptionalItems) -> bool {
        match self {
            ProtectedField::IndividualNumber => items.individual_number,
            ProtectedField::ResidentCode => items.resident_code,
            ProtectedField::Registry => items.registry,
        }
    }
}

/// 住民票の写し / 記載事項証明書 request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRequest {
    /// Which certificate.
    pub kind: CertificateKind,
    /// The household.
    pub household: HouseholdId,
    /// The persons to include (all members when empty, 世帯連記式 only).
    pub persons: Vec<PersonId>,
    /// Optional items asked for.
    pub items: OptionalItems,
    /// 通数.
    pub copies: u8,
}

/// 印鑑登録 paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealRegistrationPath {
    /// 即日 with a photo ID.
    SameDay,
    /// 保証人方式, with the guarantor's 登録番号.
    Guarantor,
    /// 照会書・回答書方式.
    Inquiry,
}

/// What the counter is asked to do: one of the three task families.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskRequest {
    /// 住民票異動 (with 転出証明書 for a paper 転出).
    Move {
        /// The entry to send to the resident system.
        entry: MoveEntry,
        /// 特例転出 (card-based, nothing printed) rather than a paper 転出証明書.
        special_card_procedure: bool,
    },
    /// 住民票の写し and 記載事項証明書.
    Certificate(CertificateRequest),
    /// 印鑑登録 and 印鑑登録証明書.
    Seal {
        /// Whose seal.
        person: PersonId,
        /// The path of the registration.
        path: SealRegistrationPath,
        /// 登録番号 read from the 印鑑登録証, for a 印鑑登録証明書.
        registration_number: Option<String>,
    },
}

/// 業務区分.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskFamily {
    /// 住民票異動
    Move,
    /// 住民票の写し・記載事項証明書
    Certificate,
    /// 印鑑登録
    Seal,
}

impl TaskFamily {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskFamily::Move => "move",
            TaskFamily::Certificate => "certificate",
            TaskFamily::Seal => "seal",
        }
    }
}

impl TaskRequest {
    /// The family the request belongs to.
    pub fn family(&self) -> TaskFamily {
        match self {
            TaskRequest::Move { .. } => TaskFamily::Move,
            TaskRequest::Certificate(_) => TaskFamily::Certificate,
            TaskRequest::Seal { .. } => TaskFamily::Seal,
        }
    }

    /// The certificate this task ends in, and how many copies: the certificate asked for, the 印鑑登録証明書 of a
    /// 印鑑登録証 read at the counter, or the 転出証明書 of a paper 転出. `None` for work that prints no certificate.
    pub fn certificate(&self) -> Option<(CertificateKind, i64)> {
        match self {
            TaskRequest::Certificate(certificate) => Some((certificate.kind, i64::from(certificate.copies))),
            TaskRequest::Seal { registration_number: Some(_), .. } => Some((CertificateKind::SealCertificate, 1)),
            TaskRequest::Move { entry: MoveEntry::MoveOut { .. }, special_card_procedure: false } => {
                Some((CertificateKind::MoveOutCertificate, 1))
            }
            _ => None,
        }
    }
}

/// A request as taken at the counter: who asks and what for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterRequest {
    /// The requester.
    pub requester: Requester,
    /// What is asked.
    pub task: TaskRequest,
    /// 手数料の免除: why no fee is charged under the ward's ordinance (e.g. 生活保護受給中), for the reviewer to
    /// check and the issuance to record. 公用 requests are exempt without it.
    #[serde(default)]
    pub fee_exemption: Option<String>,
}

impl CounterRequest {
    /// Check the request against the law's rules; every problem is reported with its field.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let requester = &self.requester;
        let category = requester.category;
        if requester.name.trim().is_empty() {
            errors.push(FieldError::new(
                "requester.name",
                "the requester's name is missing",
                "請求者の氏名を入力してください",
            ));
        }
        if !category.is_person_or_household() && requester.purpose.trim().is_empty() {
            errors.push(FieldError::new(
                "requester.purpose",
                "a third-party or official request needs its purpose",
                "第三者・公用の請求では請求事由（使用目的）が必要です",
            ));
        }
        let docs = &requester.identity.documents;
        let identity_ok = match category {
            RequesterCategory::Official => docs.contains(&IdentityDocument::OfficialRequestForm),
            RequesterCategory::LicensedProfessional(_) => {
                docs.contains(&IdentityDocument::ProfessionalForm) && docs.iter().any(|d| d.has_photo())
            }
            _ => docs.iter().any(|d| d.has_photo()) || docs.len() >= 2,
        };
        if !identity_ok {
            errors.push(FieldError::new(
                "requester.identity",
                "identity is not sufficiently checked: one photo ID or two other documents are required",
                "本人確認が不十分です（顔写真付きの公的身分証明書1点、またはその他の書類2点が必要です）",
            ));
        }
        if category == RequesterCategory::Proxy && !requester.identity.letter_of_attorney {
            errors.push(FieldError::new(
                "requester.identity.letter_of_attorney",
                "a proxy needs a letter of attorney",
                "任意代理人の請求には委任状が必要です",
            ));
        }
        if category == RequesterCategory::ThirdPartyCorporation
            && requester.corporate_number.as_deref().is_none_or(|n| n.trim().is_empty())
        {
            errors.push(FieldError::new(
                "requester.corporate_number",
                "a corporation's request needs its corporate number",
                "法人の請求では法人番号が必要です",
            ));
        }
        if let TaskRequest::Certificate(certificate) = &self.task {
            if certificate.copies == 0 || certificate.copies > 20 {
                errors.push(FieldError::new(
                    "certificate.copies",
                    "copies must be between 1 and 20",
                    "通数は1～20で入力してください",
                ));
            }
            if category.is_third_party() && (certificate.items.resident_code || certificate.items.individual_number) {
                errors.push(FieldError::new(
                    "certificate.items",
                    "a third party can never receive the resident record code or the individual number",
                    "第三者・特定事務受任者の請求では住民票コード・個人番号は記載できません",
                ));
            }
            if matches!(certificate.kind, CertificateKind::MoveOutCertificate | CertificateKind::SealCertificate) {
                errors.push(FieldError::new(
                    "certificate.kind",
                    "this certificate is issued through its own task family",
                    "この証明書はそれぞれの業務（異動・印鑑登録）から発行してください",
                ));
            }
            if certificate.kind == CertificateKind::ResidentRecordIndividual && certificate.persons.len() != 1 {
                errors.push(FieldError::new(
                    "certificate.persons",
                    "an individual sheet is for exactly one person",
                    "個人票は1人ずつ請求してください",
                ));
            }
        }
        if let TaskRequest::Seal { .. } = &self.task
            && !matches!(
                category,
                RequesterCategory::Self_ | RequesterCategory::Proxy | RequesterCategory::LegalRepresentative
            )
        {
            errors.push(FieldError::new(
                "requester.category",
                "seal matters are handled for the person or their representative only",
                "印鑑登録の手続は本人または代理人のみできます",
            ));
        }
        if let Some(reason) = &self.fee_exemption
            && (reason.trim().is_empty() || reason.chars().count() > 100)
        {
            errors.push(FieldError::new(
                "fee_exemption",
                "a fee exemption needs its reason (at most 100 characters)",
                "手数料を免除する理由を100文字以内で入力してください",
            ));
        }
        if let TaskRequest::Seal { path, registration_number: None, .. } = &self.task
            && category == RequesterCategory::Proxy
            && *path != SealRegistrationPath::Inquiry
        {
            errors.push(FieldError::new(
                "seal.path",
                "a seal registration by a proxy always goes through the inquiry (照会書)",
                "代理人による印鑑登録は照会書・回答書方式でのみ受け付けます",
            ));
        }
        errors.into_result()
    }

    /// The items the output will actually carry: what was asked, minus what the requester may never receive.
    pub fn effective_items(&self, asked: OptionalItems) -> OptionalItems {
        if self.requester.category.is_third_party() {
            OptionalItems { resident_code: false, individual_number: false, ..asked }
        } else {
            asked
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn only_a_paper_move_out_ends_in_a_certificate_among_the_moves() {
        let move_out = |special_card_procedure| TaskRequest::Move {
            entry: MoveEntry::MoveOut {
                persons: vec![PersonId(1)],
                destination: "大阪府大阪市北区".into(),
                planned_on: date(2026, 12, 1),
                notified_on: date(2026, 11, 20),
            },
            special_card_procedure,
        };
        assert_eq!(move_out(false).certificate(), Some((CertificateKind::MoveOutCertificate, 1)));
        assert_eq!(move_out(true).certificate(), None, "特例転出 prints nothing");
        let household_change = TaskRequest::Move {
            entry: MoveEntry::HouseholdChange {
                household: HouseholdId(1),
                new_head: PersonId(2),
                relationships: vec![backend_adapter::types::RelationshipChange {
                    person: PersonId(1),
                    relationship: "妻".into(),
                }],
                changed_on: date(2026, 11, 20),
            },
            special_card_procedure: false,
        };
        assert_eq!(household_change.certificate(), None, "a 世帯変更 prints no 転出証明書");
        let seal = |registration_number: Option<String>| TaskRequest::Seal {
            person: PersonId(1),
            path: SealRegistrationPath::SameDay,
            registration_number,
        };
        assert_eq!(seal(Some("00012345".into())).certificate(), Some((CertificateKind::SealCertificate, 1)));
        assert_eq!(seal(None).certificate(), None, "a registration prints no certificate here");
    }
}
