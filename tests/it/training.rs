//! 研修モード (issue 8, Must-show 1): a training terminal cannot reach a live resident system whatever the
//! configuration says, and every sheet it prints carries 「見本」. The live adapter here is real — the reference
//! system served over the HTTP contract on 127.0.0.1, counting every call — so the refusal is training's, not a
//! dead address: the same URL serves a live counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use backend_adapter::types::{
    Household, HouseholdId, MoveReceipt, MoveSubmission, Person, PersonId, PersonSummary, SealAbolition,
    SealApplication, SealRegistration, SearchQuery,
};
use backend_adapter::{ReferenceResidentSystem, ResidentSystem, ResidentSystemError};
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::mode::{ModeError, ResidentSystemSetting, RunMode, counter_for_mode};
use madoguchi_core::request::IdentityDocument;

use crate::raw_i64;
use crate::support::{
    HttpServer, TestStore, counter_with_users, has_specimen_mark, issuer, login, pdf_text, residents, test_clock,
};

/// A resident system that counts the calls that reach it.
struct Counting {
    inner: Arc<ReferenceResidentSystem>,
    calls: AtomicUsize,
}

impl Counting {
    fn hit(&self) -> &ReferenceResidentSystem {
        self.calls.fetch_add(1, Ordering::SeqCst);
        &self.inner
    }
}

#[async_trait]
impl ResidentSystem for Counting {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<PersonSummary>, ResidentSystemError> {
        self.hit().search(query).await
    }
    async fn household(&self, id: HouseholdId) -> Result<Household, ResidentSystemError> {
        self.hit().household(id).await
    }
    async fn person(&self, id: PersonId) -> Result<Person, ResidentSystemError> {
        self.hit().person(id).await
    }
    async fn submit_move(&self, submission: &MoveSubmission) -> Result<MoveReceipt, ResidentSystemError> {
        self.hit().submit_move(submission).await
    }
    async fn register_seal(&self, application: &SealApplication) -> Result<SealRegistration, ResidentSystemError> {
        self.hit().register_seal(application).await
    }
    async fn abolish_seal(&self, abolition: &SealAbolition) -> Result<SealRegistration, ResidentSystemError> {
        self.hit().abolish_seal(abolition).await
    }
    async fn seal_by_number(&self, registration_number: &str) -> Result<SealRegistration, ResidentSystemError> {
        self.hit().seal_by_number(registration_number).await
    }
}

/// Open, prepare and hand over the household's 住民票の写し; the bytes the reviewer sees.
async fn prepared_sheet(counter: &madoguchi_core::counter::Counter, hit: &PersonSummary) -> (i64, Vec<u8>, [u8; 32]) {
    let operator = login(counter, "op1", "post-1").await;
    let request = madoguchi_core::sample::own_household_copy_request(
        hit.household_id,
        &hit.name.display(),
        &hit.address.display(),
        IdentityDocument::DriversLicence,
    );
    let case_id = counter.open_case(&operator, request).await.expect("open");
    counter.prepare_and_submit(&operator, case_id).await.expect("prepare");
    let reviewer = login(counter, "rev1", "review-1").await;
    let (_, output) = counter.review(&reviewer, case_id).await.expect("review");
    (case_id, output.bytes.clone(), output.sha256)
}

