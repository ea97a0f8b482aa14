//! The print queue and its worker (issue 6): a certificate prints at most once whatever happens. An issuance queues
//! its job in the same transaction; a worker claims a job before any byte leaves; nothing sent puts it back, an
//! unknown outcome makes it suspect for good; a worker that starts makes the jobs a dead worker left mid-send
//! suspect; two workers racing never get the same job; the database refuses any other move.

use std::sync::{Arc, Mutex};

use backend_adapter::ResidentSystem as _;
use devices::job::Delivery;
use madoguchi_core::counter::Counter;
use madoguchi_core::print::{SharedPrinter, job_name};
use madoguchi_core::request::IdentityDocument;
use madoguchi_core::store::{PrintJobState, verify_audit_chain};

use crate::support::{ScriptedPrinter, TestStore, counter_with_users, login, residents, test_clock};
use crate::{raw_exec, raw_i64};

/// Issue `count` 住民票の写し at the review station; their case ids and approved bytes.
async fn issued(
    counter: &Counter,
    residents: &backend_adapter::ReferenceResidentSystem,
    count: usize,
) -> Vec<(i64, Vec<u8>)> {
    let operator = login(counter, "op1", "post-1").await;
    let reviewer = login(counter, "rev1", "review-1").await;
    let mut households = Vec::new();
    for id in residents.household_ids(0, 60).await.expect("ids") {
        let household = residents.household(id).await.expect("household");
        if household.members.iter().all(|m| !m.support_measure) {
            households.push(household);
        }
    }
    let mut out = Vec::new();
    for household in households.iter().cycle().take(count) {
        let head = &household.members[0];
        let request = madoguchi_core::sample::own_household_copy_request(
            household.id,
            &head.name.display(),
            &household.address.display(),
            IdentityDocument::DriversLicence,
        );
        let case_id = counter.open_case(&operator, request).await.expect("open");
        counter.prepare_and_submit(&operator, case_id).await.expect("prepare");
        let (_, output) = counter.review(&reviewer, case_id).await.expect("review");
        counter.approve(&reviewer, case_id, output.sha256).await.expect("approve");
        counter.issue(&reviewer, case_id, 1).await.expect("issue");
        out.push((case_id, output.bytes));
    }
    out
}

async fn state_of(store: &TestStore, case_id: i64) -> PrintJobState {
    let jobs = store.store.print_jobs(&madoguchi_core::store::PrintJobFilter::station("review-1")).await.expect("jobs");
    jobs.iter().find(|job| job.case_id == case_id).map(|job| job.state).expect("a job for the case")
}

