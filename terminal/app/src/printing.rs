//! The station's certificate printer as the print worker drives it (`madoguchi_core::print`): the approved PDF
//! wrapped for the printer's language with the tray of its paper (security paper for certificates, the plain tray
//! for letters — a printer without one prints no letters), sent over USB (or to the transfer-level
//! simulator). The simulator can also keep every job it receives as a file in a spool folder, so that other
//! processes — the multi-process test, a trainer — can see exactly what was printed and how often.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devices::config::{DeviceConfig, LanguageConfig, PrinterTransport};
use devices::job::{Delivery, JobOutcome};
use devices::pjl::{PrinterLanguage, TraySelection, wrap_job};
use devices::status::DeviceStatus;
use devices::usb_printer::{PrinterClassIo, RusbPrinterIo, UsbPrinter, UsbPrinterModel};
use madoguchi_core::print::{CertificatePrinter, Paper, SharedPrinter};

/// How long one job may take on the wire.
const JOB_DEADLINE: Duration = Duration::from_secs(60);

/// The device id the simulated printer answers with.
pub const SIMULATOR_DEVICE_ID: &str = "MFG:madoguchi;MDL:Simulated certificate printer;CMD:PJL,PDF;CLS:PRINTER;";

/// A USB printer-class certificate printer.
pub struct UsbCertificatePrinter {
    printer: UsbPrinter<Box<dyn PrinterClassIo>>,
    language: PrinterLanguage,
    tray: TraySelection,
    /// The plain-paper tray for letters, if the printer has one.
    plain_tray: Option<TraySelection>,
    /// The simulator's model and spool folder, when this is the simulator keeping its jobs.
    spool: Option<(UsbPrinterModel, PathBuf)>,
    /// How long the simulator takes to print a sheet: the spool file is written half, then the rest after this.
    sheet_time: Duration,
}

impl UsbCertificatePrinter {
    /// PDF in PJL on the security-paper tray `TRAY2`, letters on `TRAY1` (the demo's and the tests' printer).
    pub fn pdf_in_pjl(io: Box<dyn PrinterClassIo>) -> Result<Self, String> {
        let tray = TraySelection::new("TRAY2", 1, 0).map_err(|e| e.to_string())?;
        let plain_tray = TraySelection::new("TRAY1", 4, 3).map_err(|e| e.to_string())?;
        Ok(Self {
            printer: UsbPrinter::new(io),
            language: PrinterLanguage::PdfInPjl,
            tray,
            plain_tray: Some(plain_tray),
            spool: None,
            sheet_time: Duration::ZERO,
        })
    }

    /// Shared, for the back end and the worker.
    pub fn shared(self) -> SharedPrinter {
        Arc::new(Mutex::new(self))
    }
}

impl CertificatePrinter for UsbCertificatePrinter {
    fn send_job(&mut self, job_name: &str, paper: Paper, pdf: &[u8]) -> JobOutcome {
        let tray = match paper {
            Paper::Security => &self.tray,
            Paper::Plain => match &self.plain_tray {
                Some(tray) => tray,
                None => {
                    return JobOutcome {
                        delivered: 0,
                        status: DeviceStatus::Error(
                            "this printer has no plain-paper tray for letters (printer.plain_tray)".to_string(),
                        ),
                        outcome: Delivery::NothingSent,
                    };
                }
            },
        };
        let job = match wrap_job(job_name, self.language, tray, pdf) {
            Ok(job) => job,
            Err(err) => {
                return JobOutcome {
                    delivered: 0,
                    status: DeviceStatus::Error(err.to_string()),
                    outcome: Delivery::NothingSent,
                };
            }
        };
        let before = self.spool.as_ref().map(|(model, _)| model.received().len());
        let outcome = self.printer.send_job(&job, JOB_DEADLINE);
        if let (Some((model, dir)), Some(before)) = (&self.spool, before) {
            let received = model.received();
            let this_job = received.get(before..).unwrap_or_default();
            if !this_job.is_empty()
                && let Err(err) = keep_in_spool(dir, job_name, this_job, self.sheet_time)
            {
                // The bytes reached the (simulated) printer; only the copy failed.
                tracing::error!(%err, job = job_name, "the simulator could not keep the job in its spool folder");
            }
        }
        outcome
    }

