//! 印鑑登録証明書 (issue 5): the 印鑑登録証 presented names the registration; the certificate is prepared from the
//! 印鑑登録原票 with the registered 印影, reviewed by another person by its bytes and issued with its fee. A card of
//! another resident, an abolished registration or a number that is not digits is refused, with the read recorded
//! and no number reserved.

use backend_adapter::ResidentSystem as _;
use backend_adapter::types::{PersonId, SealAbolition};
use madoguchi_core::error::{CoreError, SealCardProblem};
use madoguchi_core::request::{
    CounterRequest, IdentityCheck, IdentityDocument, Requester, RequesterCategory, SealRegistrationPath, TaskRequest,
};
use madoguchi_core::store::verify_audit_chain;

use crate::raw_i64;
use crate::support::{TestStore, compact, counter_with_users, login, pdf_text, residents, test_clock};

crate::on_both_backends! {
    a_seal_certificate_shows_the_registered_impression_of_the_card_presented => seal_certificate;
}

fn seal_certificate_request(person: PersonId, number: &str) -> CounterRequest {
    CounterRequest {
        requester: Requester {
            category: RequesterCategory::Self_,
            name: "印鑑 太郎".into(),
            address: "東京都新宿区".into(),
            corporate_number: None,
            purpose: String::new(),
            identity: IdentityCheck { documents: vec![IdentityDocument::DriversLicence], letter_of_attorney: false },
        },
        task: TaskRequest::Seal {
            person,
            path: SealRegistrationPath::SameDay,
            registration_number: Some(number.into()),
        },
        fee_exemption: None,
    }
}

async fn seal_certificate(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 60).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    let operator = login(&counter, "op1", "post-1").await;
    let reviewer = login(&counter, "rev1", "review-1").await;
    let numbers = residents.seal_numbers(2).await.expect("seals");
    assert_eq!(numbers.len(), 2, "the population registers seals");
    let seal = residents.seal_by_number(&numbers[0]).await.expect("seal");
    let other = residents.seal_by_number(&numbers[1]).await.expect("seal");
    let registrant = residents.person(seal.person_id).await.expect("person");
    let reserved = || async { raw_i64!(&store.raw, "SELECT count(*) FROM number_reservations").expect("count") };
    let audit = || async { raw_i64!(&store.raw, "SELECT count(*) FROM audit_log").expect("count") };

    let case_id =
        counter.open_case(&operator, seal_certificate_request(registrant.id, &numbers[0])).await.expect("open");
    let output = counter.prepare_and_submit(&operator, case_id).await.expect("prepare");
    let text = compact(&pdf_text(&output.bytes, false));
    assert!(text.contains("印鑑登録証明書"), "{text}");
    assert!(text.contains(&compact(&registrant.name.display())), "{text}");
    assert!(text.contains("登録年月日"), "{text}");
    assert!(output.issue_number.is_some());
    // The registered 印影 is on the sheet, and the review preview lays the same bytes out again with it.
    let dir_pdf = dir.path().join("seal.pdf");
    std::fs::write(&dir_pdf, &output.bytes).expect("write");
    let images = std::process::Command::new("pdfimages").arg("-list").arg(&dir_pdf).output().expect("pdfimages");
    let listing = String::from_utf8_lossy(&images.stdout);
    let images = listing.lines().filter(|line| line.split_whitespace().nth(2) == Some("image")).count();
    assert_eq!(images, 2, "the registered 印影 and the 公印 are the sheet's images:\n{listing}");
    let pages = counter.preview_pages(&output).expect("the preview reproduces the bytes, 印影 included");
    assert_eq!(pages.len(), 1);
    let (_, reviewed) = counter.review(&reviewer, case_id).await.expect("review");
    counter.approve(&reviewer, case_id, reviewed.sha256).await.expect("approve");
    let issued = counter.issue(&reviewer, case_id, 1).await.expect("issue");
    assert_eq!(issued.fee_yen, 300, "the demo table's fee");

    // Another resident's card, an abolished registration: refused, the read recorded, no number reserved.
    let (before_numbers, before_audit) = (reserved().await, audit().await);
    let case_id =
        counter.open_case(&operator, seal_certificate_request(registrant.id, &numbers[1])).await.expect("open");
    let refused = counter.prepare_and_submit(&operator, case_id).await;
    assert!(matches!(refused, Err(CoreError::SealCardRefused(SealCardProblem::OtherPerson))), "{refused:?}");
    assert!(refused.is_err_and(|e| e.message_ja().contains("選んだ住民の登録ではありません")));
    assert_ne!(other.person_id, registrant.id);
    assert_eq!(reserved().await, before_numbers, "no number reserved");
    assert_eq!(audit().await, before_audit + 3, "case created, then the case and the 原票 reads recorded");
    residents
        .abolish_seal(&SealAbolition {
            idempotency_key: "abolish-test".into(),
            registration_number: numbers[0].clone(),
            abolished_on: jiff::civil::date(2026, 11, 19),
        })
        .await
        .expect("abolish");
    let case_id =
        counter.open_case(&operator, seal_certificate_request(registrant.id, &numbers[0])).await.expect("open");
    let refused = counter.prepare_and_submit(&operator, case_id).await;
    assert!(matches!(refused, Err(CoreError::SealCardRefused(SealCardProblem::Abolished))), "{refused:?}");
    let typed = counter.open_case(&operator, seal_certificate_request(registrant.id, "12-34")).await;
    let Err(CoreError::Validation(errors)) = typed else { panic!("{typed:?}") };
    assert!(errors.for_field("seal.registration_number").is_some());
    assert!(verify_audit_chain(store.store.as_ref()).await.expect("read").is_ok());
}
