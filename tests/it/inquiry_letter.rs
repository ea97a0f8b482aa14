//! 印鑑登録 by 照会書 (issue 8): the 照会書兼回答書 is prepared from the registrant's record, approved by another
//! person by its bytes and printed by the station's worker like a certificate — but it is a letter: no 発行番号, no
//! fee, no security paper, and the case is never issued. The 照会 is recorded as mailed only once the letter came
//! out of the printer, with the deadline printed on it.

use std::sync::{Arc, Mutex};

use backend_adapter::ResidentSystem as _;
use devices::job::Delivery;
use madoguchi_core::case::CaseState;
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::error::CoreError;
use madoguchi_core::inquiry::{INQUIRY_LETTER_MEDIA_TYPE, InquiryLetter, InquiryState, SealInquiry};
use madoguchi_core::print::{Paper, SharedPrinter, job_name};
use madoguchi_core::request::{OptionalItems, RequesterCategory, SealRegistrationPath, TaskRequest};
use madoguchi_core::store::{PrintJobFilter, PrintJobState, PrintResolution, verify_audit_chain};

use crate::store_suite::{copy_request, ordinary_household};
use crate::support::{
    ScriptedPrinter, TestStore, compact, counter_with_users, has_specimen_mark, issuer, login, pdf_text, residents,
    test_clock,
};
use crate::{raw_exec, raw_i64};

crate::on_both_backends! {
    an_inquiry_letter_is_approved_printed_and_mailed_without_a_number_a_fee_or_security_paper => inquiry_letter;
}

/// A 印鑑登録 by 照会書 request of `person` (the only path a 代理人 may take).
pub(crate) fn seal_inquiry_request(
    household: backend_adapter::types::HouseholdId,
    person: backend_adapter::types::PersonId,
) -> madoguchi_core::request::CounterRequest {
    let mut request = copy_request(household, RequesterCategory::Proxy, OptionalItems::default());
    request.task = TaskRequest::Seal { person, path: SealRegistrationPath::Inquiry, registration_number: None };
    request
}

/// Prepare the case's 照会書, have `reviewer` approve it, print it at the reviewer's station and record it mailed.
pub(crate) async fn mail_letter(
    counter: &Counter,
    operator: &Session,
    reviewer: &Session,
    case_id: i64,
) -> SealInquiry {
    print_letter(counter, operator, reviewer, case_id).await;
    counter.send_inquiry(operator, case_id).await.expect("mailed")
}

/// Prepare the case's 照会書, have `reviewer` approve it and print it at the reviewer's station.
pub(crate) async fn print_letter(counter: &Counter, operator: &Session, reviewer: &Session, case_id: i64) {
    let output = counter.prepare_and_submit(operator, case_id).await.expect("letter prepared");
    counter.approve(reviewer, case_id, output.sha256).await.expect("letter approved");
    let printer: SharedPrinter = Arc::new(Mutex::new(ScriptedPrinter::new(Vec::new())));
    let worker = counter.print_worker(&reviewer.actor.station, "letters");
    let report = worker.print_next(&printer).await.expect("print").expect("the letter was queued");
    assert_eq!((report.case_id, report.state), (case_id, PrintJobState::Printed));
}

