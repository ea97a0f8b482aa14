//! Reads the 基本4情報 and 個人番号 from a マイナンバーカード through its 券面事項入力補助AP. It enforces the PIN policy
//! (read the retry counter first, one VERIFY per resident entry, never retry, refuse when locked), detects cards that
//! are not マイナンバーカード (including the expired 住基カード) and parses the card's BER-TLV without trusting it.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::apdu::{
    AID_JPKI, AID_KENHOJO, ApduTransport, CommandApdu, EF_BASIC_FOUR, EF_KENHOJO_PIN, EF_MY_NUMBER, ResponseApdu,
    TransportError, exchange, wipe,
};

/// Bytes read from EF 0001 (個人番号).
const MY_NUMBER_READ_LEN: u16 = 17;
/// Bytes read first from EF 0002 to learn its length.
const BASIC_FOUR_HEAD_LEN: u16 = 7;
/// Largest READ BINARY chunk requested.
const READ_CHUNK: usize = 255;
/// Largest EF 0002 accepted (the real file is a few hundred bytes).
const MAX_BASIC_FOUR_LEN: usize = 4096;

/// Tag of the EF 0002 name (private class, number 0x22).
pub const TAG_NAME: u32 = 0xDF22;
/// Tag of the EF 0002 header (offsets).
pub const TAG_HEADER: u32 = 0xDF21;
/// Tag of the EF 0002 address.
pub const TAG_ADDRESS: u32 = 0xDF23;
/// Tag of the EF 0002 birth date.
pub const TAG_BIRTH_DATE: u32 = 0xDF24;
/// Tag of the EF 0002 sex.
pub const TAG_SEX: u32 = 0xDF25;
/// Tag of the EF 0002 outer template, as written by the virtual card (the parser accepts any constructed tag).
pub const TAG_BASIC_FOUR: u32 = 0xFF20;
/// Tag of the EF 0001 個人番号 (private class, number 16), in the multi-byte form the virtual card writes.
pub const TAG_MY_NUMBER: u32 = 0xFF10;

/// Why the card could not be read. Never contains card data or the PIN.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CardError {
    /// The PIN is blocked (counter 0, or `63 C0` after this entry: just locked).
    #[error("PIN locked")]
    Locked,
    /// Wrong PIN; `tries_left` more attempts before the PIN locks.
    #[error("wrong PIN, {tries_left} tries left")]
    WrongPin {
        /// Attempts left.
        tries_left: u8,
    },
    /// The card has no 券面事項入力補助AP.
    #[error("not a My Number card")]
    NotMyNumberCard,
    /// A 住基カード (Basic Resident Register card): no longer valid, rejected.
    #[error("Juki card (Basic Resident Register card) is not accepted")]
    JukiCard,
    /// The card was removed during the operation.
    #[error("card removed")]
    Removed,
    /// No card reader.
    #[error("no card reader")]
    NoReader,
    /// The card did not answer in time.
    #[error("card did not answer in time")]
    Timeout,
    /// `69 82`: security status not satisfied (file read without a verified PIN).
    #[error("security status not satisfied")]
    AccessDenied,
    /// A status word this reader does not expect.
    #[error("unexpected status word {sw:04X}")]
    Unexpected {
        /// SW1 SW2.
        sw: u16,
    },
    /// Card data does not have the expected structure.
    #[error("malformed card data: {0}")]
    Malformed(&'static str),
    /// The entered PIN is not exactly four ASCII digits.
    #[error("PIN must be exactly 4 digits")]
    InvalidPinFormat,
    /// Other transport failure.
    #[error("card transport error: {0}")]
    Transport(String),
}

