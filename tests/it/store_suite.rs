//! The behavioural store suite: every behaviour runs against a fresh SQLite file and a fresh PostgreSQL database,
//! through the same `Store` interface, plus raw SQL that the databases themselves must refuse.

use std::sync::Arc;

use backend_adapter::ReferenceResidentSystem;
use backend_adapter::types::HouseholdId;
use madoguchi_core::audit::AuditAction;
use madoguchi_core::auth::Role;
use madoguchi_core::case::{CaseState, ReturnReason};
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::error::CoreError;
use madoguchi_core::request::{
    CertificateKind, CertificateRequest, CounterRequest, IdentityCheck, IdentityDocument, OptionalItems, Requester,
    RequesterCategory, TaskRequest,
};
use madoguchi_core::store::{CaseFilter, verify_audit_chain};

use crate::support::{RawDb, TestStore, counter_with_users, login, residents, test_clock};
use crate::{raw_exec, raw_i64};

crate::on_both_backends! {
    a_case_goes_from_request_to_issue => case_goes_from_request_to_issue;
    the_preparer_cannot_approve => preparer_cannot_approve;
    an_approval_must_name_the_output_bytes => approval_must_name_output_bytes;
    transitions_outside_the_state_machine_are_refused => transitions_outside_state_machine_are_refused;
    a_return_carries_a_coded_reason_and_needs_new_approval => return_needs_new_approval;
    a_returned_case_is_corrected_only_by_its_post_for_the_same_subject => revision_rules;
    issue_numbers_grow_and_control_numbers_count_per_station => issue_numbers_grow;
    raw_sql_cannot_self_approve_or_approve_other_bytes => raw_sql_cannot_break_four_eyes;
    raw_sql_cannot_edit_the_audit_log_or_reuse_numbers => raw_sql_cannot_edit_audit_or_reuse_numbers;
    failed_logins_are_recorded_and_lock_the_account => failed_logins_lock;
    roles_are_checked_in_core => roles_are_checked_in_core;
    concurrent_writers_keep_one_chain => concurrent_writers_keep_one_chain;
    a_support_measure_stops_the_request => support_measure_stops_request;
    the_transition_table_matches_the_state_machine => transition_table_matches_state_machine;
    bad_input_is_refused_with_reasons_and_changes_nothing => bad_input_changes_nothing;
    the_number_printed_on_the_approved_pdf_is_the_number_issued => printed_numbers_are_issued;
    a_certificate_that_cannot_be_laid_out_never_reaches_review => unprintable_certificate_never_reaches_review;
    the_auditor_filters_the_log_and_the_read_is_recorded => auditor_filters_the_log;
    the_admin_lists_users_with_grants_and_no_password_hashes => admin_lists_users;
    every_read_of_resident_data_is_one_audit_row_and_a_failed_audit_write_fails_the_call => reads_are_audited_once_and_fail_closed;
    the_permission_matrix_holds_in_core_and_an_expired_grant_is_refused_at_once => permission_matrix_holds;
    a_protected_field_is_shown_only_to_the_preparer_of_a_case_that_needs_it => protected_fields_follow_the_task;
    usb_key_removal_and_removable_storage_lock_the_terminal_and_record_incidents => usb_key_and_media_incidents;
    after_hours_lookups_lookups_without_a_case_and_locked_accounts_raise_incidents_once => anomalies_raise_incidents;
    a_grant_takes_effect_only_when_a_second_admin_approves_it => grants_need_a_second_admin;
    resident_data_is_sealed_at_rest_and_erasure_by_two_admins_shreds_it => sealed_data_and_erasure;
    the_return_export_covers_every_table_of_the_store => export_covers_every_table;
    a_reply_to_a_seal_inquiry_is_accepted_on_its_last_day_and_refused_the_day_after => inquiry_deadline;
    each_issue_records_its_fee_from_the_wards_table_and_the_days_cash_adds_up_per_post => fees_and_daily_cash;
    an_admin_sets_the_fee_table_on_screen_and_every_terminal_on_the_store_charges_by_it => fee_table_set_on_screen;
    issues_to_representatives_and_third_parties_become_notice_data_without_the_requester => notice_data;
    the_day_closes_only_when_cash_and_paper_match_the_records_or_the_mismatch_is_explained => paper_and_day_close;
    the_monthly_report_of_a_simulated_month_has_the_right_totals_and_renders_with_charts => monthly_report;
}

struct Fixture {
    counter: Counter,
    residents: Arc<ReferenceResidentSystem>,
    _dir: tempfile::TempDir,
}

async fn fixture(store: &TestStore) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let residents = residents(dir.path(), 40).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    Fixture { counter, residents, _dir: dir }
}

/// A household without any member under 支援措置.
pub(crate) async fn ordinary_household(residents: &ReferenceResidentSystem) -> HouseholdId {
    use backend_adapter::ResidentSystem as _;
    for id in residents.household_ids(0, 40).await.expect("household ids") {
        let household = residents.household(id).await.expect("household");
        if household.members.iter().all(|m| !m.support_measure) {
            return id;
        }
    }
    panic!("the generated population has no ordinary household");
}

pub(crate) fn copy_request(
    household: HouseholdId,
    category: RequesterCategory,
    items: OptionalItems,
) -> CounterRequest {
    CounterRequest {
        requester: Requester {
            category,
            name: "請求 太郎".into(),
            address: "東京都新宿区西新宿二丁目8番1号".into(),
            corporate_number: None,
            purpose: if category.is_person_or_household() { String::new() } else { "相続手続のため".into() },
            identity: IdentityCheck {
                documents: vec![IdentityDocument::DriversLicence, IdentityDocument::ProfessionalForm],
                letter_of_attorney: true,
            },
        },
        task: TaskRequest::Certificate(CertificateRequest {
            kind: CertificateKind::ResidentRecordHousehold,
            household,
            persons: Vec::new(),
            items,
            copies: 1,
            move_case: None,
        }),
        fee_exemption: None,
    }
}

/// Open and submit a 住民票の写し case as `operator`.
async fn submitted_case(f: &Fixture, operator: &Session) -> (i64, [u8; 32]) {
    let household = ordinary_household(&f.residents).await;
    let case_id = f
        .counter
        .open_case(operator, copy_request(household, RequesterCategory::Self_, OptionalItems::default()))
        .await
        .expect("open case");
    let output = f.counter.prepare_and_submit(operator, case_id).await.expect("submit");
    (case_id, output.sha256)
}

async fn audit_count(store: &TestStore) -> i64 {
    raw_i64!(&store.raw, "SELECT count(*) FROM audit_log").expect("count audit rows")
}

async fn case_goes_from_request_to_issue(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let (case_id, _) = submitted_case(&f, &operator).await;
    let (case, output) = f.counter.review(&reviewer, case_id).await.expect("review");
    assert_eq!(case.state, CaseState::Submitted);
    assert_eq!(case.preparer_id, operator.actor.user_id);
    f.counter.approve(&reviewer, case_id, output.sha256).await.expect("approve");
    let issuance = f.counter.issue(&reviewer, case_id, 1).await.expect("issue");
    assert_eq!(issuance.issue_number, 1);
    let case = store.store.case(&reviewer.actor, case_id, 0).await.expect("case");
    assert_eq!(case.state, CaseState::Issued);
    let verified = verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain verifies");
    let entries = store.store.audit_entries(1, 10_000).await.expect("entries");
    assert_eq!(verified.entries, i64::try_from(entries.len()).expect("len"));
    let case_subject = format!("case:{case_id}");
    let actions: Vec<&str> = entries.iter().filter(|e| e.subject == case_subject).map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a != AuditAction::CaseRead.as_str()).copied().collect::<Vec<_>>(),
        vec!["case.created", "numbers.reserved", "case.submitted", "case.approved", "case.issued"],
        "one audit row per state change"
    );
    assert!(entries.iter().any(|e| e.action == "resident.read" && e.actor == "op1"), "the household read is audited");
}

async fn preparer_cannot_approve(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let (case_id, sha) = submitted_case(&f, &operator).await;
    // An operator may not approve at all (role), checked in core.
    let err = f.counter.approve(&operator, case_id, sha).await.expect_err("operators cannot approve");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
    // Even through the store, the preparer is refused, and nothing changes.
    let before = audit_count(store).await;
    let err = store.store.approve_case(&operator.actor, case_id, sha, 1).await.expect_err("self approval");
    assert!(matches!(err, CoreError::SelfApproval { .. }), "{err:?}");
    assert_eq!(audit_count(store).await, before, "a refused approval leaves no audit row");
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let case = store.store.case(&reviewer.actor, case_id, 0).await.expect("case");
    assert_eq!(case.state, CaseState::Submitted);
}

async fn approval_must_name_output_bytes(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let (case_id, mut sha) = submitted_case(&f, &operator).await;
    sha[0] ^= 0xFF;
    let before = audit_count(store).await;
    let err = f.counter.approve(&reviewer, case_id, sha).await.expect_err("wrong hash");
    assert!(matches!(err, CoreError::OutputMismatch { .. }), "{err:?}");
    assert_eq!(audit_count(store).await, before);
    let err = f.counter.issue(&reviewer, case_id, 1).await.expect_err("nothing approved");
    assert!(matches!(err, CoreError::InvalidTransition { from: CaseState::Submitted, .. }), "{err:?}");
}

async fn transitions_outside_state_machine_are_refused(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let household = ordinary_household(&f.residents).await;
    let case_id = f
        .counter
        .open_case(&operator, copy_request(household, RequesterCategory::Self_, OptionalItems::default()))
        .await
        .expect("open");
    let err = f.counter.approve(&reviewer, case_id, [0; 32]).await.expect_err("draft cannot be approved");
    assert!(matches!(err, CoreError::InvalidTransition { from: CaseState::Draft, .. }), "{err:?}");
    // Raw SQL cannot jump a state either.
    let seq = raw_i64!(&store.raw, "SELECT seq FROM audit_head").expect("head");
    let err =
        raw_exec!(&store.raw, "UPDATE cases SET state = 'issued' WHERE id = $1", case_id).expect_err("jump to issued");
    assert!(err.to_string().contains("madoguchi:"), "{err}");
    assert_eq!(raw_i64!(&store.raw, "SELECT seq FROM audit_head").expect("head"), seq);
}

async fn return_needs_new_approval(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let (case_id, first_sha) = submitted_case(&f, &operator).await;
    f.counter.return_case(&reviewer, case_id, ReturnReason::WrongItems).await.expect("return");
    let returned = store
        .store
        .cases(&CaseFilter { states: vec![CaseState::Returned], station: Some("post-1".into()), limit: 0 })
        .await
        .expect("list");
    assert_eq!(returned.len(), 1);
    assert_eq!(returned[0].return_reason.as_deref(), Some("R03"));
    let err = f.counter.approve(&reviewer, case_id, first_sha).await.expect_err("returned case");
    assert!(matches!(err, CoreError::InvalidTransition { from: CaseState::Returned, .. }), "{err:?}");
    let output = f.counter.prepare_and_submit(&operator, case_id).await.expect("resubmit");
    f.counter.approve(&reviewer, case_id, output.sha256).await.expect("approve the new output");
}