async fn a_certificate_prints_at_most_once(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    let cases = issued(&counter, &residents, 4).await;
    let jobs = store.store.print_jobs(&Default::default()).await.expect("jobs");
    assert_eq!(jobs.len(), 4, "each issuance queued its job in the same transaction");
    assert!(jobs.iter().all(|job| job.state == PrintJobState::Queued && job.printer_station == "review-1"));

    // No paper: nothing sent, the job waits again; then it prints, byte for byte what was approved.
    let scripted =
        Arc::new(Mutex::new(ScriptedPrinter::new(vec![Delivery::NothingSent, Delivery::Delivered, Delivery::Unknown])));
    let printer: SharedPrinter = scripted.clone();
    let worker = counter.print_worker("review-1", "worker-a");
    let first = worker.print_next(&printer).await.expect("step").expect("a job");
    assert_eq!((first.case_id, first.state), (cases[0].0, PrintJobState::Queued), "nothing sent: queued again");
    let second = worker.print_next(&printer).await.expect("step").expect("a job");
    assert_eq!((second.case_id, second.state), (cases[0].0, PrintJobState::Printed), "the same job, printed");
    // Half the bytes left: suspect, and never sent again — the queue moves on to the next job.
    let third = worker.print_next(&printer).await.expect("step").expect("a job");
    assert_eq!((third.case_id, third.state), (cases[1].0, PrintJobState::Suspect));

    // A worker dies after its claim (before the outcome is recorded): the next worker makes that job suspect.
    let claimed = store.store.claim_print_job("review-1", "worker-dead", 1).await.expect("claim").expect("a job");
    assert_eq!(claimed.case_id, cases[2].0);
    assert_eq!(claimed.pdf, cases[2].1, "the claim carries the approved bytes");
    let successor = counter.print_worker("review-1", "worker-b");
    assert_eq!(successor.recover().await.expect("recover"), vec![claimed.id]);
    assert_eq!(state_of(store, cases[2].0).await, PrintJobState::Suspect);
    let err = store
        .store
        .finish_print_job(claimed.id, "worker-dead", madoguchi_core::store::PrintEnd::Printed, serde_json::json!({}), 2)
        .await
        .expect_err("a dead worker's late report changes nothing");
    assert!(err.to_string().contains("not being sent by"), "{err}");

    // The last job prints; then the queue is empty: nothing is printed twice.
    let fourth = successor.print_next(&printer).await.expect("step").expect("a job");
    assert_eq!((fourth.case_id, fourth.state), (cases[3].0, PrintJobState::Printed));
    assert!(successor.print_next(&printer).await.expect("step").is_none(), "printed and suspect jobs stay out");
    let received = scripted.lock().expect("printer").received.clone();
    let papers = scripted.lock().expect("printer").papers.clone();
    assert!(
        papers.iter().all(|paper| *paper == madoguchi_core::print::Paper::Security),
        "certificates go on security paper: {papers:?}"
    );
    let printed: Vec<&(String, Vec<u8>)> = received.iter().filter(|(_, bytes)| bytes.len() > 1000).collect();
    let names: Vec<String> = received.iter().map(|(name, _)| name.clone()).collect();
    let mut expected_names = Vec::new();
    for case in [cases[0].0, cases[1].0, cases[3].0] {
        expected_names
            .push(job_name(case, Some(counter.store().issuances(case).await.expect("issuances")[0].issue_number)));
    }
    assert_eq!(names, expected_names, "each job reached the printer once (the suspect one half)");
    assert_eq!(printed[0].1, cases[0].1, "the approved bytes, exactly");

    // The database refuses every other move, whatever SQL is sent.
    for (sql, why) in [
        ("UPDATE print_jobs SET state = 'queued' WHERE state = 'printed'", "a printed job back to the queue"),
        ("UPDATE print_jobs SET state = 'queued' WHERE state = 'suspect'", "a suspect job back to the queue"),
        ("DELETE FROM print_jobs", "deleting the journal"),
    ] {
        let err = raw_exec!(&store.raw, sql).expect_err(why);
        assert!(err.to_string().contains("madoguchi: "), "{why}: {err}");
    }
    let journal = raw_i64!(&store.raw, "SELECT count(*) FROM audit_log WHERE action LIKE 'print.%'").expect("count");
    assert_eq!(journal, 10, "5 claims, 1 requeue, 2 printed, 2 suspect: every step is an audit row");
    assert!(verify_audit_chain(store.store.as_ref()).await.expect("verify").is_ok());
}

async fn racing_workers_never_share_a_job(store: &TestStore) {
    let dir = tempfile::tempdir().expect("dir");
    let residents = residents(dir.path(), 40).await;
    let counter = counter_with_users(store.store.clone(), residents.clone(), test_clock()).await;
    let cases = issued(&counter, &residents, 8).await;
    let mut racers = Vec::new();
    for racer in 0..4 {
        let store = store.store.clone();
        racers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store.claim_print_job("review-1", &format!("racer-{racer}"), 10).await.expect("claim")
            {
                mine.push(job.case_id);
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for racer in racers {
        claimed.extend(racer.await.expect("racer"));
    }
    claimed.sort_unstable();
    let mut expected: Vec<i64> = cases.iter().map(|(case, _)| *case).collect();
    expected.sort_unstable();
    assert_eq!(claimed, expected, "every job claimed exactly once by four racing workers");
}

crate::on_both_backends! {
    a_certificate_prints_at_most_once_through_the_queue => a_certificate_prints_at_most_once;
    racing_print_workers_never_share_a_job => racing_workers_never_share_a_job;
}
