//! The embedded reference resident system through the `ResidentSystem` port: searches, 異動 entries with
//! idempotency keys, seal registrations, and the generator's determinism and character coverage.

use backend_adapter::ResidentSystem;
use backend_adapter::ResidentSystemError;
use backend_adapter::reference::{GenerationOptions, ReferenceResidentSystem, generate};
use backend_adapter::types::{
    HouseholdTarget, MoveEntry, MoveSubmission, Name, NewPerson, Registry, ResidentStatus, SealAbolition,
    SealApplication, SearchQuery, Sex,
};
use jiff::civil::date;

use crate::support::HttpServer;

async fn population(dir: &std::path::Path, seed: u64, households: u64) -> ReferenceResidentSystem {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let path = dir.join(format!("residents-{seed}-{households}-{}.sqlite", NEXT.fetch_add(1, Ordering::SeqCst)));
    generate(&path, GenerationOptions { seed, households }, &|_, _| {}).await.expect("generate");
    ReferenceResidentSystem::open(&path).await.expect("open")
}

#[tokio::test]
async fn generation_is_deterministic_and_covers_rare_characters() {
    let dir = tempfile::tempdir().expect("dir");
    let a = population(dir.path(), 11, 1500).await;
    let b = population(dir.path(), 11, 1500).await;
    let c = population(dir.path(), 12, 1500).await;
    let first = |r: ReferenceResidentSystem| async move {
        let ids = r.household_ids(0, 30).await.expect("ids");
        let mut out = Vec::new();
        for id in ids {
            out.push(r.household(id).await.expect("household"));
        }
        out
    };
    let (ha, hb, hc) = (first(a.clone()).await, first(b).await, first(c).await);
    assert_eq!(ha, hb, "same seed, same residents");
    assert_ne!(ha, hc, "another seed, other residents");
    assert!(a.person_count().await.expect("count") > 1500);
    let mut households = Vec::new();
    for id in a.household_ids(0, 1500).await.expect("ids") {
        households.push(a.household(id).await.expect("household"));
    }
    let names: Vec<String> = households.iter().flat_map(|h| h.members.iter().map(|p| p.name.display())).collect();
    for rare in ["髙", "﨑", "𠮷", "葛\u{E0102}"] {
        assert!(names.iter().any(|n| n.contains(rare)), "no name with {rare}");
    }
    let sizes: Vec<usize> = households.iter().map(|h| h.members.len()).collect();
    assert!(sizes.iter().all(|s| (1..=8).contains(s)));
    assert!(sizes.contains(&1) && sizes.iter().any(|s| *s >= 6));
    assert!(households.iter().flat_map(|h| &h.members).any(|p| matches!(p.registry, Registry::Foreign { .. })));
    assert!(households.iter().all(|h| h.address.city == "新宿区" && h.address.postal_code.starts_with("16")));
    assert!(!a.persons_under_support_measure(5).await.expect("ids").is_empty());
    assert!(!a.seal_numbers(5).await.expect("seals").is_empty());
}

async fn name_search_finds_kana_kanji_and_variants(port: &dyn ResidentSystem) {
    for (prefix, must_contain) in [("やまだ", "山田"), ("ﾔﾏﾀﾞ", "山田"), ("山田", "山田"), ("高橋", "橋")]
    {
        let hits = port
            .search(&SearchQuery { name_prefix: Some(prefix.into()), limit: 200, ..Default::default() })
            .await
            .expect("search");
        assert!(!hits.is_empty(), "{prefix}");
        let matches = |name: &Name| {
            name.display().contains(must_contain)
                || name.former_family.as_deref().is_some_and(|f| f.contains(must_contain))
                || name.common_name.as_deref().is_some_and(|c| c.contains(must_contain))
        };
        assert!(hits.iter().all(|h| matches(&h.name)), "{prefix}");
    }
    let takahashi = port
        .search(&SearchQuery { name_prefix: Some("高橋".into()), limit: 200, ..Default::default() })
        .await
        .expect("search");
    assert!(takahashi.iter().any(|h| h.name.family == "髙橋"), "高橋 finds 髙橋 (variant folding for search only)");
    let sample = &takahashi[0];
    let by_birth = port
        .search(&SearchQuery {
            name_prefix: Some("タカハシ".into()),
            birth_date: Some(sample.birth_date),
            ..Default::default()
        })
        .await
        .expect("search");
    assert!(by_birth.iter().all(|h| h.birth_date == sample.birth_date) && !by_birth.is_empty());
    let person = port.person(sample.id).await.expect("person");
    let by_code = port
        .search(&SearchQuery { resident_code: Some(person.resident_code.as_str().into()), ..Default::default() })
        .await
        .expect("search");
    assert_eq!(by_code.len(), 1);
    assert_eq!(by_code[0].id, sample.id);
    let by_address = port
        .search(&SearchQuery { address_prefix: Some(sample.address.town.clone()), ..Default::default() })
        .await
        .expect("search");
    assert!(by_address.iter().any(|h| h.household_id == sample.household_id));
    let err = port.search(&SearchQuery::default()).await.expect_err("empty query");
    assert!(matches!(err, ResidentSystemError::InvalidQuery(_)));
    let err = port.household(backend_adapter::types::HouseholdId(999_999)).await.expect_err("unknown");
    assert!(matches!(err, ResidentSystemError::NotFound { .. }));
    assert!(err.message_ja().contains("世帯"));
}