/// Correcting a returned request: only the case's own post, only while returned, only for the same household and
/// task family; each refusal changes nothing, and the correction is what review sees next.
async fn revision_rules(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let other_post = login(&f.counter, "op2", "post-2").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let (case_id, _) = submitted_case(&f, &operator).await;
    let household = ordinary_household(&f.residents).await;
    let corrected = || {
        let items = OptionalItems { head_and_relationship: true, ..OptionalItems::default() };
        copy_request(household, RequesterCategory::Self_, items)
    };
    let not_revisable = |result: Result<_, CoreError>| matches!(result, Err(CoreError::NotRevisable { .. }));
    assert!(not_revisable(f.counter.revise_and_submit(&operator, case_id, corrected()).await), "not returned yet");
    f.counter.return_case(&reviewer, case_id, ReturnReason::WrongItems).await.expect("return");
    let before = audit_count(store).await;
    assert!(not_revisable(f.counter.revise_and_submit(&other_post, case_id, corrected()).await), "another post");
    let mut elsewhere = corrected();
    if let TaskRequest::Certificate(certificate) = &mut elsewhere.task {
        certificate.household = HouseholdId(certificate.household.0 + 1);
    }
    assert!(not_revisable(f.counter.revise_and_submit(&operator, case_id, elsewhere).await), "another household");
    let mut invalid = corrected();
    invalid.requester.identity.documents.clear();
    assert!(matches!(f.counter.revise_and_submit(&operator, case_id, invalid).await, Err(CoreError::Validation(_))));
    assert_eq!(audit_count(store).await, before, "refusals change nothing");

    let output = f.counter.revise_and_submit(&operator, case_id, corrected()).await.expect("corrected");
    let (case, under_review) = f.counter.review(&reviewer, case_id).await.expect("review");
    assert_eq!((case.state, under_review.sha256), (CaseState::Submitted, output.sha256));
    let TaskRequest::Certificate(certificate) = &case.request.task else { panic!("{:?}", case.request.task) };
    assert!(certificate.items.head_and_relationship);
    f.counter.approve(&reviewer, case_id, output.sha256).await.expect("the corrected output is approved");
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain");
}

async fn issue_numbers_grow(store: &TestStore) {
    let f = fixture(store).await;
    let op1 = login(&f.counter, "op1", "post-1").await;
    let rev1 = login(&f.counter, "rev1", "review-1").await;
    let rev2 = login(&f.counter, "rev2", "review-2").await;
    let mut numbers = Vec::new();
    for (i, reviewer) in [&rev1, &rev2, &rev1].into_iter().enumerate() {
        let (case_id, sha) = submitted_case(&f, &op1).await;
        f.counter.approve(reviewer, case_id, sha).await.expect("approve");
        let issuance = f.counter.issue(reviewer, case_id, 1).await.expect("issue");
        numbers.push((issuance.issue_number, issuance.control_number));
        assert_eq!(usize::try_from(issuance.issue_number).expect("positive"), i + 1);
    }
    // The 管理番号 is reserved at the post that prepares the output and printed on it.
    assert_eq!(numbers[0].1, "post-1-000001");
    assert_eq!(numbers[1].1, "post-1-000002");
    assert_eq!(numbers[2].1, "post-1-000003");
}

async fn raw_sql_cannot_break_four_eyes(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let (case_id, sha) = submitted_case(&f, &operator).await;
    let output_id = raw_i64!(&store.raw, "SELECT current_output_id FROM cases WHERE id = $1", case_id).expect("output");
    let seq = raw_i64!(&store.raw, "SELECT seq FROM audit_head").expect("head");
    let insert = "INSERT INTO approvals (case_id, output_id, approver_id, output_sha256, decided_at_us, audit_seq)
                  VALUES ($1, $2, $3, $4, 0, $5)";
    let err = raw_exec!(&store.raw, insert, case_id, output_id, operator.actor.user_id, sha.to_vec(), seq)
        .expect_err("an approval by the preparer");
    assert!(err.to_string().contains("preparer cannot approve"), "{err}");
    let reviewer_id = raw_i64!(&store.raw, "SELECT id FROM users WHERE login_id = 'rev1'").expect("reviewer");
    let mut wrong = sha;
    wrong[31] ^= 1;
    let err = raw_exec!(&store.raw, insert, case_id, output_id, reviewer_id, wrong.to_vec(), seq)
        .expect_err("an approval of other bytes");
    assert!(err.to_string().contains("exact output"), "{err}");
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM approvals").expect("count"), 0);
    // Outputs cannot be swapped under an approval.
    let err = raw_exec!(&store.raw, "UPDATE outputs SET bytes = $1 WHERE id = $2", b"forged".to_vec(), output_id)
        .expect_err("outputs are immutable");
    assert!(err.to_string().contains("immutable"), "{err}");
    // Neither can output bytes in the clear be slipped in: both databases refuse an unsealed output.
    let err = raw_exec!(
        &store.raw,
        "INSERT INTO outputs (case_id, sha256, media_type, bytes, created_by, created_at_us, audit_seq)
         VALUES ($1, $2, 'x', $3, $4, 0, $5)",
        case_id,
        sha.to_vec(),
        b"%PDF-1.7 plain bytes".to_vec(),
        operator.actor.user_id,
        seq
    )
    .expect_err("an output must be sealed");
    assert!(err.to_string().contains("sealed"), "{err}");
}

async fn raw_sql_cannot_edit_audit_or_reuse_numbers(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let (case_id, sha) = submitted_case(&f, &operator).await;
    f.counter.approve(&reviewer, case_id, sha).await.expect("approve");
    f.counter.issue(&reviewer, case_id, 1).await.expect("issue");
    let err = raw_exec!(&store.raw, "UPDATE audit_log SET actor = 'someone' WHERE seq = 1").expect_err("edit audit");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw_exec!(&store.raw, "DELETE FROM audit_log WHERE seq = 2").expect_err("delete audit");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw_exec!(&store.raw, "UPDATE audit_head SET seq = 1").expect_err("rewind head");
    assert!(err.to_string().contains("audit head"), "{err}");
    let err = raw_exec!(&store.raw, "DELETE FROM issuances").expect_err("delete issuance");
    assert!(err.to_string().contains("immutable"), "{err}");
    let err = raw_exec!(&store.raw, "UPDATE issuances SET issue_number = 99").expect_err("renumber");
    assert!(err.to_string().contains("immutable"), "{err}");
    // A forged audit row that does not extend the head is refused too.
    let err = raw_exec!(
        &store.raw,
        "INSERT INTO audit_log (seq, at_us, station, actor, role, action, subject, detail, prev_hash, entry_hash)
         VALUES (1000, 0, 's', 'a', 'r', 'x', 'y', '{}', $1, $2)",
        vec![0u8; 32],
        vec![0u8; 32]
    )
    .expect_err("forged row");
    assert!(err.to_string().contains("chain head"), "{err}");
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain still verifies");
}

async fn failed_logins_lock(store: &TestStore) {
    let f = fixture(store).await;
    for _ in 0..5 {
        let err = f.counter.login("op2", "wrong-password", Role::Operator, "post-2").await.expect_err("wrong");
        assert!(matches!(err, CoreError::LoginFailed), "{err:?}");
    }
    let err = f.counter.login("op2", "operator-pass-2", Role::Operator, "post-2").await.expect_err("locked");
    assert!(matches!(err, CoreError::AccountLocked), "{err:?}");
    let err = f.counter.login("nobody", "whatever-password", Role::Operator, "post-2").await.expect_err("unknown");
    assert!(matches!(err, CoreError::LoginFailed), "{err:?}");
    let entries = store.store.audit_entries(1, 1000).await.expect("entries");
    let failures = entries.iter().filter(|e| e.action == "login.failed").count();
    assert_eq!(failures, 7, "every failed attempt is recorded");
    let err = f.counter.login("op1", "operator-pass-1", Role::Reviewer, "post-1").await.expect_err("no grant");
    assert!(matches!(err, CoreError::NoGrant { .. }), "{err:?}");
}

async fn roles_are_checked_in_core(store: &TestStore) {
    let f = fixture(store).await;
    let admin = login(&f.counter, "admin", "admin-pc").await;
    let auditor = login(&f.counter, "aud1", "audit-pc").await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let (case_id, sha) = submitted_case(&f, &operator).await;
    for session in [&admin, &auditor] {
        let err = f.counter.approve(session, case_id, sha).await.expect_err("not a reviewer");
        assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
        let err = f.counter.issue(session, case_id, 1).await.expect_err("not a reviewer");
        assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
    }
    let query = backend_adapter::types::SearchQuery { name_prefix: Some("ヤ".into()), ..Default::default() };
    let err = f.counter.search_residents(&auditor, &query).await.expect_err("auditors do not search residents");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
}

