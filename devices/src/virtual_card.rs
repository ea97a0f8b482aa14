//! An in-process マイナンバーカード that answers the 券面事項入力補助AP APDUs with real TLV bytes, so the reader's PIN
//! policy and parsing are tested without hardware. It keeps a retry counter, logs every APDU it sees (never the PIN
//! bytes) and injects faults: removal after n APDUs, a locked PIN, or a 住基カード that lacks the AP.

use crate::apdu::{
    AID_JPKI, AID_KENHOJO, ApduTransport, EF_BASIC_FOUR, EF_KENHOJO_PIN, EF_MY_NUMBER, INS_READ_BINARY, INS_SELECT,
    INS_VERIFY, TransportError,
};
use crate::mynumber::{
    CardAttributes, CardError, Pin, Sex, TAG_ADDRESS, TAG_BASIC_FOUR, TAG_BIRTH_DATE, TAG_HEADER, TAG_MY_NUMBER,
    TAG_NAME, TAG_SEX,
};

/// Retry counter of the 券面事項入力補助用暗証番号 after a correct entry.
pub const MAX_PIN_TRIES: u8 = 3;

/// Encodes a BER length (short form, or 0x81–0x83 long form).
pub fn encode_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![u8::try_from(len).unwrap_or(0)]
    } else {
        let bytes = len.to_be_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
        let significant = bytes.get(start..).unwrap_or_default();
        let mut out = vec![0x80 | u8::try_from(significant.len()).unwrap_or(0)];
        out.extend_from_slice(significant);
        out
    }
}

/// Encodes one TLV; `tag` holds the raw tag bytes big-endian (leading zero bytes dropped, e.g. `0xDF22`).
pub fn encode_tlv(tag: u32, value: &[u8]) -> Vec<u8> {
    let tag_bytes = tag.to_be_bytes();
    let start = tag_bytes.iter().position(|&b| b != 0).unwrap_or(3);
    let mut out = tag_bytes.get(start..).unwrap_or_default().to_vec();
    out.extend(encode_length(value.len()));
    out.extend_from_slice(value);
    out
}

/// One APDU as the virtual card saw it. The data bytes are never kept (VERIFY carries the PIN), only their count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApduLogEntry {
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Number of command data bytes (Lc).
    pub data_len: usize,
}

impl ApduLogEntry {
    /// Whether this was a VERIFY carrying a PIN (the kind that spends a try).
    pub fn is_verify_with_data(&self) -> bool {
        self.ins == INS_VERIFY && self.data_len > 0
    }
}

/// Which card the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MyNumber,
    /// 住基カード: has the JPKI AP (modelled as the same AID; unverified) and no 券面事項入力補助AP.
    Juki,
}

/// The selected DF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Df {
    None,
    Kenhojo,
    Jpki,
}

/// A virtual マイナンバーカード implementing [`ApduTransport`].
pub struct VirtualMyNumberCard {
    kind: Kind,
    pin: Pin,
    tries_left: u8,
    verified: bool,
    df: Df,
    ef: Option<[u8; 2]>,
    ef_basic_four: Vec<u8>,
    ef_my_number: Vec<u8>,
    log: Vec<ApduLogEntry>,
    remove_after: Option<usize>,
    removed: bool,
}

impl VirtualMyNumberCard {
    /// A card holding `attributes`, with `pin` (4 digits) and a full retry counter.
    pub fn new(attributes: &CardAttributes, pin: &str) -> Result<VirtualMyNumberCard, CardError> {
        let pin = Pin::parse(pin)?;
        Ok(VirtualMyNumberCard {
            kind: Kind::MyNumber,
            pin,
            tries_left: MAX_PIN_TRIES,
            verified: false,
            df: Df::None,
            ef: None,
            ef_basic_four: build_basic_four(attributes),
            ef_my_number: build_my_number(&attributes.individual_number),
            log: Vec::new(),
            remove_after: None,
            removed: false,
        })
    }

    /// A 住基カード: the 券面事項入力補助AP select fails with `6A 82`, the JPKI AP select succeeds.
    pub fn juki_card() -> VirtualMyNumberCard {
        VirtualMyNumberCard {
            kind: Kind::Juki,
            pin: Pin::placeholder(),
            tries_left: MAX_PIN_TRIES,
            verified: false,
            df: Df::None,
            ef: None,
            ef_basic_four: Vec::new(),
            ef_my_number: Vec::new(),
            log: Vec::new(),
            remove_after: None,
            removed: false,
        }
    }

