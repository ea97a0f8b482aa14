//! A fixed synthetic household for certificate samples, training material and layout tests. Its names hold the
//! characters a ward must print exactly: 𠮷 (supplementary plane), 髙 and 﨑 (MJ characters), and 葛󠄂 (葛 with the
//! Moji_Joho variation selector U+E0102). No real person.

use jiff::civil::date;

use backend_adapter::identifiers::{IndividualNumber, ResidentRecordCode};
use backend_adapter::types::{
    Address, Household, HouseholdId, MoveInRecord, Name, Person, PersonId, Registry, ResidentStatus, SealRegistration,
    Sex,
};

use crate::certificate::Issuer;

fn name(family: &str, given: &str, family_kana: &str, given_kana: &str) -> Name {
    Name {
        family: family.into(),
        given: given.into(),
        family_kana: Some(family_kana.into()),
        given_kana: Some(given_kana.into()),
        former_family: None,
        former_family_kana: None,
        common_name: None,
        alphabet: None,
    }
}

fn identifiers(index: u64) -> (ResidentRecordCode, IndividualNumber) {
    let code_body = format!("{:010}", 2_472_705_960 + index * 7);
    let number_body = format!("{:011}", 98_320_567_321 + index * 13);
    let code_digit = ResidentRecordCode::compute_check_digit(&code_body).unwrap_or(0);
    let number_digit = IndividualNumber::compute_check_digit(&number_body).unwrap_or(0);
    let code = ResidentRecordCode::parse(&format!("{code_body}{code_digit}")).map(|(c, _)| c);
    let number = IndividualNumber::parse(&format!("{number_body}{number_digit}"));
    match (code, number) {
        (Ok(code), Ok(number)) => (code, number),
        // The bodies above are fixed digits, so parsing cannot fail; a fallback keeps this total.
        _ => identifiers(0),
    }
}

/// The sample household: six persons (two sheets of 世帯連記式).
pub fn sample_household() -> Household {
    let registry = Registry::Japanese {
        honseki: "東京都新宿区西新宿二丁目8番地".into(),
        head_of_family_register: "葛\u{E0102}西\u{3000}一郎".into(),
    };
    let members = [
        (name("葛\u{E0102}西", "一郎", "カサイ", "イチロウ"), "世帯主", Sex::Male, date(1975, 4, 1)),
        (name("葛\u{E0102}西", "𠮷乃", "カサイ", "ヨシノ"), "妻", Sex::Female, date(1977, 8, 15)),
        (name("葛\u{E0102}西", "蓮", "カサイ", "レン"), "子", Sex::Male, date(2008, 5, 20)),
        (name("葛\u{E0102}西", "陽菜", "カサイ", "ヒナ"), "子", Sex::Female, date(2010, 11, 3)),
        (name("髙橋", "和子", "タカハシ", "カズコ"), "妻の母", Sex::Female, date(1949, 2, 11)),
        (name("葛\u{E0102}西", "湊", "カサイ", "ミナト"), "子", Sex::Male, date(2020, 6, 1)),
    ];
    let members = members
        .into_iter()
        .enumerate()
        .map(|(index, (mut name, relationship, sex, birth_date))| {
            if index == 1 {
                name.former_family = Some("髙﨑".into());
                name.former_family_kana = Some("タカサキ".into());
            }
            let (resident_code, individual_number) = identifiers(index as u64);
            Person {
                id: PersonId(900_001 + index as i64),
                household_id: HouseholdId(900_001),
                name,
                birth_date,
                sex,
                relationship: relationship.into(),
                resident_code,
                individual_number,
                became_resident_on: date(2012, 4, 1).max(birth_date),
                address_fixed_on: (index == 0).then(|| date(2019, 5, 1)),
                moved_in: Some(MoveInRecord {
                    notified_on: date(2012, 4, 10),
                    previous_address: "大阪府大阪市北区中之島一丁目3番20号".into(),
                }),
                registry: registry.clone(),
                support_measure: false,
                status: ResidentStatus::Active,
            }
        })
        .collect();
    Household {
        id: HouseholdId(900_001),
        head: PersonId(900_001),
        address: Address {
            postal_code: "1600023".into(),
            prefecture: "東京都".into(),
            city: "新宿区".into(),
            town: "西新宿二丁目".into(),
            block: "8番1号".into(),
            building: Some("メゾン若松305号室".into()),
        },
        members,
    }
}