async fn concurrent_writers_keep_one_chain(store: &TestStore) {
    let f = fixture(store).await;
    let household = ordinary_household(&f.residents).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let counter = f.counter.clone();
        tasks.push(tokio::spawn(async move {
            let login_id = if i % 2 == 0 { "op1" } else { "op2" };
            let session = login(&counter, login_id, &format!("post-{}", i % 3 + 1)).await;
            let request = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
            let case_id = counter.open_case(&session, request).await.expect("open");
            counter.prepare_and_submit(&session, case_id).await.expect("submit");
            case_id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12, "distinct case ids");
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("one linear chain");
}

async fn support_measure_stops_request(store: &TestStore) {
    use backend_adapter::ResidentSystem as _;
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let mut protected = None;
    for id in f.residents.household_ids(0, 40).await.expect("ids") {
        if f.residents.household(id).await.expect("household").members.iter().any(|m| m.support_measure) {
            protected = Some(id);
        }
    }
    let household = match protected {
        Some(id) => id,
        None => {
            // The small population may hold no protected household: flag one through the resident system.
            let id = ordinary_household(&f.residents).await;
            flag_support_measure(&f.residents, id).await;
            id
        }
    };
    let case_id = f
        .counter
        .open_case(&operator, copy_request(household, RequesterCategory::Self_, OptionalItems::default()))
        .await
        .expect("the request itself is recorded");
    let err = f.counter.prepare_and_submit(&operator, case_id).await.expect_err("hard stop");
    assert!(matches!(err, CoreError::SupportMeasure), "{err:?}");
    assert!(err.message_ja().contains("支援措置"));
    let entries = store.store.audit_entries(1, 1000).await.expect("entries");
    assert!(entries.iter().any(|e| e.action == "request.refused" && e.subject == format!("household:{household}")));
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM outputs").expect("count"), 0, "no output exists");
}

async fn flag_support_measure(residents: &ReferenceResidentSystem, household: HouseholdId) {
    residents.set_support_measure(household, true).await.expect("flag");
}

async fn transition_table_matches_state_machine(store: &TestStore) {
    let rows: Vec<(String, String)> = match &store.raw {
        RawDb::Sqlite(pool) => {
            sqlx::query_as("SELECT from_state, to_state FROM case_transitions ORDER BY 1, 2").fetch_all(pool).await
        }
        RawDb::Pg(pool) => {
            sqlx::query_as("SELECT from_state, to_state FROM case_transitions ORDER BY 1, 2").fetch_all(pool).await
        }
    }
    .expect("transitions");
    let expected: Vec<(String, String)> = CaseState::allowed_transitions()
        .into_iter()
        .map(|(from, to)| (from.as_str().to_string(), to.as_str().to_string()))
        .collect();
    assert_eq!(rows, expected, "migrations and CaseState::after must agree");
}

async fn bad_input_changes_nothing(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let household = ordinary_household(&f.residents).await;
    let counts = || async {
        (
            raw_i64!(&store.raw, "SELECT count(*) FROM cases").expect("cases"),
            raw_i64!(&store.raw, "SELECT count(*) FROM audit_log").expect("audit"),
        )
    };
    let before = counts().await;
    // A third party asking for 個人番号 without a purpose, with no identity document.
    let mut request = copy_request(
        household,
        RequesterCategory::ThirdPartyIndividual,
        OptionalItems { individual_number: true, ..OptionalItems::default() },
    );
    request.requester.purpose.clear();
    request.requester.identity.documents.clear();
    let err = f.counter.open_case(&operator, request).await.expect_err("invalid request");
    let CoreError::Validation(errors) = &err else { panic!("{err:?}") };
    for field in ["requester.purpose", "requester.identity", "certificate.items"] {
        let error = errors.for_field(field).unwrap_or_else(|| panic!("no error for {field}: {errors}"));
        assert!(!error.message.is_empty() && !error.message_ja.is_empty());
    }
    assert!(err.message_ja().contains("個人番号"), "{}", err.message_ja());
    assert!(err.to_string().contains("third party"), "{err}");
    assert_eq!(counts().await, before, "an invalid request stores nothing and audits nothing");

    // An unknown household: the case stays a draft without output.
    let request = copy_request(HouseholdId(9_999_999), RequesterCategory::Self_, OptionalItems::default());
    let case_id = f.counter.open_case(&operator, request).await.expect("the request is well formed");
    let err = f.counter.prepare_and_submit(&operator, case_id).await.expect_err("unknown household");
    assert!(matches!(err, CoreError::ResidentSystem(_)), "{err:?}");
    assert!(err.message_ja().contains("世帯"), "{}", err.message_ja());
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM outputs").expect("outputs"), 0);

    // A store that fails: a typed error with a Japanese message, nothing half-written.
    match &store.raw {
        RawDb::Sqlite(pool) => pool.close().await,
        RawDb::Pg(pool) => pool.close().await,
    }
    let request = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    let err = f.counter.open_case(&operator, request).await.expect_err("store is gone");
    assert!(matches!(err, CoreError::Store(_)), "{err:?}");
    assert!(err.message_ja().contains("データベース"), "{}", err.message_ja());
}

async fn printed_numbers_are_issued(store: &TestStore) {
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let (a, a_sha) = submitted_case(&f, &operator).await;
    let (b, b_sha) = submitted_case(&f, &operator).await;
    f.counter.approve(&reviewer, a, a_sha).await.expect("approve a");
    f.counter.approve(&reviewer, b, b_sha).await.expect("approve b");
    // Issued out of order: each keeps the number printed on it.
    assert_eq!(f.counter.issue(&reviewer, b, 1).await.expect("issue b").issue_number, 2);
    let issued_a = f.counter.issue(&reviewer, a, 1).await.expect("issue a");
    assert_eq!(issued_a.issue_number, 1);
    assert_eq!(issued_a.control_number, "post-1-000001");
    // A returned output keeps its number as an accounted gap; the new output gets a new one.
    let (c, _) = submitted_case(&f, &operator).await;
    f.counter.return_case(&reviewer, c, ReturnReason::EntryError).await.expect("return");
    let resubmitted = f.counter.prepare_and_submit(&operator, c).await.expect("resubmit");
    assert_eq!(resubmitted.issue_number, Some(4));
    let (_, seen) = f.counter.review(&reviewer, c).await.expect("review");
    assert_eq!(seen.media_type, "application/pdf");
    assert!(seen.bytes.starts_with(b"%PDF"), "the output under review is the PDF that will be printed");
    let text = crate::support::pdf_text(&seen.bytes, false);
    assert!(text.contains("第000004号") && text.contains("post-1-000004"), "the numbers are on the sheet:\n{text}");
    // The preview is laid out from the stored document and shown only when it reproduces the bytes under review.
    let preview = f.counter.preview_pages(&seen).expect("preview");
    assert!(preview[0].texts().any(|t| t.text == "見本"), "the preview carries 見本");
    assert!(preview[0].texts().any(|t| t.text.contains("第000004号")));
    let mut forged = seen.clone();
    forged.sha256[0] ^= 1;
    assert!(matches!(f.counter.preview_pages(&forged), Err(CoreError::OutputMismatch { .. })));
    f.counter.approve(&reviewer, c, seen.sha256).await.expect("approve c");
    let issued_c = f.counter.issue(&reviewer, c, 1).await.expect("issue c");
    assert_eq!((issued_c.issue_number, issued_c.control_number.as_str()), (4, "post-1-000004"));
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM number_reservations").expect("count"), 4);
    assert_eq!(
        raw_i64!(
            &store.raw,
            "SELECT count(*) FROM number_reservations r WHERE NOT EXISTS
                              (SELECT 1 FROM issuances i WHERE i.issue_number = r.issue_number)"
        )
        .expect("gaps"),
        1,
        "number 3 is a recorded gap, never reused"
    );
    // Raw SQL cannot issue under another number than the one printed.
    let (d, d_sha) = submitted_case(&f, &operator).await;
    f.counter.approve(&reviewer, d, d_sha).await.expect("approve d");
    let approval = raw_i64!(&store.raw, "SELECT id FROM approvals WHERE case_id = $1", d).expect("approval");
    let seq = raw_i64!(&store.raw, "SELECT seq FROM audit_head").expect("head");
    let err = raw_exec!(
        &store.raw,
        "INSERT INTO issuances (case_id, approval_id, issue_number, control_number, station, output_sha256, sheets,
                                copies, issued_by, issued_at_us, audit_seq)
         VALUES ($1, $2, 99, 'post-1-000099', 'post-1', $3, 1, 1, $4, 0, $5)",
        d,
        approval,
        d_sha.to_vec(),
        reviewer.actor.user_id,
        seq
    )
    .expect_err("another number than the printed one");
    assert!(err.to_string().contains("printed on its approved output"), "{err}");
}

async fn unprintable_certificate_never_reaches_review(store: &TestStore) {
    use backend_adapter::ResidentSystem as _;
    use backend_adapter::types::{HouseholdTarget, MoveEntry, MoveSubmission, Name, NewPerson, Registry, Sex};
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let address = f.residents.household(ordinary_household(&f.residents).await).await.expect("household").address;
    // A name with a character outside every embedded font (a vendor 外字 in the private use area).
    let receipt = f
        .residents
        .submit_move(&MoveSubmission {
            idempotency_key: "gaiji".into(),
            entry: MoveEntry::MoveIn {
                persons: vec![NewPerson {
                    name: Name {
                        family: "山\u{E000}".into(),
                        given: "太郎".into(),
                        family_kana: Some("ヤマサキ".into()),
                        given_kana: Some("タロウ".into()),
                        former_family: None,
                        former_family_kana: None,
                        common_name: None,
                        alphabet: None,
                    },
                    birth_date: jiff::civil::date(1980, 1, 1),
                    sex: Sex::Male,
                    relationship: "世帯主".into(),
                    resident_code: None,
                    individual_number: None,
                    registry: Registry::Japanese {
                        honseki: "東京都新宿区".into(),
                        head_of_family_register: "山\u{E000}　太郎".into(),
                    },
                }],
                address,
                household: HouseholdTarget::New,
                moved_on: jiff::civil::date(2026, 11, 1),
                notified_on: jiff::civil::date(2026, 11, 2),
                previous_address: "横浜市".into(),
            },
        })
        .await
        .expect("move in");
    let household = receipt.household.expect("household");
    let case_id = f
        .counter
        .open_case(&operator, copy_request(household, RequesterCategory::Self_, OptionalItems::default()))
        .await
        .expect("open");
    let err = f.counter.prepare_and_submit(&operator, case_id).await.expect_err("外字 without a glyph");
    assert!(matches!(&err, CoreError::Layout(_)), "{err:?}");
    assert!(err.message_ja().contains("1人目の氏名") && err.message_ja().contains("U+E000"), "{}", err.message_ja());
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM outputs").expect("outputs"), 0, "nothing reached review");
    assert_eq!(
        raw_i64!(&store.raw, "SELECT count(*) FROM number_reservations").expect("numbers"),
        0,
        "no number spent"
    );
}

async fn auditor_filters_the_log(store: &TestStore) {
    use madoguchi_core::store::AuditFilter;
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let auditor = login(&f.counter, "aud1", "audit-pc").await;
    let (case_id, sha) = submitted_case(&f, &operator).await;
    f.counter.approve(&reviewer, case_id, sha).await.expect("approve");

    let all = f.counter.audit_log(&auditor, &AuditFilter::default()).await.expect("log");
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert_eq!(all[0].action, "audit.read", "the read is recorded before the entries are returned");
    assert_eq!(all[0].actor, "aud1");

    let by_action = AuditFilter { action: Some(AuditAction::CaseApproved), ..AuditFilter::default() };
    let approvals = f.counter.audit_log(&auditor, &by_action).await.expect("log");
    assert_eq!(approvals.len(), 1);
    assert_eq!((approvals[0].actor.as_str(), approvals[0].subject.clone()), ("rev1", format!("case:{case_id}")));

    let by_actor = AuditFilter { actor: Some("op1".into()), ..AuditFilter::default() };
    let operator_rows = f.counter.audit_log(&auditor, &by_actor).await.expect("log");
    assert!(!operator_rows.is_empty() && operator_rows.iter().all(|e| e.actor == "op1"));

    let by_subject = AuditFilter { subject_prefix: Some(format!("case:{case_id}")), ..AuditFilter::default() };
    let case_rows = f.counter.audit_log(&auditor, &by_subject).await.expect("log");
    assert!(case_rows.iter().any(|e| e.action == "case.submitted"));
    assert!(case_rows.iter().all(|e| e.subject.starts_with(&format!("case:{case_id}"))));
    // '%' and '_' are not wildcards in the subject filter.
    let wildcard = AuditFilter { subject_prefix: Some("case:%".into()), ..AuditFilter::default() };
    assert!(f.counter.audit_log(&auditor, &wildcard).await.expect("log").is_empty());

    let last = all[0].at_us;
    let later = AuditFilter { from_us: Some(last + 1), ..AuditFilter::default() };
    let after = f.counter.audit_log(&auditor, &later).await.expect("log");
    assert!(after.iter().all(|e| e.at_us > last), "the period filter holds");
    let before = AuditFilter { until_us: Some(all.last().expect("rows").at_us), ..AuditFilter::default() };
    assert!(f.counter.audit_log(&auditor, &before).await.expect("log").is_empty());
    let limited = AuditFilter { limit: 3, ..AuditFilter::default() };
    assert_eq!(f.counter.audit_log(&auditor, &limited).await.expect("log").len(), 3);

    let verified = f.counter.verify_audit(&auditor).await.expect("verify").expect("the chain holds");
    assert_eq!(verified.entries, audit_count(store).await);
    for session in [&operator, &reviewer] {
        let err = f.counter.audit_log(session, &AuditFilter::default()).await.expect_err("not an auditor");
        assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
        let err = f.counter.verify_audit(session).await.expect_err("not an auditor");
        assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
    }
}

async fn admin_lists_users(store: &TestStore) {
    use madoguchi_core::clock::Clock as _;
    let f = fixture(store).await;
    let admin = login(&f.counter, "admin", "admin-pc").await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let until = test_clock().now_us() + 86_400_000_000;
    let user = madoguchi_core::store::NewUser {
        login_id: "temp1".into(),
        display_name: "臨時 三郎".into(),
        password_hash: madoguchi_core::auth::hash_password("temporary-pass-1").expect("hash"),
        grants: vec![(Role::Operator, Some(until))],
    };
    f.counter.create_user(&admin, user).await.expect("create");
    crate::support::approve_pending_grants(&f.counter).await;
    let users = f.counter.users(&admin).await.expect("users");
    let logins: Vec<&str> = users.iter().map(|u| u.login_id.as_str()).collect();
    assert!(logins.windows(2).all(|w| w[0] < w[1]), "sorted by login id: {logins:?}");
    assert!(logins.contains(&"temp1") && logins.contains(&"op1") && logins.contains(&"admin"));
    assert!(users.iter().all(|u| u.password_hash.is_empty()), "no password hash leaves core");
    let temp = users.iter().find(|u| u.login_id == "temp1").expect("temp1");
    assert_eq!(temp.grants, vec![(Role::Operator, Some(until))]);
    let err = f.counter.users(&operator).await.expect_err("operators do not list users");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
}

/// Run `call`, then check it wrote exactly one audit row, with `action`.
async fn exactly_one_row<T, E: std::fmt::Debug>(
    store: &TestStore,
    action: AuditAction,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    let before = audit_count(store).await;
    let value = call.await.unwrap_or_else(|err| panic!("{action:?} call failed: {err:?}"));
    let entries = store.store.audit_entries(before + 1, 10).await.expect("entries");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, [action.as_str()], "one call that reads resident data, one audit row");
    value
}