    /// The card is pulled out after answering `n` more APDUs; later ones fail with `CardRemoved`.
    pub fn remove_after(&mut self, n: usize) {
        self.remove_after = Some(self.log.len() + n);
    }

    /// Puts the card back (clears removal; the verified state was lost with the removal).
    pub fn reinsert(&mut self) {
        self.remove_after = None;
        self.removed = false;
    }

    /// Sets the retry counter to 0 (PIN blocked).
    pub fn set_locked(&mut self) {
        self.tries_left = 0;
        self.verified = false;
    }

    /// Remaining PIN tries.
    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Every APDU received, in order.
    pub fn log(&self) -> &[ApduLogEntry] {
        &self.log
    }

    /// Clears the APDU log.
    pub fn clear_log(&mut self) {
        self.log.clear();
        if self.remove_after.is_some() {
            self.remove_after = Some(0);
        }
    }

    /// Number of VERIFY commands that carried a PIN.
    pub fn verify_with_data_count(&self) -> usize {
        self.log.iter().filter(|e| e.is_verify_with_data()).count()
    }

    fn answer(&mut self, command: &[u8]) -> Vec<u8> {
        let (Some(&ins), Some(&p1), Some(&p2)) = (command.get(1), command.get(2), command.get(3)) else {
            return sw(0x6700);
        };
        let body = command.get(4..).unwrap_or_default();
        // Case 3 (Lc + data) when the first body byte announces exactly the rest; case 2 (Le) for one byte.
        let (data, le): (&[u8], Option<usize>) = match body {
            [] => (&[], None),
            [le] => (&[], Some(if *le == 0 { 256 } else { usize::from(*le) })),
            [lc, rest @ ..] if usize::from(*lc) == rest.len() => (rest, None),
            _ => return sw(0x6700),
        };
        self.log.push(ApduLogEntry { ins, p1, p2, data_len: data.len() });
        match ins {
            INS_SELECT => self.select(p1, data),
            INS_VERIFY => self.verify(p2, data),
            INS_READ_BINARY => self.read_binary(p1, p2, le.unwrap_or(256)),
            _ => sw(0x6D00),
        }
    }

    fn select(&mut self, p1: u8, data: &[u8]) -> Vec<u8> {
        match p1 {
            0x04 => {
                self.ef = None;
                let target = if data == AID_KENHOJO.as_slice() && self.kind == Kind::MyNumber {
                    Df::Kenhojo
                } else if data == AID_JPKI.as_slice() {
                    Df::Jpki
                } else {
                    return sw(0x6A82);
                };
                if target != self.df {
                    self.verified = false;
                }
                self.df = target;
                sw(0x9000)
            }
            0x02 => {
                let fid = match data {
                    [a, b] => [*a, *b],
                    _ => return sw(0x6700),
                };
                if self.df == Df::Kenhojo && [EF_KENHOJO_PIN, EF_MY_NUMBER, EF_BASIC_FOUR].contains(&fid) {
                    self.ef = Some(fid);
                    sw(0x9000)
                } else {
                    sw(0x6A82)
                }
            }
            _ => sw(0x6A86),
        }
    }

    fn verify(&mut self, p2: u8, data: &[u8]) -> Vec<u8> {
        if p2 != 0x80 || self.ef != Some(EF_KENHOJO_PIN) {
            return sw(0x6986);
        }
        if self.tries_left == 0 {
            return sw(0x6983);
        }
        if data.is_empty() {
            return sw(0x63C0 | u16::from(self.tries_left));
        }
        if self.pin.matches(data) {
            self.tries_left = MAX_PIN_TRIES;
            self.verified = true;
            sw(0x9000)
        } else {
            self.tries_left = self.tries_left.saturating_sub(1);
            self.verified = false;
            sw(0x63C0 | u16::from(self.tries_left))
        }
    }

    fn read_binary(&self, p1: u8, p2: u8, le: usize) -> Vec<u8> {
        if p1 & 0x80 != 0 {
            return sw(0x6A81);
        }
        let file = match self.ef {
            Some(EF_BASIC_FOUR) => &self.ef_basic_four,
            Some(EF_MY_NUMBER) => &self.ef_my_number,
            Some(_) => return sw(0x6981),
            None => return sw(0x6986),
        };
        if !self.verified {
            return sw(0x6982);
        }
        let offset = usize::from(u16::from_be_bytes([p1, p2]));
        if offset >= file.len() {
            return sw(0x6B00);
        }
        let end = offset.saturating_add(le).min(file.len());
        let mut out = file.get(offset..end).unwrap_or_default().to_vec();
        out.extend_from_slice(&[0x90, 0x00]);
        out
    }
}

