//! Hands-on checks of a station's devices (read a card, read a 印鑑登録証, print a test page) on the real devices or
//! their simulators. The administrator's screen and `madoguchi devices test` run the same checks; each returns a line
//! that says what happened, never resident data (a card's 個人番号 is masked).

use std::time::{Duration, Instant};

use devices::ccid::{CcidReader, CcidReaderModel, RusbCcidIo};
use devices::config::{CardReaderConfig, DeviceConfig, PrinterConfig, PrinterTransport, SealReaderConfig};
use devices::job::JobOutcome;
use devices::magstripe::MagEvent;
use devices::mynumber::{CardAttributes, MyNumberReader, Pin, Sex};
use devices::pjl::{TraySelection, wrap_job};
use devices::serial::{
    MagReaderConfig, MagReaderEvent, MagReaderPort, MagReaderSimulator, SerialPrinter, SerialPrinterConfig,
};
use devices::usb_printer::{RusbPrinterIo, UsbPrinter, UsbPrinterModel};
use devices::virtual_card::VirtualMyNumberCard;

/// A station's device, as the checks name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceRole {
    /// マイナンバーカード読取機.
    CardReader,
    /// 印鑑登録証読取機.
    SealReader,
    /// 証明書プリンター.
    Printer,
}

impl DeviceRole {
    /// Every device a station can have, in the order they are checked.
    pub const ALL: [DeviceRole; 3] = [DeviceRole::CardReader, DeviceRole::SealReader, DeviceRole::Printer];

    /// English name (CLI, logs).
    pub fn label_en(self) -> &'static str {
        match self {
            DeviceRole::CardReader => "card reader",
            DeviceRole::SealReader => "seal reader",
            DeviceRole::Printer => "printer",
        }
    }

    /// Japanese name (screens).
    pub fn label_ja(self) -> &'static str {
        match self {
            DeviceRole::CardReader => "マイナンバーカード読取機",
            DeviceRole::SealReader => "印鑑登録証読取機",
            DeviceRole::Printer => "証明書プリンター",
        }
    }
}

/// Run the check of one device of `station`: what happened, or why it failed.
pub fn check_device(config: &DeviceConfig, station: &str, role: DeviceRole, pin: &str) -> Result<String, String> {
    let devices = config.station(station).map_err(|e| e.to_string())?;
    match role {
        DeviceRole::CardReader => test_card(&devices.card_reader, pin),
        DeviceRole::SealReader => test_seal_reader(&devices.seal_reader),
        DeviceRole::Printer => test_printer(station, &devices.printer),
    }
}

/// How a station's device is configured, in one line (the administrator's list).
pub fn describe(config: &DeviceConfig, station: &str, role: DeviceRole) -> String {
    let Ok(devices) = config.station(station) else { return "未設定".into() };
    match role {
        DeviceRole::CardReader => match &devices.card_reader {
            None => "なし".into(),
            Some(CardReaderConfig::Simulator) => "模擬（仮想マイナンバーカード）".into(),
            Some(CardReaderConfig::Ccid { vendor_id, product_id }) => {
                format!("USB CCID {vendor_id:04x}:{product_id:04x}")
            }
            Some(CardReaderConfig::Pcsc { reader }) => format!("PC/SC {reader}"),
        },
        DeviceRole::SealReader => match &devices.seal_reader {
            None => "なし".into(),
            Some(SealReaderConfig::Simulator) => "模擬（疑似端末）".into(),
            Some(SealReaderConfig::Serial { path, .. }) => format!("シリアル {path}"),
        },
        DeviceRole::Printer => match &devices.printer {
            None => "なし".into(),
            Some(printer) => match &printer.connection {
                PrinterTransport::Simulator => format!("模擬（USBプリンタークラス）トレイ {}", printer.tray.pjl),
                PrinterTransport::Usb { vendor_id, product_id, .. } => {
                    format!("USB {vendor_id:04x}:{product_id:04x} トレイ {}", printer.tray.pjl)
                }
                PrinterTransport::Serial { path, .. } => format!("シリアル {path} トレイ {}", printer.tray.pjl),
            },
        },
    }
}

