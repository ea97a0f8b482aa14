//! The outbox to the resident system (issue 6, Must show 3): approved 異動 entries wait in the outbox while the
//! resident system is down and go through when it returns, each applied once — a reply lost on the way back makes
//! the sender try again with the same idempotency key and the resident system changes nothing the second time. A
//! certificate of a household with an entry on its way waits for it; a sender that dies leaves its entry to another
//! once its lease ends; a refusal is never resent; the database refuses any other move.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use backend_adapter::http::{HttpClientConfig, HttpResidentSystem};
use backend_adapter::types::{
    Household, HouseholdId, HouseholdTarget, MoveEntry, MoveReceipt, MoveSubmission, Name, NewPerson, Person, PersonId,
    PersonSummary, Registry, SealAbolition, SealApplication, SealRegistration, SearchQuery, Sex,
};
use backend_adapter::{ReferenceResidentSystem, ResidentSystem, ResidentSystemError};
use jiff::civil::date;
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::error::CoreError;
use madoguchi_core::outbox::{Backoff, LEASE, MOVE_ENTRY_MEDIA_TYPE, OutboxState};
use madoguchi_core::request::{
    CounterRequest, IdentityCheck, IdentityDocument, Requester, RequesterCategory, TaskRequest,
};
use madoguchi_core::store::verify_audit_chain;

use crate::support::{HttpServer, TestStore, counter_with_users, issuer, login, residents, test_clock};
use crate::{raw_exec, raw_i64};

/// The reference resident system, counting 異動 calls, that loses its reply to the first delivery of one key
/// (the entry is applied, the terminal hears 503).
struct LosesOneReply {
    inner: Arc<ReferenceResidentSystem>,
    lose_reply_to: String,
    lost: AtomicUsize,
    moves: AtomicUsize,
}

#[async_trait]
impl ResidentSystem for LosesOneReply {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<PersonSummary>, ResidentSystemError> {
        self.inner.search(query).await
    }

    async fn household(&self, id: HouseholdId) -> Result<Household, ResidentSystemError> {
        self.inner.household(id).await
    }

    async fn person(&self, id: PersonId) -> Result<Person, ResidentSystemError> {
        self.inner.person(id).await
    }

    async fn submit_move(&self, submission: &MoveSubmission) -> Result<MoveReceipt, ResidentSystemError> {
        self.moves.fetch_add(1, Ordering::SeqCst);
        let receipt = self.inner.submit_move(submission).await?;
        if submission.idempotency_key == self.lose_reply_to && self.lost.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ResidentSystemError::Unavailable("the reply was lost on its way back".into()));
        }
        Ok(receipt)
    }

    async fn register_seal(&self, application: &SealApplication) -> Result<SealRegistration, ResidentSystemError> {
        self.inner.register_seal(application).await
    }

    async fn abolish_seal(&self, abolition: &SealAbolition) -> Result<SealRegistration, ResidentSystemError> {
        self.inner.abolish_seal(abolition).await
    }

    async fn seal_by_number(&self, registration_number: &str) -> Result<SealRegistration, ResidentSystemError> {
        self.inner.seal_by_number(registration_number).await
    }
}

fn request(task: TaskRequest) -> CounterRequest {
    CounterRequest {
        requester: Requester {
            category: RequesterCategory::Self_,
            name: "届出 太郎".into(),
            address: "東京都新宿区".into(),
            corporate_number: None,
            purpose: String::new(),
            identity: IdentityCheck { documents: vec![IdentityDocument::MyNumberCard], letter_of_attorney: false },
        },
        task,
        fee_exemption: None,
    }
}

fn move_request(entry: MoveEntry) -> CounterRequest {
    request(TaskRequest::Move { entry, special_card_procedure: false, card_move_out_planned_on: None })
}

fn newcomer(given: &str, relationship: &str) -> NewPerson {
    NewPerson {
        name: Name {
            family: "窓口".into(),
            given: given.into(),
            family_kana: Some("マドグチ".into()),
            given_kana: Some("ハナコ".into()),
            former_family: None,
            former_family_kana: None,
            common_name: None,
            alphabet: None,
        },
        birth_date: date(1988, 6, 1),
        sex: Sex::Female,
        relationship: relationship.into(),
        resident_code: None,
        individual_number: None,
        registry: Registry::Japanese {
            honseki: "東京都新宿区歌舞伎町一丁目4番地".into(),
            head_of_family_register: "窓口　花子".into(),
        },
    }
}