#[tokio::test]
async fn name_search_finds_kana_kanji_and_variants_directly() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = population(dir.path(), 3, 800).await;
    name_search_finds_kana_kanji_and_variants(&residents).await;
}

#[tokio::test]
async fn name_search_finds_kana_kanji_and_variants_over_the_http_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = population(dir.path(), 3, 800).await;
    let server = HttpServer::start(residents.clone()).await;
    name_search_finds_kana_kanji_and_variants(&server.client).await;
}

fn newcomer(family: &str, kana: &str) -> NewPerson {
    NewPerson {
        name: Name {
            family: family.into(),
            given: "一郎".into(),
            family_kana: Some(kana.into()),
            given_kana: Some("イチロウ".into()),
            former_family: None,
            former_family_kana: None,
            common_name: None,
            alphabet: None,
        },
        birth_date: date(1990, 4, 1),
        sex: Sex::Male,
        relationship: "世帯主".into(),
        resident_code: None,
        individual_number: None,
        registry: Registry::Japanese {
            honseki: "東京都千代田区千代田1番地".into(),
            head_of_family_register: "𠮷野　一郎".into(),
        },
    }
}

async fn move_entries_apply_once_per_key(residents: &ReferenceResidentSystem, port: &dyn ResidentSystem) {
    let address = port.household(residents.household_ids(0, 1).await.expect("ids")[0]).await.expect("h").address;
    let submission = MoveSubmission {
        idempotency_key: "case-1".into(),
        entry: MoveEntry::MoveIn {
            persons: vec![newcomer("𠮷野", "ヨシノ")],
            address: address.clone(),
            household: HouseholdTarget::New,
            moved_on: date(2026, 11, 10),
            notified_on: date(2026, 11, 20),
            previous_address: "大阪府大阪市北区中之島一丁目3番".into(),
        },
    };
    let before = residents.person_count().await.expect("count");
    let first = port.submit_move(&submission).await.expect("move in");
    let again = port.submit_move(&submission).await.expect("resend");
    assert_eq!(first, again, "a resend returns the first receipt");
    assert_eq!(residents.person_count().await.expect("count"), before + 1, "and applies nothing twice");
    let person = port.person(first.affected[0]).await.expect("person");
    assert_eq!(person.name.family, "𠮷野", "the name is stored exactly");
    let hits =
        port.search(&SearchQuery { name_prefix: Some("吉野".into()), ..Default::default() }).await.expect("search");
    assert!(hits.iter().any(|h| h.id == person.id));

    let out = MoveSubmission {
        idempotency_key: "case-2".into(),
        entry: MoveEntry::MoveOut {
            persons: vec![person.id],
            destination: "大阪府大阪市".into(),
            planned_on: date(2026, 12, 1),
            notified_on: date(2026, 11, 21),
        },
    };
    port.submit_move(&out).await.expect("move out");
    let person = port.person(person.id).await.expect("person");
    assert!(matches!(person.status, ResidentStatus::MovedOut { .. }));
    let twice = MoveSubmission { idempotency_key: "case-3".into(), ..out.clone() };
    let err = port.submit_move(&twice).await.expect_err("already moved out");
    assert!(matches!(err, ResidentSystemError::Rejected { .. }));
    let wrong_kind = SealAbolition {
        idempotency_key: "case-2".into(),
        registration_number: "1".into(),
        abolished_on: date(2026, 11, 21),
    };
    let err = port.abolish_seal(&wrong_kind).await.expect_err("key reused for another kind");
    assert!(matches!(err, ResidentSystemError::Rejected { .. }));
}