fn sw(word: u16) -> Vec<u8> {
    word.to_be_bytes().to_vec()
}

impl ApduTransport for VirtualMyNumberCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(TransportError::CardRemoved);
        }
        if let Some(limit) = self.remove_after
            && self.log.len() >= limit
        {
            self.removed = true;
            self.verified = false;
            self.df = Df::None;
            self.ef = None;
            return Err(TransportError::CardRemoved);
        }
        Ok(self.answer(command))
    }
}

/// EF 0002 content: `FF 20` template with DF21 (offsets of the four fields, 2 bytes each, relative to the template
/// value; layout unverified against a real card), DF22 name, DF23 address, DF24 birth date, DF25 sex.
fn build_basic_four(attributes: &CardAttributes) -> Vec<u8> {
    let fields = [
        encode_tlv(TAG_NAME, attributes.name.as_bytes()),
        encode_tlv(TAG_ADDRESS, attributes.address.as_bytes()),
        encode_tlv(TAG_BIRTH_DATE, attributes.birth_date_raw.as_bytes()),
        encode_tlv(
            TAG_SEX,
            match attributes.sex {
                Sex::Male => b"1",
                Sex::Female => b"2",
                Sex::NotApplicable => b"9",
            },
        ),
    ];
    let header_len = 3 + 8;
    let mut offsets = Vec::with_capacity(8);
    let mut position = header_len;
    for field in &fields {
        offsets.extend_from_slice(&u16::try_from(position).unwrap_or(u16::MAX).to_be_bytes());
        position += field.len();
    }
    let mut content = encode_tlv(TAG_HEADER, &offsets);
    for field in fields {
        content.extend(field);
    }
    encode_tlv(TAG_BASIC_FOUR, &content)
}