async fn training_never_reaches_a_live_adapter_and_prints_specimens(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    let reference = ResidentSystemSetting::Reference(dir.path().join("residents.sqlite"));
    let live = Arc::new(Counting { inner: residents.clone(), calls: AtomicUsize::new(0) });
    let server = HttpServer::serving(live.clone()).await;
    let clock = test_clock();
    counter_with_users(store.store.clone(), residents.clone(), clock.clone()).await;
    // A profile that asks for real sheets: training must override it.
    let real_sheets = CertificateProfile::generated(issuer(), false).expect("profile");
    let audit_rows = raw_i64!(&store.raw, "SELECT count(*) FROM audit_log").expect("count");

    // Every spelling of the live adapter a configuration could carry is refused, before anything is touched.
    let host = server.url.trim_start_matches("http://");
    for configured in [
        server.url.clone(),
        format!("{}/", server.url),
        format!("HTTP://{host}"),
        format!("http://{host}/v1"),
        format!("  {}  ", server.url),
    ] {
        let setting = ResidentSystemSetting::parse(&configured);
        let refused = counter_for_mode(
            RunMode::Training,
            store.store.clone(),
            &setting,
            clock.clone(),
            real_sheets.clone(),
            "post-1",
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("training accepted the live adapter {configured:?}"));
        assert!(matches!(refused, ModeError::LiveAdapterInTraining(_)), "{configured:?}: {refused}");
        assert!(refused.to_string().contains("training mode"), "{refused}");
        assert!(refused.message_ja().contains("研修モード"), "{}", refused.message_ja());
    }
    assert_eq!(live.calls.load(Ordering::SeqCst), 0, "not one call reached the live adapter");
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM audit_log").expect("count"), audit_rows, "nothing changed");
    assert_eq!(raw_i64!(&store.raw, "SELECT count(*) FROM run_mode").expect("count"), 0, "the store is unmarked");

    // With the reference system the training counter works, and its sheets say 「見本」 whatever the profile said.
    let training = counter_for_mode(
        RunMode::Training,
        store.store.clone(),
        &reference,
        clock.clone(),
        real_sheets.clone(),
        "post-1",
    )
    .await
    .expect("a training counter on the reference system");
    assert_eq!(training.run_mode(), RunMode::Training);
    assert!(training.profile().specimen);
    let operator = login(&training, "op1", "post-1").await;
    let mut reading = None;
    for id in residents.household_ids(0, 40).await.expect("ids") {
        let household = residents.household(id).await.expect("household");
        if household.members.iter().all(|m| !m.support_measure) {
            reading = household.members[0].name.family_kana.clone();
            break;
        }
    }
    let reading = reading.expect("an ordinary household with a reading");
    let query = SearchQuery { name_prefix: Some(reading), limit: 20, ..Default::default() };
    let hits = training.search_residents(&operator, &query).await.expect("search");
    let hit = hits.iter().find(|hit| !hit.support_measure).expect("a resident");
    let (case_id, sheet, sha256) = prepared_sheet(&training, hit).await;
    assert!(has_specimen_mark(&sheet), "a training print without 「見本」:\n{}", pdf_text(&sheet, true));
    let reviewer = login(&training, "rev1", "review-1").await;
    training.approve(&reviewer, case_id, sha256).await.expect("approve");
    training.issue(&reviewer, case_id, 1).await.expect("issue");
    assert_eq!(live.calls.load(Ordering::SeqCst), 0, "training worked without the live adapter");

    // The store now belongs to training: a live terminal refuses it, even with the live adapter configured.
    let setting = ResidentSystemSetting::parse(&server.url);
    let refused =
        counter_for_mode(RunMode::Live, store.store.clone(), &setting, clock.clone(), real_sheets.clone(), "post-1")
            .await
            .expect_err("a live terminal on a training store");
    assert!(
        matches!(refused, ModeError::StoreOfOtherMode { store: RunMode::Training, terminal: RunMode::Live }),
        "{refused}"
    );
    assert!(refused.message_ja().contains("研修用"), "{}", refused.message_ja());
    let recorded = raw_i64!(&store.raw, "SELECT count(*) FROM audit_log WHERE action = 'store.run_mode_set'");
    assert_eq!(recorded.expect("count"), 1, "the mode was recorded once, in the audit log");
    let err = crate::raw_exec!(&store.raw, "UPDATE run_mode SET mode = 'live'").expect_err("the mode never changes");
    assert!(err.to_string().contains("run mode never changes"), "{err}");

    // The same URL is a working live adapter for a live counter on a live store: the refusals above were training's.
    let live_store = TestStore::sqlite().await;
    counter_with_users(live_store.store.clone(), residents.clone(), clock.clone()).await;
    let live_counter = counter_for_mode(
        RunMode::Live,
        live_store.store.clone(),
        &setting,
        clock.clone(),
        real_sheets.clone(),
        "post-1",
    )
    .await
    .expect("a live counter");
    assert!(!live_counter.profile().specimen, "live sheets are real");
    let operator = login(&live_counter, "op1", "post-1").await;
    let over_http = live_counter.search_residents(&operator, &query).await.expect("search over the live adapter");
    assert_eq!(over_http, hits);
    assert!(live.calls.load(Ordering::SeqCst) > 0, "the live counter reached the live adapter");
    let (_, live_sheet, _) = prepared_sheet(&live_counter, &over_http[0]).await;
    assert!(!has_specimen_mark(&live_sheet), "the check tells a live sheet from a specimen");
    let refused =
        counter_for_mode(RunMode::Training, live_store.store.clone(), &reference, clock, real_sheets, "post-1")
            .await
            .expect_err("a training terminal on a live store");
    assert!(matches!(refused, ModeError::StoreOfOtherMode { store: RunMode::Live, .. }), "{refused}");
    live_store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_mode_cannot_reach_a_live_adapter_and_every_training_print_is_a_specimen_on_sqlite() {
    let store = TestStore::sqlite().await;
    training_never_reaches_a_live_adapter_and_prints_specimens(&store).await;
    store.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_mode_cannot_reach_a_live_adapter_and_every_training_print_is_a_specimen_on_postgres() {
    let Some(store) =
        TestStore::postgres("training_mode_cannot_reach_a_live_adapter_and_every_training_print_is_a_specimen").await
    else {
        return;
    };
    training_never_reaches_a_live_adapter_and_prints_specimens(&store).await;
    store.cleanup().await;
}
