//! The print worker: the only code that sends a certificate to a printer. It runs at the station that owns the
//! printer — inside that station's terminal or headless (`madoguchi worker`) — and works the store's print queue so
//! that a certificate is printed at most once whatever crashes: a job is claimed (committed) before any byte leaves,
//! a job whose bytes may have left is `suspect` and never sent again by the queue, and a worker that starts finds
//! the jobs its predecessor left half-done and makes them suspect for staff to resolve.

use std::sync::{Arc, Mutex, PoisonError};

use devices::job::{Delivery, JobOutcome};
use devices::status::DeviceStatus;

use crate::clock::Clock;
use crate::error::CoreError;
use crate::store::{PrintEnd, PrintJobState, Store};

/// A certificate printer as the worker drives it: one job in, how far it got out. Blocking.
pub trait CertificatePrinter: Send {
    /// Send the approved PDF as the job `job_name` on `paper` (the transport wraps it for the printer's language and
    /// that paper's tray; a printer with no tray for it sends nothing).
    fn send_job(&mut self, job_name: &str, paper: Paper, pdf: &[u8]) -> JobOutcome;

    /// What the printer reports now (paper, cover, online).
    fn status(&mut self) -> DeviceStatus;
}

/// The paper a job is printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 改ざん防止用紙, counted sheet by sheet: certificates only.
    Security,
    /// Plain paper: letters (照会書), which must never take a sheet of security paper.
    Plain,
}

/// A printer shared between the worker and whoever else asks for its status.
pub type SharedPrinter = Arc<Mutex<dyn CertificatePrinter>>;

/// What one step of the worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintReport {
    /// The job.
    pub job_id: i64,
    /// Its case.
    pub case_id: i64,
    /// 発行番号 on the sheet (none for a 照会書).
    pub issue_number: Option<i64>,
    /// 管理番号 on the sheet (none for a 照会書).
    pub control_number: Option<String>,
    /// Where the job stands now: printed, queued again (nothing was sent) or suspect.
    pub state: PrintJobState,
    /// What the printer reported.
    pub outcome: JobOutcome,
}

/// The worker of one printer station.
pub struct PrintWorker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    station: String,
    worker: String,
}

impl std::fmt::Debug for PrintWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrintWorker").field("station", &self.station).field("worker", &self.worker).finish()
    }
}

/// The job name on the printer: case and 発行番号 (a 照会書 has none), nothing about the resident.
pub fn job_name(case_id: i64, issue_number: Option<i64>) -> String {
    match issue_number {
        Some(number) => format!("C{case_id}-N{number}"),
        None => format!("C{case_id}-INQUIRY"),
    }
}

impl PrintWorker {
    /// The worker `worker` (a name unique to this process, for the journal) for `station`'s printer.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, station: &str, worker: &str) -> Self {
        Self { store, clock, station: station.to_string(), worker: worker.to_string() }
    }

    /// The printer station.
    pub fn station(&self) -> &str {
        &self.station
    }

    /// Make the jobs a stopped worker left half-done suspect (call once when starting). Their ids.
    pub async fn recover(&self) -> Result<Vec<i64>, CoreError> {
        let found = self.store.suspect_unfinished_print_jobs(&self.station, &self.worker, self.clock.now_us()).await?;
        if !found.is_empty() {
            tracing::warn!(station = %self.station, jobs = ?found, "print jobs left mid-send are now suspect");
        }
        Ok(found)
    }

    /// Print the oldest queued job of the station, if any.
    pub async fn print_next(&self, printer: &SharedPrinter) -> Result<Option<PrintReport>, CoreError> {
        let Some(job) = self.store.claim_print_job(&self.station, &self.worker, self.clock.now_us()).await? else {
            return Ok(None);
        };
        let name = job_name(job.case_id, job.issue_number);
        // A certificate carries its 発行番号 and goes on security paper; a letter has none and goes on plain paper.
        let paper = if job.issue_number.is_some() { Paper::Security } else { Paper::Plain };
        let sender = printer.clone();
        let pdf = job.pdf;
        let outcome = tokio::task::spawn_blocking(move || {
            sender.lock().unwrap_or_else(PoisonError::into_inner).send_job(&name, paper, &pdf)
        })
        .await
        .unwrap_or_else(|err| JobOutcome {
            // The transport panicked mid-job: bytes may have left.
            delivered: 0,
            status: DeviceStatus::Error(format!("the printer driver failed: {err}")),
            outcome: Delivery::Unknown,
        });
        let end = match outcome.outcome {
            Delivery::Delivered => PrintEnd::Printed,
            Delivery::NothingSent => PrintEnd::NothingSent,
            _ => PrintEnd::Unknown,
        };
        let detail =
            serde_json::json!({ "delivered_bytes": outcome.delivered, "status": format!("{:?}", outcome.status) });
        let state = self.store.finish_print_job(job.id, &self.worker, end, detail, self.clock.now_us()).await?;
        if state != PrintJobState::Printed {
            tracing::warn!(job = job.id, case = job.case_id, state = state.as_str(), status = ?outcome.status, "print job not printed");
        }
        Ok(Some(PrintReport {
            job_id: job.id,
            case_id: job.case_id,
            issue_number: job.issue_number,
            control_number: job.control_number,
            state,
            outcome,
        }))
    }
}
