//! Which devices a station has and how to reach them, read from a TOML file an administrator keeps (serial device
//! paths are configured because pseudo-terminals and many USB-serial adapters are not enumerable). The file is
//! strict: unknown keys, impossible values and missing fields are refused with the station and key named.

use serde::Deserialize;

use crate::magstripe::{RegistrationNumberRule, Track};

/// The device configuration of a ward office: one entry per station.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// The stations.
    #[serde(rename = "station")]
    pub stations: Vec<StationDevices>,
}

/// One station's devices.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationDevices {
    /// Station name (post-1, review-1, …).
    pub name: String,
    /// The certificate printer, if the station has one.
    pub printer: Option<PrinterConfig>,
    /// The マイナンバーカード reader, if any.
    pub card_reader: Option<CardReaderConfig>,
    /// The 印鑑登録証 reader, if any.
    pub seal_reader: Option<SealReaderConfig>,
}

/// How a printer is reached.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "transport", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PrinterTransport {
    /// USB printer class.
    Usb {
        /// Vendor id.
        vendor_id: u16,
        /// Product id.
        product_id: u16,
        /// Serial number (to tell two identical printers apart).
        serial: Option<String>,
    },
    /// A serial line.
    Serial {
        /// Stable device path.
        path: String,
        /// Line speed.
        baud: u32,
    },
    /// The built-in simulator.
    Simulator,
}

/// Page description language of a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LanguageConfig {
    /// PDF inside a PJL job.
    PdfInPjl,
    /// PCL 5.
    Pcl5,
    /// PostScript.
    PostScript,
}

/// The security-paper tray in each language (all required: a job never goes out without its tray).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrayConfig {
    /// `@PJL SET MEDIASOURCE=` value.
    pub pjl: String,
    /// PCL 5 `ESC&l#H` paper source.
    pub pcl5: u16,
    /// PostScript `/MediaPosition`.
    pub postscript: u32,
}

/// A certificate printer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// How it is reached.
    pub connection: PrinterTransport,
    /// Its language.
    pub language: LanguageConfig,
    /// The security-paper tray.
    pub tray: TrayConfig,
    /// The plain-paper tray, for letters (照会書). Without it this printer prints no letters: a letter never goes
    /// on security paper.
    #[serde(default)]
    pub plain_tray: Option<TrayConfig>,
    /// Alignment offset to the right, mm.
    #[serde(default)]
    pub offset_x_mm: f32,
    /// Alignment offset downwards, mm.
    #[serde(default)]
    pub offset_y_mm: f32,
}

/// How a card reader is reached.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "transport", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CardReaderConfig {
    /// PC/SC reader by name (needs the `pcsc` feature and pcscd).
    Pcsc {
        /// Reader name as PC/SC lists it (prefix match).
        reader: String,
    },
    /// Direct USB CCID.
    Ccid {
        /// Vendor id.
        vendor_id: u16,
        /// Product id.
        product_id: u16,
    },
    /// The virtual マイナンバーカード.
    Simulator,
}

/// How the 印鑑登録証 reader is reached and read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "transport", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SealReaderConfig {
    /// A serial reader.
    Serial {
        /// Stable device path.
        path: String,
        /// Line speed.
        baud: u32,
        /// Which track carries the 登録番号.
        track: TrackConfig,
        /// Offset of the 登録番号 in the track data.
        offset: usize,
        /// Length of the 登録番号.
        length: usize,
    },
    /// The simulated reader on a pseudo-terminal.
    Simulator,
}

/// Magnetic track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackConfig {
    /// ISO track 2.
    Track2,
    /// JIS-II.
    #[serde(rename = "jis-ii")]
    JisII,
}