/// The card the simulator's reader holds unless the terminal was given another.
pub fn sample_card_attributes() -> CardAttributes {
    CardAttributes {
        name: "葛\u{E0102}西\u{3000}𠮷乃".into(),
        address: "東京都新宿区西新宿二丁目8番1号".into(),
        birth_date_raw: "19770815".into(),
        sex: Sex::Female,
        individual_number: "983205673214".into(),
    }
}

fn test_card(reader: &Option<CardReaderConfig>, pin: &str) -> Result<String, String> {
    if reader.is_none() {
        return Ok("no card reader configured".into());
    }
    let attributes = read_card(reader, pin, &sample_card_attributes()).map_err(|e| format!("{} / {}", e.0, e.1))?;
    // Debug of the attributes masks the 個人番号: the check proves the read, not the number.
    Ok(format!("card read: {attributes:?}"))
}

/// The マイナンバーカード of a resident as the simulated reader holds it (demo and tests): the card a resident of
/// the synthetic population would carry, PIN [`SIMULATED_CARD_PIN`].
pub fn simulated_card_of(
    person: &backend_adapter::types::Person,
    household: &backend_adapter::types::Household,
) -> devices::mynumber::CardAttributes {
    use backend_adapter::types::Sex;
    devices::mynumber::CardAttributes {
        name: person.name.display(),
        address: household.address.display(),
        birth_date_raw: person.birth_date.strftime("%Y%m%d").to_string(),
        sex: match person.sex {
            Sex::Male => devices::mynumber::Sex::Male,
            Sex::Female => devices::mynumber::Sex::Female,
        },
        individual_number: person.individual_number.as_str().to_string(),
    }
}

/// The PIN of the simulator's card.
pub const SIMULATED_CARD_PIN: &str = "1234";

/// Read the 券面事項 of the マイナンバーカード on the station's reader with its PIN; the simulator's reader holds
/// `simulated` (PIN [`SIMULATED_CARD_PIN`]). Errors as (English for the log, Japanese for the screen).
pub fn read_card(
    reader: &Option<CardReaderConfig>,
    pin: &str,
    simulated: &CardAttributes,
) -> Result<CardAttributes, (String, String)> {
    let pin = Pin::parse(pin).map_err(|e| (e.to_string(), "暗証番号は4桁の数字で入力してください".to_string()))?;
    let card_error = |e: devices::mynumber::CardError| (e.to_string(), e.message_ja());
    match reader {
        None => Err((
            "this station has no card reader".to_string(),
            "この端末にはマイナンバーカード読取機が設定されていません".to_string(),
        )),
        Some(CardReaderConfig::Simulator) => {
            // The virtual card behind the CCID reader model: the same driver a USB reader uses.
            let card = VirtualMyNumberCard::new(simulated, SIMULATED_CARD_PIN).map_err(card_error)?;
            let mut reader = MyNumberReader::new(CcidReader::new(CcidReaderModel::new(card)));
            reader.read_with_pin(&pin).map_err(card_error)
        }
        Some(CardReaderConfig::Ccid { vendor_id, product_id }) => {
            let unreachable = |e: String| (e, "カード読取機に接続できません。接続を確認してください".to_string());
            let context = rusb::Context::new().map_err(|e| unreachable(format!("the USB bus cannot be read: {e}")))?;
            let io = RusbCcidIo::open(&context, *vendor_id, *product_id).map_err(|e| unreachable(e.to_string()))?;
            let mut reader = MyNumberReader::new(CcidReader::new(io));
            reader.read_with_pin(&pin).map_err(card_error)
        }
        Some(CardReaderConfig::Pcsc { .. }) => Err((
            "PC/SC readers need a build with the `pcsc` feature".to_string(),
            "このカード読取機（PC/SC）はこの版では使えません".to_string(),
        )),
    }
}

fn test_seal_reader(reader: &Option<SealReaderConfig>) -> Result<String, String> {
    if reader.is_none() {
        return Ok("no 印鑑登録証 reader configured".into());
    }
    let registration_number =
        read_seal_card(reader, SAMPLE_SEAL_CARD).map_err(|(english, japanese)| format!("{english} / {japanese}"))?;
    let shown = registration_number.len().saturating_sub(2);
    Ok(format!("印鑑登録証 read: 登録番号 {}{}", "*".repeat(shown), &registration_number[shown..]))
}

/// The 登録番号 the simulated reader swipes unless told another (the device check's sample card).
pub const SAMPLE_SEAL_CARD: &str = "10012345";

