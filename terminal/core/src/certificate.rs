//! The content of a certificate, decided before any layout: which persons, which items, the 認証文, the date in 和暦
//! and the issuer. It is built from the resident record and the request (so a third party never gets 住民票コード or
//! 個人番号, whatever was asked), serialized canonically, and those bytes are what review approves by hash. The
//! page layouts of the standard forms render from this same document.

use serde::{Deserialize, Serialize};

use backend_adapter::types::{Household, Person, Registry};

use crate::request::{CertificateKind, CertificateRequest, OptionalItems};
use crate::wareki::format_date_kanji;

/// Media type of a printed certificate: what review approves and the printer receives.
pub const PDF_MEDIA_TYPE: &str = "application/pdf";

/// How this deployment prints certificates: the issuer, its 公印, and whether every sheet is a 「見本」 (demo and
/// training).
#[derive(Debug, Clone)]
pub struct CertificateProfile {
    /// The ward as issuer.
    pub issuer: Issuer,
    /// The 公印 image (PNG).
    pub official_seal_png: std::sync::Arc<Vec<u8>>,
    /// Every sheet carries 「見本」.
    pub specimen: bool,
}

impl CertificateProfile {
    /// A profile whose 公印 is drawn from the issuer's title (demo, training, tests).
    pub fn generated(issuer: Issuer, specimen: bool) -> Result<Self, crate::render::raster::RasterError> {
        let seal = crate::render::official_seal_png(&issuer.head_title)?;
        Ok(Self { issuer, official_seal_png: std::sync::Arc::new(seal), specimen })
    }

    /// Lay out `document` with these numbers; every character is checked against the fonts.
    pub fn pages(
        &self,
        document: &CertificateDocument,
        seal_impression_png: Option<std::sync::Arc<Vec<u8>>>,
        numbers: &crate::store::ReservedNumbers,
    ) -> Result<Vec<crate::render::Page>, crate::error::CoreError> {
        let input = crate::render::layout::LayoutInput {
            document,
            official_seal_png: self.official_seal_png.clone(),
            seal_impression_png,
            marks: crate::render::layout::SheetMarks {
                issue_number: format!("第{:06}号", numbers.issue_number),
                control_number: numbers.control_number.clone(),
            },
            specimen: self.specimen,
        };
        crate::render::certificate_pages(&input).map_err(crate::error::CoreError::Layout)
    }

    /// Lay out a 照会書兼回答書 (「見本」 on it when this profile prints specimens).
    pub fn letter_pages(
        &self,
        letter: &crate::inquiry::InquiryLetter,
    ) -> Result<Vec<crate::render::Page>, crate::error::CoreError> {
        crate::render::inquiry_letter_pages(letter, self.specimen).map_err(crate::error::CoreError::Layout)
    }
}

/// The ward as issuer (configured per deployment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    /// 市区町村名.
    pub municipality: String,
    /// 首長の職名 (e.g. 新宿区長).
    pub head_title: String,
    /// 首長の氏名.
    pub head_name: String,
}

/// One person's items as they will be printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonEntry {
    /// 氏名 (exact code points).
    pub name: String,
    /// 振り仮名, if asked and recorded.
    pub furigana: Option<String>,
    /// 旧氏, if asked and recorded.
    pub former_family_name: Option<String>,
    /// 通称 of a foreign resident.
    pub common_name: Option<String>,
    /// 生年月日 (和暦).
    pub birth_date: String,
    /// 男女の別.
    pub sex: String,
    /// 続柄 (when 世帯主・続柄 is asked).
    pub relationship: Option<String>,
    /// 住民となった年月日.
    pub became_resident_on: String,
    /// 住所を定めた年月日.
    pub address_fixed_on: Option<String>,
    /// 転入前住所 and its 届出年月日, if asked.
    pub previous_address: Option<String>,
    /// 本籍・筆頭者 or 国籍・地域, if asked.
    pub registry: Option<String>,
    /// 住民票コード, only on 特別の請求 by 本人等.
    pub resident_code: Option<String>,
    /// 個人番号, only on 特別の請求 by 本人等.
    pub individual_number: Option<String>,
}