/// Open, prepare and approve a 異動 case: its id.
async fn approved_move(counter: &Counter, operator: &Session, reviewer: &Session, entry: MoveEntry) -> i64 {
    let case_id = counter.open_case(operator, move_request(entry.clone())).await.expect("open");
    let output = counter.prepare_and_submit(operator, case_id).await.expect("prepare");
    assert_eq!(output.media_type, MOVE_ENTRY_MEDIA_TYPE);
    let (_, reviewed) = counter.review(reviewer, case_id).await.expect("review");
    let submission: MoveSubmission = serde_json::from_slice(&reviewed.bytes).expect("the reviewer sees the entry");
    assert_eq!(submission.entry, entry, "the bytes under review are the entry keyed in");
    counter.approve(reviewer, case_id, reviewed.sha256).await.expect("approve");
    case_id
}

async fn outbox_state(counter: &Counter, staff: &Session, case_id: i64) -> (OutboxState, i64) {
    let rows = counter.outbox(staff, false).await.expect("outbox");
    let row = rows.iter().find(|row| row.case_id == case_id).expect("an outbox entry for the case");
    (row.state, row.attempts)
}

async fn entries_wait_while_the_resident_system_is_down(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 30).await;
    let initial = residents.person_count().await.expect("count");
    let clock = test_clock();
    counter_with_users(store.store.clone(), residents.clone(), clock.clone()).await;
    // The terminal reaches the resident system over HTTP at an address where nothing listens yet: it is down.
    let address = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        free.local_addr().expect("address").to_string()
    };
    let config = HttpClientConfig::new(&format!("http://{address}")).expect("url");
    let client = HttpResidentSystem::new(config).expect("client");
    let profile = CertificateProfile::generated(issuer(), false).expect("profile");
    let counter = Counter::new(store.store.clone(), Arc::new(client), clock.clone(), profile);
    let operator = login(&counter, "op1", "post-1").await;
    let reviewer = login(&counter, "rev1", "review-1").await;

    let mut households = Vec::new();
    for id in residents.household_ids(0, 30).await.expect("ids") {
        let household = residents.household(id).await.expect("household");
        if household.members.iter().all(|m| !m.support_measure) {
            households.push(household);
        }
    }
    // Three 転居 (each head to the address of another household) and one 転入 of a new two-person household.
    let mut moves = Vec::new();
    for i in 0..3 {
        let entry = MoveEntry::MoveWithin {
            persons: vec![households[i].head],
            new_address: households[i + 3].address.clone(),
            moved_on: date(2026, 11, 15),
            notified_on: date(2026, 11, 20),
        };
        moves.push((approved_move(&counter, &operator, &reviewer, entry).await, households[i].head));
    }
    let move_in = MoveEntry::MoveIn {
        persons: vec![newcomer("花子", "世帯主"), newcomer("一花", "子")],
        address: households[6].address.clone(),
        household: HouseholdTarget::New,
        moved_on: date(2026, 11, 10),
        notified_on: date(2026, 11, 20),
        previous_address: "北海道札幌市中央区北一条西二丁目".into(),
    };
    let move_in_case = approved_move(&counter, &operator, &reviewer, move_in).await;
    let outbox = counter.outbox(&reviewer, true).await.expect("outbox");
    assert_eq!(outbox.len(), 4, "each approval wrote its entry in the same transaction");
    assert!(outbox.iter().all(|row| row.state == OutboxState::Pending && row.attempts == 0));

    // Down for a while: every pass tries the entry due first, fails to connect, defers it and stops.
    let sender = counter
        .outbox_sender("review-1", "sender-a")
        .with_backoff(Backoff { first: Duration::from_secs(2), longest: Duration::from_secs(60) });
    let first = sender.send_due().await.expect("a pass");
    assert_eq!(first.len(), 1, "the pass stops at the first unreachable try");
    assert_eq!(first[0].state, OutboxState::Pending);
    for _ in 0..8 {
        clock.advance(Duration::from_secs(30));
        let pass = sender.send_due().await.expect("a pass");
        assert!(pass.iter().all(|report| report.state == OutboxState::Pending), "{pass:?}");
    }
    let waiting = counter.outbox(&reviewer, true).await.expect("outbox");
    assert_eq!(waiting.len(), 4, "nothing is lost while the resident system is down");
    let tried: Vec<_> = waiting.iter().filter(|row| row.attempts > 0).collect();
    assert!(!tried.is_empty() && tried.iter().all(|row| row.state == OutboxState::Pending));
    for row in &tried {
        let shown = row.last_error_ja.as_deref().expect("the reason is kept for staff");
        assert!(shown.contains("住民記録システムに接続できません"), "{shown}");
    }
    assert_eq!(residents.person_count().await.expect("count"), initial, "nothing reached the resident system");
    let move_in_tries_while_down =
        waiting.iter().find(|row| row.case_id == move_in_case).map(|row| row.attempts).expect("the 転入 waits");

    // It comes back (and will lose its reply to the first delivery of the 転入).
    let serving = Arc::new(LosesOneReply {
        inner: residents.clone(),
        lose_reply_to: madoguchi_core::outbox::idempotency_key(move_in_case),
        lost: AtomicUsize::new(0),
        moves: AtomicUsize::new(0),
    });
    let server = HttpServer::serving_at(&address, serving.clone()).await;

    // A certificate of a household whose 異動 is still on its way waits for it; another household's does not.
    let waiting_copy = own_copy(&households[0]);
    let case_id = counter.open_case(&operator, waiting_copy).await.expect("open");
    let err = counter.prepare_and_submit(&operator, case_id).await.expect_err("must wait for the 転居");
    assert!(
        matches!(err, CoreError::AwaitingResidentSystem { pending_case, .. } if pending_case == moves[0].0),
        "{err}"
    );
    assert!(err.message_ja().contains("まだ住民記録システムに反映されていません"), "{}", err.message_ja());
    let other = counter.open_case(&operator, own_copy(&households[10])).await.expect("open");
    counter.prepare_and_submit(&operator, other).await.expect("an unaffected household's copy is prepared at once");

    for _ in 0..10 {
        clock.advance(Duration::from_secs(61));
        sender.send_due().await.expect("a pass");
    }
    let rows = counter.outbox(&reviewer, false).await.expect("outbox");
    assert!(rows.iter().all(|row| row.state == OutboxState::Committed), "{rows:?}");
    assert_eq!(serving.moves.load(Ordering::SeqCst), 5, "four entries, one sent again after its reply was lost");
    assert_eq!(
        residents.person_count().await.expect("count"),
        initial + 2,
        "the 転入 sent twice created its two persons once"
    );
    let move_in_row = rows.iter().find(|row| row.case_id == move_in_case).expect("row");
    assert_eq!(move_in_row.attempts, move_in_tries_while_down + 2, "the lost reply cost one more try");
    assert_eq!(move_in_row.receipt.as_ref().expect("receipt").affected.len(), 2);
    for (i, (case, head)) in moves.iter().enumerate() {
        let person = residents.person(*head).await.expect("person");
        let household = residents.household(person.household_id).await.expect("household");
        assert_eq!(household.address, households[i + 3].address, "the 転居 of case {case} is applied");
    }
    counter.prepare_and_submit(&operator, case_id).await.expect("committed: the waiting copy is prepared now");

    // A sender dies holding an entry: nobody takes it during its lease; after it, another sender commits it.
    let entry = MoveEntry::MoveWithin {
        persons: vec![households[7].head],
        new_address: households[8].address.clone(),
        moved_on: date(2026, 11, 18),
        notified_on: date(2026, 11, 20),
    };
    let late_case = approved_move(&counter, &operator, &reviewer, entry).await;
    use madoguchi_core::clock::Clock as _;
    let lease = madoguchi_core::clock::duration_us(LEASE);
    let held = store.store.claim_outbox_entry("post-2", "sender-dead", lease, clock.now_us()).await;
    let held = held.expect("claim").expect("the new entry is due");
    assert_eq!((held.case_id, held.attempt), (late_case, 1));
    assert!(sender.send_due().await.expect("a pass").is_empty(), "a held entry is not taken during its lease");
    clock.advance(LEASE + Duration::from_secs(1));
    let pass = sender.send_due().await.expect("a pass");
    assert_eq!(pass.len(), 1);
    assert_eq!((pass[0].case_id, pass[0].attempt, pass[0].state), (late_case, 2, OutboxState::Committed));
    let end = madoguchi_core::outbox::OutboxEnd::Rejected { reason: "late".into(), reason_ja: "遅延".into() };
    let err = store
        .store
        .finish_outbox_entry(held.id, "post-2", "sender-dead", &end, clock.now_us())
        .await
        .expect_err("a dead sender's late report changes nothing");
    assert!(err.to_string().contains("not being sent by"), "{err}");
    assert_eq!(outbox_state(&counter, &reviewer, late_case).await, (OutboxState::Committed, 2));

    // A refusal goes to staff with the resident system's reason, and is never resent.
    let unknown = MoveEntry::MoveWithin {
        persons: vec![PersonId(99_999_999)],
        new_address: households[8].address.clone(),
        moved_on: date(2026, 11, 18),
        notified_on: date(2026, 11, 20),
    };
    let refused_case = approved_move(&counter, &operator, &reviewer, unknown).await;
    let pass = sender.send_due().await.expect("a pass");
    assert_eq!((pass[0].case_id, pass[0].state), (refused_case, OutboxState::Rejected));
    clock.advance(Duration::from_secs(3600));
    assert!(sender.send_due().await.expect("a pass").is_empty(), "a refused entry is never resent");
    let refused = counter.outbox(&reviewer, true).await.expect("outbox");
    assert_eq!(refused.len(), 1);
    assert!(refused[0].last_error_ja.as_deref().is_some_and(|reason| reason.contains("住民記録システムにありません")));
    assert_eq!(serving.moves.load(Ordering::SeqCst), 7, "the dead sender never sent; the refusal was sent once");

    // The database refuses every other move, whatever SQL is sent.
    for (sql, why) in [
        (
            "UPDATE resident_outbox SET state = 'pending', receipt = NULL WHERE state = 'committed'",
            "a committed entry again",
        ),
        (
            "UPDATE resident_outbox SET state = 'sending', attempts = attempts + 1 WHERE state = 'rejected'",
            "a refusal resent",
        ),
        ("UPDATE resident_outbox SET idempotency_key = 'other' WHERE state = 'rejected'", "another key"),
        ("DELETE FROM resident_outbox", "deleting the outbox"),
    ] {
        let err = raw_exec!(&store.raw, sql).expect_err(why);
        assert!(err.to_string().contains("madoguchi: "), "{why}: {err}");
    }
    let committed =
        raw_i64!(&store.raw, "SELECT count(*) FROM audit_log WHERE action = 'outbox.committed'").expect("n");
    let sending = raw_i64!(&store.raw, "SELECT count(*) FROM audit_log WHERE action = 'outbox.sending'").expect("n");
    let ended = raw_i64!(
        &store.raw,
        "SELECT count(*) FROM audit_log WHERE action IN ('outbox.committed', 'outbox.deferred', 'outbox.rejected')"
    )
    .expect("n");
    assert_eq!(committed, 5);
    assert_eq!(sending, ended + 1, "every try is journalled, and only the dead sender's has no end");
    assert!(verify_audit_chain(store.store.as_ref()).await.expect("verify").is_ok());
    drop(server);
}