/// The sample person of single-person certificates (the one whose names hold all four rare characters).
pub fn sample_person() -> Person {
    let household = sample_household();
    household.members.into_iter().nth(1).unwrap_or_else(|| sample_household().members.remove(0))
}

/// The sample seal registration of [`sample_person`].
pub fn sample_seal_registration() -> SealRegistration {
    SealRegistration {
        registration_number: "10012345".into(),
        person_id: sample_person().id,
        registered_on: date(2015, 6, 1),
        impression_png: backend_adapter::reference::synthetic_impression(10_012_345),
        abolished_on: None,
    }
}

/// The demo ward.
pub fn demo_issuer() -> Issuer {
    Issuer {
        municipality: "新宿区".into(), head_title: "新宿区長".into(), head_name: "見本\u{3000}太郎".into()
    }
}

/// The sample document of a certificate kind, certified on `today`.
pub fn sample_document(
    kind: crate::request::CertificateKind,
    today: jiff::civil::Date,
) -> Result<crate::certificate::CertificateDocument, crate::certificate::DocumentError> {
    use crate::certificate::CertificateDocument;
    use crate::request::{CertificateKind, CertificateRequest, OptionalItems};
    let household = sample_household();
    let issuer = demo_issuer();
    let person = sample_person();
    let all_items = OptionalItems {
        head_and_relationship: true,
        registry: true,
        resident_code: false,
        individual_number: false,
        previous_address: true,
        former_family_name: true,
        furigana: true,
    };
    let request = |kind, persons: Vec<PersonId>, items| CertificateRequest {
        kind,
        household: household.id,
        persons,
        items,
        copies: 1,
        move_case: None,
    };
    match kind {
        CertificateKind::ResidentRecordHousehold => CertificateDocument::resident_record(
            &household,
            &request(kind, Vec::new(), all_items),
            all_items,
            &issuer,
            today,
        ),
        CertificateKind::ResidentRecordIndividual | CertificateKind::ResidentRecordItems => {
            // The 個人票 shows everything, codes included (特別の請求 by 本人); the 記載事項証明書 only what it certifies.
            let items = if kind == CertificateKind::ResidentRecordIndividual {
                OptionalItems { resident_code: true, individual_number: true, ..all_items }
            } else {
                OptionalItems { furigana: true, former_family_name: true, ..OptionalItems::default() }
            };
            CertificateDocument::resident_record(
                &household,
                &request(kind, vec![person.id], items),
                items,
                &issuer,
                today,
            )
        }
        CertificateKind::MoveOutCertificate => {
            let movers: Vec<PersonId> = household.members.iter().take(4).map(|p| p.id).collect();
            CertificateDocument::move_out(
                &household,
                &movers,
                "大阪府大阪市北区中之島一丁目3番20号",
                date(2026, 12, 1),
                today,
                &issuer,
                today,
            )
        }
        CertificateKind::SealCertificate => CertificateDocument::seal_certificate(
            &person,
            &household.address,
            &sample_seal_registration(),
            &issuer,
            today,
            1,
        ),
    }
}

/// A person's own request for their household's 住民票の写し（世帯連記式, 世帯主・続柄）, shown a photo ID: the request
/// the demo walks through and tests build on.
pub fn own_household_copy_request(
    household: backend_adapter::types::HouseholdId,
    name: &str,
    address: &str,
    document: crate::request::IdentityDocument,
) -> crate::request::CounterRequest {
    use crate::request::{
        CertificateKind, CertificateRequest, CounterRequest, IdentityCheck, OptionalItems, Requester,
        RequesterCategory, TaskRequest,
    };
    CounterRequest {
        requester: Requester {
            category: RequesterCategory::Self_,
            name: name.to_string(),
            address: address.to_string(),
            corporate_number: None,
            purpose: String::new(),
            identity: IdentityCheck { documents: vec![document], letter_of_attorney: false },
        },
        task: TaskRequest::Certificate(CertificateRequest {
            kind: CertificateKind::ResidentRecordHousehold,
            household,
            persons: Vec::new(),
            items: OptionalItems { head_and_relationship: true, ..OptionalItems::default() },
            copies: 1,
            move_case: None,
        }),
        fee_exemption: None,
    }
}