/// The content of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDocument {
    /// Which certificate.
    pub kind: CertificateKind,
    /// Title printed on the sheet.
    pub title: String,
    /// 住所.
    pub address: String,
    /// 世帯主 (when asked).
    pub head_of_household: Option<String>,
    /// Persons, in the household's order.
    pub persons: Vec<PersonEntry>,
    /// The items the requester may receive (after the third-party rule).
    pub items: OptionalItems,
    /// 認証文.
    pub certification: String,
    /// 証明日 in 和暦.
    pub certified_on: String,
    /// The issuer.
    pub issuer: Issuer,
    /// 通数.
    pub copies: u8,
    /// 転出先 and 転出予定年月日 (転出証明書).
    pub move_out: Option<MoveOutDetails>,
    /// 印鑑登録 details (印鑑登録証明書).
    pub seal: Option<SealDetails>,
}

/// The items of a 転出証明書: what the 転入 needs, 住民票コード and 個人番号 included.
pub const MOVE_OUT_ITEMS: OptionalItems = OptionalItems {
    head_and_relationship: true,
    registry: true,
    resident_code: true,
    individual_number: true,
    previous_address: false,
    former_family_name: true,
    furigana: true,
};

/// 転出先 and dates on a 転出証明書.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveOutDetails {
    /// 転出先.
    pub destination: String,
    /// 転出予定年月日 (和暦).
    pub planned_on: String,
    /// 届出年月日 (和暦).
    pub notified_on: String,
}

/// The seal registration a 印鑑登録証明書 certifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealDetails {
    /// 登録番号.
    pub registration_number: String,
    /// 登録年月日 (和暦).
    pub registered_on: String,
}

/// Why a document could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// A date cannot be written in 和暦.
    #[error("a date cannot be written in the Japanese calendar: {0}")]
    Date(#[from] crate::wareki::WarekiError),
    /// A requested person is not in the household.
    #[error("person {0} is not a member of the household")]
    NotAMember(String),
    /// The document could not be serialized.
    #[error("the document could not be serialized: {0}")]
    Serialize(String),
}

fn person_entry(person: &Person, items: OptionalItems) -> Result<PersonEntry, DocumentError> {
    let name = &person.name;
    Ok(PersonEntry {
        name: name.display(),
        furigana: if items.furigana { name.display_kana() } else { None },
        former_family_name: if items.former_family_name { name.former_family.clone() } else { None },
        common_name: name.common_name.clone(),
        birth_date: format_date_kanji(person.birth_date)?,
        sex: person.sex.label_ja().to_string(),
        relationship: items.head_and_relationship.then(|| person.relationship.clone()),
        became_resident_on: format_date_kanji(person.became_resident_on)?,
        address_fixed_on: person.address_fixed_on.map(format_date_kanji).transpose()?,
        previous_address: match (&person.moved_in, items.previous_address) {
            (Some(moved), true) => {
                Some(format!("{}（{}届出）", moved.previous_address, format_date_kanji(moved.notified_on)?))
            }
            _ => None,
        },
        registry: items.registry.then(|| match &person.registry {
            Registry::Japanese { honseki, head_of_family_register } => {
                format!("本籍 {honseki}　筆頭者 {head_of_family_register}")
            }
            Registry::Foreign { nationality, .. } => format!("国籍・地域 {nationality}"),
        }),
        resident_code: items.resident_code.then(|| person.resident_code.as_str().to_string()),
        individual_number: items.individual_number.then(|| person.individual_number.as_str().to_string()),
    })
}

