//! `madoguchi devices list|test`: what a station has configured and attached, and a hands-on check of each device
//! (read a card, read a 印鑑登録証, print a test page) on the real devices or their simulators.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use devices::ccid::{CcidReader, CcidReaderModel, RusbCcidIo};
use devices::config::{
    CardReaderConfig, DeviceConfig, LanguageConfig, PrinterConfig, PrinterTransport, SealReaderConfig,
};
use devices::job::JobOutcome;
use devices::magstripe::MagEvent;
use devices::mynumber::{CardAttributes, MyNumberReader, Pin, Sex};
use devices::pjl::{PrinterLanguage, TraySelection, wrap_job};
use devices::serial::{
    MagReaderConfig, MagReaderEvent, MagReaderPort, MagReaderSimulator, SerialPrinter, SerialPrinterConfig,
};
use devices::usb::{BusWatcher, RusbEnumerator, UsbDeviceInfo};
use devices::usb_printer::{RusbPrinterIo, UsbPrinter, UsbPrinterModel};
use devices::virtual_card::VirtualMyNumberCard;

/// Load the configuration file, or the demo's simulators when none is given.
pub fn load(config: Option<&Path>) -> anyhow::Result<DeviceConfig> {
    match config {
        None => Ok(DeviceConfig::demo()),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            DeviceConfig::parse(&text).map_err(|e| anyhow!("{e}"))
        }
    }
}

fn attached(bus: &Result<Vec<UsbDeviceInfo>, String>, vendor_id: u16, product_id: u16) -> String {
    match bus {
        Ok(devices) if devices.iter().any(|d| d.vendor_id == vendor_id && d.product_id == product_id) => {
            "attached".into()
        }
        Ok(_) => "not attached (offline)".into(),
        Err(err) => format!("unknown: {err}"),
    }
}

fn serial_presence(path: &str) -> &'static str {
    if Path::new(path).exists() { "present" } else { "missing (offline)" }
}