impl CardError {
    /// Message for the operator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            CardError::Locked => "暗証番号がロックされています。窓口でロック解除の手続きが必要です".to_string(),
            CardError::WrongPin { tries_left } => {
                format!("暗証番号が違います。あと{tries_left}回間違えるとロックされます")
            }
            CardError::NotMyNumberCard => "マイナンバーカードではありません。カードを確認してください".to_string(),
            CardError::JukiCard => "住基カードは使用できません。マイナンバーカードをお使いください".to_string(),
            CardError::Removed => "カードが取り外されました。もう一度カードを置いてください".to_string(),
            CardError::NoReader => "カードリーダーが接続されていません".to_string(),
            CardError::Timeout => "カードが応答しません。カードを置き直してください".to_string(),
            CardError::AccessDenied => "カードの読み取りが許可されませんでした。もう一度お試しください".to_string(),
            CardError::Unexpected { sw } => format!("カードから予期しない応答がありました（{sw:04X}）"),
            CardError::Malformed(_) => "カードの情報を正しく読み取れませんでした".to_string(),
            CardError::InvalidPinFormat => "暗証番号は数字4桁で入力してください".to_string(),
            CardError::Transport(_) => "カードリーダーでエラーが発生しました。カードを置き直してください".to_string(),
        }
    }
}

impl From<TransportError> for CardError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::CardRemoved => CardError::Removed,
            TransportError::NoReader => CardError::NoReader,
            TransportError::Timeout => CardError::Timeout,
            TransportError::MalformedResponse(_) => CardError::Malformed("response shorter than the status word"),
            TransportError::Other(s) => CardError::Transport(s),
        }
    }
}

/// The 券面事項入力補助用暗証番号: exactly four ASCII digits. No `Display`; `Debug` prints `****`; the buffer is zeroed
/// on drop. Never log or store it.
pub struct Pin {
    digits: [u8; 4],
}

impl Pin {
    /// Parses exactly four ASCII digits.
    pub fn parse(text: &str) -> Result<Pin, CardError> {
        let bytes = text.as_bytes();
        match bytes {
            [a, b, c, d] if bytes.iter().all(u8::is_ascii_digit) => Ok(Pin { digits: [*a, *b, *c, *d] }),
            _ => Err(CardError::InvalidPinFormat),
        }
    }

    /// A PIN of "0000" for simulated cards that never check one.
    pub(crate) fn placeholder() -> Pin {
        Pin { digits: *b"0000" }
    }

    /// The ASCII digits, for the VERIFY command only.
    pub(crate) fn digits(&self) -> &[u8; 4] {
        &self.digits
    }

    /// Compares without an early exit.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        if candidate.len() != self.digits.len() {
            return false;
        }
        self.digits.iter().zip(candidate).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl FromStr for Pin {
    type Err = CardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pin::parse(s)
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        wipe(&mut self.digits);
    }
}

/// 性別 as coded on the card (ISO 5218).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sex {
    /// "1": 男性.
    Male,
    /// "2": 女性.
    Female,
    /// "9": 適用不能 (not applicable).
    NotApplicable,
}

impl Sex {
    /// Parses the card's code ("1", "2", "9").
    pub fn from_code(code: &str) -> Option<Sex> {
        match code {
            "1" => Some(Sex::Male),
            "2" => Some(Sex::Female),
            "9" => Some(Sex::NotApplicable),
            _ => None,
        }
    }

    /// The card's code.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::NotApplicable => "9",
        }
    }
}

/// The 基本4情報 and 個人番号 read from the card. Personal data: `Debug` masks the 個人番号 and the address.
#[derive(Clone, PartialEq, Eq)]
pub struct CardAttributes {
    /// 氏名 (UTF-8 as stored on the card).
    pub name: String,
    /// 住所.
    pub address: String,
    /// 生年月日 exactly as stored (format on real cards unverified, for example "19800101").
    pub birth_date_raw: String,
    /// 性別.
    pub sex: Sex,
    /// 個人番号 (12 ASCII digits).
    pub individual_number: String,
}

impl fmt::Debug for CardAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardAttributes")
            .field("name", &self.name)
            .field("address", &"<masked>")
            .field("birth_date_raw", &self.birth_date_raw)
            .field("sex", &self.sex)
            .field("individual_number", &"************")
            .finish()
    }
}

/// One BER-TLV element borrowed from a buffer. `tag` holds the raw tag bytes big-endian (e.g. `0xDF22`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Raw tag bytes as a number.
    pub tag: u32,
    /// Whether the constructed bit (0x20 of the first tag byte) is set.
    pub constructed: bool,
    /// The value bytes.
    pub value: &'a [u8],
}

