//! `madoguchi devices list|test`: what a station has configured and attached, and a hands-on check of each device
//! (read a card, read a 印鑑登録証, print a test page) on the real devices or their simulators.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use devices::config::{CardReaderConfig, DeviceConfig, PrinterTransport, SealReaderConfig};
use devices::usb::{BusWatcher, RusbEnumerator, UsbDeviceInfo};
use madoguchi_app::device_check::{DeviceRole, check_device};

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

/// `devices test --station NAME`.
pub fn test(config: &DeviceConfig, station: &str, pin: &str) -> anyhow::Result<ExitCode> {
    config.station(station).map_err(|e| anyhow!("{e}"))?;
    let mut failed = false;
    for role in DeviceRole::ALL {
        match check_device(config, station, role, pin) {
            Ok(line) => println!("{}: OK — {line}", role.label_en()),
            Err(err) => {
                failed = true;
                println!("{}: FAILED — {err}", role.label_en());
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
