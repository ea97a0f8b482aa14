//! Parser for the IEEE 1284 device ID a USB printer returns to GET_DEVICE_ID (`MFG:…;MDL:…;CMD:…;`). It tells which
//! model and page description languages are on the other end, so the right job wrapper can be chosen. The reply comes
//! from a device and is treated as untrusted input.

use std::collections::BTreeMap;

use thiserror::Error;

/// Largest reply accepted; anything bigger is refused rather than parsed.
pub const MAX_DEVICE_ID_REPLY: usize = 1024;

/// Smallest big-endian length taken at face value (as pappl does): below it the little-endian reading is tried.
const MIN_PLAUSIBLE_LENGTH: usize = 14;

/// Why a GET_DEVICE_ID reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeviceIdError {
    /// Fewer bytes than the length prefix needs, or than the length announces.
    #[error("device ID reply truncated ({available} bytes available, {needed} needed)")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes received.
        available: usize,
    },
    /// The length prefix makes no sense in either byte order.
    #[error("device ID length field {0:#06x} is invalid")]
    BadLength(u16),
    /// The reply is larger than [`MAX_DEVICE_ID_REPLY`].
    #[error("device ID reply of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

impl DeviceIdError {
    /// Message for the operator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            DeviceIdError::Truncated { .. } | DeviceIdError::BadLength(_) | DeviceIdError::TooLarge(_) => {
                "プリンターの機種情報を読み取れませんでした。プリンターの接続を確認してください".to_string()
            }
        }
    }
}

/// A parsed IEEE 1284 device ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceId {
    /// `MFG` / `MANUFACTURER`.
    pub manufacturer: Option<String>,
    /// `MDL` / `MODEL`.
    pub model: Option<String>,
    /// `CMD` / `COMMAND SET`, split on commas (for example `PJL`, `PDF`, `PCLXL`).
    pub command_set: Vec<String>,
    /// `CLS` / `CLASS`.
    pub class: Option<String>,
    /// `SN` / `SERN` / `SERIALNUMBER`.
    pub serial_number: Option<String>,
    /// Every other key (upper-cased) with its value.
    pub other: BTreeMap<String, String>,
}

impl DeviceId {
    /// Whether the command set lists `language` (case-insensitive), for example `"PDF"`.
    pub fn supports(&self, language: &str) -> bool {
        self.command_set.iter().any(|c| c.eq_ignore_ascii_case(language))
    }
}

/// Parses a raw GET_DEVICE_ID reply: a 2-byte length (big-endian, including the two length bytes; little-endian when
/// the big-endian value is below 14 or larger than the reply, as pappl does) followed by the ID string.
///
/// The string is decoded as UTF-8 when valid and otherwise as Latin-1, byte for byte: a device with a non-ASCII
/// model name still yields a readable ID rather than an error. Bytes after the announced length are ignored.
pub fn parse_device_id_reply(reply: &[u8]) -> Result<DeviceId, DeviceIdError> {
    if reply.len() > MAX_DEVICE_ID_REPLY {
        return Err(DeviceIdError::TooLarge(reply.len()));
    }
    let (b0, b1) = match (reply.first(), reply.get(1)) {
        (Some(&b0), Some(&b1)) => (b0, b1),
        _ => return Err(DeviceIdError::Truncated { needed: 2, available: reply.len() }),
    };
    let be = u16::from_be_bytes([b0, b1]);
    let le = u16::from_le_bytes([b0, b1]);
    let n = reply.len();
    let plausible = |v: u16| (MIN_PLAUSIBLE_LENGTH..=n).contains(&usize::from(v));
    let length = if plausible(be) {
        usize::from(be)
    } else if plausible(le) {
        usize::from(le)
    } else if (2..MIN_PLAUSIBLE_LENGTH).contains(&usize::from(be)) {
        // A short but consistent ID (for example an empty one).
        usize::from(be)
    } else if usize::from(be) > n && (usize::from(le) > n || usize::from(le) < 2) {
        return Err(DeviceIdError::Truncated { needed: usize::from(be), available: n });
    } else {
        return Err(DeviceIdError::BadLength(be));
    };
    let body = reply.get(2..length).ok_or(DeviceIdError::Truncated { needed: length, available: n })?;
    Ok(parse_device_id_string(&decode_text(body)))
}

