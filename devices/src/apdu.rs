//! ISO 7816-4 command and response APDUs and the transport trait every smart-card driver implements (PC/SC, direct
//! CCID, the in-process virtual card). Card logic above this layer only sees `transmit`, so it runs unchanged against
//! a real reader or a simulator.

use std::fmt;

use thiserror::Error;

use crate::mynumber::Pin;

/// AID of the 券面事項入力補助AP (card-face text input support application).
pub const AID_KENHOJO: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// AID of the 公的個人認証 (JPKI) AP.
pub const AID_JPKI: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// EF of the 券面事項入力補助用暗証番号 (4-digit PIN).
pub const EF_KENHOJO_PIN: [u8; 2] = [0x00, 0x11];
/// EF of the 個人番号 (PIN-protected).
pub const EF_MY_NUMBER: [u8; 2] = [0x00, 0x01];
/// EF of the 基本4情報 (name, address, birth date, sex; PIN-protected).
pub const EF_BASIC_FOUR: [u8; 2] = [0x00, 0x02];

/// Instruction byte of SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// Instruction byte of VERIFY.
pub const INS_VERIFY: u8 = 0x20;
/// Instruction byte of READ BINARY.
pub const INS_READ_BINARY: u8 = 0xB0;

/// Overwrites a buffer with zeros; `black_box` keeps the stores from being optimised away (best effort without
/// `unsafe` volatile writes).
pub(crate) fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        *b = 0;
    }
    std::hint::black_box(buf);
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Why a transport could not exchange an APDU.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The card was taken out of the reader.
    #[error("card removed")]
    CardRemoved,
    /// No reader is connected.
    #[error("no card reader")]
    NoReader,
    /// The card or reader did not answer in time.
    #[error("card did not answer in time")]
    Timeout,
    /// The response was shorter than the two status bytes.
    #[error("malformed response APDU ({0} bytes)")]
    MalformedResponse(usize),
    /// Any other transport failure, with the driver's description.
    #[error("card transport error: {0}")]
    Other(String),
}

impl TransportError {
    /// Message for the operator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            TransportError::CardRemoved => "カードが取り外されました。もう一度カードを置いてください".to_string(),
            TransportError::NoReader => "カードリーダーが接続されていません".to_string(),
            TransportError::Timeout => "カードが応答しません。カードを置き直してください".to_string(),
            TransportError::MalformedResponse(_) | TransportError::Other(_) => {
                "カードリーダーでエラーが発生しました。カードを置き直してください".to_string()
            }
        }
    }
}

/// Sends a command APDU and returns the raw response APDU (data followed by SW1 SW2).
pub trait ApduTransport {
    /// Exchanges one APDU with the card.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: ApduTransport + ?Sized> ApduTransport for &mut T {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
}

/// A command APDU. Its buffer is wiped on drop (VERIFY carries the PIN); `Debug` hides VERIFY data.
pub struct CommandApdu {
    bytes: Vec<u8>,
}

impl CommandApdu {
    fn with_data(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Option<CommandApdu> {
        let lc = u8::try_from(data.len()).ok()?;
        let mut bytes = Vec::with_capacity(6 + data.len());
        bytes.extend_from_slice(&[0x00, ins, p1, p2]);
        if !data.is_empty() {
            bytes.push(lc);
            bytes.extend_from_slice(data);
        }
        if let Some(le) = le {
            bytes.push(le);
        }
        Some(CommandApdu { bytes })
    }

    /// SELECT by DF name (AID), no response data: `00 A4 04 0C Lc AID`. `None` when the AID is empty or longer
    /// than 16 bytes.
    pub fn select_df(aid: &[u8]) -> Option<CommandApdu> {
        if aid.is_empty() || aid.len() > 16 {
            return None;
        }
        CommandApdu::with_data(INS_SELECT, 0x04, 0x0C, aid, None)
    }

    /// SELECT EF by file identifier under the current DF: `00 A4 02 0C 02 FID`.
    pub fn select_ef(fid: [u8; 2]) -> CommandApdu {
        let [high, low] = fid;
        CommandApdu { bytes: vec![0x00, INS_SELECT, 0x02, 0x0C, 0x02, high, low] }
    }

    /// VERIFY without data (`00 20 00 80`): asks for the retry counter without spending a try.
    pub fn verify_status() -> CommandApdu {
        CommandApdu { bytes: vec![0x00, INS_VERIFY, 0x00, 0x80] }
    }

    /// VERIFY with the 4 ASCII digits of the PIN: `00 20 00 80 04 3x 3x 3x 3x`.
    pub fn verify(pin: &Pin) -> CommandApdu {
        let mut bytes = Vec::with_capacity(9);
        bytes.extend_from_slice(&[0x00, INS_VERIFY, 0x00, 0x80, 0x04]);
        bytes.extend_from_slice(pin.digits());
        CommandApdu { bytes }
    }

    /// READ BINARY of `len` bytes (1–256; 256 is sent as Le = 00) at `offset` (at most 0x7FFF) of the current EF.
    pub fn read_binary(offset: u16, len: u16) -> Option<CommandApdu> {
        if offset > 0x7FFF || len == 0 || len > 256 {
            return None;
        }
        let [p1, p2] = offset.to_be_bytes();
        let le = u8::try_from(len).unwrap_or(0);
        CommandApdu::with_data(INS_READ_BINARY, p1, p2, &[], Some(le))
    }

    /// The encoded command.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The instruction byte.
    pub fn ins(&self) -> u8 {
        self.bytes.get(1).copied().unwrap_or(0)
    }
}

impl Drop for CommandApdu {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.ins() == INS_VERIFY { self.bytes.get(..5).unwrap_or(&self.bytes) } else { &self.bytes };
        write!(f, "CommandApdu(")?;
        for (i, b) in shown.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{b:02X}")?;
        }
        if shown.len() < self.bytes.len() {
            write!(f, " ****")?;
        }
        write!(f, ")")
    }
}

