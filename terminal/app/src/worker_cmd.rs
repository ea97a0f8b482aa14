//! `madoguchi worker`: the print worker of one printer station, headless — for a review station whose terminal is
//! not running, or a printer room. It first makes the jobs a stopped worker left half-sent suspect, then prints the
//! station's queue as jobs arrive, and never sends a suspect job again.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use madoguchi_core::clock::SystemClock;
use madoguchi_core::print::PrintWorker;
use madoguchi_core::store::{OpenMode, PrintJobState};

use crate::cli_io::StoreArgs;

/// How the worker runs.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The printer station whose queue this worker prints (one worker per station).
    #[arg(long)]
    pub station: String,
    /// Device configuration (TOML); the demo's simulators when omitted.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Keep every job the simulated printer receives as a file in this folder (simulator only).
    #[arg(long)]
    pub spool: Option<std::path::PathBuf>,
    /// With --spool: how long the simulator takes to print a sheet, in milliseconds.
    #[arg(long, default_value_t = 0, requires = "spool")]
    pub sheet_ms: u64,
    /// Stop when the queue is empty instead of waiting for more.
    #[arg(long)]
    pub until_idle: bool,
    /// How often an idle worker looks at the queue, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub poll_ms: u64,
}

/// Run the worker until Ctrl-C (or, with --until-idle, until the queue is empty).
pub async fn run(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let devices = crate::devices_cmd::load(args.config.as_deref())?;
    let spool = args.spool.as_ref().map(|dir| madoguchi_app::printing::Spool {
        dir: dir.clone(),
        sheet_time: Duration::from_millis(args.sheet_ms),
    });
    let printer = madoguchi_app::printing::station_printer(&devices, &args.station, spool.as_ref())
        .map_err(anyhow::Error::msg)?;
    let store = args.store.open(OpenMode::CreateAndMigrate).await?;
    let mut hints = store.watch_queue().await.context("watching the queue")?;
    let name = format!("worker:{}:{}", args.station, std::process::id());
    let worker = PrintWorker::new(store, Arc::new(SystemClock), &args.station, &name);
    let suspect = worker.recover().await.context("checking the queue for jobs left mid-send")?;
    if !suspect.is_empty() {
        println!(
            "{} job(s) left mid-send by a stopped worker are now suspect (never resent): {suspect:?}",
            suspect.len()
        );
    }
    println!("print worker {name} started for station {}", args.station);
    let idle = Duration::from_millis(args.poll_ms.max(10));
    let mut printed = 0_u64;
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            next = worker.print_next(&printer) => next.context("printing the next job")?,
            _ = &mut stop => break,
        };
        match next {
            Some(report) if report.state == PrintJobState::Printed => {
                printed += 1;
                match (report.issue_number, report.control_number) {
                    (Some(number), Some(control)) => println!(
                        "printed job {} (case {}, issue number {number}, control number {control})",
                        report.job_id, report.case_id
                    ),
                    _ => println!("printed job {} (case {}, inquiry letter)", report.job_id, report.case_id),
                }
            }
            Some(report) => {
                eprintln!(
                    "job {} (case {}) was not printed: {} ({} bytes delivered, printer {:?}); {}",
                    report.job_id,
                    report.case_id,
                    report.state.as_str(),
                    report.outcome.delivered,
                    report.outcome.status,
                    if report.state == PrintJobState::Suspect {
                        "staff must decide whether it printed"
                    } else {
                        "it waits in the queue; retrying"
                    }
                );
                tokio::time::sleep(idle * 5).await;
            }
            None if args.until_idle => break,
            // Wait for a hint that a job was queued (or the poll interval, as a safety net).
            None => {
                tokio::select! {
                    _ = hints.changed() => {}
                    () = tokio::time::sleep(idle) => {}
                }
            }
        }
    }
    println!("print worker {name} stopped after printing {printed} job(s)");
    Ok(ExitCode::SUCCESS)
}