    fn status(&mut self) -> DeviceStatus {
        self.printer.status()
    }
}

/// One file per job received, never overwritten: a second print of the same job shows up as a second file. The
/// file grows like a sheet coming out: half, then (after `sheet_time`) the rest.
fn keep_in_spool(dir: &Path, job_name: &str, bytes: &[u8], sheet_time: Duration) -> std::io::Result<()> {
    use std::io::Write as _;
    for copy in 1_u32.. {
        let path = dir.join(format!("{job_name}.{copy}.pjl"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let (first, rest) = bytes.split_at(bytes.len() / 2);
                file.write_all(first)?;
                file.sync_all()?;
                std::thread::sleep(sheet_time);
                file.write_all(rest)?;
                return file.sync_all();
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// The page description language a configuration names.
pub(crate) fn language(config: LanguageConfig) -> PrinterLanguage {
    match config {
        LanguageConfig::PdfInPjl => PrinterLanguage::PdfInPjl,
        LanguageConfig::Pcl5 => PrinterLanguage::Pcl5,
        LanguageConfig::PostScript => PrinterLanguage::PostScript,
    }
}

/// The simulator's spool: where it keeps each job it receives, and how long a sheet takes.
#[derive(Debug, Clone)]
pub struct Spool {
    /// The folder.
    pub dir: PathBuf,
    /// Time to print one sheet.
    pub sheet_time: Duration,
}

/// The certificate printer of `station` as the device configuration describes it. `spool` keeps the simulator's
/// jobs as files (simulator only).
pub fn station_printer(devices: &DeviceConfig, station: &str, spool: Option<&Spool>) -> Result<SharedPrinter, String> {
    let spool_config = spool;
    let config = devices.station(station).map_err(|e| e.to_string())?;
    let printer = config.printer.as_ref().ok_or_else(|| format!("station {station} has no certificate printer"))?;
    let tray =
        TraySelection::new(&printer.tray.pjl, printer.tray.pcl5, printer.tray.postscript).map_err(|e| e.to_string())?;
    let plain_tray = match &printer.plain_tray {
        Some(plain) => Some(TraySelection::new(&plain.pjl, plain.pcl5, plain.postscript).map_err(|e| e.to_string())?),
        None => None,
    };
    let (io, spool): (Box<dyn PrinterClassIo>, _) = match &printer.connection {
        PrinterTransport::Simulator => {
            let model = UsbPrinterModel::new(SIMULATOR_DEVICE_ID);
            let spool = match spool {
                Some(spool) => {
                    std::fs::create_dir_all(&spool.dir)
                        .map_err(|e| format!("spool folder {}: {e}", spool.dir.display()))?;
                    Some((model.clone(), spool.dir.clone()))
                }
                None => None,
            };
            (Box::new(model), spool)
        }
        PrinterTransport::Usb { vendor_id, product_id, serial } => {
            if spool.is_some() {
                return Err(format!("--spool keeps the simulator's jobs; station {station} has a real printer"));
            }
            let context = rusb::Context::new().map_err(|e| format!("the USB bus cannot be read: {e}"))?;
            let io =
                RusbPrinterIo::open(&context, *vendor_id, *product_id, serial.as_deref()).map_err(|e| e.to_string())?;
            (Box::new(io), None)
        }
        PrinterTransport::Serial { path, .. } => {
            return Err(format!(
                "station {station}'s printer is on the serial line {path}: the print worker drives USB printers only \
                 (use `madoguchi devices test` for a serial printer)"
            ));
        }
    };
    let sheet_time = spool_config.map_or(Duration::ZERO, |spool| spool.sheet_time);
    let printer = UsbCertificatePrinter {
        printer: UsbPrinter::new(io),
        language: language(printer.language),
        tray,
        plain_tray,
        spool,
        sheet_time,
    };
    Ok(printer.shared())
}