#[tokio::test]
async fn move_entries_apply_once_per_key_directly() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = population(dir.path(), 5, 50).await;
    move_entries_apply_once_per_key(&residents, &residents).await;
}

#[tokio::test]
async fn move_entries_apply_once_per_key_over_the_http_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = population(dir.path(), 5, 50).await;
    let server = HttpServer::start(residents.clone()).await;
    move_entries_apply_once_per_key(&residents, &server.client).await;
}

async fn seals_register_once_per_adult_and_abolish(residents: &ReferenceResidentSystem, port: &dyn ResidentSystem) {
    let address = port.household(residents.household_ids(0, 1).await.expect("ids")[0]).await.expect("h").address;
    let mut child = newcomer("山田", "ヤマダ");
    child.birth_date = date(2015, 1, 1);
    child.relationship = "子".into();
    let receipt = port
        .submit_move(&MoveSubmission {
            idempotency_key: "in".into(),
            entry: MoveEntry::MoveIn {
                persons: vec![newcomer("山田", "ヤマダ"), child],
                address,
                household: HouseholdTarget::New,
                moved_on: date(2026, 11, 1),
                notified_on: date(2026, 11, 2),
                previous_address: "横浜市".into(),
            },
        })
        .await
        .expect("move in");
    let (adult, minor) = (receipt.affected[0], receipt.affected[1]);
    let png = port.seal_by_number(&residents.seal_numbers(1).await.expect("n")[0]).await.expect("seal").impression_png;
    let apply = |key: &str, person| SealApplication {
        idempotency_key: key.into(),
        person_id: person,
        impression_png: png.clone(),
        registered_on: date(2026, 11, 20),
    };
    let err = port.register_seal(&apply("s0", minor)).await.expect_err("under 15");
    assert!(err.message_ja().contains("15歳"));
    let seal = port.register_seal(&apply("s1", adult)).await.expect("register");
    assert_eq!(port.register_seal(&apply("s1", adult)).await.expect("resend"), seal);
    let err = port.register_seal(&apply("s2", adult)).await.expect_err("one seal per person");
    assert!(err.message_ja().contains("一人一印"));
    let bad = SealApplication { impression_png: b"not an image".to_vec(), ..apply("s3", minor) };
    assert!(port.register_seal(&bad).await.is_err());
    let found = port.seal_by_number(&seal.registration_number).await.expect("lookup");
    assert_eq!(found.person_id, adult);
    let abolished = port
        .abolish_seal(&SealAbolition {
            idempotency_key: "a1".into(),
            registration_number: seal.registration_number.clone(),
            abolished_on: date(2026, 11, 21),
        })
        .await
        .expect("abolish");
    assert_eq!(abolished.abolished_on, Some(date(2026, 11, 21)));
    let err = port.seal_by_number("00000000").await.expect_err("unknown number");
    assert!(matches!(err, ResidentSystemError::NotFound { .. }));
}

#[tokio::test]
async fn seals_register_once_per_adult_and_abolish_directly() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = population(dir.path(), 9, 60).await;
    seals_register_once_per_adult_and_abolish(&residents, &residents).await;
}

#[tokio::test]
async fn seals_register_once_per_adult_and_abolish_over_the_http_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let residents = population(dir.path(), 9, 60).await;
    let server = HttpServer::start(residents.clone()).await;
    seals_register_once_per_adult_and_abolish(&residents, &server.client).await;
}

#[tokio::test]
async fn generating_over_an_existing_file_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("r.sqlite");
    std::fs::write(&path, b"keep me").expect("write");
    let err = generate(&path, GenerationOptions { seed: 1, households: 1 }, &|_, _| {}).await.expect_err("exists");
    assert!(matches!(err, ResidentSystemError::Rejected { .. }));
    assert_eq!(std::fs::read(&path).expect("read"), b"keep me", "nothing changed");
    let err = ReferenceResidentSystem::open(&path).await.expect_err("not a reference store");
    assert!(matches!(err, ResidentSystemError::Unavailable(_) | ResidentSystemError::InvalidResponse(_)));
}
