//! The 転出証明書 of a paper 転出 (issue 5): once the approved entry is committed to the resident system, the post
//! opens its certificate case, prepared from the resident system's record (the 転出先 and 転出予定日 it holds), reviewed
//! by another person and issued like any certificate. Nothing is opened while the entry waits, for a 特例転出, for a
//! 転出 the resident system refused, or a second time for the same 転出.

use backend_adapter::ResidentSystem as _;
use backend_adapter::types::MoveEntry;
use jiff::civil::date;
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::error::CoreError;
use madoguchi_core::outbox::OutboxState;
use madoguchi_core::request::{
    CertificateKind, CounterRequest, IdentityCheck, IdentityDocument, Requester, RequesterCategory, TaskRequest,
};
use madoguchi_core::store::{CaseFilter, verify_audit_chain};

use crate::raw_i64;
use crate::store_suite::ordinary_household;
use crate::support::{TestStore, compact, counter_with_users, login, pdf_text, residents, test_clock};

crate::on_both_backends! {
    a_paper_move_out_ends_in_one_certificate_of_what_the_resident_system_holds => move_out_certificate;
}

fn move_out(persons: Vec<backend_adapter::types::PersonId>, destination: &str, special: bool) -> CounterRequest {
    CounterRequest {
        requester: Requester {
            category: RequesterCategory::Self_,
            name: "転出 太郎".into(),
            address: "東京都新宿区".into(),
            corporate_number: None,
            purpose: String::new(),
            identity: IdentityCheck { documents: vec![IdentityDocument::MyNumberCard], letter_of_attorney: false },
        },
        task: TaskRequest::Move {
            entry: MoveEntry::MoveOut {
                persons,
                destination: destination.into(),
                planned_on: date(2026, 12, 1),
                notified_on: date(2026, 11, 20),
            },
            special_card_procedure: special,
            card_move_out_planned_on: None,
        },
        fee_exemption: None,
    }
}

/// Open, hand over and approve a 異動 case: its id.
async fn approved(counter: &Counter, operator: &Session, reviewer: &Session, request: CounterRequest) -> i64 {
    let case_id = counter.open_case(operator, request).await.expect("open");
    counter.prepare_and_submit(operator, case_id).await.expect("hand over");
    let (_, output) = counter.review(reviewer, case_id).await.expect("review");
    counter.approve(reviewer, case_id, output.sha256).await.expect("approve");
    case_id
}

async fn move_out_certificate(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 30).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    let operator = login(&counter, "op1", "post-1").await;
    let reviewer = login(&counter, "rev1", "review-1").await;
    let household = residents.household(ordinary_household(&residents).await).await.expect("household");
    let person = &household.members[0];
    let destination = "大阪府大阪市北区中之島一丁目3番";
    let cases = || async { raw_i64!(&store.raw, "SELECT count(*) FROM cases").expect("count") };

    let move_case = approved(&counter, &operator, &reviewer, move_out(vec![person.id], destination, false)).await;
    // The entry waits in the outbox: no certificate of the record as it was.
    let before = cases().await;
    let waiting = counter.open_move_out_certificate(&operator, move_case).await;
    assert!(
        matches!(waiting, Err(CoreError::AwaitingResidentSystem { pending_case, .. }) if pending_case == move_case),
        "{waiting:?}"
    );
    assert_eq!(cases().await, before, "nothing opened");
    let sent = counter.outbox_sender("review-1", "sender").send_due().await.expect("send");
    assert_eq!(sent.len(), 1);
    let rows = counter.outbox(&reviewer, false).await.expect("outbox");
    assert_eq!(rows.iter().find(|r| r.case_id == move_case).map(|r| r.state), Some(OutboxState::Committed));

    let (certificate_case, output) = counter.open_move_out_certificate(&operator, move_case).await.expect("open");
    let text = compact(&pdf_text(&output.bytes, false));
    assert!(text.contains("転出証明書"), "{text}");
    assert!(text.contains(&compact(destination)), "the 転出先 the resident system holds: {text}");
    assert!(text.contains("令和8年12月1日"), "the 転出予定日: {text}");
    assert!(text.contains(&compact(&person.name.display())), "{text}");
    assert!(output.issue_number.is_some(), "a certificate takes its 発行番号");
    let (case, _) = counter.review(&reviewer, certificate_case).await.expect("review");
    let TaskRequest::Certificate(certificate) = &case.request.task else { panic!("{:?}", case.request.task) };
    assert_eq!(
        (certificate.kind, certificate.move_case, certificate.persons.clone()),
        (CertificateKind::MoveOutCertificate, Some(move_case), vec![person.id])
    );
    assert_eq!(case.request.requester.name, "転出 太郎", "the 転出's requester");
    let post = CaseFilter { station: Some("post-1".into()), ..CaseFilter::default() };
    let listed = counter.queue(&operator, &post).await.expect("queue");
    assert_eq!(listed.iter().find(|c| c.id == certificate_case).and_then(|c| c.move_case), Some(move_case));

    // One standing certificate per 転出.
    let before = cases().await;
    let again = counter.open_move_out_certificate(&operator, move_case).await;
    assert!(matches!(again, Err(CoreError::MoveOutCertificateExists { move_case: m }) if m == move_case), "{again:?}");
    assert_eq!(cases().await, before, "nothing opened");
    let (_, reviewed) = counter.review(&reviewer, certificate_case).await.expect("review");
    counter.approve(&reviewer, certificate_case, reviewed.sha256).await.expect("approve");
    let issued = counter.issue(&reviewer, certificate_case, 1).await.expect("issue");
    assert_eq!(issued.fee_yen, 0, "the demo table's 転出証明書 is free");

    // A 特例転出 prints nothing; a 転出 the resident system refused (the person has already moved out) has none.
    let other = &household.members.get(1).unwrap_or(person);
    let special = approved(&counter, &operator, &reviewer, move_out(vec![other.id], destination, true)).await;
    let refused = counter.open_move_out_certificate(&operator, special).await;
    assert!(matches!(refused, Err(CoreError::NoMoveOutCertificate { case_id }) if case_id == special), "{refused:?}");
    let twice = approved(&counter, &operator, &reviewer, move_out(vec![person.id], "北海道札幌市中央区", false)).await;
    counter.outbox_sender("review-1", "sender").send_due().await.expect("send");
    let rows = counter.outbox(&reviewer, false).await.expect("outbox");
    assert_eq!(rows.iter().find(|r| r.case_id == twice).map(|r| r.state), Some(OutboxState::Rejected));
    let before = cases().await;
    let refused = counter.open_move_out_certificate(&operator, twice).await;
    assert!(matches!(refused, Err(CoreError::MoveOutNotRecorded { move_case: m }) if m == twice), "{refused:?}");
    assert!(refused.is_err_and(|e| e.message_ja().contains("住民記録のとおりではありません")));
    // A certificate case is not a 転出.
    let refused = counter.open_move_out_certificate(&operator, certificate_case).await;
    assert!(matches!(refused, Err(CoreError::NoMoveOutCertificate { .. })), "{refused:?}");
    assert_eq!(cases().await, before, "nothing opened");
    assert!(verify_audit_chain(store.store.as_ref()).await.expect("read").is_ok());
}
