//! What a resident (or someone on their behalf) asks for at the counter, recorded as structured data: who asks
//! (請求者種別, for 本人通知 and 不正取得 investigations), why, how identity was checked, and which items the output
//! may carry. Validation here is the law's part of the judgement an operator may not make alone.

use serde::{Deserialize, Serialize};

use backend_adapter::types::{Address, HouseholdId, HouseholdTarget, MoveEntry, PersonId, Registry};
use jiff::civil::Date;

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
    /// 転出証明書 only: the paper 転出 case whose entry, once committed to the resident system, it certifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_case: Option<i64>,
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
        /// 特例転入: the 転出予定年月日 of the 転出証明書情報 the former municipality sent over 住基ネット. The
        /// 転入 must be notified within 30 days of it (住基法24条の2); otherwise a paper 転出証明書 is needed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card_move_out_planned_on: Option<jiff::civil::Date>,
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
            TaskRequest::Move { entry: MoveEntry::MoveOut { .. }, special_card_procedure: false, .. } => {
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
        if category == RequesterCategory::ThirdPartyCorporation {
            match requester.corporate_number.as_deref().map(str::trim) {
                None | Some("") => errors.push(FieldError::new(
                    "requester.corporate_number",
                    "a corporation's request needs its corporate number",
                    "法人の請求では法人番号が必要です",
                )),
                Some(number) => {
                    if let Err(err) = backend_adapter::identifiers::CorporateNumber::parse(number) {
                        errors.push(FieldError::new("requester.corporate_number", err.to_string(), err.message_ja()));
                    }
                }
            }
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
            let own_family = match certificate.kind {
                CertificateKind::SealCertificate => false,
                CertificateKind::MoveOutCertificate => certificate.move_case.is_some(),
                _ => certificate.move_case.is_none(),
            };
            if !own_family {
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
        if let TaskRequest::Move { entry, special_card_procedure, card_move_out_planned_on } = &self.task {
            if !(category.is_person_or_household()) {
                errors.push(FieldError::new(
                    "requester.category",
                    "a move is notified by the person, their household or their representative only",
                    "異動の届出は本人・同一世帯員・代理人のみできます",
                ));
            }
            let card_shown = requester.identity.documents.contains(&IdentityDocument::MyNumberCard);
            let card =
                CardProcedure { chosen: *special_card_procedure, card_shown, planned_on: *card_move_out_planned_on };
            validate_move(entry, card, &mut errors);
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
        if let TaskRequest::Seal { registration_number: Some(number), .. } = &self.task
            && (number.trim().is_empty() || !number.trim().chars().all(|c| c.is_ascii_digit()) || number.len() > 20)
        {
            errors.push(FieldError::new(
                "seal.registration_number",
                "the registration number is read from the 印鑑登録証: digits only",
                "登録番号は印鑑登録証から読み取るか、数字で入力してください",
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

    /// [`Self::validate`] and the rules that depend on the day the request is taken: a 異動 is notified today or
    /// earlier, never on a later date.
    pub fn validate_on(&self, today: Date) -> Result<(), ValidationErrors> {
        let mut errors = self.validate().err().unwrap_or_default();
        if let TaskRequest::Move { entry, .. } = &self.task
            && notified_on(entry).is_some_and(|notified| notified > today)
        {
            errors.push(FieldError::new(
                "move.notified_on",
                "the notification date is after today",
                "届出年月日が今日より後になっています",
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

/// How long a 転入 or 転居 may be notified after the move (住基法22条・23条): a later notice is still taken, but the
/// reviewer sees that it is late (過料通知).
pub const MOVE_NOTICE_DAYS: i64 = 14;

/// 届出年月日 of an entry (a 世帯変更 is dated by its change).
fn notified_on(entry: &MoveEntry) -> Option<Date> {
    match entry {
        MoveEntry::MoveIn { notified_on, .. }
        | MoveEntry::MoveOut { notified_on, .. }
        | MoveEntry::MoveWithin { notified_on, .. } => Some(*notified_on),
        MoveEntry::HouseholdChange { .. } => None,
    }
}

/// Days a 転入 or 転居 is notified after the law's 14 days, if it is late.
pub fn late_notice_days(entry: &MoveEntry) -> Option<i64> {
    let (moved_on, notified_on) = match entry {
        MoveEntry::MoveIn { moved_on, notified_on, .. } | MoveEntry::MoveWithin { moved_on, notified_on, .. } => {
            (*moved_on, *notified_on)
        }
        _ => return None,
    };
    let days = i64::from((notified_on - moved_on).get_days());
    (days > MOVE_NOTICE_DAYS).then_some(days - MOVE_NOTICE_DAYS)
}

/// 在留カード等番号 as printed on the card: two capital letters, eight digits, two capital letters.
fn is_residence_card_number(number: &str) -> bool {
    let bytes = number.as_bytes();
    bytes.len() == 12
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..10].iter().all(u8::is_ascii_digit)
        && bytes[10..].iter().all(u8::is_ascii_uppercase)
}

fn address_missing(address: &Address) -> bool {
    address.town.trim().is_empty() || address.block.trim().is_empty()
}

/// What a 異動's card procedure (特例転出・特例転入) rests on.
#[derive(Debug, Clone, Copy)]
struct CardProcedure {
    /// The 特例 was chosen.
    chosen: bool,
    /// The マイナンバーカード was presented.
    card_shown: bool,
    /// 特例転入: the 転出予定年月日 of the 転出証明書情報.
    planned_on: Option<jiff::civil::Date>,
}

/// Days after the 転出予定日 within which a 特例転入 may be notified (住基法24条の2).
pub const CARD_MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT: i64 = 30;

/// The law's rules for one 異動 entry (住基法22–25条, 24条の2 for the card procedures).
fn validate_move(entry: &MoveEntry, card: CardProcedure, errors: &mut ValidationErrors) {
    let CardProcedure { chosen: special_card_procedure, card_shown, planned_on: card_planned_on } = card;
    let mut push = |field: &str, en: &str, ja: &str| errors.push(FieldError::new(field, en, ja));
    match entry {
        MoveEntry::MoveIn { persons, address, household, moved_on, notified_on, previous_address } => {
            if persons.is_empty() {
                push("move.persons", "a move-in needs at least one person", "転入する人を入力してください");
            }
            for (index, person) in persons.iter().enumerate() {
                let who = index + 1;
                match &person.registry {
                    Registry::Japanese { honseki, head_of_family_register } => {
                        if person.name.family.trim().is_empty() || person.name.given.trim().is_empty() {
                            push(
                                "move.persons",
                                &format!("person {who}: the family and given names are required"),
                                &format!("{who}人目：氏と名を入力してください"),
                            );
                        }
                        if honseki.trim().is_empty() || head_of_family_register.trim().is_empty() {
                            push(
                                "move.persons",
                                &format!("person {who}: the registered domicile and its head are required"),
                                &format!("{who}人目：本籍と筆頭者を入力してください"),
                            );
                        }
                    }
                    Registry::Foreign {
                        nationality,
                        residence_status,
                        residence_expires_on,
                        residence_card_number,
                    } => {
                        if person.name.alphabet.as_deref().is_none_or(|name| name.trim().is_empty()) {
                            push(
                                "move.persons",
                                &format!("person {who}: a foreign resident's name in the alphabet is required"),
                                &format!("{who}人目：氏名（アルファベット）を在留カードのとおり入力してください"),
                            );
                        }
                        if nationality.trim().is_empty() || residence_status.trim().is_empty() {
                            push(
                                "move.persons",
                                &format!("person {who}: nationality and residence status are required"),
                                &format!("{who}人目：国籍・地域と在留資格を入力してください"),
                            );
                        }
                        if !is_residence_card_number(residence_card_number) {
                            push(
                                "move.persons",
                                &format!(
                                    "person {who}: a residence card number is two letters, eight digits, two letters"
                                ),
                                &format!("{who}人目：在留カード番号は英字2桁・数字8桁・英字2桁です（例 AB12345678CD）"),
                            );
                        }
                        if residence_expires_on < moved_on {
                            push(
                                "move.persons",
                                &format!("person {who}: the period of stay ended before the move-in"),
                                &format!("{who}人目：在留期間が転入年月日より前に満了しています"),
                            );
                        }
                    }
                }
                for kana in [&person.name.family_kana, &person.name.given_kana].into_iter().flatten() {
                    if let Err(err) = crate::kana::validate_katakana("フリガナ", kana) {
                        push(
                            "move.persons",
                            &format!("person {who}: {err}"),
                            &format!("{who}人目：{}", err.message_ja()),
                        );
                    }
                }
                if person.relationship.trim().is_empty() {
                    push(
                        "move.persons",
                        &format!("person {who}: the relationship is required"),
                        &format!("{who}人目：続柄を入力してください"),
                    );
                }
                if person.birth_date > *moved_on {
                    push(
                        "move.persons",
                        &format!("person {who}: born after the move-in date"),
                        &format!("{who}人目：生年月日が転入年月日より後です"),
                    );
                }
            }
            if *household == HouseholdTarget::New && persons.first().is_some_and(|p| p.relationship != "世帯主") {
                push(
                    "move.persons",
                    "a new household lists its head first",
                    "新しい世帯では1人目を世帯主にしてください",
                );
            }
            if address_missing(address) {
                push("move.address", "the new address is incomplete", "住所（町域と番地）を入力してください");
            }
            if previous_address.trim().is_empty() {
                push("move.previous_address", "the previous address is required", "転入前の住所を入力してください");
            }
            if moved_on > notified_on {
                push(
                    "move.moved_on",
                    "the move-in date is after the notification date",
                    "転入年月日が届出年月日より後になっています",
                );
            }
            if special_card_procedure {
                if !card_shown {
                    push(
                        "move.special",
                        "a card move-in needs the My Number card presented",
                        "特例転入にはマイナンバーカードの提示が必要です",
                    );
                }
                if (*notified_on - *moved_on).get_days() > 14 {
                    push(
                        "move.special",
                        "a card move-in is notified within 14 days of the move",
                        "特例転入は転入日から14日以内に限ります（転出証明書が必要です）",
                    );
                }
                match card_planned_on {
                    None => push(
                        "move.card_planned_on",
                        "a card move-in needs the planned move-out date of the move-out information",
                        "特例転入では転出証明書情報の転出予定年月日を入力してください",
                    ),
                    Some(planned)
                        if i64::from((*notified_on - planned).get_days())
                            > CARD_MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT =>
                    {
                        push(
                            "move.card_planned_on",
                            "a card move-in is notified within 30 days of the planned move-out date",
                            "特例転入は転出予定年月日から30日以内に限ります（転出証明書が必要です）",
                        )
                    }
                    Some(_) => {}
                }
            }
        }
        MoveEntry::MoveOut { persons, destination, planned_on, notified_on } => {
            if persons.is_empty() {
                push("move.persons", "a move-out needs at least one person", "転出する人を選んでください");
            }
            if destination.trim().is_empty() {
                push("move.destination", "the destination is required", "転出先を入力してください");
            }
            if planned_on < notified_on && (*notified_on - *planned_on).get_days() > 14 {
                push(
                    "move.moved_on",
                    "the planned date is more than 14 days before the notification",
                    "転出予定年月日が届出年月日より14日を超えて前です",
                );
            }
            if special_card_procedure && !card_shown {
                push(
                    "move.special",
                    "a card move-out needs the My Number card presented",
                    "特例転出にはマイナンバーカードの提示が必要です",
                );
            }
        }
        MoveEntry::MoveWithin { persons, new_address, moved_on, notified_on } => {
            if persons.is_empty() {
                push("move.persons", "a move within the ward needs at least one person", "転居する人を選んでください");
            }
            if address_missing(new_address) {
                push("move.address", "the new address is incomplete", "新しい住所（町域と番地）を入力してください");
            }
            if moved_on > notified_on {
                push(
                    "move.moved_on",
                    "the moving date is after the notification date",
                    "転居年月日が届出年月日より後になっています",
                );
            }
        }
        MoveEntry::HouseholdChange { new_head, relationships, .. } => {
            if relationships.iter().any(|change| change.relationship.trim().is_empty()) {
                push("move.relationships", "every member needs a relationship", "各世帯員の続柄を入力してください");
            }
            if relationships.iter().any(|change| change.person == *new_head && change.relationship != "世帯主") {
                push(
                    "move.relationships",
                    "the new head's relationship is 世帯主",
                    "新しい世帯主の続柄は「世帯主」です",
                );
            }
            if relationships.iter().any(|change| change.person != *new_head && change.relationship == "世帯主") {
                push(
                    "move.relationships",
                    "only the new head is 世帯主",
                    "世帯主は1人です。ほかの世帯員の続柄を直してください",
                );
            }
        }
    }
    if special_card_procedure && matches!(entry, MoveEntry::MoveWithin { .. } | MoveEntry::HouseholdChange { .. }) {
        push("move.special", "only a move-in or move-out has a card procedure", "特例は転入・転出のみです");
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
            card_move_out_planned_on: None,
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
            card_move_out_planned_on: None,
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

    fn move_request(
        category: RequesterCategory,
        document: IdentityDocument,
        entry: MoveEntry,
        special: bool,
    ) -> CounterRequest {
        CounterRequest {
            requester: Requester {
                category,
                name: "山田 太郎".into(),
                address: "東京都新宿区西新宿二丁目8番1号".into(),
                corporate_number: None,
                purpose: String::new(),
                identity: IdentityCheck { documents: vec![document], letter_of_attorney: false },
            },
            task: TaskRequest::Move {
                entry,
                special_card_procedure: special,
                card_move_out_planned_on: special.then_some(date(2026, 11, 10)),
            },
            fee_exemption: None,
        }
    }

    fn fields(request: &CounterRequest, today: Date) -> Vec<String> {
        request.validate_on(today).err().map(|e| e.0.into_iter().map(|e| e.field).collect()).unwrap_or_default()
    }

    fn ward_address(block: &str) -> Address {
        Address {
            postal_code: "1600023".into(),
            prefecture: "東京都".into(),
            city: "新宿区".into(),
            town: "西新宿二丁目".into(),
            block: block.into(),
            building: None,
        }
    }

    fn newcomer(family_kana: &str, relationship: &str, birth: Date) -> backend_adapter::types::NewPerson {
        backend_adapter::types::NewPerson {
            name: backend_adapter::types::Name {
                family: "山田".into(),
                given: "花子".into(),
                family_kana: Some(family_kana.into()),
                given_kana: Some("ハナコ".into()),
                former_family: None,
                former_family_kana: None,
                common_name: None,
                alphabet: None,
            },
            birth_date: birth,
            sex: backend_adapter::types::Sex::Female,
            relationship: relationship.into(),
            resident_code: None,
            individual_number: None,
            registry: backend_adapter::types::Registry::Japanese {
                honseki: "大阪府大阪市北区中之島一丁目3番".into(),
                head_of_family_register: "山田 花子".into(),
            },
        }
    }

    #[test]
    fn a_move_is_checked_by_the_law_before_it_is_taken() {
        let today = date(2026, 12, 4);
        let within = |block: &str, moved_on: Date| MoveEntry::MoveWithin {
            persons: vec![PersonId(1)],
            new_address: ward_address(block),
            moved_on,
            notified_on: today,
        };
        let own = RequesterCategory::Self_;
        let licence = IdentityDocument::DriversLicence;
        assert!(fields(&move_request(own, licence, within("8番1号", date(2026, 12, 1)), false), today).is_empty());
        assert_eq!(
            fields(&move_request(own, licence, within("", date(2026, 12, 1)), false), today),
            vec!["move.address".to_string()]
        );
        assert_eq!(
            fields(&move_request(own, licence, within("8番1号", date(2026, 12, 5)), false), today),
            vec!["move.moved_on".to_string()],
            "moving after the notification"
        );
        let third_party = move_request(RequesterCategory::ThirdPartyIndividual, licence, within("1", today), false);
        assert!(
            fields(&third_party, today).contains(&"requester.category".to_string()),
            "a third party notifies no move"
        );
        let late = move_request(own, licence, within("1", date(2026, 11, 1)), false);
        assert!(fields(&late, today).is_empty(), "a late notice is taken");
        let TaskRequest::Move { entry, .. } = &late.task else { unreachable!() };
        assert_eq!(late_notice_days(entry), Some(19), "33 days after the move is 19 days late");
        assert_eq!(late_notice_days(&within("1", date(2026, 11, 20))), None, "the 14th day is in time");
        let tomorrow = MoveEntry::MoveWithin {
            persons: vec![PersonId(1)],
            new_address: ward_address("1"),
            moved_on: today,
            notified_on: date(2026, 12, 5),
        };
        assert_eq!(fields(&move_request(own, licence, tomorrow, false), today), vec!["move.notified_on".to_string()]);

        let out = |special| {
            let entry = MoveEntry::MoveOut {
                persons: vec![PersonId(1)],
                destination: "大阪府大阪市北区".into(),
                planned_on: date(2026, 12, 20),
                notified_on: today,
            };
            move_request(own, licence, entry, special)
        };
        assert!(fields(&out(false), today).is_empty());
        assert_eq!(fields(&out(true), today), vec!["move.special".to_string()], "特例転出 without the card");
        let mut with_card = out(true);
        with_card.requester.identity.documents = vec![IdentityDocument::MyNumberCard];
        assert!(fields(&with_card, today).is_empty());

        let move_in = |persons, moved_on| MoveEntry::MoveIn {
            persons,
            address: ward_address("8番1号"),
            household: HouseholdTarget::New,
            moved_on,
            notified_on: today,
            previous_address: "大阪府大阪市北区中之島一丁目3番".into(),
        };
        let head = newcomer("ヤマダ", "世帯主", date(1990, 4, 1));
        assert!(fields(&move_request(own, licence, move_in(vec![head.clone()], today), false), today).is_empty());
        assert_eq!(
            fields(
                &move_request(own, licence, move_in(vec![newcomer("やまだ", "妻", date(1990, 4, 1))], today), false),
                today
            ),
            vec!["move.persons".to_string(), "move.persons".to_string()],
            "kana not in katakana, and a new household's first person is not its head"
        );
        assert_eq!(
            fields(
                &move_request(
                    own,
                    licence,
                    move_in(vec![newcomer("ヤマダ", "世帯主", date(2027, 1, 1))], today),
                    false
                ),
                today
            ),
            vec!["move.persons".to_string()],
            "born after the move"
        );
        let mut foreign = newcomer("ヤマダ", "世帯主", date(1990, 4, 1));
        foreign.name.alphabet = Some("SMITH JOHN".into());
        foreign.registry = backend_adapter::types::Registry::Foreign {
            nationality: "英国".into(),
            residence_status: "技術・人文知識・国際業務".into(),
            residence_expires_on: date(2028, 3, 31),
            residence_card_number: "AB12345678CD".into(),
        };
        assert!(fields(&move_request(own, licence, move_in(vec![foreign.clone()], today), false), today).is_empty());
        foreign.registry = backend_adapter::types::Registry::Foreign {
            nationality: "英国".into(),
            residence_status: "留学".into(),
            residence_expires_on: date(2026, 11, 1),
            residence_card_number: "AB1234567CD".into(),
        };
        assert_eq!(
            fields(&move_request(own, licence, move_in(vec![foreign], today), false), today),
            vec!["move.persons".to_string(), "move.persons".to_string()],
            "a card number of 11 characters, and a stay that ended before the move"
        );
        let mut special_late =
            move_request(own, IdentityDocument::MyNumberCard, move_in(vec![head.clone()], date(2026, 11, 1)), true);
        assert_eq!(fields(&special_late, today), vec!["move.special".to_string()], "特例転入 after 14 days");
        // 特例転入 also rests on the 転出証明書情報: within 30 days of its 転出予定年月日, which must be given.
        let card_move_in = |planned_on: Option<jiff::civil::Date>| {
            let mut request = move_request(
                own,
                IdentityDocument::MyNumberCard,
                move_in(vec![head.clone()], date(2026, 11, 25)),
                true,
            );
            if let TaskRequest::Move { card_move_out_planned_on, .. } = &mut request.task {
                *card_move_out_planned_on = planned_on;
            }
            fields(&request, today)
        };
        assert!(card_move_in(Some(date(2026, 11, 4))).is_empty(), "the 30th day after the planned date is in time");
        let late = card_move_in(Some(date(2026, 11, 3)));
        assert_eq!(late, vec!["move.card_planned_on".to_string()], "the 31st day is not");
        assert_eq!(card_move_in(None), vec!["move.card_planned_on".to_string()], "the planned date is required");
        special_late.task = TaskRequest::Move {
            entry: MoveEntry::HouseholdChange {
                household: HouseholdId(1),
                new_head: PersonId(2),
                relationships: vec![backend_adapter::types::RelationshipChange {
                    person: PersonId(1),
                    relationship: "世帯主".into(),
                }],
                changed_on: today,
            },
            special_card_procedure: false,
            card_move_out_planned_on: None,
        };
        assert_eq!(fields(&special_late, today), vec!["move.relationships".to_string()], "two heads");
    }
}