impl Tlv<'_> {
    /// Tag class bits (0x00 universal, 0x40 application, 0x80 context, 0xC0 private).
    pub fn class(&self) -> u8 {
        let first = self.tag.to_be_bytes().into_iter().find(|&b| b != 0).unwrap_or(0);
        first & 0xC0
    }

    /// Tag number without class and constructed bits.
    pub fn number(&self) -> u32 {
        let bytes = self.tag.to_be_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
        let first = bytes.get(start).copied().unwrap_or(0);
        if first & 0x1F != 0x1F {
            return u32::from(first & 0x1F);
        }
        bytes.get(start + 1..).unwrap_or_default().iter().fold(0u32, |acc, b| (acc << 7) | u32::from(b & 0x7F))
    }
}

/// Parses one TLV at the start of `input`; returns it and the remaining bytes. Supports multi-byte tags (up to 4
/// bytes) and definite lengths up to 3 length bytes; refuses indefinite lengths and values that overrun the input.
pub fn parse_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), CardError> {
    let (tag, constructed, value_len, header_len) = parse_tlv_header(input)?;
    let end = header_len.checked_add(value_len).ok_or(CardError::Malformed("TLV length overflow"))?;
    let value = input.get(header_len..end).ok_or(CardError::Malformed("TLV value truncated"))?;
    let rest = input.get(end..).unwrap_or_default();
    Ok((Tlv { tag, constructed, value }, rest))
}

/// Parses a TLV header: `(tag, constructed, value length, header length)`. The value need not be present yet.
pub fn parse_tlv_header(input: &[u8]) -> Result<(u32, bool, usize, usize), CardError> {
    let first = *input.first().ok_or(CardError::Malformed("empty TLV"))?;
    let constructed = first & 0x20 != 0;
    let mut tag = u32::from(first);
    let mut pos = 1usize;
    if first & 0x1F == 0x1F {
        loop {
            let b = *input.get(pos).ok_or(CardError::Malformed("TLV tag truncated"))?;
            pos += 1;
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
            if pos >= 4 {
                return Err(CardError::Malformed("TLV tag too long"));
            }
        }
    }
    let len_byte = *input.get(pos).ok_or(CardError::Malformed("TLV length missing"))?;
    pos += 1;
    let value_len = match len_byte {
        0x00..=0x7F => usize::from(len_byte),
        0x81..=0x83 => {
            let count = usize::from(len_byte & 0x7F);
            let bytes = input.get(pos..pos + count).ok_or(CardError::Malformed("TLV length truncated"))?;
            pos += count;
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
        _ => return Err(CardError::Malformed("unsupported TLV length form")),
    };
    Ok((tag, constructed, value_len, pos))
}

/// Parses a sequence of TLVs that fills `input` completely.
pub fn parse_tlv_sequence(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, CardError> {
    let mut items = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = parse_tlv(input)?;
        items.push(tlv);
        input = rest;
    }
    Ok(items)
}

/// Whether `digits` is 12 ASCII digits whose last is the 個人番号 check digit (行政手続における特定の個人を識別するための
/// 番号の利用等に関する法律施行令 8条: weights 2–7 then 2–6 from the right, modulus 11).
pub fn is_valid_individual_number(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let Some((&check, body)) = bytes.split_last() else { return false };
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let n = u32::try_from(i).unwrap_or(0) + 1;
            let weight = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(b - b'0') * weight
        })
        .sum();
    let remainder = sum % 11;
    let expected = if remainder <= 1 { 0 } else { 11 - remainder };
    u32::from(check - b'0') == expected
}

fn utf8_field(value: &[u8], what: &'static str) -> Result<String, CardError> {
    std::str::from_utf8(value).map(str::to_string).map_err(|_| CardError::Malformed(what))
}

/// Parses the content of EF 0002 (outer constructed TLV holding DF21–DF25).
pub fn parse_basic_four(file: &[u8]) -> Result<(String, String, String, Sex), CardError> {
    let (outer, _) = parse_tlv(file)?;
    if !outer.constructed {
        return Err(CardError::Malformed("EF 0002 is not a constructed TLV"));
    }
    let items = parse_tlv_sequence(outer.value)?;
    let find = |tag: u32| items.iter().find(|t| t.tag == tag).map(|t| t.value);
    let name = utf8_field(find(TAG_NAME).ok_or(CardError::Malformed("name missing"))?, "name is not UTF-8")?;
    let address =
        utf8_field(find(TAG_ADDRESS).ok_or(CardError::Malformed("address missing"))?, "address is not UTF-8")?;
    let birth =
        utf8_field(find(TAG_BIRTH_DATE).ok_or(CardError::Malformed("birth date missing"))?, "birth date is not UTF-8")?;
    let sex_code = utf8_field(find(TAG_SEX).ok_or(CardError::Malformed("sex missing"))?, "sex is not UTF-8")?;
    let sex = Sex::from_code(&sex_code).ok_or(CardError::Malformed("unknown sex code"))?;
    Ok((name, address, birth, sex))
}