/// UTF-8 when valid, else Latin-1; trailing NULs removed.
fn decode_text(body: &[u8]) -> String {
    let end = body.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let body = body.get(..end).unwrap_or_default();
    match std::str::from_utf8(body) {
        Ok(s) => s.to_string(),
        Err(_) => body.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses the `KEY:value;` part. Keys are trimmed and upper-cased; the first occurrence of a key wins; segments
/// without a colon are ignored.
pub fn parse_device_id_string(text: &str) -> DeviceId {
    let mut id = DeviceId::default();
    let mut has_command_set = false;
    for segment in text.split(';') {
        let Some((key, value)) = segment.split_once(':') else { continue };
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim().to_string();
        if key.is_empty() {
            continue;
        }
        match key.as_str() {
            "MFG" | "MANUFACTURER" => {
                id.manufacturer.get_or_insert(value);
            }
            "MDL" | "MODEL" => {
                id.model.get_or_insert(value);
            }
            "CMD" | "COMMAND SET" => {
                if !has_command_set {
                    has_command_set = true;
                    id.command_set =
                        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                }
            }
            "CLS" | "CLASS" => {
                id.class.get_or_insert(value);
            }
            "SN" | "SERN" | "SERIALNUMBER" => {
                id.serial_number.get_or_insert(value);
            }
            _ => {
                id.other.entry(key).or_insert(value);
            }
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply_be(id: &str) -> Vec<u8> {
        let len = u16::try_from(id.len() + 2).expect("test ID fits");
        let mut v = len.to_be_bytes().to_vec();
        v.extend_from_slice(id.as_bytes());
        v
    }

    #[test]
    fn parses_the_checked_gadget_reply() {
        // The reply read from the QEMU printer gadget (devices.md §6.1): length field 59.
        let id = "MFG:TestMfg;MDL:CertPrinter;CMD:PJL,PDF,PCLXL;CLS:PRINTER";
        let reply = reply_be(id);
        assert_eq!(reply.first(), Some(&0));
        assert_eq!(reply.get(1), Some(&59));
        let parsed = parse_device_id_reply(&reply).expect("valid");
        assert_eq!(parsed.manufacturer.as_deref(), Some("TestMfg"));
        assert_eq!(parsed.model.as_deref(), Some("CertPrinter"));
        assert_eq!(parsed.command_set, vec!["PJL", "PDF", "PCLXL"]);
        assert_eq!(parsed.class.as_deref(), Some("PRINTER"));
        assert!(parsed.supports("pdf"));
        assert!(!parsed.supports("POSTSCRIPT"));
    }

    #[test]
    fn long_keys_serial_and_unknown_keys() {
        let id = "MANUFACTURER:ACME;MODEL:X 1;COMMAND SET:PCL, POSTSCRIPT;CLASS:PRINTER;SERN:ABC123;DES:Desc;";
        let parsed = parse_device_id_reply(&reply_be(id)).expect("valid");
        assert_eq!(parsed.manufacturer.as_deref(), Some("ACME"));
        assert_eq!(parsed.model.as_deref(), Some("X 1"));
        assert_eq!(parsed.command_set, vec!["PCL", "POSTSCRIPT"]);
        assert_eq!(parsed.serial_number.as_deref(), Some("ABC123"));
        assert_eq!(parsed.other.get("DES").map(String::as_str), Some("Desc"));
        let parsed = parse_device_id_string("SN:1;SERIALNUMBER:2");
        assert_eq!(parsed.serial_number.as_deref(), Some("1"));
    }

    #[test]
    fn little_endian_fallback() {
        let id = "MFG:LE;MDL:Model;CMD:PJL;";
        let len = u16::try_from(id.len() + 2).expect("fits");
        let mut reply = len.to_le_bytes().to_vec();
        reply.extend_from_slice(id.as_bytes());
        let parsed = parse_device_id_reply(&reply).expect("valid");
        assert_eq!(parsed.manufacturer.as_deref(), Some("LE"));
        assert_eq!(parsed.command_set, vec!["PJL"]);
    }

    #[test]
    fn trailing_bytes_beyond_length_are_ignored() {
        let mut reply = reply_be("MFG:A;MDL:BBBBBBBBBB;");
        reply.extend_from_slice(b"junk:junk;");
        let parsed = parse_device_id_reply(&reply).expect("valid");
        assert!(parsed.other.is_empty());
    }

    #[test]
    fn truncated_and_bad_lengths() {
        assert_eq!(parse_device_id_reply(&[]), Err(DeviceIdError::Truncated { needed: 2, available: 0 }));
        assert_eq!(parse_device_id_reply(&[0]), Err(DeviceIdError::Truncated { needed: 2, available: 1 }));
        // Announces 0x0100 = 256 bytes (LE 1) but only 10 are present.
        let mut reply = vec![0x01, 0x00];
        reply.extend_from_slice(b"MFG:A;MD");
        assert!(matches!(parse_device_id_reply(&reply), Err(DeviceIdError::Truncated { .. })));
        assert_eq!(parse_device_id_reply(&[0, 0]), Err(DeviceIdError::BadLength(0)));
    }

    #[test]
    fn empty_id_is_accepted() {
        assert_eq!(parse_device_id_reply(&[0, 2]).expect("valid"), DeviceId::default());
    }

    #[test]
    fn oversized_reply_is_refused() {
        let reply = vec![0x04; MAX_DEVICE_ID_REPLY + 1];
        assert_eq!(parse_device_id_reply(&reply), Err(DeviceIdError::TooLarge(MAX_DEVICE_ID_REPLY + 1)));
    }

    #[test]
    fn latin1_is_decoded_lossily() {
        let mut body = b"MFG:Caf".to_vec();
        body.push(0xE9);
        body.extend_from_slice(b";MDL:Z;");
        let mut reply = u16::try_from(body.len() + 2).expect("fits").to_be_bytes().to_vec();
        reply.extend(body);
        let parsed = parse_device_id_reply(&reply).expect("valid");
        assert_eq!(parsed.manufacturer.as_deref(), Some("Café"));
    }

    #[test]
    fn error_messages() {
        let e = DeviceIdError::TooLarge(2000);
        assert!(!e.to_string().ends_with('.'));
        assert!(e.message_ja().contains("プリンター"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = parse_device_id_reply(&bytes);
        }

        #[test]
        fn never_panics_on_text(text in ".{0,200}") {
            let _ = parse_device_id_string(&text);
        }
    }
}
