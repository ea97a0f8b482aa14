//! The records that cross the port to the resident system. They carry what the 住民票 holds and nothing about
//! cases, reviews or devices, so any resident system (the embedded reference one, a vendor API, an HTTP bridge) can
//! fill them.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::identifiers::{IndividualNumber, ResidentRecordCode};

/// 宛名番号: the resident system's internal id of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonId(pub i64);

/// 世帯番号: the resident system's id of a household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HouseholdId(pub i64);

impl std::fmt::Display for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

impl std::fmt::Display for HouseholdId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

/// 氏名. Every string is stored exactly as entered or read, code point for code point (supplementary planes such as
/// 𠮷 and variation sequences such as 葛󠄀 included); only search keys are normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    /// 氏 (for a foreign resident without a kanji name: empty, see `alphabet`).
    pub family: String,
    /// 名.
    pub given: String,
    /// 氏の振り仮名, in 全角カタカナ. Foreign residents have none.
    pub family_kana: Option<String>,
    /// 名の振り仮名.
    pub given_kana: Option<String>,
    /// 旧氏 (shown beside the name since 2019-11 on request).
    pub former_family: Option<String>,
    /// 旧氏の振り仮名.
    pub former_family_kana: Option<String>,
    /// 通称 of a foreign resident.
    pub common_name: Option<String>,
    /// Name in the alphabet, as on the 在留カード (foreign residents).
    pub alphabet: Option<String>,
}

impl Name {
    /// The name as printed: 「氏　名」, or the alphabet name for a foreign resident without a kanji name.
    pub fn display(&self) -> String {
        match (&self.alphabet, self.family.is_empty()) {
            (Some(alpha), true) => alpha.clone(),
            _ => format!("{}\u{3000}{}", self.family, self.given),
        }
    }

    /// The reading as printed: 「氏カナ　名カナ」 when both are recorded.
    pub fn display_kana(&self) -> Option<String> {
        match (&self.family_kana, &self.given_kana) {
            (Some(f), Some(g)) => Some(format!("{f}\u{3000}{g}")),
            _ => None,
        }
    }
}

/// 男女の別.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
}

impl Sex {
    /// 「男」 or 「女」.
    pub fn label_ja(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

/// 住所.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// 郵便番号, 7 digits.
    pub postal_code: String,
    /// 都道府県.
    pub prefecture: String,
    /// 市区町村.
    pub city: String,
    /// 町域 (and 丁目).
    pub town: String,
    /// 番地・号.
    pub block: String,
    /// 方書 (building and room).
    pub building: Option<String>,
}

impl Address {
    /// The address as printed on one line.
    pub fn display(&self) -> String {
        let mut out = format!("{}{}{}{}", self.prefecture, self.city, self.town, self.block);
        if let Some(building) = &self.building {
            out.push('\u{3000}');
            out.push_str(building);
        }
        out
    }
}

/// 本籍・筆頭者 for a Japanese national, or the 外国人住民 items for a foreign resident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registry {
    /// 戸籍の表示.
    Japanese {
        /// 本籍.
        honseki: String,
        /// 筆頭者.
        head_of_family_register: String,
    },
    /// 外国人住民 (住基法30条の45).
    Foreign {
        /// 国籍・地域.
        nationality: String,
        /// 在留資格.
        residence_status: String,
        /// 在留期間等の満了の日.
        residence_expires_on: Date,
        /// 在留カード等番号.
        residence_card_number: String,
    },
}

/// Whether the person is on the 住民基本台帳 now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResidentStatus {
    /// 住民 (active record).
    Active,
    /// 転出 notified: the record becomes a 除票 on the planned day.
    MovedOut {
        /// 転出先.
        destination: String,
        /// 転出予定年月日.
        planned_on: Date,
    },
}

/// 転入 details: the 転入届出年月日 and 従前の住所 (転入前住所).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveInRecord {
    /// 届出年月日.
    pub notified_on: Date,
    /// 転入前住所.
    pub previous_address: String,
}

/// A person as the resident system holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// 宛名番号.
    pub id: PersonId,
    /// The household the person belongs to.
    pub household_id: HouseholdId,
    /// 氏名.
    pub name: Name,
    /// 生年月日.
    pub birth_date: Date,
    /// 男女の別.
    pub sex: Sex,
    /// 続柄 (世帯主, 妻, 子, …).
    pub relationship: String,
    /// 住民票コード.
    pub resident_code: ResidentRecordCode,
    /// 個人番号 (特定個人情報: access-controlled everywhere).
    pub individual_number: IndividualNumber,
    /// 住民となった年月日.
    pub became_resident_on: Date,
    /// 住所を定めた年月日 (blank if the person never moved within the municipality).
    pub address_fixed_on: Option<Date>,
    /// 転入届出年月日 and 転入前住所.
    pub moved_in: Option<MoveInRecord>,
    /// 本籍・筆頭者, or the foreign-resident items.
    pub registry: Registry,
    /// 支援措置 / 抑止: a hard stop for every certificate; the address must never reach an operator.
    pub support_measure: bool,
    /// Whether the record is active.
    pub status: ResidentStatus,
}

impl Person {
    /// Whether this is a 外国人住民.
    pub fn is_foreign(&self) -> bool {
        matches!(self.registry, Registry::Foreign { .. })
    }
}