/// Parses the content of EF 0001: one TLV of private class, number 16, holding 12 ASCII digits with a valid check
/// digit. Bytes after the TLV (padding) are ignored.
pub fn parse_my_number(file: &[u8]) -> Result<String, CardError> {
    let (tlv, _) = parse_tlv(file)?;
    if tlv.class() != 0xC0 || tlv.number() != 16 {
        return Err(CardError::Malformed("unexpected EF 0001 tag"));
    }
    let text = utf8_field(tlv.value, "individual number is not ASCII")?;
    if !is_valid_individual_number(&text) {
        return Err(CardError::Malformed("individual number invalid"));
    }
    Ok(text)
}

/// What VERIFY without data said.
enum PinStatus {
    /// `63 Cx`.
    TriesLeft(u8),
    /// `90 00`: already verified in this card session; the counter is not reported.
    AlreadyVerified,
}

/// Reads a マイナンバーカード's 券面事項入力補助AP through any [`ApduTransport`]. Holds no card state between calls.
pub struct MyNumberReader<T: ApduTransport> {
    transport: T,
}

impl<T: ApduTransport> MyNumberReader<T> {
    /// A reader over `transport`.
    pub fn new(transport: T) -> Self {
        MyNumberReader { transport }
    }

    /// The transport (for tests and diagnostics).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    fn send(&mut self, command: &CommandApdu) -> Result<ResponseApdu, CardError> {
        Ok(exchange(&mut self.transport, command)?)
    }

    fn select_ap(&mut self) -> Result<(), CardError> {
        let select = CommandApdu::select_df(&AID_KENHOJO).ok_or(CardError::Malformed("AID"))?;
        let response = self.send(&select)?;
        match response.sw() {
            0x9000 => Ok(()),
            0x6A82 => {
                // The 券面事項入力補助AP is missing. A 住基カード carries the JPKI AP but not this one (assumption:
                // the 住基AP's AID could not be found in public sources, so JPKI presence is the signal).
                let jpki = CommandApdu::select_df(&AID_JPKI).ok_or(CardError::Malformed("AID"))?;
                let probe = self.send(&jpki)?;
                if probe.is_success() { Err(CardError::JukiCard) } else { Err(CardError::NotMyNumberCard) }
            }
            0x6A86 | 0x6D00 | 0x6E00 => Err(CardError::NotMyNumberCard),
            sw => Err(CardError::Unexpected { sw }),
        }
    }

    fn select_ef(&mut self, fid: [u8; 2]) -> Result<(), CardError> {
        let response = self.send(&CommandApdu::select_ef(fid))?;
        match response.sw() {
            0x9000 => Ok(()),
            sw => Err(CardError::Unexpected { sw }),
        }
    }

    fn pin_status(&mut self) -> Result<PinStatus, CardError> {
        self.select_ap()?;
        self.select_ef(EF_KENHOJO_PIN)?;
        let response = self.send(&CommandApdu::verify_status())?;
        match (response.sw1, response.sw2) {
            (0x63, sw2) if sw2 & 0xF0 == 0xC0 => Ok(PinStatus::TriesLeft(sw2 & 0x0F)),
            (0x69, 0x83) | (0x69, 0x84) => Ok(PinStatus::TriesLeft(0)),
            (0x90, 0x00) => Ok(PinStatus::AlreadyVerified),
            _ => Err(CardError::Unexpected { sw: response.sw() }),
        }
    }

    /// The PIN's remaining tries, read with VERIFY without data: never spends a try.
    pub fn pin_tries_left(&mut self) -> Result<u8, CardError> {
        match self.pin_status()? {
            PinStatus::TriesLeft(n) => Ok(n),
            PinStatus::AlreadyVerified => Err(CardError::Unexpected { sw: 0x9000 }),
        }
    }

    /// Verifies `pin` once and reads the attributes. Sends VERIFY with data at most once and never retries; refuses
    /// to send it when the counter is already 0 ([`CardError::Locked`]).
    pub fn read_with_pin(&mut self, pin: &Pin) -> Result<CardAttributes, CardError> {
        if let PinStatus::TriesLeft(0) = self.pin_status()? {
            return Err(CardError::Locked);
        }
        let response = self.send(&CommandApdu::verify(pin))?;
        match (response.sw1, response.sw2) {
            (0x90, 0x00) => {}
            (0x63, 0xC0) | (0x69, 0x83) | (0x69, 0x84) => return Err(CardError::Locked),
            (0x63, sw2) if sw2 & 0xF0 == 0xC0 => return Err(CardError::WrongPin { tries_left: sw2 & 0x0F }),
            _ => return Err(CardError::Unexpected { sw: response.sw() }),
        }
        self.select_ef(EF_BASIC_FOUR)?;
        let file = self.read_basic_four_file()?;
        let (name, address, birth_date_raw, sex) = parse_basic_four(&file)?;
        self.select_ef(EF_MY_NUMBER)?;
        let number_file = self.read_binary(0, MY_NUMBER_READ_LEN)?;
        let individual_number = parse_my_number(&number_file)?;
        Ok(CardAttributes { name, address, birth_date_raw, sex, individual_number })
    }

    fn read_binary(&mut self, offset: u16, len: u16) -> Result<Vec<u8>, CardError> {
        let command = CommandApdu::read_binary(offset, len).ok_or(CardError::Malformed("read beyond file limit"))?;
        let response = self.send(&command)?;
        match response.sw() {
            0x9000 => Ok(response.data),
            0x6982 => Err(CardError::AccessDenied),
            sw => Err(CardError::Unexpected { sw }),
        }
    }

    /// Reads 7 bytes, learns the total length from the TLV header, then reads the rest in chunks of at most 255.
    fn read_basic_four_file(&mut self) -> Result<Vec<u8>, CardError> {
        let mut file = self.read_binary(0, BASIC_FOUR_HEAD_LEN)?;
        let (_, _, value_len, header_len) = parse_tlv_header(&file)?;
        let total = header_len.checked_add(value_len).ok_or(CardError::Malformed("EF 0002 length"))?;
        if total > MAX_BASIC_FOUR_LEN {
            return Err(CardError::Malformed("EF 0002 too large"));
        }
        file.truncate(total);
        while file.len() < total {
            let chunk = (total - file.len()).min(READ_CHUNK);
            let offset = u16::try_from(file.len()).map_err(|_| CardError::Malformed("EF 0002 offset"))?;
            let len = u16::try_from(chunk).map_err(|_| CardError::Malformed("EF 0002 chunk"))?;
            let data = self.read_binary(offset, len)?;
            if data.is_empty() || data.len() > chunk {
                return Err(CardError::Malformed("EF 0002 read returned a wrong length"));
            }
            file.extend_from_slice(&data);
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pin_parsing() {
        assert!(Pin::parse("0000").is_ok());
        assert!("1234".parse::<Pin>().is_ok());
        for bad in ["", "123", "12345", "12a4", "１２３４", " 1234", "12 4"] {
            assert_eq!(Pin::parse(bad).err(), Some(CardError::InvalidPinFormat), "{bad:?}");
        }
    }

    #[test]
    fn pin_debug_is_masked() {
        let pin = Pin::parse("1234").expect("valid");
        assert_eq!(format!("{pin:?}"), "****");
        assert!(pin.matches(b"1234"));
        assert!(!pin.matches(b"1235"));
        assert!(!pin.matches(b"123"));
    }

    #[test]
    fn check_digit() {
        assert!(is_valid_individual_number("123456789018"));
        assert!(!is_valid_individual_number("123456789017"));
        assert!(!is_valid_individual_number("12345678901"));
        assert!(!is_valid_individual_number("12345678901a"));
        assert!(is_valid_individual_number("000000000000"));
    }

    #[test]
    fn tlv_header_forms() {
        assert_eq!(parse_tlv_header(&[0xDF, 0x22, 0x05]).expect("ok"), (0xDF22, false, 5, 3));
        assert_eq!(parse_tlv_header(&[0xFF, 0x20, 0x81, 0x90]).expect("ok"), (0xFF20, true, 0x90, 4));
        assert_eq!(parse_tlv_header(&[0xFF, 0x20, 0x82, 0x01, 0x00]).expect("ok"), (0xFF20, true, 256, 5));
        assert!(parse_tlv_header(&[0x30, 0x80]).is_err());
        assert!(parse_tlv_header(&[0x30, 0x84, 0, 0, 0, 1]).is_err());
        assert!(parse_tlv_header(&[0x1F, 0x81, 0x81, 0x81, 0x01, 0x00]).is_err());
        assert!(parse_tlv_header(&[]).is_err());
        assert!(parse_tlv_header(&[0xDF]).is_err());
        assert!(parse_tlv(&[0x04, 0x03, 0x01]).is_err());
    }

    #[test]
    fn tlv_class_and_number() {
        let (t, _) = parse_tlv(&[0xFF, 0x10, 0x00]).expect("ok");
        assert_eq!((t.class(), t.number(), t.constructed), (0xC0, 16, true));
        let (t, _) = parse_tlv(&[0xD0, 0x00]).expect("ok");
        assert_eq!((t.class(), t.number(), t.constructed), (0xC0, 16, false));
        let (t, _) = parse_tlv(&[0xDF, 0x22, 0x00]).expect("ok");
        assert_eq!((t.class(), t.number()), (0xC0, 0x22));
    }

    #[test]
    fn my_number_accepts_both_tag_forms_and_padding() {
        let mut a = vec![0xFF, 0x10, 0x0C];
        a.extend_from_slice(b"123456789018");
        a.extend_from_slice(&[0xFF, 0xFF]);
        assert_eq!(parse_my_number(&a).expect("ok"), "123456789018");
        let mut b = vec![0xD0, 0x0C];
        b.extend_from_slice(b"123456789018");
        assert_eq!(parse_my_number(&b).expect("ok"), "123456789018");
        let mut c = vec![0xD1, 0x0C];
        c.extend_from_slice(b"123456789018");
        assert!(parse_my_number(&c).is_err());
    }

    #[test]
    fn attributes_debug_masks_number_and_address() {
        let attrs = CardAttributes {
            name: "山田 太郎".into(),
            address: "東京都千代田区1-1".into(),
            birth_date_raw: "19800101".into(),
            sex: Sex::Male,
            individual_number: "123456789018".into(),
        };
        let text = format!("{attrs:?}");
        assert!(!text.contains("123456789018"));
        assert!(!text.contains("千代田"));
        assert!(text.contains("山田"));
    }

    #[test]
    fn sex_codes() {
        for s in [Sex::Male, Sex::Female, Sex::NotApplicable] {
            assert_eq!(Sex::from_code(s.code()), Some(s));
        }
        assert_eq!(Sex::from_code("0"), None);
    }

    #[test]
    fn error_messages() {
        assert_eq!(CardError::JukiCard.message_ja(), "住基カードは使用できません。マイナンバーカードをお使いください");
        assert!(CardError::WrongPin { tries_left: 2 }.message_ja().contains("あと2回"));
        assert_eq!(CardError::Unexpected { sw: 0x6F00 }.to_string(), "unexpected status word 6F00");
        assert_eq!(CardError::from(TransportError::CardRemoved), CardError::Removed);
    }

    proptest! {
        #[test]
        fn tlv_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_tlv(&bytes);
            let _ = parse_tlv_sequence(&bytes);
            let _ = parse_basic_four(&bytes);
            let _ = parse_my_number(&bytes);
            if let Ok((tlv, rest)) = parse_tlv(&bytes) {
                prop_assert!(tlv.value.len() + rest.len() <= bytes.len());
                let _ = (tlv.class(), tlv.number());
            }
        }

        #[test]
        fn exactly_one_check_digit_fits(body in "[0-9]{11}") {
            let fits = (0..10u8).filter(|d| is_valid_individual_number(&format!("{body}{d}"))).count();
            prop_assert_eq!(fits, 1);
        }
    }
}