/// Row counts of every table a counter call can change.
async fn table_counts(store: &TestStore) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "audit_log",
        "cases",
        "outputs",
        "approvals",
        "returns",
        "issuances",
        "number_reservations",
        "users",
        "fee_tables",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        let count = match &store.raw {
            RawDb::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await,
            RawDb::Pg(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await,
        };
        counts.push(count.expect("count rows"));
    }
    counts
}

/// A failpoint in the database itself: every audit insert is refused, as a full disk or a broken disk would.
async fn fail_audit_writes(store: &TestStore, on: bool) {
    let statements: &[&str] = match (&store.raw, on) {
        (RawDb::Sqlite(_), true) => &["CREATE TRIGGER audit_failpoint BEFORE INSERT ON audit_log
             BEGIN SELECT RAISE(ABORT, 'failpoint: the audit write failed'); END"],
        (RawDb::Sqlite(_), false) => &["DROP TRIGGER audit_failpoint"],
        (RawDb::Pg(_), true) => &[
            "CREATE FUNCTION audit_failpoint() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'failpoint: the audit write failed'; END $$",
            "CREATE TRIGGER audit_failpoint BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_failpoint()",
        ],
        (RawDb::Pg(_), false) => &["DROP TRIGGER audit_failpoint ON audit_log", "DROP FUNCTION audit_failpoint()"],
    };
    for statement in statements {
        raw_exec!(&store.raw, *statement).expect("failpoint statement");
    }
}

fn assert_failed_closed<T: std::fmt::Debug>(what: &str, result: Result<T, CoreError>) {
    match result {
        Err(CoreError::Store(err)) => assert!(err.to_string().contains("failpoint"), "{what}: {err}"),
        other => panic!("{what} must fail when its audit row cannot be written, got {other:?}"),
    }
}

async fn reads_are_audited_once_and_fail_closed(store: &TestStore) {
    use backend_adapter::ResidentSystem as _;
    use madoguchi_core::request::ProtectedField;
    use madoguchi_core::store::AuditFilter;
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let auditor = login(&f.counter, "aud1", "audit-pc").await;
    let household = ordinary_household(&f.residents).await;
    let person = f.residents.household(household).await.expect("household").members[0].id;
    let items = OptionalItems { individual_number: true, ..OptionalItems::default() };
    let request = copy_request(household, RequesterCategory::Self_, items);
    let case_id = f.counter.open_case(&operator, request.clone()).await.expect("open");
    f.counter.prepare_and_submit(&operator, case_id).await.expect("submit");
    let query = backend_adapter::types::SearchQuery { name_prefix: Some("ヤ".into()), ..Default::default() };

    // Every core call that reads resident data (or the log of who read it) writes exactly one audit row.
    exactly_one_row(store, AuditAction::ResidentSearched, f.counter.search_residents(&operator, &query)).await;
    exactly_one_row(store, AuditAction::CaseRead, f.counter.review(&reviewer, case_id)).await;
    let number = exactly_one_row(
        store,
        AuditAction::FieldRead,
        f.counter.person_field(&operator, case_id, person, ProtectedField::IndividualNumber),
    )
    .await;
    assert_eq!(number.len(), 12, "the 個人番号 the case needs is shown");
    exactly_one_row(store, AuditAction::AuditRead, f.counter.audit_log(&auditor, &AuditFilter::default())).await;

    // With the audit write failing, every call fails and nothing changes.
    let draft = f.counter.open_case(&operator, request.clone()).await.expect("a draft for the failing submit");
    let (_, output) = f.counter.review(&reviewer, case_id).await.expect("review");
    fail_audit_writes(store, true).await;
    let before = table_counts(store).await;
    assert_failed_closed("search", f.counter.search_residents(&operator, &query).await);
    assert_failed_closed("review", f.counter.review(&reviewer, case_id).await);
    assert_failed_closed(
        "protected field",
        f.counter.person_field(&operator, case_id, person, ProtectedField::IndividualNumber).await,
    );
    assert_failed_closed("audit log", f.counter.audit_log(&auditor, &AuditFilter::default()).await);
    assert_failed_closed("open case", f.counter.open_case(&operator, request.clone()).await);
    assert_failed_closed("prepare and submit", f.counter.prepare_and_submit(&operator, draft).await);
    assert_failed_closed("approve", f.counter.approve(&reviewer, case_id, output.sha256).await);
    assert_failed_closed("return", f.counter.return_case(&reviewer, case_id, ReturnReason::WrongItems).await);
    assert_failed_closed("login", f.counter.login("op2", "operator-pass-2", Role::Operator, "post-2").await);
    assert_eq!(table_counts(store).await, before, "a call whose audit row failed changed nothing");
    fail_audit_writes(store, false).await;
    f.counter.approve(&reviewer, case_id, output.sha256).await.expect("works again once the log can be written");
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain verifies");
}

/// Which call exercises each permission, as the role table names them.
async fn try_permission(
    f: &Fixture,
    session: &Session,
    permission: madoguchi_core::auth::Permission,
    case: (i64, [u8; 32]),
    household: HouseholdId,
) -> Result<(), CoreError> {
    use madoguchi_core::auth::Permission as P;
    use madoguchi_core::store::AuditFilter;
    let (case_id, sha) = case;
    match permission {
        P::PrepareCase => f
            .counter
            .open_case(session, copy_request(household, RequesterCategory::Self_, OptionalItems::default()))
            .await
            .map(drop),
        P::ReviewCase => f.counter.approve(session, case_id, sha).await.map(drop),
        P::IssueCertificate => f.counter.issue(session, case_id, 1).await.map(drop),
        P::ReadQueue => f.counter.queue(session, &CaseFilter::default()).await.map(drop),
        P::ManageUsers => f.counter.users(session).await.map(drop),
        P::ManageStations => f.counter.check_permission(session, P::ManageStations).await,
        P::ReadAudit => f.counter.audit_log(session, &AuditFilter::default()).await.map(drop),
        P::ExportData => f.counter.export(session).await.map(drop),
        P::CloseDay => f.counter.receive_paper(session, "review-1", 10).await,
        P::SetFees => {
            let amounts = madoguchi_core::fees::FeeTable::demo().amounts();
            f.counter.set_fee_table(session, &amounts).await.map(drop)
        }
    }
}

async fn permission_matrix_holds(store: &TestStore) {
    use madoguchi_core::auth::Permission;
    let f = fixture(store).await;
    let household = ordinary_household(&f.residents).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    for (login_id, station) in
        [("op1", "post-1"), ("rev1", "review-1"), ("sup1", "sup-pc"), ("admin", "admin-pc"), ("aud1", "audit-pc")]
    {
        let session = login(&f.counter, login_id, station).await;
        for permission in Permission::ALL {
            let case = submitted_case(&f, &operator).await;
            let before = table_counts(store).await;
            let role = session.actor.role;
            if role == Role::Operator && permission == Permission::ReadQueue {
                continue; // an operator's own post list: checked below
            }
            let result = try_permission(&f, &session, permission, case, household).await;
            if role.allows(permission) {
                assert!(!matches!(result, Err(CoreError::Forbidden { .. })), "{role:?} may {permission:?}: {result:?}");
            } else {
                assert!(
                    matches!(result, Err(CoreError::Forbidden { .. })),
                    "{role:?} may not {permission:?}: {result:?}"
                );
                assert_eq!(table_counts(store).await, before, "a forbidden call changes nothing");
            }
        }
    }
    // An operator reads only the post's own list, whatever filter the caller passes.
    let other_post = login(&f.counter, "op2", "post-2").await;
    let everything = CaseFilter { limit: 1000, ..CaseFilter::default() };
    assert!(f.counter.queue(&other_post, &everything).await.expect("post list").is_empty(), "post-2 has no cases");
    let post_1 = f.counter.queue(&operator, &everything).await.expect("post list");
    assert!(!post_1.is_empty() && post_1.iter().all(|c| c.station == "post-1"));

    // A grant that expires is refused at the next call, without waiting for a new login.
    let clock = test_clock();
    let counter = Counter::new(store.store.clone(), f.residents.clone(), clock.clone(), f.counter.profile().clone());
    let admin = login(&counter, "admin", "admin-pc").await;
    let expires = madoguchi_core::clock::Clock::now_us(clock.as_ref()) + 3_600_000_000;
    let temporary = madoguchi_core::store::NewUser {
        login_id: "temp1".into(),
        display_name: "臨時".into(),
        password_hash: madoguchi_core::auth::hash_password("temporary-pass-1").expect("hash"),
        grants: vec![(Role::Operator, Some(expires))],
    };
    counter.create_user(&admin, temporary).await.expect("temporary operator");
    crate::support::approve_pending_grants(&counter).await;
    let session = counter.login("temp1", "temporary-pass-1", Role::Operator, "post-3").await.expect("login in time");
    let query = backend_adapter::types::SearchQuery { name_prefix: Some("ヤ".into()), ..Default::default() };
    counter.search_residents(&session, &query).await.expect("search within the grant");
    clock.advance(std::time::Duration::from_secs(3_601));
    let err = counter.search_residents(&session, &query).await.expect_err("expired");
    assert!(matches!(err, CoreError::NoGrant { .. }), "{err:?}");
    assert!(err.message_ja().contains("権限"), "{}", err.message_ja());
    let err = counter.login("temp1", "temporary-pass-1", Role::Operator, "post-3").await.expect_err("expired login");
    assert!(matches!(err, CoreError::NoGrant { .. }), "{err:?}");
}

async fn protected_fields_follow_the_task(store: &TestStore) {
    use backend_adapter::ResidentSystem as _;
    use madoguchi_core::request::ProtectedField;
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let other = login(&f.counter, "op2", "post-2").await;
    let household = ordinary_household(&f.residents).await;
    let record = f.residents.household(household).await.expect("household");
    let person = record.members[0].id;
    let with_number = OptionalItems { individual_number: true, ..OptionalItems::default() };
    let own = f.counter.open_case(&operator, copy_request(household, RequesterCategory::Self_, with_number)).await;
    let own = own.expect("own case");
    let plain =
        f.counter.open_case(&operator, copy_request(household, RequesterCategory::Self_, OptionalItems::default()));
    let plain = plain.await.expect("plain case");
    let with_registry = OptionalItems { registry: true, ..OptionalItems::default() };
    let third =
        f.counter.open_case(&operator, copy_request(household, RequesterCategory::ThirdPartyIndividual, with_registry));
    let third = third.await.expect("third-party case");

    let number = f.counter.person_field(&operator, own, person, ProtectedField::IndividualNumber).await;
    assert_eq!(number.expect("needed"), record.members[0].individual_number.as_str());
    let registry = f.counter.person_field(&operator, third, person, ProtectedField::Registry).await;
    assert!(!registry.expect("a third party's 本籍 request needs it").is_empty());
    let refusals = [
        ("a field the case does not ask for", &operator, own, ProtectedField::ResidentCode),
        ("a case without the item", &operator, plain, ProtectedField::IndividualNumber),
        ("a third party's case (never 個人番号)", &operator, third, ProtectedField::IndividualNumber),
        ("another operator's case", &other, own, ProtectedField::IndividualNumber),
    ];
    for (what, session, case_id, field) in refusals {
        let before = audit_count(store).await;
        let err = f.counter.person_field(session, case_id, person, field).await.expect_err(what);
        assert!(matches!(err, CoreError::FieldNotNeeded { .. }), "{what}: {err:?}");
        assert!(err.message_ja().contains(field.label_ja()), "{}", err.message_ja());
        let entries = store.store.audit_entries(before + 1, 10).await.expect("entries");
        assert_eq!(entries.len(), 1, "{what}: the refusal is one audit row");
        assert_eq!(entries[0].action, AuditAction::FieldRefused.as_str());
    }
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let err =
        f.counter.person_field(&reviewer, own, person, ProtectedField::IndividualNumber).await.expect_err("staff");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
}

async fn usb_key_and_media_incidents(store: &TestStore) {
    use devices::usb::{BusWatcher, SimulatedBus, UsbDeviceInfo, class};
    use madoguchi_core::guard::{DEFAULT_IDLE_LIMIT, LockReason, TerminalGuard, UsbKey};
    fn device(vendor_id: u16, product_id: u16, serial: &str, device_class: u8) -> UsbDeviceInfo {
        UsbDeviceInfo {
            bus: 1,
            address: 9,
            vendor_id,
            product_id,
            serial: Some(serial.into()),
            classes: vec![device_class],
        }
    }
    /// Read the simulated bus through the real watcher and give every event to the guard.
    fn pump(watcher: &mut BusWatcher<SimulatedBus>, guard: &mut TerminalGuard) -> Vec<LockReason> {
        watcher.poll().expect("bus").iter().filter_map(|event| guard.observe(event)).collect()
    }
    let f = fixture(store).await;
    let admin = login(&f.counter, "admin", "admin-pc").await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let key = UsbKey::parse("1050:0407:OP1-KEY").expect("key");
    let err =
        f.counter.register_usb_key(&operator, "op1", Some(&key)).await.expect_err("operators do not register keys");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
    f.counter.register_usb_key(&admin, "op1", Some(&key)).await.expect("register");
    let err = f.counter.register_usb_key(&admin, "nobody", Some(&key)).await.expect_err("unknown user");
    assert!(matches!(err, CoreError::NotFound { .. }), "{err:?}");

    let bus = SimulatedBus::default();
    let mut watcher = BusWatcher::new(bus.clone());
    let mut guard = TerminalGuard::new(DEFAULT_IDLE_LIMIT, 0);
    let err = f.counter.start_guarded_session(&operator, &mut guard).await.expect_err("no key attached");
    assert!(matches!(&err, CoreError::TerminalLocked(LockReason::KeyMissing(k)) if *k == key), "{err:?}");
    bus.attach(device(0x1050, 0x0407, "SOMEONE-ELSE", class::HID));
    assert!(pump(&mut watcher, &mut guard).is_empty());
    let err = f.counter.start_guarded_session(&operator, &mut guard).await.expect_err("a foreign key");
    assert!(matches!(err, CoreError::TerminalLocked(LockReason::KeyMissing(_))), "{err:?}");
    bus.attach(device(0x1050, 0x0407, "OP1-KEY", class::HID));
    assert!(pump(&mut watcher, &mut guard).is_empty());
    f.counter.start_guarded_session(&operator, &mut guard).await.expect("own key attached");

    // The key is pulled: the next bus reading locks, and the lock is an incident.
    bus.detach(0x1050, 0x0407, Some("OP1-KEY"));
    let locks = pump(&mut watcher, &mut guard);
    assert_eq!(locks, [LockReason::KeyRemoved(key.clone())]);
    for reason in &locks {
        f.counter.record_lock(Some(&operator), "post-1", reason).await.expect("record");
    }
    guard.end_session();

    // A USB stick arrives while nobody is logged in: still an incident; no session starts until it is gone.
    bus.attach(device(0x0781, 0x5583, "STICK-1", class::MASS_STORAGE));
    let locks = pump(&mut watcher, &mut guard);
    assert!(matches!(locks.as_slice(), [LockReason::RemovableMedia { vendor_id: 0x0781, .. }]), "{locks:?}");
    for reason in &locks {
        f.counter.record_lock(None, "post-1", reason).await.expect("record");
    }
    bus.attach(device(0x1050, 0x0407, "OP1-KEY", class::HID));
    pump(&mut watcher, &mut guard);
    let err = f.counter.start_guarded_session(&operator, &mut guard).await.expect_err("a stick is attached");
    assert!(matches!(err, CoreError::TerminalLocked(LockReason::RemovableMedia { .. })), "{err:?}");
    assert!(err.message_ja().contains("外部記憶媒体"), "{}", err.message_ja());
    bus.detach(0x0781, 0x5583, Some("STICK-1"));
    pump(&mut watcher, &mut guard);
    f.counter.start_guarded_session(&operator, &mut guard).await.expect("stick removed, key attached");

    let incidents = f.counter.incidents(&admin, 10).await.expect("admin reads incidents");
    let kinds: Vec<&str> = incidents.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["media.attached", "media.attached", "usb_key.removed"], "newest first");
    assert_eq!(incidents[2].login_id, "op1");
    assert_eq!(incidents[1].login_id, "-");
    assert!(incidents[1].detail.contains("0781"), "{}", incidents[1].detail);
    let auditor = login(&f.counter, "aud1", "audit-pc").await;
    assert_eq!(f.counter.incidents(&auditor, 10).await.expect("auditor reads incidents").len(), 3);
    let err = f.counter.incidents(&operator, 10).await.expect_err("operators do not");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
    let entries = store.store.audit_entries(1, 10_000).await.expect("entries");
    let count = |action: AuditAction| entries.iter().filter(|e| e.action == action.as_str()).count();
    assert_eq!(count(AuditAction::IncidentRecorded), 3, "each incident has its audit row");
    assert_eq!(count(AuditAction::TerminalLocked), 2, "each refused session start is recorded");
    assert_eq!(count(AuditAction::UsbKeyRegistered), 1);
    let err = raw_exec!(&store.raw, "DELETE FROM incidents").expect_err("incidents are kept");
    assert!(err.to_string().contains("immutable"), "{err}");
}