impl TrackConfig {
    /// The decoder's rule.
    pub fn rule(self, offset: usize, length: usize) -> RegistrationNumberRule {
        let track = match self {
            TrackConfig::Track2 => Track::Track2,
            TrackConfig::JisII => Track::JisII,
        };
        RegistrationNumberRule { track, offset, length }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceConfigError {
    /// Not valid TOML or not the expected shape.
    #[error("device configuration: {0}")]
    Parse(String),
    /// A value that cannot be right.
    #[error("device configuration, station {station:?}: {key}: {reason}")]
    Invalid {
        /// Station.
        station: String,
        /// Key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// No such station.
    #[error("no station named {0:?} in the device configuration")]
    UnknownStation(String),
}

impl DeviceConfigError {
    /// The message for the administrator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            DeviceConfigError::Parse(detail) => format!("機器設定ファイルの形式が正しくありません（{detail}）"),
            DeviceConfigError::Invalid { station, key, reason } => {
                format!("窓口「{station}」の機器設定「{key}」が正しくありません（{reason}）")
            }
            DeviceConfigError::UnknownStation(name) => format!("窓口「{name}」の機器設定がありません"),
        }
    }
}

impl DeviceConfig {
    /// Parse and check a configuration.
    pub fn parse(text: &str) -> Result<Self, DeviceConfigError> {
        let config: DeviceConfig = toml::from_str(text).map_err(|e| DeviceConfigError::Parse(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), DeviceConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for station in &self.stations {
            let invalid = |key, reason: &str| DeviceConfigError::Invalid {
                station: station.name.clone(),
                key,
                reason: reason.to_string(),
            };
            if station.name.trim().is_empty()
                || !station.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid("name", "use letters, digits, '-' and '_'"));
            }
            if !names.insert(station.name.clone()) {
                return Err(invalid("name", "the same station is configured twice"));
            }
            if let Some(printer) = &station.printer {
                if let PrinterTransport::Serial { path, baud } = &printer.connection {
                    if path.trim().is_empty() {
                        return Err(invalid("printer.connection.path", "empty"));
                    }
                    if *baud == 0 {
                        return Err(invalid("printer.connection.baud", "must be positive"));
                    }
                }
                if printer.tray.pjl.is_empty()
                    || !printer.tray.pjl.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(invalid("printer.tray.pjl", "a PJL media source such as TRAY2"));
                }
                if let Some(plain) = &printer.plain_tray {
                    if plain.pjl.is_empty() || !plain.pjl.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                        return Err(invalid("printer.plain_tray.pjl", "a PJL media source such as TRAY1"));
                    }
                    if plain.pjl == printer.tray.pjl
                        || plain.pcl5 == printer.tray.pcl5
                        || plain.postscript == printer.tray.postscript
                    {
                        return Err(invalid("printer.plain_tray", "must differ from the security-paper tray"));
                    }
                }
                for (key, offset) in
                    [("printer.offset_x_mm", printer.offset_x_mm), ("printer.offset_y_mm", printer.offset_y_mm)]
                {
                    if !offset.is_finite() || offset.abs() > 10.0 {
                        return Err(invalid(key, "alignment offsets are within ±10 mm"));
                    }
                }
            }
            if let Some(SealReaderConfig::Serial { path, baud, length, .. }) = &station.seal_reader {
                if path.trim().is_empty() {
                    return Err(invalid("seal_reader.path", "empty"));
                }
                if *baud == 0 {
                    return Err(invalid("seal_reader.baud", "must be positive"));
                }
                if *length == 0 || *length > 20 {
                    return Err(invalid("seal_reader.length", "a 登録番号 has 1 to 20 digits"));
                }
            }
            if let Some(CardReaderConfig::Pcsc { reader }) = &station.card_reader
                && reader.trim().is_empty()
            {
                return Err(invalid("card_reader.reader", "empty"));
            }
        }
        Ok(())
    }

    /// One station's devices.
    pub fn station(&self, name: &str) -> Result<&StationDevices, DeviceConfigError> {
        self.stations.iter().find(|s| s.name == name).ok_or_else(|| DeviceConfigError::UnknownStation(name.to_string()))
    }

    /// The demo configuration: every post and the review station on simulators.
    pub fn demo() -> Self {
        let simulated = |name: &str, printer: bool| StationDevices {
            name: name.to_string(),
            printer: printer.then(|| PrinterConfig {
                connection: PrinterTransport::Simulator,
                language: LanguageConfig::PdfInPjl,
                tray: TrayConfig { pjl: "TRAY2".into(), pcl5: 1, postscript: 0 },
                plain_tray: Some(TrayConfig { pjl: "TRAY1".into(), pcl5: 4, postscript: 3 }),
                offset_x_mm: 0.0,
                offset_y_mm: 0.0,
            }),
            card_reader: Some(CardReaderConfig::Simulator),
            seal_reader: Some(SealReaderConfig::Simulator),
        };
        Self {
            stations: vec![
                simulated("post-1", true),
                simulated("post-2", true),
                simulated("post-3", true),
                simulated("review-1", true),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[station]]
name = "post-1"

[station.printer]
connection = { transport = "usb", vendor_id = 0x04b8, product_id = 0x0e28, serial = "X3YZ001234" }
language = "pdf-in-pjl"
tray = { pjl = "TRAY2", pcl5 = 1, postscript = 0 }
plain_tray = { pjl = "TRAY1", pcl5 = 4, postscript = 3 }
offset_x_mm = 0.5

[station.card_reader]
transport = "pcsc"
reader = "SONY FeliCa RC-S300"

[station.seal_reader]
transport = "serial"
path = "/dev/serial/by-id/usb-Sanwa_MR-01-if00-port0"
baud = 9600
track = "jis-ii"
offset = 4
length = 8

[[station]]
name = "post-2"
printer = { connection = { transport = "serial", path = "/dev/ttyS1", baud = 38400 }, language = "pcl5", tray = { pjl = "TRAY3", pcl5 = 5, postscript = 1 } }
card_reader = { transport = "ccid", vendor_id = 0x054c, product_id = 0x0dc8 }
"#;

    #[test]
    fn a_station_file_parses_into_typed_devices() {
        let config = DeviceConfig::parse(GOOD).expect("valid");
        let post1 = config.station("post-1").expect("post-1");
        let printer = post1.printer.as_ref().expect("printer");
        assert_eq!(
            printer.connection,
            PrinterTransport::Usb { vendor_id: 0x04b8, product_id: 0x0e28, serial: Some("X3YZ001234".into()) }
        );
        assert_eq!(printer.tray.pjl, "TRAY2");
        assert_eq!(printer.plain_tray.as_ref().map(|t| t.pjl.as_str()), Some("TRAY1"));
        assert!(matches!(
            post1.seal_reader,
            Some(SealReaderConfig::Serial { track: TrackConfig::JisII, offset: 4, length: 8, .. })
        ));
        let post2 = config.station("post-2").expect("post-2");
        assert!(matches!(post2.card_reader, Some(CardReaderConfig::Ccid { vendor_id: 0x054c, .. })));
        assert_eq!(post2.printer.as_ref().map(|p| p.plain_tray.is_none()), Some(true), "no letters on post-2");
        assert_eq!(config.station("post-9"), Err(DeviceConfigError::UnknownStation("post-9".into())));
        assert_eq!(DeviceConfig::parse(&toml_of_demo()).map(|c| c.stations.len()), Ok(4));
    }

    fn toml_of_demo() -> String {
        DeviceConfig::demo()
            .stations
            .iter()
            .map(|s| format!("[[station]]\nname = \"{}\"\ncard_reader = {{ transport = \"simulator\" }}\n", s.name))
            .collect()
    }

    #[test]
    fn bad_files_are_refused_with_the_station_and_key() {
        let cases = [
            (GOOD.replace("language = \"pdf-in-pjl\"", "language = \"esc-p\""), "unknown variant"),
            (GOOD.replace("offset_x_mm = 0.5", "offset_x_mm = 25.0"), "offset_x_mm"),
            (GOOD.replace("offset_x_mm = 0.5", "colour = \"red\""), "unknown field"),
            (
                GOOD.replace("tray = { pjl = \"TRAY2\", pcl5 = 1, postscript = 0 }", "tray = { pjl = \"TRAY2\" }"),
                "missing field",
            ),
            (GOOD.replace("vendor_id = 0x04b8", "vendor_id = 0x104b8"), "vendor_id"),
            (GOOD.replace("pjl = \"TRAY1\"", "pjl = \"TRAY2\""), "must differ from the security-paper tray"),
            (GOOD.replace("pjl = \"TRAY1\"", "pjl = \"tray 1\""), "printer.plain_tray.pjl"),
            (GOOD.replace("name = \"post-2\"", "name = \"post-1\""), "twice"),
            (GOOD.replace("length = 8", "length = 0"), "seal_reader.length"),
            (GOOD.replace("path = \"/dev/ttyS1\"", "path = \"\""), "printer.connection.path"),
            ("[[station]\nname=".to_string(), "TOML"),
        ];
        for (text, expected) in cases {
            let err = DeviceConfig::parse(&text).expect_err(expected);
            let message = err.to_string();
            assert!(
                message.contains(expected) || (expected == "TOML" && matches!(err, DeviceConfigError::Parse(_))),
                "{expected}: {message}"
            );
            assert!(err.message_ja().contains("機器設定"), "{}", err.message_ja());
        }
    }
}
