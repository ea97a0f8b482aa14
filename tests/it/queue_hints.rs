//! Queue hints (issue 6): a hand-over at one terminal is a hint at another terminal's store handle at once —
//! PostgreSQL by LISTEN/NOTIFY, SQLite by the database's data version — and a listener that lost its connection
//! reconnects, treats the reconnection as a hint (re-read) and keeps receiving.

use std::time::Duration;

use backend_adapter::ResidentSystem as _;
use madoguchi_core::case::CaseState;
use madoguchi_core::request::IdentityDocument;
use madoguchi_core::store::CaseFilter;

use crate::support::{RawDb, TestStore, counter_with_users, login, residents, test_clock};

/// Wait for the next hint; a generous bound so a lost hint fails the test instead of hanging it.
async fn next_hint(hints: &mut tokio::sync::watch::Receiver<u64>, what: &str) {
    tokio::time::timeout(Duration::from_secs(10), hints.changed())
        .await
        .unwrap_or_else(|_| panic!("no hint after {what}"))
        .expect("the watch is alive");
    hints.borrow_and_update();
}

async fn a_hand_over_is_a_hint_at_another_terminal(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 30).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    let other = store.second_terminal().await;
    let mut hints = other.watch_queue().await.expect("watch");
    hints.borrow_and_update();

    let operator = login(&counter, "op1", "post-1").await;
    let mut households = Vec::new();
    for id in residents.household_ids(0, 30).await.expect("ids") {
        let household = residents.household(id).await.expect("household");
        if household.members.iter().all(|m| !m.support_measure) {
            households.push(household);
        }
    }
    let hand_over = |index: usize| {
        let household = &households[index];
        let request = madoguchi_core::sample::own_household_copy_request(
            household.id,
            &household.members[0].name.display(),
            &household.address.display(),
            IdentityDocument::DriversLicence,
        );
        let (counter, operator) = (&counter, &operator);
        async move {
            let case_id = counter.open_case(operator, request).await.expect("open");
            counter.prepare_and_submit(operator, case_id).await.expect("hand over");
            case_id
        }
    };
    let submitted = CaseFilter { states: vec![CaseState::Submitted], station: None, limit: 100 };

    let first = hand_over(0).await;
    next_hint(&mut hints, "the first hand-over").await;
    let seen = other.cases(&submitted).await.expect("queue");
    assert!(seen.iter().any(|case| case.id == first), "the other terminal re-reads and sees case {first}");

    if let RawDb::Pg(pool) = &store.raw {
        // Cut the other terminal's LISTEN connection: the reconnection itself is a hint, and hints keep coming.
        let cut: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(pool)
        .await
        .expect("terminate the listener");
        assert_eq!(cut, 1, "one LISTEN connection");
        next_hint(&mut hints, "the lost connection").await;
    }
    let second = hand_over(1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        next_hint(&mut hints, "the second hand-over").await;
        if other.cases(&submitted).await.expect("queue").iter().any(|case| case.id == second) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "case {second} never became visible");
    }
}

crate::on_both_backends! {
    a_hand_over_at_one_terminal_is_a_hint_at_another => a_hand_over_is_a_hint_at_another_terminal;
}