async fn anomalies_raise_incidents(store: &TestStore) {
    use madoguchi_core::anomaly::AnomalyPolicy;
    use madoguchi_core::clock::FixedClock;
    let dir = tempfile::tempdir().expect("temp dir");
    let residents = residents(dir.path(), 40).await;
    // Friday 2026-11-20, 21:00 at the ward: after hours.
    let clock = Arc::new(FixedClock::new("2026-11-20T12:00:00Z".parse().expect("timestamp")));
    let counter = counter_with_users(store.store.clone(), residents.clone(), clock.clone())
        .await
        .with_anomaly_policy(AnomalyPolicy { lookups_without_case: 3, ..AnomalyPolicy::default() });
    let admin = login(&counter, "admin", "admin-pc").await;
    let kinds = |incidents: Vec<madoguchi_core::store::Incident>| -> Vec<(String, String)> {
        incidents.into_iter().map(|i| (i.kind, i.login_id)).collect()
    };
    let query = backend_adapter::types::SearchQuery { name_prefix: Some("ヤ".into()), ..Default::default() };

    let night = login(&counter, "op1", "post-1").await;
    counter.search_residents(&night, &query).await.expect("the lookup itself is allowed");
    assert_eq!(
        kinds(counter.incidents(&admin, 10).await.expect("incidents")),
        [("lookup.after_hours".into(), "op1".into())]
    );
    for _ in 0..5 {
        counter.search_residents(&night, &query).await.expect("search");
    }
    assert_eq!(
        kinds(counter.incidents(&admin, 10).await.expect("incidents")),
        [("lookups.without_case".into(), "op1".into()), ("lookup.after_hours".into(), "op1".into())],
        "each rule fires once per person and window"
    );

    // Monday 10:00: in hours, and searches that lead to a case are ordinary.
    clock.advance(std::time::Duration::from_secs(61 * 3600));
    let day = login(&counter, "op2", "post-2").await;
    let household = ordinary_household(&residents).await;
    counter
        .open_case(&day, copy_request(household, RequesterCategory::Self_, OptionalItems::default()))
        .await
        .expect("case");
    for _ in 0..6 {
        counter.search_residents(&day, &query).await.expect("search");
    }
    assert_eq!(counter.incidents(&admin, 10).await.expect("incidents").len(), 2, "nothing new for op2");

    // Five wrong passwords lock the account: one incident, not one per later attempt.
    for _ in 0..5 {
        counter.login("rev2", "wrong-password!", Role::Reviewer, "review-2").await.expect_err("wrong password");
    }
    let err = counter.login("rev2", "reviewer-pass-2", Role::Reviewer, "review-2").await.expect_err("locked");
    assert!(matches!(err, CoreError::AccountLocked), "{err:?}");
    let incidents = counter.incidents(&admin, 10).await.expect("incidents");
    assert_eq!(incidents.len(), 3);
    assert_eq!((incidents[0].kind.as_str(), incidents[0].station.as_str()), ("login.repeated_failures", "review-2"));
    assert!(incidents[0].detail.contains("rev2"), "{}", incidents[0].detail);
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain verifies");
}