fn own_copy(household: &Household) -> CounterRequest {
    let head = &household.members[0];
    madoguchi_core::sample::own_household_copy_request(
        household.id,
        &head.name.display(),
        &household.address.display(),
        IdentityDocument::DriversLicence,
    )
}

/// Every terminal polls the outbox every second, and print workers poll their queue: with nothing to do, a poll
/// must not take (or wait for) the store's write lock, which every change of every terminal needs.
async fn an_idle_poll_takes_no_write_lock(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 10).await;
    counter_with_users(store.store.clone(), residents, test_clock()).await;
    let poll = || async {
        let entry = store.store.claim_outbox_entry("post-1", "poller", 60_000_000, 1_800_000_000_000_000).await?;
        let job = store.store.claim_print_job("review-1", "poller", 1_800_000_000_000_000).await?;
        Ok::<_, CoreError>((entry, job))
    };
    // Another writer holds the write lock (SQLite: a write transaction; PostgreSQL: the audit head row).
    let held = match &store.raw {
        crate::support::RawDb::Sqlite(pool) => {
            let mut connection = pool.acquire().await.expect("connection");
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *connection).await.expect("write lock");
            let polled = tokio::time::timeout(Duration::from_secs(2), poll()).await;
            sqlx::query("ROLLBACK").execute(&mut *connection).await.expect("release");
            polled
        }
        crate::support::RawDb::Pg(pool) => {
            let mut tx = pool.begin().await.expect("tx");
            sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").execute(&mut *tx).await.expect("lock");
            let polled = tokio::time::timeout(Duration::from_secs(2), poll()).await;
            tx.rollback().await.expect("release");
            polled
        }
    };
    let polled = held.expect("an idle poll does not wait for the write lock").expect("poll");
    assert!(polled.0.is_none() && polled.1.is_none(), "nothing is due");
}