/// A response APDU: data and the status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// First status byte.
    pub sw1: u8,
    /// Second status byte.
    pub sw2: u8,
}

impl ResponseApdu {
    /// Splits a raw response into data and status word.
    pub fn parse(raw: &[u8]) -> Result<ResponseApdu, TransportError> {
        match raw {
            [data @ .., sw1, sw2] => Ok(ResponseApdu { data: data.to_vec(), sw1: *sw1, sw2: *sw2 }),
            _ => Err(TransportError::MalformedResponse(raw.len())),
        }
    }

    /// The status word, `SW1 << 8 | SW2`.
    pub fn sw(&self) -> u16 {
        u16::from_be_bytes([self.sw1, self.sw2])
    }

    /// Whether the status word is `90 00`.
    pub fn is_success(&self) -> bool {
        self.sw() == 0x9000
    }
}

/// Sends a command through a transport and parses the response.
pub fn exchange<T: ApduTransport + ?Sized>(
    transport: &mut T,
    command: &CommandApdu,
) -> Result<ResponseApdu, TransportError> {
    let raw = transport.transmit(command.as_bytes())?;
    ResponseApdu::parse(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_match_the_reference_bytes() {
        let select = CommandApdu::select_df(&AID_KENHOJO).expect("valid AID");
        assert_eq!(
            select.as_bytes(),
            &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08]
        );
        assert_eq!(CommandApdu::select_ef(EF_KENHOJO_PIN).as_bytes(), &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x11]);
        assert_eq!(CommandApdu::verify_status().as_bytes(), &[0x00, 0x20, 0x00, 0x80]);
        let pin = Pin::parse("1234").expect("valid");
        assert_eq!(CommandApdu::verify(&pin).as_bytes(), &[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34]);
        assert_eq!(CommandApdu::read_binary(0, 7).expect("valid").as_bytes(), &[0x00, 0xB0, 0x00, 0x00, 0x07]);
        assert_eq!(CommandApdu::read_binary(7, 256).expect("valid").as_bytes(), &[0x00, 0xB0, 0x00, 0x07, 0x00]);
        assert_eq!(CommandApdu::read_binary(0x0123, 255).expect("valid").as_bytes(), &[0x00, 0xB0, 0x01, 0x23, 0xFF]);
    }

    #[test]
    fn builders_refuse_out_of_range() {
        assert!(CommandApdu::select_df(&[]).is_none());
        assert!(CommandApdu::select_df(&[0; 17]).is_none());
        assert!(CommandApdu::read_binary(0x8000, 1).is_none());
        assert!(CommandApdu::read_binary(0, 0).is_none());
        assert!(CommandApdu::read_binary(0, 257).is_none());
    }

    #[test]
    fn verify_debug_hides_the_pin() {
        let pin = Pin::parse("9876").expect("valid");
        let text = format!("{:?}", CommandApdu::verify(&pin));
        assert_eq!(text, "CommandApdu(00 20 00 80 04 ****)");
        assert!(!text.contains("39"));
    }

    #[test]
    fn response_parsing() {
        let r = ResponseApdu::parse(&[0x01, 0x02, 0x90, 0x00]).expect("valid");
        assert_eq!(r.data, vec![1, 2]);
        assert!(r.is_success());
        let r = ResponseApdu::parse(&[0x63, 0xC2]).expect("valid");
        assert_eq!(r.sw(), 0x63C2);
        assert!(r.data.is_empty());
        assert_eq!(ResponseApdu::parse(&[0x90]), Err(TransportError::MalformedResponse(1)));
        assert_eq!(ResponseApdu::parse(&[]), Err(TransportError::MalformedResponse(0)));
    }

    #[test]
    fn wipe_zeroes() {
        let mut buf = vec![1u8, 2, 3];
        wipe(&mut buf);
        assert_eq!(buf, vec![0, 0, 0]);
    }

    #[test]
    fn error_messages() {
        assert_eq!(TransportError::CardRemoved.to_string(), "card removed");
        assert!(TransportError::NoReader.message_ja().contains("カードリーダー"));
    }
}