impl CertificateDocument {
    /// Build a 住民票の写し or 記載事項証明書 from the household and the request; `items` must already be the
    /// effective items (see `CounterRequest::effective_items`).
    pub fn resident_record(
        household: &Household,
        request: &CertificateRequest,
        items: OptionalItems,
        issuer: &Issuer,
        today: jiff::civil::Date,
    ) -> Result<Self, DocumentError> {
        let selected: Vec<&Person> = if request.persons.is_empty() {
            household.members.iter().collect()
        } else {
            request
                .persons
                .iter()
                .map(|id| {
                    household
                        .members
                        .iter()
                        .find(|p| p.id == *id)
                        .ok_or_else(|| DocumentError::NotAMember(id.to_string()))
                })
                .collect::<Result<_, _>>()?
        };
        let persons = selected.iter().map(|p| person_entry(p, items)).collect::<Result<Vec<_>, _>>()?;
        let head = household.members.iter().find(|p| p.id == household.head).map(|p| p.name.display());
        let certification = match request.kind {
            CertificateKind::ResidentRecordItems => "上記の記載事項は、住民票の原本と相違ないことを証明する。",
            _ => "この写しは、世帯全員（又は一部）の住民票の原本と相違ないことを証明する。",
        };
        Ok(Self {
            kind: request.kind,
            title: request.kind.title_ja().to_string(),
            address: household.address.display(),
            head_of_household: if items.head_and_relationship { head } else { None },
            persons,
            items,
            certification: certification.to_string(),
            certified_on: format_date_kanji(today)?,
            issuer: issuer.clone(),
            copies: request.copies,
            move_out: None,
            seal: None,
        })
    }

    /// Build a 転出証明書 for the persons moving out of `household`.
    pub fn move_out(
        household: &Household,
        persons: &[backend_adapter::types::PersonId],
        destination: &str,
        planned_on: jiff::civil::Date,
        notified_on: jiff::civil::Date,
        issuer: &Issuer,
        today: jiff::civil::Date,
    ) -> Result<Self, DocumentError> {
        let items = MOVE_OUT_ITEMS;
        let selected = persons
            .iter()
            .map(|id| {
                household.members.iter().find(|p| p.id == *id).ok_or_else(|| DocumentError::NotAMember(id.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let head = household.members.iter().find(|p| p.id == household.head).map(|p| p.name.display());
        Ok(Self {
            kind: CertificateKind::MoveOutCertificate,
            title: CertificateKind::MoveOutCertificate.title_ja().to_string(),
            address: household.address.display(),
            head_of_household: head,
            persons: selected.iter().map(|p| person_entry(p, items)).collect::<Result<_, _>>()?,
            items,
            certification: "上記の者は、転出の届出をしたことを証明する。".to_string(),
            certified_on: format_date_kanji(today)?,
            issuer: issuer.clone(),
            copies: 1,
            move_out: Some(MoveOutDetails {
                destination: destination.to_string(),
                planned_on: format_date_kanji(planned_on)?,
                notified_on: format_date_kanji(notified_on)?,
            }),
            seal: None,
        })
    }

    /// Build a 印鑑登録証明書 for `person`'s registration.
    pub fn seal_certificate(
        person: &Person,
        address: &backend_adapter::types::Address,
        registration: &backend_adapter::types::SealRegistration,
        issuer: &Issuer,
        today: jiff::civil::Date,
        copies: u8,
    ) -> Result<Self, DocumentError> {
        let items = OptionalItems { former_family_name: true, ..OptionalItems::default() };
        Ok(Self {
            kind: CertificateKind::SealCertificate,
            title: CertificateKind::SealCertificate.title_ja().to_string(),
            address: address.display(),
            head_of_household: None,
            persons: vec![person_entry(person, items)?],
            items,
            certification: "この写しは、登録されている印影と相違ないことを証明する。".to_string(),
            certified_on: format_date_kanji(today)?,
            issuer: issuer.clone(),
            copies,
            move_out: None,
            seal: Some(SealDetails {
                registration_number: registration.registration_number.clone(),
                registered_on: format_date_kanji(registration.registered_on)?,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ReservedNumbers;

    #[test]
    fn the_same_document_and_numbers_always_render_the_same_pdf_bytes() {
        let document = crate::sample::sample_document(
            crate::request::CertificateKind::ResidentRecordHousehold,
            jiff::civil::date(2026, 11, 20),
        )
        .expect("document");
        let profile = CertificateProfile::generated(crate::sample::demo_issuer(), false).expect("profile");
        let numbers = ReservedNumbers { issue_number: 7, control_number: "post-1-000007".into() };
        let render =
            || crate::render::pdf::render_pdf(&profile.pages(&document, None, &numbers).expect("pages")).expect("pdf");
        assert_eq!(render(), render(), "PDF output is a pure function of the document, numbers and profile");
    }
}