async fn inquiry_letter(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await.with_inquiry_days(14);
    let operator = login(&counter, "op1", "post-1").await;
    let reviewer = login(&counter, "rev1", "review-1").await;
    let household = ordinary_household(&residents).await;
    let registrant = residents.household(household).await.expect("household").members[0].clone();
    let case_id = counter.open_case(&operator, seal_inquiry_request(household, registrant.id)).await.expect("case");
    assert!(counter.send_inquiry(&operator, case_id).await.is_err(), "nothing to mail before a letter exists");

    // The letter: the registrant's name and address, the deadline, the 回答書 — and no number of any kind.
    let output = counter.prepare_and_submit(&operator, case_id).await.expect("letter");
    assert_eq!(output.media_type, INQUIRY_LETTER_MEDIA_TYPE);
    assert_eq!(output.issue_number, None, "a letter takes no 発行番号");
    let text = pdf_text(&output.bytes, false);
    for expected in ["印鑑登録照会書", "回答書", "回答期限", "令和8年12月4日（この日まで）", "照会番号", "登録する印鑑"]
    {
        assert!(text.contains(expected), "the letter lacks {expected:?}:\n{text}");
    }
    assert!(compact(&text).contains(&compact(&registrant.name.display())), "the letter lacks the name:\n{text}");
    assert!(
        !text.contains("発行番号") && !text.contains("管理番号"),
        "a letter carries no certificate numbers:\n{text}"
    );
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM number_reservations").expect("count"), 0, "no number spent");
    let preview = counter.preview_pages(&output).expect("the reviewer sees the exact letter");
    assert_eq!(preview.len(), 1);
    assert!(matches!(counter.send_inquiry(&operator, case_id).await, Err(CoreError::NotAnInquiryCase { .. })));

    // Four eyes as for a certificate; the approval queues the letter at the approving station's printer.
    assert!(matches!(
        counter.approve(&operator, case_id, output.sha256).await,
        Err(CoreError::Forbidden { .. } | CoreError::SelfApproval { .. })
    ));
    let queued = counter.approve(&reviewer, case_id, output.sha256).await.expect("approve");
    let jobs = counter.print_jobs(&reviewer, &PrintJobFilter::case(case_id)).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(queued, Some(jobs[0].id), "the approval names the job it queued");
    assert_eq!((jobs[0].issuance_id, jobs[0].issue_number, jobs[0].state), (None, None, PrintJobState::Queued));
    assert_eq!(jobs[0].printer_station, "review-1");
    let err = counter.issue(&reviewer, case_id, 1).await.expect_err("a letter is never issued");
    assert!(err.to_string().contains("carries no issue number"), "{err}");
    let err = counter.send_inquiry(&operator, case_id).await.expect_err("not printed yet");
    assert!(matches!(err, CoreError::InquiryLetterNotPrinted { .. }), "{err:?}");
    assert!(err.message_ja().contains("まだ印刷されていません"), "{}", err.message_ja());
    let err = raw_exec!(
        &store.raw,
        "INSERT INTO seal_inquiries (case_id, sent_on, deadline, audit_seq, letter_job_id)
         VALUES ($1, '2026-11-20', '2026-12-04', (SELECT seq FROM audit_head), $2)",
        case_id,
        jobs[0].id
    )
    .expect_err("the database refuses a 照会 whose letter did not print");
    assert!(err.to_string().contains("came out of the printer"), "{err}");

    // Lost in the printer: staff call it spoiled and the same approved letter prints again (no number to renew).
    let printer = Arc::new(Mutex::new(ScriptedPrinter::new(vec![Delivery::Unknown])));
    let shared: SharedPrinter = printer.clone();
    let worker = counter.print_worker("review-1", "w");
    let first = worker.print_next(&shared).await.expect("print").expect("job");
    assert_eq!((first.state, first.issue_number, first.control_number.clone()), (PrintJobState::Suspect, None, None));
    let state = counter
        .resolve_print(&reviewer, first.job_id, PrintResolution::Spoiled { reason: "紙詰まり".into() })
        .await
        .expect("spoiled");
    assert_eq!(state, CaseState::Approved, "the approval stands");
    let second = worker.print_next(&shared).await.expect("print").expect("printed again");
    assert_eq!(second.state, PrintJobState::Printed);
    assert!(worker.print_next(&shared).await.expect("print").is_none(), "nothing else is queued");
    let received = printer.lock().expect("printer").received.clone();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|(name, _)| *name == job_name(case_id, None)), "{received:?}");
    assert_eq!(received[1].1, output.bytes, "the printer received exactly the approved bytes");
    assert_eq!(printer.lock().expect("printer").papers, vec![Paper::Plain; 2], "a letter never takes security paper");

    // Mailed: the 照会 keeps the deadline printed on the letter.
    let inquiry = counter.send_inquiry(&operator, case_id).await.expect("mailed");
    assert_eq!((inquiry.sent_on, inquiry.deadline), (jiff::civil::date(2026, 11, 20), jiff::civil::date(2026, 12, 4)));
    assert_eq!(inquiry.state, InquiryState::Pending);
    assert!(counter.send_inquiry(&operator, case_id).await.is_err(), "mailed once");
    let err =
        raw_exec!(&store.raw, "UPDATE seal_inquiries SET letter_job_id = $1 WHERE case_id = $2", first.job_id, case_id)
            .expect_err("the letter of a 照会 never changes");
    assert!(err.to_string().contains("never changes"), "{err}");

    // A registration withdrawn after its letter was mailed takes no 回答書.
    let withdrawn = counter.open_case(&operator, seal_inquiry_request(household, registrant.id)).await.expect("case");
    mail_letter(&counter, &operator, &reviewer, withdrawn).await;
    counter.void_case(&reviewer, withdrawn, "申請の取下げ").await.expect("void");
    let err = counter.accept_answer(&operator, withdrawn).await.expect_err("voided");
    assert!(matches!(err, CoreError::CaseVoided { .. }), "{err:?}");
    assert!(err.message_ja().contains("取り消されています"), "{}", err.message_ja());

    // Nothing was issued, charged or taken from the security paper; the case waits for the 回答書.
    assert!(counter.store().issuances(case_id).await.expect("issuances").is_empty());
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM issuances").expect("count"), 0);
    assert_eq!(counter.store().case_unrecorded(case_id).await.expect("case").state, CaseState::Approved);
    let report_day = jiff::civil::date(2026, 11, 20);
    let report = counter.period_report(&reviewer, report_day, report_day).await.expect("report");
    assert_eq!((report.issued, report.paper_spoiled), (0, 0), "a letter is neither a certificate nor security paper");

    // Only a letter's approval prints without an issuance.
    let certificate = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    let certificate_case = counter.open_case(&operator, certificate).await.expect("certificate case");
    let certificate_output = counter.prepare_and_submit(&operator, certificate_case).await.expect("prepared");
    let queued = counter.approve(&reviewer, certificate_case, certificate_output.sha256).await.expect("approved");
    assert_eq!(queued, None, "a certificate prints when it is issued, not when it is approved");
    assert!(counter.print_jobs(&reviewer, &PrintJobFilter::case(certificate_case)).await.expect("jobs").is_empty());
    let err = raw_exec!(
        &store.raw,
        "INSERT INTO print_jobs (letter_approval_id, case_id, printer_station, state, attempts, updated_at_us, audit_seq)
         SELECT id, case_id, 'review-1', 'queued', 0, 0, audit_seq FROM approvals WHERE case_id = $1",
        certificate_case
    )
    .expect_err("a certificate prints only through its issuance");
    assert!(err.to_string().contains("approved inquiry letter"), "{err}");
    assert!(matches!(counter.send_inquiry(&operator, certificate_case).await, Err(CoreError::NotAnInquiryCase { .. })));
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain");

    // A training terminal's letter carries 「見本」 like every training print.
    let letter = InquiryLetter::new(
        case_id,
        &registrant,
        &residents.household(household).await.expect("household"),
        &issuer(),
        jiff::civil::date(2026, 11, 20),
        14,
    )
    .expect("letter");
    let specimen = madoguchi_core::certificate::CertificateProfile::generated(issuer(), true).expect("profile");
    let pdf = madoguchi_core::render::pdf::render_pdf(&specimen.letter_pages(&letter).expect("pages")).expect("pdf");
    assert!(has_specimen_mark(&pdf), "a specimen letter says 見本");
    assert!(!has_specimen_mark(&output.bytes), "a live letter does not");
}