/// EF 0001 content: `FF 10 0C` + 12 digits, padded with `FF` to the 17 bytes the reader asks for.
fn build_my_number(number: &str) -> Vec<u8> {
    let mut file = encode_tlv(TAG_MY_NUMBER, number.as_bytes());
    while file.len() < 17 {
        file.push(0xFF);
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mynumber::{MyNumberReader, parse_basic_four, parse_my_number};
    use proptest::prelude::*;

    fn attributes() -> CardAttributes {
        CardAttributes {
            name: "渡邊 𠮷子".into(),
            address: "東京都千代田区霞が関二丁目1番2号 コーポ髙﨑101".into(),
            birth_date_raw: "19850415".into(),
            sex: Sex::Female,
            individual_number: "123456789018".into(),
        }
    }

    fn card() -> VirtualMyNumberCard {
        VirtualMyNumberCard::new(&attributes(), "4321").expect("valid PIN")
    }

    fn pin(text: &str) -> Pin {
        Pin::parse(text).expect("valid PIN")
    }

    #[test]
    fn tlv_encoding() {
        assert_eq!(encode_tlv(0xDF22, b"ab"), vec![0xDF, 0x22, 0x02, b'a', b'b']);
        assert_eq!(encode_length(0x7F), vec![0x7F]);
        assert_eq!(encode_length(0x80), vec![0x81, 0x80]);
        assert_eq!(encode_length(0x1234), vec![0x82, 0x12, 0x34]);
        assert_eq!(encode_tlv(0x04, &[]), vec![0x04, 0x00]);
    }

    #[test]
    fn files_parse_back() {
        let c = card();
        assert_eq!(c.ef_my_number.len(), 17);
        assert_eq!(parse_my_number(&c.ef_my_number).expect("ok"), "123456789018");
        let (name, address, birth, sex) = parse_basic_four(&c.ef_basic_four).expect("ok");
        assert_eq!(
            (name.as_str(), address.as_str(), birth.as_str(), sex),
            ("渡邊 𠮷子", "東京都千代田区霞が関二丁目1番2号 コーポ髙﨑101", "19850415", Sex::Female)
        );
    }

    #[test]
    fn correct_pin_reads_the_attributes() {
        let mut reader = MyNumberReader::new(card());
        assert_eq!(reader.pin_tries_left().expect("ok"), 3);
        let attrs = reader.read_with_pin(&pin("4321")).expect("reads");
        assert_eq!(attrs, attributes());
        let card = reader.into_inner();
        assert_eq!(card.verify_with_data_count(), 1);
        assert_eq!(card.tries_left(), 3);
        // The address is long enough to need a second READ BINARY after the 7-byte head.
        let reads: Vec<_> = card.log().iter().filter(|e| e.ins == INS_READ_BINARY).collect();
        assert!(reads.len() >= 3, "{reads:?}");
        assert!(card.log().iter().all(|e| e.ins != INS_VERIFY || e.data_len == 0 || e.data_len == 4));
    }

    #[test]
    fn pin_tries_left_spends_nothing() {
        let mut reader = MyNumberReader::new(card());
        for _ in 0..5 {
            assert_eq!(reader.pin_tries_left().expect("ok"), 3);
        }
        assert_eq!(reader.transport().verify_with_data_count(), 0);
    }

    #[test]
    fn wrong_pin_reports_two_left_after_one_verify() {
        let mut reader = MyNumberReader::new(card());
        assert_eq!(reader.read_with_pin(&pin("0000")), Err(CardError::WrongPin { tries_left: 2 }));
        assert_eq!(reader.transport().verify_with_data_count(), 1);
        assert_eq!(reader.pin_tries_left().expect("ok"), 2);
        assert_eq!(reader.transport().verify_with_data_count(), 1);
    }

    #[test]
    fn success_resets_the_counter() {
        let mut reader = MyNumberReader::new(card());
        assert!(reader.read_with_pin(&pin("0000")).is_err());
        assert!(reader.read_with_pin(&pin("4321")).is_ok());
        assert_eq!(reader.pin_tries_left().expect("ok"), 3);
    }

    #[test]
    fn three_wrong_locks_and_fourth_sends_no_verify() {
        let mut reader = MyNumberReader::new(card());
        assert_eq!(reader.read_with_pin(&pin("0000")), Err(CardError::WrongPin { tries_left: 2 }));
        assert_eq!(reader.read_with_pin(&pin("0001")), Err(CardError::WrongPin { tries_left: 1 }));
        // 63 C0 on the third: just locked.
        assert_eq!(reader.read_with_pin(&pin("0002")), Err(CardError::Locked));
        assert_eq!(reader.transport().verify_with_data_count(), 3);
        reader.transport_mut().clear_log();
        assert_eq!(reader.read_with_pin(&pin("4321")), Err(CardError::Locked));
        assert_eq!(reader.transport().verify_with_data_count(), 0);
        assert_eq!(reader.pin_tries_left().expect("ok"), 0);
    }

    #[test]
    fn locked_card_gets_no_verify() {
        let mut c = card();
        c.set_locked();
        let mut reader = MyNumberReader::new(c);
        assert_eq!(reader.read_with_pin(&pin("4321")), Err(CardError::Locked));
        assert_eq!(reader.transport().verify_with_data_count(), 0);
        assert_eq!(reader.transport().tries_left(), 0);
    }

    #[test]
    fn removal_mid_read_is_reported() {
        // SELECT AP, SELECT EF, VERIFY status, VERIFY, SELECT EF 0002, READ 7 bytes, then removed.
        for n in [0, 3, 6, 8] {
            let mut c = card();
            c.remove_after(n);
            let mut reader = MyNumberReader::new(c);
            assert_eq!(reader.read_with_pin(&pin("4321")), Err(CardError::Removed), "after {n}");
            assert_eq!(reader.transport().log().len(), n);
        }
    }

    #[test]
    fn reinserted_card_needs_the_pin_again() {
        let mut c = card();
        c.remove_after(7);
        let mut reader = MyNumberReader::new(c);
        assert_eq!(reader.read_with_pin(&pin("4321")), Err(CardError::Removed));
        reader.transport_mut().reinsert();
        assert!(reader.read_with_pin(&pin("4321")).is_ok());
    }

    #[test]
    fn juki_card_is_rejected() {
        let mut reader = MyNumberReader::new(VirtualMyNumberCard::juki_card());
        let err = reader.read_with_pin(&pin("1234")).expect_err("must fail");
        assert_eq!(err, CardError::JukiCard);
        assert_eq!(err.message_ja(), "住基カードは使用できません。マイナンバーカードをお使いください");
        assert_eq!(reader.pin_tries_left(), Err(CardError::JukiCard));
        assert_eq!(reader.transport().verify_with_data_count(), 0);
    }

    /// A card answering 6A 82 to everything: some other ISO card.
    struct ForeignCard;

    impl ApduTransport for ForeignCard {
        fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x6A, 0x82])
        }
    }

    #[test]
    fn foreign_card_is_not_a_my_number_card() {
        let mut reader = MyNumberReader::new(ForeignCard);
        assert_eq!(reader.read_with_pin(&pin("1234")), Err(CardError::NotMyNumberCard));
    }

    /// Replays fixed answers, for status words the virtual card never gives.
    struct Scripted(Vec<Vec<u8>>);

    impl ApduTransport for Scripted {
        fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransportError> {
            if self.0.is_empty() { Err(TransportError::Timeout) } else { Ok(self.0.remove(0)) }
        }
    }

    #[test]
    fn unknown_status_words_are_reported() {
        let ok = vec![0x90, 0x00];
        let mut reader =
            MyNumberReader::new(Scripted(vec![ok.clone(), ok.clone(), vec![0x63, 0xC3], vec![0x6F, 0x00]]));
        assert_eq!(reader.read_with_pin(&pin("1234")), Err(CardError::Unexpected { sw: 0x6F00 }));
        let mut reader = MyNumberReader::new(Scripted(vec![vec![0x6F, 0x01]]));
        assert_eq!(reader.pin_tries_left(), Err(CardError::Unexpected { sw: 0x6F01 }));
        let mut reader = MyNumberReader::new(Scripted(vec![ok.clone(), ok.clone(), vec![0x69, 0x83]]));
        assert_eq!(reader.read_with_pin(&pin("1234")), Err(CardError::Locked));
        let mut reader =
            MyNumberReader::new(Scripted(vec![ok.clone(), ok.clone(), vec![0x63, 0xC3], vec![0x69, 0x83]]));
        assert_eq!(reader.read_with_pin(&pin("1234")), Err(CardError::Locked));
        let mut reader = MyNumberReader::new(Scripted(vec![ok.clone(), ok.clone(), vec![0x63, 0xC3]]));
        assert_eq!(reader.read_with_pin(&pin("1234")), Err(CardError::Timeout));
        let mut reader = MyNumberReader::new(Scripted(vec![vec![0x90]]));
        assert!(matches!(reader.read_with_pin(&pin("1234")), Err(CardError::Malformed(_))));
    }

    #[test]
    fn hostile_file_lengths_are_refused() {
        let ok = vec![0x90, 0x00];
        // EF 0002 head announcing 64 KiB.
        let mut head = vec![0xFF, 0x20, 0x83, 0x01, 0x00, 0x00, 0x00];
        head.extend_from_slice(&ok);
        let script = vec![ok.clone(), ok.clone(), vec![0x63, 0xC3], ok.clone(), ok.clone(), head];
        let mut reader = MyNumberReader::new(Scripted(script));
        assert_eq!(reader.read_with_pin(&pin("1234")), Err(CardError::Malformed("EF 0002 too large")));
    }

    #[test]
    fn card_refuses_reads_before_verify() {
        let mut c = card();
        let answer = |c: &mut VirtualMyNumberCard, cmd: &[u8]| c.transmit(cmd).expect("present");
        assert_eq!(
            answer(&mut c, &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08]),
            vec![0x90, 0x00]
        );
        assert_eq!(answer(&mut c, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x02]), vec![0x90, 0x00]);
        assert_eq!(answer(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0x07]), vec![0x69, 0x82]);
        assert_eq!(answer(&mut c, &[0x00]), vec![0x67, 0x00]);
        assert_eq!(answer(&mut c, &[0x00, 0xCA, 0x00, 0x00]), vec![0x6D, 0x00]);
    }

    proptest! {
        #[test]
        fn virtual_card_never_panics(commands in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 0..32)) {
            let mut c = card();
            for cmd in &commands {
                let answer = c.transmit(cmd).expect("present");
                prop_assert!(answer.len() >= 2);
            }
        }

        #[test]
        fn any_attributes_round_trip(name in "\\PC{1,40}", address in "\\PC{1,120}", birth in "[0-9]{8}") {
            let attrs = CardAttributes { name, address, birth_date_raw: birth, sex: Sex::NotApplicable, individual_number: "123456789018".into() };
            let c = VirtualMyNumberCard::new(&attrs, "1111").expect("valid");
            let mut reader = MyNumberReader::new(c);
            prop_assert_eq!(reader.read_with_pin(&pin("1111")).expect("reads"), attrs);
        }
    }
}