/// A household (世帯) with its address and members, head first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    /// 世帯番号.
    pub id: HouseholdId,
    /// 世帯主.
    pub head: PersonId,
    /// 住所.
    pub address: Address,
    /// Members, the 世帯主 first, then in the resident system's order.
    pub members: Vec<Person>,
}

/// One search hit: enough to pick the right person, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSummary {
    /// 宛名番号.
    pub id: PersonId,
    /// 世帯番号.
    pub household_id: HouseholdId,
    /// 氏名.
    pub name: Name,
    /// 生年月日.
    pub birth_date: Date,
    /// 男女の別.
    pub sex: Sex,
    /// 住所 of the household.
    pub address: Address,
    /// 支援措置 / 抑止.
    pub support_measure: bool,
    /// Whether the record is active.
    pub status: ResidentStatus,
}

/// What to search for. Several criteria narrow each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Prefix of the name, in kana (hiragana or katakana, half or full width) or in kanji, or in the alphabet.
    pub name_prefix: Option<String>,
    /// 生年月日.
    pub birth_date: Option<Date>,
    /// Prefix of the address (町域 onward, or the full address).
    pub address_prefix: Option<String>,
    /// 住民票コード.
    pub resident_code: Option<String>,
    /// At most this many hits (1–200; 0 means the default 50).
    pub limit: u32,
}

/// Where the persons of a 異動 go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HouseholdTarget {
    /// A new household; the first person listed is its 世帯主.
    New,
    /// Join an existing household.
    Existing(HouseholdId),
}

/// A person arriving by 転入.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPerson {
    /// 氏名.
    pub name: Name,
    /// 生年月日.
    pub birth_date: Date,
    /// 男女の別.
    pub sex: Sex,
    /// 続柄.
    pub relationship: String,
    /// 住民票コード carried over from the 転出証明書 (absent for a first registration from abroad).
    pub resident_code: Option<ResidentRecordCode>,
    /// 個人番号 carried over.
    pub individual_number: Option<IndividualNumber>,
    /// 本籍・筆頭者 or the foreign-resident items.
    pub registry: Registry,
}

/// 住民異動: one notification as entered at the counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveEntry {
    /// 転入.
    MoveIn {
        /// Persons moving in, 世帯主 first when a new household is formed.
        persons: Vec<NewPerson>,
        /// New address in the ward.
        address: Address,
        /// New or existing household.
        household: HouseholdTarget,
        /// 転入年月日.
        moved_on: Date,
        /// 届出年月日.
        notified_on: Date,
        /// 転入前住所.
        previous_address: String,
    },
    /// 転出.
    MoveOut {
        /// Persons moving out.
        persons: Vec<PersonId>,
        /// 転出先.
        destination: String,
        /// 転出予定年月日.
        planned_on: Date,
        /// 届出年月日.
        notified_on: Date,
    },
    /// 転居 (within the ward).
    MoveWithin {
        /// Persons moving.
        persons: Vec<PersonId>,
        /// New address.
        new_address: Address,
        /// 転居年月日.
        moved_on: Date,
        /// 届出年月日.
        notified_on: Date,
    },
    /// 世帯変更 (世帯主・続柄).
    HouseholdChange {
        /// The household.
        household: HouseholdId,
        /// The new 世帯主.
        new_head: PersonId,
        /// New 続柄 per member.
        relationships: Vec<RelationshipChange>,
        /// 変更年月日.
        changed_on: Date,
    },
}

/// One member's new 続柄 in a 世帯変更.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipChange {
    /// The member.
    pub person: PersonId,
    /// The new 続柄.
    pub relationship: String,
}

/// A 異動 entry sent to the resident system, with the key that makes a resend harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveSubmission {
    /// Idempotency key (the case id): the same key never applies twice.
    pub idempotency_key: String,
    /// The entry.
    pub entry: MoveEntry,
}

/// The resident system's acknowledgement of a 異動 entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveReceipt {
    /// The key the entry was sent with.
    pub idempotency_key: String,
    /// Persons created or changed.
    pub affected: Vec<PersonId>,
    /// The household the persons now belong to (for 転入 and 転居), if one.
    pub household: Option<HouseholdId>,
}

/// 印鑑登録: a seal registration on the 印鑑登録原票.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealRegistration {
    /// 登録番号 (on the 印鑑登録証).
    pub registration_number: String,
    /// Whose seal.
    pub person_id: PersonId,
    /// 登録年月日.
    pub registered_on: Date,
    /// 印影: the impression as a PNG image (base64 on the wire).
    #[serde(with = "base64_bytes")]
    pub impression_png: Vec<u8>,
    /// 廃止年月日, if abolished.
    pub abolished_on: Option<Date>,
}

/// A request to register a seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealApplication {
    /// Idempotency key (the case id).
    pub idempotency_key: String,
    /// Whose seal.
    pub person_id: PersonId,
    /// 印影 as a PNG image (base64 on the wire).
    #[serde(with = "base64_bytes")]
    pub impression_png: Vec<u8>,
    /// 登録年月日.
    pub registered_on: Date,
}

/// A request to abolish a seal registration (廃止).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealAbolition {
    /// Idempotency key (the case id).
    pub idempotency_key: String,
    /// 登録番号.
    pub registration_number: String,
    /// 廃止年月日.
    pub abolished_on: Date,
}

/// Binary values (the 印影 PNG) as standard base64 strings, so the JSON contract carries images as text rather
/// than as arrays of numbers.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}