/// `devices list`.
pub fn list(config: &DeviceConfig) -> anyhow::Result<ExitCode> {
    let bus: Result<Vec<UsbDeviceInfo>, String> = RusbEnumerator::new()
        .map(BusWatcher::new)
        .and_then(|mut watcher| watcher.poll().map(|_| watcher.attached().to_vec()))
        .map_err(|e| e.to_string());
    for station in &config.stations {
        println!("station {}", station.name);
        match &station.printer {
            Some(printer) => {
                let status = match &printer.connection {
                    PrinterTransport::Simulator => "simulator, ready".to_string(),
                    PrinterTransport::Usb { vendor_id, product_id, .. } => attached(&bus, *vendor_id, *product_id),
                    PrinterTransport::Serial { path, .. } => serial_presence(path).to_string(),
                };
                println!(
                    "  printer      {:?} {:?} tray {}: {status}",
                    printer.connection, printer.language, printer.tray.pjl
                );
            }
            None => println!("  printer      none"),
        }
        match &station.card_reader {
            Some(CardReaderConfig::Simulator) => println!("  card reader  virtual マイナンバーカード: ready"),
            Some(CardReaderConfig::Ccid { vendor_id, product_id }) => {
                println!(
                    "  card reader  CCID {vendor_id:04x}:{product_id:04x}: {}",
                    attached(&bus, *vendor_id, *product_id)
                );
            }
            Some(CardReaderConfig::Pcsc { reader }) => {
                println!("  card reader  PC/SC {reader:?}: needs a build with the `pcsc` feature")
            }
            None => println!("  card reader  none"),
        }
        match &station.seal_reader {
            Some(SealReaderConfig::Simulator) => println!("  seal reader  simulator on a pseudo-terminal: ready"),
            Some(SealReaderConfig::Serial { path, .. }) => {
                println!("  seal reader  serial {path}: {}", serial_presence(path))
            }
            None => println!("  seal reader  none"),
        }
    }
    match &bus {
        Ok(devices) => {
            println!("USB devices attached: {}", devices.len());
            for device in devices {
                println!(
                    "  {:03}:{:03} {:04x}:{:04x} serial {:?} classes {:02x?}",
                    device.bus, device.address, device.vendor_id, device.product_id, device.serial, device.classes
                );
            }
        }
        Err(err) => println!("USB bus not readable on this machine: {err}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn sample_card_attributes() -> CardAttributes {
    CardAttributes {
        name: "葛\u{E0102}西\u{3000}𠮷乃".into(),
        address: "東京都新宿区西新宿二丁目8番1号".into(),
        birth_date_raw: "19770815".into(),
        sex: Sex::Female,
        individual_number: "983205673214".into(),
    }
}

fn test_card(reader: &Option<CardReaderConfig>, pin: &str) -> anyhow::Result<String> {
    let pin = Pin::parse(pin).map_err(|e| anyhow!("{e}"))?;
    let attributes = match reader {
        None => return Ok("no card reader configured".into()),
        Some(CardReaderConfig::Simulator) => {
            // The virtual card behind the CCID reader model: the same driver a USB reader uses.
            let card = VirtualMyNumberCard::new(&sample_card_attributes(), "1234").map_err(|e| anyhow!("{e}"))?;
            let mut reader = MyNumberReader::new(CcidReader::new(CcidReaderModel::new(card)));
            reader.read_with_pin(&pin).map_err(|e| anyhow!("{e} / {}", e.message_ja()))?
        }
        Some(CardReaderConfig::Ccid { vendor_id, product_id }) => {
            let context = rusb::Context::new().map_err(|e| anyhow!("the USB bus cannot be read: {e}"))?;
            let io = RusbCcidIo::open(&context, *vendor_id, *product_id).map_err(|e| anyhow!("{e}"))?;
            let mut reader = MyNumberReader::new(CcidReader::new(io));
            let tries = reader.pin_tries_left().map_err(|e| anyhow!("{e} / {}", e.message_ja()))?;
            println!("  card: {tries} PIN tries left before reading");
            reader.read_with_pin(&pin).map_err(|e| anyhow!("{e} / {}", e.message_ja()))?
        }
        Some(CardReaderConfig::Pcsc { .. }) => {
            return Err(anyhow!("PC/SC readers need a build with the `pcsc` feature"));
        }
    };
    Ok(format!("card read: {attributes:?}"))
}

fn test_seal_reader(reader: &Option<SealReaderConfig>) -> anyhow::Result<String> {
    let (mut port, simulator) = match reader {
        None => return Ok("no 印鑑登録証 reader configured".into()),
        Some(SealReaderConfig::Simulator) => {
            let mut simulator = MagReaderSimulator::new().map_err(|e| anyhow!("{e}"))?;
            let port = MagReaderPort::open(MagReaderConfig::new(simulator.slave_path()));
            simulator.swipe("10012345").map_err(|e| anyhow!("{e}"))?;
            (port, Some(simulator))
        }
        Some(SealReaderConfig::Serial { path, baud, track, offset, length }) => {
            let mut config = MagReaderConfig::new(path.clone());
            config.baud_rate = *baud;
            config.decoder.rule = track.rule(*offset, *length);
            println!("  swipe a 印鑑登録証 within 15 seconds…");
            (MagReaderPort::open(config), None)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        for event in port.poll() {
            match event {
                MagReaderEvent::Mag(MagEvent::Card { registration_number }) => {
                    drop(simulator);
                    let shown = registration_number.len().saturating_sub(2);
                    return Ok(format!(
                        "印鑑登録証 read: 登録番号 {}{}",
                        "*".repeat(shown),
                        &registration_number[shown..]
                    ));
                }
                MagReaderEvent::Mag(MagEvent::Rejected(err)) => return Err(anyhow!("{err} / {}", err.message_ja())),
                _ => {}
            }
        }
    }
    Err(anyhow!("no card was read within 15 seconds"))
}

fn language(config: LanguageConfig) -> PrinterLanguage {
    match config {
        LanguageConfig::PdfInPjl => PrinterLanguage::PdfInPjl,
        LanguageConfig::Pcl5 => PrinterLanguage::Pcl5,
        LanguageConfig::PostScript => PrinterLanguage::PostScript,
    }
}

fn test_printer(station: &str, printer: &Option<PrinterConfig>) -> anyhow::Result<String> {
    let Some(printer) = printer else { return Ok("no printer configured".into()) };
    let now = jiff::Zoned::now();
    let page = madoguchi_core::render::test_page(station, &now.strftime("%Y-%m-%d %H:%M").to_string());
    madoguchi_core::render::fonts::check_pages(std::slice::from_ref(&page)).map_err(|e| anyhow!("{e}"))?;
    let pdf = madoguchi_core::render::pdf::render_pdf(std::slice::from_ref(&page)).map_err(|e| anyhow!("{e}"))?;
    let tray = TraySelection::new(&printer.tray.pjl, printer.tray.pcl5, printer.tray.postscript)
        .map_err(|e| anyhow!("{e}"))?;
    let job_name = format!("TEST-{station}-{}", now.timestamp().as_second());
    let job = wrap_job(&job_name, language(printer.language), &tray, &pdf).map_err(|e| anyhow!("{e}"))?;
    let outcome: JobOutcome = match &printer.connection {
        PrinterTransport::Simulator => {
            let model =
                UsbPrinterModel::new("MFG:madoguchi;MDL:Simulated certificate printer;CMD:PJL,PDF;CLS:PRINTER;");
            let mut usb = UsbPrinter::new(model.clone());
            let outcome = usb.send_job(&job, Duration::from_secs(10));
            if model.received() != job {
                return Err(anyhow!("the simulator did not receive the job byte for byte"));
            }
            outcome
        }
        PrinterTransport::Usb { vendor_id, product_id, serial } => {
            let context = rusb::Context::new().map_err(|e| anyhow!("the USB bus cannot be read: {e}"))?;
            let io = RusbPrinterIo::open(&context, *vendor_id, *product_id, serial.as_deref())
                .map_err(|e| anyhow!("{e}"))?;
            let mut usb = UsbPrinter::new(io);
            if let Ok(id) = usb.device_id() {
                println!("  printer: {:?} {:?}", id.manufacturer, id.model);
            }
            usb.send_job(&job, Duration::from_secs(60))
        }
        PrinterTransport::Serial { path, baud } => {
            let mut config = SerialPrinterConfig::new(path.clone());
            config.baud_rate = *baud;
            let mut serial = SerialPrinter::open(config).map_err(|e| anyhow!("{e}"))?;
            serial.send_job(&job)
        }
    };
    Ok(format!(
        "test page {job_name}: {} of {} bytes delivered, {:?}, printer {}",
        outcome.delivered,
        job.len(),
        outcome.outcome,
        outcome.status.label_ja()
    ))
}

/// `devices test --station NAME`.
pub fn test(config: &DeviceConfig, station: &str, pin: &str) -> anyhow::Result<ExitCode> {
    let devices = config.station(station).map_err(|e| anyhow!("{e}"))?;
    let mut failed = false;
    for (what, result) in [
        ("card reader", test_card(&devices.card_reader, pin)),
        ("seal reader", test_seal_reader(&devices.seal_reader)),
        ("printer", test_printer(station, &devices.printer)),
    ] {
        match result {
            Ok(line) => println!("{what}: OK — {line}"),
            Err(err) => {
                failed = true;
                println!("{what}: FAILED — {err:#}");
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