async fn grants_need_a_second_admin(store: &TestStore) {
    let f = fixture(store).await;
    let admin = login(&f.counter, "admin", "admin-pc").await;
    let second = login(&f.counter, "admin2", "admin-pc-2").await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let user = madoguchi_core::store::NewUser {
        login_id: "new1".into(),
        display_name: "新人 一子".into(),
        password_hash: madoguchi_core::auth::hash_password("new-user-pass-1").expect("hash"),
        grants: vec![(Role::Operator, None)],
    };
    f.counter.create_user(&admin, user).await.expect("create");
    let err = f.counter.login("new1", "new-user-pass-1", Role::Operator, "post-3").await.expect_err("not yet");
    assert!(matches!(err, CoreError::NoGrant { .. }), "a requested grant is not in force: {err:?}");
    let pending = f.counter.grant_requests(&admin, true).await.expect("pending");
    assert_eq!(pending.len(), 1);
    let request = &pending[0];
    assert_eq!(
        (request.login_id.as_str(), request.role, request.requested_by.as_str()),
        ("new1", Role::Operator, "admin")
    );

    // The requester cannot approve, through core or raw SQL.
    let err = f.counter.decide_grant(&admin, request.id, true).await.expect_err("own request");
    assert!(matches!(err, CoreError::SameAdmin { .. }), "{err:?}");
    assert!(err.message_ja().contains("別の管理者"), "{}", err.message_ja());
    let err = raw_exec!(
        &store.raw,
        "UPDATE grant_requests SET decision = 'approved', decided_by = requested_by WHERE id = $1",
        request.id
    )
    .expect_err("raw self-approval");
    assert!(err.to_string().contains("another admin"), "{err}");
    let err = f.counter.decide_grant(&operator, request.id, true).await.expect_err("operators do not decide");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");

    f.counter.decide_grant(&second, request.id, true).await.expect("the second admin approves");
    f.counter.login("new1", "new-user-pass-1", Role::Operator, "post-3").await.expect("in force now");
    let err = f.counter.decide_grant(&second, request.id, false).await.expect_err("decided once");
    assert!(err.to_string().contains("already decided"), "{err}");

    // A change to an existing user's grants goes the same way; a rejection leaves it out of force.
    let id = f.counter.request_grant(&second, "op1", Role::Reviewer, None).await.expect("request");
    f.counter.decide_grant(&admin, id, false).await.expect("reject");
    let err = f.counter.login("op1", "operator-pass-1", Role::Reviewer, "review-1").await.expect_err("rejected");
    assert!(matches!(err, CoreError::NoGrant { .. }), "{err:?}");
    assert!(f.counter.grant_requests(&admin, true).await.expect("pending").is_empty());
    let all = f.counter.grant_requests(&admin, false).await.expect("all");
    assert_eq!(all[0].approved, Some(false));
    assert_eq!(all[0].decided_by.as_deref(), Some("admin"));

    let entries = store.store.audit_entries(1, 10_000).await.expect("entries");
    for action in [AuditAction::GrantRequested, AuditAction::RoleGranted, AuditAction::GrantRejected] {
        assert!(entries.iter().any(|e| e.action == action.as_str()), "{action:?} is recorded");
    }
    // Taking a right away needs no second admin and works at the next call; two admins always remain.
    let new1 = f.counter.login("new1", "new-user-pass-1", Role::Operator, "post-3").await.expect("login");
    f.counter.revoke_grant(&admin, "new1", Role::Operator).await.expect("revoke");
    let query = backend_adapter::types::SearchQuery { name_prefix: Some("ヤ".into()), ..Default::default() };
    let err = f.counter.search_residents(&new1, &query).await.expect_err("revoked");
    assert!(matches!(err, CoreError::NoGrant { .. }), "{err:?}");
    let err = f.counter.revoke_grant(&admin, "new1", Role::Operator).await.expect_err("nothing in force");
    assert!(matches!(err, CoreError::NotFound { .. }), "{err:?}");
    let err = f.counter.revoke_grant(&admin, "admin2", Role::Admin).await.expect_err("two admins stay");
    assert!(matches!(err, CoreError::TooFewAdmins), "{err:?}");
    assert!(err.message_ja().contains("2名以上"), "{}", err.message_ja());
    let lone = madoguchi_core::store::NewUser {
        login_id: "lone".into(),
        display_name: "一人".into(),
        password_hash: madoguchi_core::auth::hash_password("lone-admin-pass").expect("hash"),
        grants: vec![(Role::Admin, None)],
    };
    let err = store.store.initialize(&[lone], "setup", 0).await.expect_err("one admin is not enough");
    assert!(matches!(err, CoreError::TooFewAdmins), "{err:?}");
    let err = f.counter.revoke_grant(&operator, "op2", Role::Operator).await.expect_err("operators do not revoke");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");
    let entries = store.store.audit_entries(1, 10_000).await.expect("entries");
    assert_eq!(entries.iter().filter(|e| e.action == AuditAction::RoleRevoked.as_str()).count(), 1);

    let err = raw_exec!(&store.raw, "DELETE FROM grant_requests").expect_err("kept");
    assert!(err.to_string().contains("kept"), "{err}");
}

/// Requests and outputs are stored sealed; the counter reads them through the data keys; erasure (two different
/// admins) destroys the keys, after which the sealed rows open nowhere, the store takes no new work, and the audit
/// chain still verifies.
async fn sealed_data_and_erasure(store: &TestStore) {
    use madoguchi_core::error::StoreError;
    const CANARY: &str = "窓口検体カナリア";
    let f = fixture(store).await;
    let operator = login(&f.counter, "op1", "post-1").await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let household = ordinary_household(&f.residents).await;
    let mut request = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    request.requester.name = CANARY.into();
    let case_id = f.counter.open_case(&operator, request.clone()).await.expect("open case");
    f.counter.prepare_and_submit(&operator, case_id).await.expect("submit");

    let stored: String = match &store.raw {
        RawDb::Sqlite(pool) => {
            sqlx::query_scalar("SELECT request FROM cases WHERE id = $1").bind(case_id).fetch_one(pool).await
        }
        RawDb::Pg(pool) => {
            sqlx::query_scalar("SELECT request FROM cases WHERE id = $1").bind(case_id).fetch_one(pool).await
        }
    }
    .expect("raw request");
    assert!(stored.starts_with("4d444731") && !stored.contains(CANARY), "the request is sealed: {stored:.40}");
    let raw_bytes: Vec<u8> = match &store.raw {
        RawDb::Sqlite(pool) => {
            sqlx::query_scalar("SELECT bytes FROM outputs WHERE case_id = $1").bind(case_id).fetch_one(pool).await
        }
        RawDb::Pg(pool) => {
            sqlx::query_scalar("SELECT bytes FROM outputs WHERE case_id = $1").bind(case_id).fetch_one(pool).await
        }
    }
    .expect("raw bytes");
    assert!(raw_bytes.starts_with(b"MDG1") && !raw_bytes.starts_with(b"%PDF"), "the output is sealed");
    let (case, output) = f.counter.review(&reviewer, case_id).await.expect("review opens the sealed rows");
    assert_eq!(case.request.requester.name, CANARY);
    assert!(output.bytes.starts_with(b"%PDF"), "the reviewer gets the PDF");

    let admin = login(&f.counter, "admin", "admin-pc").await;
    let admin2 = login(&f.counter, "admin2", "admin-pc").await;
    let export = f.counter.export(&admin).await.expect("export");
    let exported = export.tables["cases"].iter().find(|row| row["id"] == case_id).expect("case exported");
    assert_eq!(exported["request"]["requester"]["name"], CANARY, "the return export holds the data in the clear");
    let exported_output = &export.tables["outputs"][0];
    assert!(
        exported_output["document"]["document"]["persons"].is_array(),
        "the certificate content is exported as JSON: {exported_output}"
    );

    // Refused: one admin alone, a reviewer. Nothing changes.
    let before = audit_count(store).await;
    assert!(matches!(f.counter.erase(&admin, &admin).await, Err(CoreError::ErasureNeedsSecondAdmin)));
    assert!(matches!(f.counter.erase(&reviewer, &admin).await, Err(CoreError::Forbidden { .. })));
    assert_eq!(audit_count(store).await, before);
    assert!(store.store.data_keys().await.expect("keys").iter().all(|key| key.destroyed_at_us.is_none()));

    let destroyed = f.counter.erase(&admin, &admin2).await.expect("erase");
    assert_eq!(destroyed.len(), 2, "one key per dataset");
    assert!(destroyed.iter().all(|key| key.destroyed_at_us.is_some()));
    assert_eq!(audit_count(store).await, before + 1, "one audit row names the destroyed keys");
    let rows =
        f.counter.audit_log(&login(&f.counter, "aud1", "audit-pc").await, &Default::default()).await.expect("log");
    let erased_row = rows.iter().find(|row| row.action == AuditAction::DataKeysDestroyed.as_str()).expect("row");
    for key in &destroyed {
        assert!(erased_row.detail.contains(&key.key_id), "{}", erased_row.detail);
    }

    let err = f.counter.review(&reviewer, case_id).await.expect_err("the sealed rows no longer open");
    assert!(matches!(err, CoreError::Store(StoreError::DataKeys(_))), "{err:?}");
    assert!(err.message_ja().contains("データ鍵"), "{}", err.message_ja());
    let err = f.counter.open_case(&operator, request).await.expect_err("an erased store takes no new work");
    assert!(matches!(err, CoreError::Store(StoreError::Erased)), "{err:?}");
    assert!(f.counter.export(&admin).await.is_err(), "nothing left to export in the clear");
    let rows_before_second = audit_count(store).await;
    let again = f.counter.erase(&admin, &admin2).await.expect("erasing again is harmless");
    assert_eq!(again.len(), 2);
    assert_eq!(audit_count(store).await, rows_before_second, "no key was left to destroy: no new row");
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("the chain still verifies");
}

/// A table added by a migration but forgotten in the return export would never be returned to the ward.
async fn export_covers_every_table(store: &TestStore) {
    let tables: Vec<String> = match &store.raw {
        RawDb::Sqlite(pool) => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .fetch_all(pool)
                .await
        }
        RawDb::Pg(pool) => {
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await
        }
    }
    .expect("tables");
    let mut missing: Vec<&String> = tables
        .iter()
        .filter(|table| {
            *table != "_sqlx_migrations" && !madoguchi_core::export::EXPORT_TABLES.contains(&table.as_str())
        })
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "tables missing from the return export: {missing:?}");
    assert!(tables.len() > madoguchi_core::export::EXPORT_TABLES.len(), "the query saw the tables: {tables:?}");
}

/// 印鑑登録 by 照会書: the 回答書 is accepted on the deadline day and refused the day after (refusal recorded, the
/// 照会 left pending until it expires); a 代理人 cannot register any other way; the database itself refuses an
/// acceptance after the deadline.
async fn inquiry_deadline(store: &TestStore) {
    use crate::inquiry_letter::{mail_letter, print_letter, seal_inquiry_request};
    use backend_adapter::ResidentSystem as _;
    use madoguchi_core::inquiry::InquiryState;
    use madoguchi_core::request::SealRegistrationPath;
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    let clock = test_clock();
    let counter = counter_with_users(store.store.clone(), residents.clone(), clock.clone()).await.with_inquiry_days(14);
    let operator = login(&counter, "op1", "post-1").await;
    let reviewer = login(&counter, "rev1", "review-1").await;
    let household = ordinary_household(&residents).await;
    let person = residents.household(household).await.expect("household").members[0].id;
    let mut same_day = seal_inquiry_request(household, person);
    same_day.task = TaskRequest::Seal { person, path: SealRegistrationPath::SameDay, registration_number: None };
    let err = counter.open_case(&operator, same_day).await.expect_err("proxy");
    assert!(err.message_ja().contains("代理人による印鑑登録は照会書"), "{}", err.message_ja());

    let on_time = counter.open_case(&operator, seal_inquiry_request(household, person)).await.expect("case");
    let late = counter.open_case(&operator, seal_inquiry_request(household, person)).await.expect("case");
    let never_mailed = counter.open_case(&operator, seal_inquiry_request(household, person)).await.expect("case");
    let sent = mail_letter(&counter, &operator, &reviewer, on_time).await;
    mail_letter(&counter, &operator, &reviewer, late).await;
    print_letter(&counter, &operator, &reviewer, never_mailed).await;
    assert_eq!(sent.sent_on, jiff::civil::date(2026, 11, 20));
    assert_eq!(sent.deadline, jiff::civil::date(2026, 12, 4), "14 days");
    assert!(counter.send_inquiry(&operator, on_time).await.is_err(), "one 照会書 per case");
    let certificate_case = {
        let request = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
        let case_id = counter.open_case(&operator, request).await.expect("certificate case");
        counter.prepare_and_submit(&operator, case_id).await.expect("certificate prepared");
        case_id
    };
    assert!(matches!(counter.send_inquiry(&operator, certificate_case).await, Err(CoreError::NotAnInquiryCase { .. })));

    let day = std::time::Duration::from_secs(24 * 3600);
    clock.advance(14 * day); // 2026-12-04, the last day
    let answered = counter.accept_answer(&operator, on_time).await.expect("accepted on the last day");
    assert_eq!((answered.state, answered.decided_on), (InquiryState::Answered, Some(jiff::civil::date(2026, 12, 4))));
    assert!(matches!(
        counter.accept_answer(&operator, on_time).await,
        Err(CoreError::InquiryNotPending { state: InquiryState::Answered, .. })
    ));

    clock.advance(day); // 2026-12-05, the day after
    let err = counter.send_inquiry(&operator, never_mailed).await.expect_err("a letter past its deadline");
    assert!(matches!(err, CoreError::InquiryLetterOutdated { .. }), "{err:?}");
    assert!(err.message_ja().contains("発送できません"), "{}", err.message_ja());
    let before = audit_count(store).await;
    let err = counter.accept_answer(&operator, late).await.expect_err("refused the day after");
    assert!(matches!(err, CoreError::AnswerPastDeadline { .. }), "{err:?}");
    assert!(err.message_ja().contains("令和8年12月4日"), "{}", err.message_ja());
    assert_eq!(audit_count(store).await, before + 1, "the refusal is recorded");
    let pending = counter.inquiries(&operator, true).await.expect("pending");
    assert_eq!(pending.iter().map(|i| i.case_id).collect::<Vec<_>>(), vec![late], "still pending until it expires");

    // Even raw SQL cannot record an acceptance after the deadline.
    let seq = raw_i64!(&store.raw, "SELECT seq FROM audit_head").expect("head");
    let err = raw_exec!(
        &store.raw,
        "UPDATE seal_inquiries SET state = 'answered', decided_on = '2026-12-05', decision_audit_seq = $1 WHERE case_id = $2",
        seq,
        late
    )
    .expect_err("the database refuses a late acceptance");
    assert!(err.to_string().contains("on or before the deadline"), "{err}");

    let expired = counter.expire_inquiries(&reviewer).await.expect("expire");
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].case_id, expired[0].state), (late, InquiryState::Expired));
    assert!(counter.inquiries(&operator, true).await.expect("pending").is_empty());
    assert_eq!(counter.inquiries(&reviewer, false).await.expect("all").len(), 2);
    verify_audit_chain(store.store.as_ref()).await.expect("read").expect("chain");
}