/// How long the station waits for a 印鑑登録証 to be swiped.
const SEAL_SWIPE_WAIT: Duration = Duration::from_secs(15);

/// Read the 登録番号 of the 印鑑登録証 swiped through the station's reader; the simulator's reader swipes
/// `simulated`. Errors as (English for the log, Japanese for the screen).
pub fn read_seal_card(reader: &Option<SealReaderConfig>, simulated: &str) -> Result<String, (String, String)> {
    let (mut port, simulator) = match reader {
        None => {
            return Err((
                "this station has no 印鑑登録証 reader".to_string(),
                "この端末には印鑑登録証読取機が設定されていません".to_string(),
            ));
        }
        Some(SealReaderConfig::Simulator) => {
            let unavailable = |e: String| (e, "印鑑登録証読取機（模擬）を開けません".to_string());
            let mut simulator = MagReaderSimulator::new().map_err(|e| unavailable(e.to_string()))?;
            let port = MagReaderPort::open(MagReaderConfig::new(simulator.slave_path()));
            simulator.swipe(simulated).map_err(|e| unavailable(e.to_string()))?;
            (port, Some(simulator))
        }
        Some(SealReaderConfig::Serial { path, baud, track, offset, length }) => {
            let mut config = MagReaderConfig::new(path.clone());
            config.baud_rate = *baud;
            config.decoder.rule = track.rule(*offset, *length);
            (MagReaderPort::open(config), None)
        }
    };
    let deadline = Instant::now() + SEAL_SWIPE_WAIT;
    while Instant::now() < deadline {
        for event in port.poll() {
            match event {
                MagReaderEvent::Mag(MagEvent::Card { registration_number }) => {
                    drop(simulator);
                    return Ok(registration_number);
                }
                MagReaderEvent::Mag(MagEvent::Rejected(err)) => return Err((err.to_string(), err.message_ja())),
                _ => {}
            }
        }
    }
    Err((
        "no 印鑑登録証 was swiped within 15 seconds".to_string(),
        "15秒以内に印鑑登録証が読み取られませんでした。もう一度通してください".to_string(),
    ))
}

fn test_printer(station: &str, printer: &Option<PrinterConfig>) -> Result<String, String> {
    let Some(printer) = printer else { return Ok("no printer configured".into()) };
    let now = jiff::Zoned::now();
    let page = madoguchi_core::render::test_page(station, &now.strftime("%Y-%m-%d %H:%M").to_string());
    madoguchi_core::render::fonts::check_pages(std::slice::from_ref(&page)).map_err(|e| e.to_string())?;
    let pdf = madoguchi_core::render::pdf::render_pdf(std::slice::from_ref(&page)).map_err(|e| e.to_string())?;
    let tray =
        TraySelection::new(&printer.tray.pjl, printer.tray.pcl5, printer.tray.postscript).map_err(|e| e.to_string())?;
    let job_name = format!("TEST-{station}-{}", now.timestamp().as_second());
    let job =
        wrap_job(&job_name, crate::printing::language(printer.language), &tray, &pdf).map_err(|e| e.to_string())?;
    let outcome: JobOutcome = match &printer.connection {
        PrinterTransport::Simulator => {
            let model =
                UsbPrinterModel::new("MFG:madoguchi;MDL:Simulated certificate printer;CMD:PJL,PDF;CLS:PRINTER;");
            let mut usb = UsbPrinter::new(model.clone());
            let outcome = usb.send_job(&job, Duration::from_secs(10));
            if model.received() != job {
                return Err("the simulator did not receive the job byte for byte".to_string());
            }
            outcome
        }
        PrinterTransport::Usb { vendor_id, product_id, serial } => {
            let context = rusb::Context::new().map_err(|e| format!("the USB bus cannot be read: {e}"))?;
            let io =
                RusbPrinterIo::open(&context, *vendor_id, *product_id, serial.as_deref()).map_err(|e| e.to_string())?;
            let mut usb = UsbPrinter::new(io);
            usb.send_job(&job, Duration::from_secs(60))
        }
        PrinterTransport::Serial { path, baud } => {
            let mut config = SerialPrinterConfig::new(path.clone());
            config.baud_rate = *baud;
            let mut serial = SerialPrinter::open(config).map_err(|e| e.to_string())?;
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