/// The operator's 異動 form lists a household's members through core: name, birth date and 続柄, recorded as a read
/// before they return; a household under 支援措置 is refused (and that is recorded); a 異動 dated after today, or by a
/// third party, is refused before anything is stored.
async fn members_for_a_move_are_a_recorded_read(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 30).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    let operator = login(&counter, "op1", "post-1").await;
    let auditor = login(&counter, "aud1", "audit").await;
    let audit_rows = |subject: String| {
        let filter =
            madoguchi_core::store::AuditFilter { subject_prefix: Some(subject), limit: 50, ..Default::default() };
        let counter = counter.clone();
        let auditor = auditor.clone();
        async move { counter.audit_log(&auditor, &filter).await.expect("audit") }
    };
    let mut ordinary = None;
    for id in residents.household_ids(0, 30).await.expect("ids") {
        let household = residents.household(id).await.expect("household");
        if household.members.len() >= 2 && household.members.iter().all(|m| !m.support_measure) {
            ordinary = Some(household);
            break;
        }
    }
    let household = ordinary.expect("a household of two");
    let members = counter.household_members(&operator, household.id).await.expect("members");
    let expected: Vec<(PersonId, String, String)> =
        household.members.iter().map(|m| (m.id, m.name.display(), m.relationship.clone())).collect();
    let listed: Vec<(PersonId, String, String)> =
        members.iter().map(|m| (m.id, m.name.clone(), m.relationship.clone())).collect();
    assert_eq!(listed, expected, "the household's members in its order, with their 続柄");
    let reads = audit_rows(format!("household:{}", household.id)).await;
    assert_eq!(reads.len(), 1, "one read row");
    assert_eq!(reads[0].action, madoguchi_core::audit::AuditAction::ResidentRead.as_str());

    // Another household is put under 支援措置 through the resident system.
    let ids = residents.household_ids(0, 30).await.expect("ids");
    let protected = *ids.iter().find(|id| **id != household.id).expect("another household");
    residents.set_support_measure(protected, true).await.expect("flag");
    let refused = counter.household_members(&operator, protected).await;
    assert!(matches!(refused, Err(CoreError::SupportMeasure)), "{refused:?}");
    let rows = audit_rows(format!("household:{protected}")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, madoguchi_core::audit::AuditAction::RequestRefused.as_str(), "the refusal is recorded");

    let cases_before = raw_i64!(&store.raw, "SELECT COUNT(*) FROM cases").expect("count");
    let tomorrow = MoveEntry::MoveWithin {
        persons: vec![household.members[0].id],
        new_address: household.address.clone(),
        moved_on: date(2026, 11, 20),
        notified_on: date(2026, 11, 21),
    };
    let refused = counter.open_case(&operator, move_request(tomorrow)).await;
    let Err(CoreError::Validation(errors)) = refused else { panic!("{refused:?}") };
    assert!(errors.for_field("move.notified_on").is_some(), "{errors:?}");
    let mut third_party = move_request(MoveEntry::MoveOut {
        persons: vec![household.members[0].id],
        destination: "大阪府大阪市北区".into(),
        planned_on: date(2026, 12, 1),
        notified_on: date(2026, 11, 20),
    });
    third_party.requester.category = RequesterCategory::ThirdPartyIndividual;
    third_party.requester.purpose = "債権回収".into();
    let refused = counter.open_case(&operator, third_party).await;
    let Err(CoreError::Validation(errors)) = refused else { panic!("{refused:?}") };
    assert!(errors.for_field("requester.category").is_some(), "{errors:?}");
    assert_eq!(raw_i64!(&store.raw, "SELECT COUNT(*) FROM cases").expect("count"), cases_before, "nothing stored");
}

crate::on_both_backends! {
    the_members_listed_for_a_move_are_a_recorded_read_and_a_bad_move_is_refused => members_for_a_move_are_a_recorded_read;
    approved_entries_wait_in_the_outbox_while_the_resident_system_is_down_and_go_through_once => entries_wait_while_the_resident_system_is_down;
    an_idle_outbox_poll_takes_no_write_lock => an_idle_poll_takes_no_write_lock;
}