/// 手数料: an issue is charged from the ward's table (here ¥350 a 世帯連記 copy), a 公用 request is exempt with the
/// reason recorded, and the day's cash (日計) adds up per counter post for the ward's day only.
async fn fees_and_daily_cash(store: &TestStore) {
    use madoguchi_core::fees::FeeTable;
    let mut table = String::from("[certificates]\n");
    for kind in CertificateKind::ALL {
        let yen = if kind == CertificateKind::ResidentRecordHousehold { 350 } else { 300 };
        table.push_str(&format!("{} = {yen}\n", kind.as_str()));
    }
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    let clock = test_clock();
    let counter = counter_with_users(store.store.clone(), residents.clone(), clock.clone())
        .await
        .with_fee_table(FeeTable::parse(&table).expect("table"));
    let household = ordinary_household(&residents).await;
    let reviewer = login(&counter, "rev1", "review-1").await;
    let issue = |operator: Session, request: CounterRequest| issue_request(&counter, operator, &reviewer, request);
    let mut two_copies = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    if let TaskRequest::Certificate(certificate) = &mut two_copies.task {
        certificate.copies = 2;
    }
    let paid = issue(login(&counter, "op1", "post-1").await, two_copies).await;
    assert_eq!((paid.fee_yen, paid.fee_exemption.as_deref(), paid.post.as_str()), (700, None, "post-1"));
    let mut official = copy_request(household, RequesterCategory::Official, OptionalItems::default());
    official.requester.identity.documents = vec![IdentityDocument::OfficialRequestForm];
    let exempt = issue(login(&counter, "op2", "post-2").await, official).await;
    assert_eq!((exempt.fee_yen, exempt.fee_exemption.as_deref()), (0, Some("公用請求")));
    let single = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    issue(login(&counter, "op2", "post-2").await, single).await;
    let mut blank_reason = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    blank_reason.fee_exemption = Some("  ".into());
    let err = counter.open_case(&login(&counter, "op1", "post-1").await, blank_reason).await.expect_err("no reason");
    assert!(err.message_ja().contains("免除する理由"), "{}", err.message_ja());
    let mut assisted = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    assisted.fee_exemption = Some("生活保護受給中（受給証明書を確認）".into());
    let waived = issue(login(&counter, "op1", "post-1").await, assisted).await;
    assert_eq!((waived.fee_yen, waived.fee_exemption.as_deref()), (0, Some("生活保護受給中（受給証明書を確認）")));
    assert_eq!(store.store.issuances(paid.case_id).await.expect("issuances")[0].fee_yen, 700, "stored");

    let today = counter.daily_cash(&reviewer, jiff::civil::date(2026, 11, 20)).await.expect("cash");
    let summary: Vec<(&str, i64, i64, i64, i64)> =
        today.iter().map(|s| (s.station.as_str(), s.issues, s.copies, s.fees_yen, s.exempt)).collect();
    assert_eq!(summary, vec![("post-1", 2, 3, 700, 1), ("post-2", 2, 2, 350, 1)]);
    assert!(counter.daily_cash(&reviewer, jiff::civil::date(2026, 11, 21)).await.expect("cash").is_empty());
    let operator = login(&counter, "op1", "post-1").await;
    assert!(matches!(
        counter.daily_cash(&operator, jiff::civil::date(2026, 11, 20)).await,
        Err(CoreError::Forbidden { .. })
    ));
}

/// 手数料表 set on screen: checked whole before anything is kept, kept with its audit row (before and after), in
/// force for every counter on the store (whatever table each was configured with) from the next issue, never
/// edited afterwards — and issues already made keep their fee.
async fn fee_table_set_on_screen(store: &TestStore) {
    use madoguchi_core::fees::FeeTable;
    let f = fixture(store).await;
    let household = ordinary_household(&f.residents).await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let admin = login(&f.counter, "admin", "admin-pc").await;
    let copy = || copy_request(household, RequesterCategory::Self_, OptionalItems::default());
    let kind = CertificateKind::ResidentRecordHousehold;
    let before = f.counter.fees_in_force().await.expect("fees");
    assert_eq!((before.table.per_copy(kind), before.set.clone()), (300, None), "the configured table until one is set");
    let first = issue_request(&f.counter, login(&f.counter, "op1", "post-1").await, &reviewer, copy()).await;
    assert_eq!(first.fee_yen, 300);

    // Wrong tables are refused whole and change nothing.
    let mut amounts = FeeTable::demo().amounts();
    let rows = (raw_i64!(&store.raw, "SELECT count(*) FROM fee_tables").expect("count"), audit_count(store).await);
    let mut negative = amounts.clone();
    negative[0].1 = -1;
    let mut absurd = amounts.clone();
    absurd[0].1 = 30_000;
    for (what, wrong) in [("negative", negative), ("absurd", absurd), ("a gap", amounts[1..].to_vec())] {
        let err = f.counter.set_fee_table(&admin, &wrong).await.expect_err(what);
        assert!(matches!(err, CoreError::FeeTable(_)), "{what}: {err:?}");
        assert!(err.message_ja().contains("手数料表"), "{what}: {}", err.message_ja());
        let after = (raw_i64!(&store.raw, "SELECT count(*) FROM fee_tables").expect("count"), audit_count(store).await);
        assert_eq!(after, rows, "{what}: nothing kept, nothing audited");
    }
    let operator = login(&f.counter, "op1", "post-1").await;
    let err = f.counter.set_fee_table(&operator, &amounts).await.expect_err("an operator");
    assert!(matches!(err, CoreError::Forbidden { .. }), "{err:?}");

    // The admin's table is kept with its audit row and is in force at once.
    let position = amounts.iter().position(|(k, _)| *k == kind).expect("kind");
    amounts[position].1 = 350;
    let from = audit_count(store).await;
    let set = f.counter.set_fee_table(&admin, &amounts).await.expect("set");
    assert_eq!(set.set.as_ref().map(|(login, _)| login.as_str()), Some("admin"));
    let entries = store.store.audit_entries(from + 1, 10).await.expect("entries");
    assert_eq!(entries.len(), 1, "one audit row");
    assert_eq!((entries[0].action.as_str(), entries[0].subject.as_str()), (AuditAction::FeesSet.as_str(), "fees"));
    let detail: serde_json::Value = serde_json::from_str(&entries[0].detail).expect("detail");
    assert_eq!(
        (detail["before"][kind.as_str()].as_i64(), detail["after"][kind.as_str()].as_i64()),
        (Some(300), Some(350))
    );
    let second = issue_request(&f.counter, login(&f.counter, "op1", "post-1").await, &reviewer, copy()).await;
    assert_eq!(second.fee_yen, 350, "charged by the table in force");
    assert_eq!(store.store.issuances(first.case_id).await.expect("issuances")[0].fee_yen, 300, "earlier issue kept");

    // Another terminal on the same store, configured with another table, charges by the store's.
    let other = Counter::new(store.store.clone(), f.residents.clone(), test_clock(), f.counter.profile().clone())
        .with_fee_table(FeeTable::parse(&FeeTable::demo().to_toml().replace("300", "200")).expect("other table"));
    assert_eq!(other.fees_in_force().await.expect("fees").table.per_copy(kind), 350);
    let third =
        issue_request(&other, login(&other, "op2", "post-2").await, &login(&other, "rev1", "review-1").await, copy())
            .await;
    assert_eq!(third.fee_yen, 350);

    // The kept table is never edited or removed; a new one is added.
    for sql in ["UPDATE fee_tables SET table_toml = 'x'", "DELETE FROM fee_tables"] {
        assert!(raw_exec!(&store.raw, sql).is_err(), "{sql} must be refused");
    }
}

/// Take a request from open to issue: `operator` prepares, `reviewer` approves and issues one sheet.
async fn issue_request(
    counter: &Counter,
    operator: Session,
    reviewer: &Session,
    request: CounterRequest,
) -> madoguchi_core::store::Issuance {
    let case_id = counter.open_case(&operator, request).await.expect("open");
    let output = counter.prepare_and_submit(&operator, case_id).await.expect("submit");
    counter.approve(reviewer, case_id, output.sha256).await.expect("approve");
    counter.issue(reviewer, case_id, 1).await.expect("issue")
}

/// 本人通知: issues to a 代理人 or a 第三者 become notice records (date, certificate, copies, requester kind, whose
/// record), issues to the person, the household or 公用 do not, and the CSV never carries the requester's name.
async fn notice_data(store: &TestStore) {
    use madoguchi_core::notice::{NoticeClass, to_csv};
    let f = fixture(store).await;
    let household = ordinary_household(&f.residents).await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let mut official = copy_request(household, RequesterCategory::Official, OptionalItems::default());
    official.requester.identity.documents = vec![IdentityDocument::OfficialRequestForm];
    let mut proxy = copy_request(household, RequesterCategory::Proxy, OptionalItems::default());
    if let TaskRequest::Certificate(certificate) = &mut proxy.task {
        certificate.copies = 2;
    }
    for request in [
        copy_request(household, RequesterCategory::Self_, OptionalItems::default()),
        proxy,
        copy_request(household, RequesterCategory::ThirdPartyIndividual, OptionalItems::default()),
        official,
    ] {
        issue_request(&f.counter, login(&f.counter, "op1", "post-1").await, &reviewer, request).await;
    }
    let admin = login(&f.counter, "admin", "admin-pc").await;
    let day = jiff::civil::date(2026, 11, 20);
    let before = audit_count(store).await;
    let records = f.counter.notice_records(&admin, day, day).await.expect("notice data");
    assert_eq!(audit_count(store).await, before + 1, "one read row");
    let summary: Vec<(NoticeClass, i64, i64)> = records.iter().map(|r| (r.class, r.copies, r.household)).collect();
    assert_eq!(summary, vec![(NoticeClass::Representative, 2, household.0), (NoticeClass::ThirdParty, 1, household.0)]);
    assert!(records.iter().all(|r| r.issued_on == day && r.kind == CertificateKind::ResidentRecordHousehold));
    let csv = to_csv(&records);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("2026-11-20,住民票の写し（世帯連記式）,2,代理人,任意代理人,"), "{csv}");
    assert!(csv.contains(",第三者,第三者（個人）,"), "{csv}");
    assert!(!csv.contains("請求 太郎") && !csv.contains("西新宿"), "no requester name or address: {csv}");
    let next_day = day.tomorrow().expect("date");
    assert!(f.counter.notice_records(&admin, next_day, next_day).await.expect("empty").is_empty());
    assert!(matches!(f.counter.notice_records(&reviewer, day, day).await, Err(CoreError::Forbidden { .. })));
}

/// The day's close: fees per post and sheets on hand per printer station must match what staff counted; a planted
/// mismatch (a missing ¥300) blocks the close and records nothing, an explained mismatch closes with its
/// explanation, a day closes once, and the database refuses an unexplained mismatch even from raw SQL.
async fn paper_and_day_close(store: &TestStore) {
    use backend_adapter::ResidentSystem as _;
    use madoguchi_core::dayclose::DayFigures;
    let f = fixture(store).await;
    let household = ordinary_household(&f.residents).await;
    let reviewer = login(&f.counter, "rev1", "review-1").await;
    let supervisor = login(&f.counter, "sup1", "sup-pc").await;
    let operator = login(&f.counter, "op1", "post-1").await;
    f.counter.receive_paper(&supervisor, "review-1", 100).await.expect("paper received");
    assert!(matches!(f.counter.receive_paper(&operator, "review-1", 5).await, Err(CoreError::Forbidden { .. })));
    assert!(matches!(f.counter.receive_paper(&supervisor, "review-1", 0).await, Err(CoreError::Validation(_))));
    let printer: madoguchi_core::print::SharedPrinter =
        Arc::new(std::sync::Mutex::new(crate::support::ScriptedPrinter::new(Vec::new())));
    let worker = f.counter.print_worker("review-1", "worker");
    for _ in 0..2 {
        let request = copy_request(household, RequesterCategory::Self_, OptionalItems::default());
        issue_request(&f.counter, login(&f.counter, "op1", "post-1").await, &reviewer, request).await;
        worker.print_next(&printer).await.expect("print").expect("a job");
    }
    let err = f.counter.spoil_paper(&supervisor, "review-1", 1, "  ").await.expect_err("a reason is needed");
    assert!(err.message_ja().contains("損紙の理由"), "{}", err.message_ja());
    f.counter.spoil_paper(&supervisor, "review-1", 1, "紙詰まり").await.expect("spoiled");

    let day = jiff::civil::date(2026, 11, 20);
    let figures = |cash: i64, paper: i64| DayFigures {
        cash: vec![("post-1".to_string(), cash)],
        paper: vec![("review-1".to_string(), paper)],
    };
    let before = audit_count(store).await;
    for explanation in [None, Some("  ")] {
        let err = f.counter.close_day(&supervisor, day, figures(300, 97), explanation).await.expect_err("mismatch");
        let CoreError::CloseMismatch { lines } = &err else { panic!("{err:?}") };
        assert_eq!(lines, &vec!["現金（post-1）：記録 600、実数 300（差 -300）".to_string()]);
        assert!(err.message_ja().contains("理由を記入すると"), "{}", err.message_ja());
    }
    assert_eq!(audit_count(store).await, before, "a refused close records nothing");
    assert!(store.store.day_close(day).await.expect("read").is_none());

    let closed = f.counter.close_day(&supervisor, day, figures(600, 97), None).await.expect("close");
    assert_eq!((closed.explanation, closed.closed_by.as_str()), (None, "sup1"));
    assert!(matches!(
        f.counter.close_day(&supervisor, day, figures(600, 97), None).await,
        Err(CoreError::DayAlreadyClosed { .. })
    ));
    let next_day = day.tomorrow().expect("date");
    // A 照会 whose deadline was the closed day: still pending; the next day's close expires it.
    let mut seal = copy_request(household, RequesterCategory::Proxy, OptionalItems::default());
    seal.task = TaskRequest::Seal {
        person: f.residents.household(household).await.expect("household").members[0].id,
        path: madoguchi_core::request::SealRegistrationPath::Inquiry,
        registration_number: None,
    };
    let seal_case = f.counter.open_case(&operator, seal).await.expect("seal case");
    crate::inquiry_letter::print_letter(&f.counter, &operator, &reviewer, seal_case).await;
    let letter = f.counter.review(&reviewer, seal_case).await.expect("the letter").1;
    let overdue = madoguchi_core::inquiry::deadline(day, 0).expect("deadline");
    store
        .store
        .record_inquiry(&operator.actor, seal_case, letter.id, day, overdue, f.counter.now_us())
        .await
        .expect("inquiry sent, due today");
    let counted = DayFigures { cash: Vec::new(), paper: vec![("review-1".to_string(), 96)] };
    let explained = f
        .counter
        .close_day(&supervisor, next_day, counted, Some("1枚を研修で使用（損紙記録漏れ）"))
        .await
        .expect("an explained mismatch closes");
    let stored = store.store.day_close(next_day).await.expect("read").expect("closed");
    assert_eq!(stored.explanation.as_deref(), Some("1枚を研修で使用（損紙記録漏れ）"));
    assert_eq!(stored, explained);
    let inquiries = f.counter.inquiries(&supervisor, false).await.expect("inquiries");
    assert_eq!(inquiries.len(), 1);
    assert_eq!(inquiries[0].state, madoguchi_core::inquiry::InquiryState::Expired, "expired by the day's close");

    let seq = raw_i64!(&store.raw, "SELECT seq FROM audit_head").expect("head");
    let user = raw_i64!(&store.raw, "SELECT id FROM users WHERE login_id = 'sup1'").expect("user");
    let err = raw_exec!(
        &store.raw,
        "INSERT INTO day_closes (day, expected, counted, mismatch, closed_by, closed_at_us, audit_seq)
         VALUES ('2026-11-22', '{}', '{}', 1, $1, 0, $2)",
        user,
        seq
    )
    .expect_err("an unexplained mismatch cannot be closed");
    assert!(err.to_string().to_lowercase().contains("check"), "{err}");
}

/// A simulated November: three posts take requests on every weekday (本人, 代理人, 第三者 and 公用 in turn), some are
/// returned with a coded reason and handed over again, all are issued; paper is received and spoiled. The 月報 must
/// add up to exactly what was done, its PDF must show those totals (pdftotext) and draw its bar charts (pdftoppm),
/// and its CSV must carry the same figures.
async fn monthly_report(store: &TestStore) {
    use madoguchi_core::report::PeriodReport;
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    // The month starts on Monday 2 November, 09:00 at the ward.
    let clock = Arc::new(madoguchi_core::clock::FixedClock::new("2026-11-02T00:00:00Z".parse().expect("start")));
    let counter = counter_with_users(store.store.clone(), residents.clone(), clock.clone()).await;
    let household = ordinary_household(&residents).await;
    let supervisor = login(&counter, "sup1", "sup-pc").await;
    let reviewer = login(&counter, "rev1", "review-1").await;
    counter.receive_paper(&supervisor, "review-1", 500).await.expect("paper");
    let categories = [
        RequesterCategory::Self_,
        RequesterCategory::Proxy,
        RequesterCategory::ThirdPartyIndividual,
        RequesterCategory::Official,
    ];
    let (mut taken, mut returned, mut fees, mut exempt) = (std::collections::BTreeMap::new(), 0, 0, 0);
    let mut n = 0usize;
    let minute = std::time::Duration::from_secs(60);
    for day in 0..28 {
        let date = jiff::civil::date(2026, 11, 2).checked_add(jiff::Span::new().days(day)).expect("date");
        if matches!(date.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday) {
            clock.advance(24 * 60 * minute);
            continue;
        }
        for post in ["post-1", "post-2", "post-3"] {
            let category = categories[n % categories.len()];
            let mut request = copy_request(household, category, OptionalItems::default());
            if category == RequesterCategory::Official {
                request.requester.identity.documents = vec![IdentityDocument::OfficialRequestForm];
            }
            let operator = login(&counter, ["op1", "op2"][n % 2], post).await;
            let case_id = counter.open_case(&operator, request).await.expect("open");
            clock.advance(4 * minute);
            let mut output = counter.prepare_and_submit(&operator, case_id).await.expect("submit");
            clock.advance(3 * minute);
            if n % 7 == 3 {
                counter.return_case(&reviewer, case_id, ReturnReason::WrongItems).await.expect("return");
                returned += 1;
                clock.advance(2 * minute);
                output = counter.prepare_and_submit(&operator, case_id).await.expect("again");
                clock.advance(minute);
            }
            counter.approve(&reviewer, case_id, output.sha256).await.expect("approve");
            counter.issue(&reviewer, case_id, 1).await.expect("issue");
            *taken.entry(post).or_insert(0i64) += 1;
            if category == RequesterCategory::Official {
                exempt += 1
            } else {
                fees += 300
            }
            n += 1;
            clock.advance(20 * minute);
        }
        counter.spoil_paper(&supervisor, "review-1", 1, "紙詰まり").await.expect("one spoiled sheet a day");
        clock.advance(24 * 60 * minute - 60 * minute);
    }
    let spoiled = 20; // one sheet each weekday
    let report: PeriodReport = counter
        .period_report(&supervisor, jiff::civil::date(2026, 11, 1), jiff::civil::date(2026, 11, 30))
        .await
        .expect("report");
    assert_eq!(n, 60, "20 weekdays × 3 posts");
    assert_eq!(report.by_post, taken.iter().map(|(p, c)| (p.to_string(), *c)).collect::<Vec<_>>());
    assert_eq!(report.by_family, vec![("証明書".to_string(), 60)]);
    assert_eq!(report.by_certificate, vec![(CertificateKind::ResidentRecordHousehold, 60)]);
    assert_eq!(report.returns, vec![(ReturnReason::WrongItems, returned)]);
    assert_eq!((report.issued, report.copies, report.fees_yen, report.exempt), (60, 60, fees, exempt));
    assert_eq!((report.paper_received, report.paper_issued, report.paper_spoiled), (500, 60, spoiled));
    assert_eq!((report.processing.count, report.processing.p50_s), (60, 240), "4 minutes from taking to hand-over");
    assert_eq!(report.review_wait.p50_s, 180, "3 minutes in review");
    let requesters: i64 = report.by_requester.iter().map(|(_, c)| c).sum();
    assert_eq!(requesters, 60);
    assert_eq!(report.title_ja(), "月報");

    let pdf = dir.path().join("monthly.pdf");
    std::fs::write(&pdf, report.to_pdf().expect("pdf")).expect("write");
    let pdf_arg = pdf.to_str().expect("utf-8");
    let text = String::from_utf8(crate::certificates::tool("pdftotext", &["-layout", pdf_arg, "-"])).expect("utf-8");
    for expected in [
        "月報".to_string(),
        "令和8年11月1日 〜 令和8年11月30日".to_string(),
        "60件（60通）".to_string(),
        format!("{fees}円（免除 {exempt}件）"),
        format!("受入 500枚・交付 60枚・損紙 {spoiled}枚"),
        "窓口別の受付件数".to_string(),
        "差戻しの理由別件数".to_string(),
        format!("R03 {}", ReturnReason::WrongItems.label_ja()),
    ] {
        assert!(text.contains(&expected), "the PDF shows {expected}: {text}");
    }
    let png = crate::certificates::tool("pdftoppm", &["-r", "72", "-gray", "-png", "-f", "1", "-l", "1", pdf_arg]);
    let (width, height, gray) = crate::certificates::gray_pixels(&png);
    let long_dark_rows = (0..height as usize)
        .filter(|row| {
            let line = &gray[row * width as usize..(row + 1) * width as usize];
            let mut run = 0;
            line.iter().any(|&p| {
                run = if p < 100 { run + 1 } else { 0 };
                run >= 60
            })
        })
        .count();
    assert!(long_dark_rows >= 5 * 8, "bar charts are drawn ({long_dark_rows} rows with a long dark run)");
    let csv = report.to_csv();
    assert!(csv.contains(&format!("合計,手数料,{fees}円（免除 {exempt}件）")), "{csv}");
    assert!(csv.contains("窓口別の受付件数,post-1,20"), "{csv}");
}
