//! Decoder for 印鑑登録証 (seal registration card) magnetic-stripe readers on a serial line. Readers send
//! `STX data ETX BCC`; this module turns an untrusted byte stream into card events, resynchronising after garbage,
//! dropping stale partial frames and suppressing duplicate swipes. It does no I/O (see `serial` for the port).

use std::fmt;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Start of a frame.
pub const STX: u8 = 0x02;
/// End of a frame's data; the BCC byte follows.
pub const ETX: u8 = 0x03;

/// Track 2 start sentinel.
const TRACK2_START: u8 = b';';
/// Track 2 end sentinel.
const TRACK2_END: u8 = b'?';
/// Track 2 field separator.
const TRACK2_SEPARATOR: u8 = b'=';
/// Most data characters between the Track 2 sentinels (ISO 7813: 40 characters including `;`, `?` and LRC).
pub const TRACK2_MAX_DATA: usize = 37;
/// Most data characters on a JIS X 6302 type II stripe.
pub const JIS2_MAX_DATA: usize = 69;

/// Which stripe format the reader delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Track {
    /// ISO 7811/7813 Track 2: `;` digits (and `=` separators) `?`, at most 37 data characters.
    Track2,
    /// JIS X 6302 type II (JIS-II), the front stripe of Japanese cards: 1–69 7-bit printable characters. The reader
    /// is expected to strip the sentinels and LRC and send only the data characters (reader configuration).
    JisII,
}

/// Where the 登録番号 (registration number) sits in the stripe data.
///
/// `offset` counts data characters after the start sentinel (Track 2) or from the first character (JIS-II);
/// `length` ASCII digits are taken from there. Which layout a ward uses is local configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationNumberRule {
    /// Stripe format expected from the reader.
    pub track: Track,
    /// Index of the first digit of the number within the data characters.
    pub offset: usize,
    /// Number of digits in the number.
    pub length: usize,
}

impl Default for RegistrationNumberRule {
    fn default() -> Self {
        RegistrationNumberRule { track: Track::Track2, offset: 0, length: 8 }
    }
}

/// Configuration of [`MagCardDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagDecoderConfig {
    /// Largest accepted frame including STX, ETX and BCC (default 128).
    pub max_frame_len: usize,
    /// A partial frame whose last byte is older than this is dropped (default 300 ms).
    pub inter_byte_timeout: Duration,
    /// The same number read again within this window is reported as a duplicate (default 2 s).
    pub duplicate_window: Duration,
    /// How to extract the 登録番号.
    pub rule: RegistrationNumberRule,
}

impl Default for MagDecoderConfig {
    fn default() -> Self {
        MagDecoderConfig {
            max_frame_len: 128,
            inter_byte_timeout: Duration::from_millis(300),
            duplicate_window: Duration::from_secs(2),
            rule: RegistrationNumberRule::default(),
        }
    }
}

/// Why a frame was rejected. Never contains card data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MagError {
    /// The block check character does not match.
    #[error("bad block check character (expected {expected:#04x}, got {actual:#04x})")]
    BadBcc {
        /// BCC computed over the received bytes.
        expected: u8,
        /// BCC received.
        actual: u8,
    },
    /// Start or end sentinel missing or misplaced.
    #[error("bad start or end sentinel")]
    BadSentinel,
    /// A character not allowed by the track's character set.
    #[error("character {0:#04x} not allowed on this track")]
    InvalidCharacter(u8),
    /// A non-digit where the registration number needs digits.
    #[error("non-digit in the registration number")]
    NonDigit,
    /// The data is shorter than the configured number position.
    #[error("card data too short for the configured registration number position")]
    TooShort,
    /// The frame or its data is longer than allowed.
    #[error("frame too long")]
    TooLong,
    /// A partial frame was abandoned (inter-byte timeout or a new STX).
    #[error("frame truncated")]
    Truncated,
}

impl MagError {
    /// Message for the operator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            MagError::BadBcc { .. } | MagError::Truncated => {
                "カードを読み取れませんでした。もう一度カードを通してください".to_string()
            }
            MagError::BadSentinel | MagError::InvalidCharacter(_) | MagError::TooLong => {
                "カードの形式が正しくありません。印鑑登録証か確認してください".to_string()
            }
            MagError::NonDigit | MagError::TooShort => {
                "登録番号を読み取れませんでした。印鑑登録証か確認してください".to_string()
            }
        }
    }
}

/// What the decoder produced from the byte stream.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MagEvent {
    /// A valid 印鑑登録証 was read. The number is personal data: `Debug` masks all but its last two digits.
    Card {
        /// 登録番号, ASCII digits.
        registration_number: String,
    },
    /// A frame was rejected.
    Rejected(MagError),
    /// The same card was read again within the duplicate window and suppressed.
    Duplicate,
}

impl fmt::Debug for MagEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MagEvent::Card { registration_number } => {
                f.debug_struct("Card").field("registration_number", &mask_number(registration_number)).finish()
            }
            MagEvent::Rejected(err) => f.debug_tuple("Rejected").field(err).finish(),
            MagEvent::Duplicate => f.write_str("Duplicate"),
        }
    }
}

/// Replaces every character but the last two with `*`.
fn mask_number(number: &str) -> String {
    let count = number.chars().count();
    number.chars().enumerate().map(|(i, c)| if i + 2 >= count { c } else { '*' }).collect()
}

/// XOR of every byte after STX up to and including ETX.
fn bcc(data: &[u8]) -> u8 {
    data.iter().fold(ETX, |acc, b| acc ^ b)
}

/// Builds `STX data ETX BCC` (used by the simulator and tests).
pub fn encode_frame(data: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(data.len() + 3);
    frame.push(STX);
    frame.extend_from_slice(data);
    frame.push(ETX);
    frame.push(bcc(data));
    frame
}

/// Parser state.
#[derive(Debug)]
enum State {
    /// Waiting for STX; everything else is discarded.
    Idle,
    /// Collecting data bytes after STX.
    Data,
    /// ETX seen; the next byte is the BCC.
    Bcc,
}

/// Byte-stream state machine for 印鑑登録証 readers: feed it whatever the port delivers, in any chunking.
#[derive(Debug)]
pub struct MagCardDecoder {
    config: MagDecoderConfig,
    state: State,
    data: Vec<u8>,
    last_byte_at: Option<Instant>,
    last_card: Option<(String, Instant)>,
}

impl MagCardDecoder {
    /// A decoder with the given configuration.
    pub fn new(config: MagDecoderConfig) -> Self {
        MagCardDecoder { config, state: State::Idle, data: Vec::new(), last_byte_at: None, last_card: None }
    }

    /// The configuration in use.
    pub fn config(&self) -> &MagDecoderConfig {
        &self.config
    }

    /// Discards any partial frame silently (after a port re-open). The duplicate memory is kept.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.wipe_data();
        self.last_byte_at = None;
    }

    fn wipe_data(&mut self) {
        for b in self.data.iter_mut() {
            *b = 0;
        }
        self.data.clear();
    }

    fn in_frame(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Feeds bytes received at `now`; returns the events they complete. An empty slice only checks the timeout.
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Vec<MagEvent> {
        let mut events = Vec::new();
        if self.in_frame() {
            let stale = match self.last_byte_at {
                Some(at) => now.saturating_duration_since(at) > self.config.inter_byte_timeout,
                None => true,
            };
            if stale {
                self.reset();
                events.push(MagEvent::Rejected(MagError::Truncated));
            }
        }
        for &byte in bytes {
            self.push_byte(byte, now, &mut events);
        }
        if self.in_frame() && !bytes.is_empty() {
            self.last_byte_at = Some(now);
        }
        events
    }

    fn push_byte(&mut self, byte: u8, now: Instant, events: &mut Vec<MagEvent>) {
        match self.state {
            State::Idle => {
                if byte == STX {
                    self.wipe_data();
                    self.state = State::Data;
                }
            }
            State::Data => {
                if byte == ETX {
                    self.state = State::Bcc;
                } else if byte == STX {
                    // A new frame starts before the old one ended: the old one was cut off.
                    self.wipe_data();
                    events.push(MagEvent::Rejected(MagError::Truncated));
                } else if self.data.len() + 4 > self.config.max_frame_len {
                    // STX + data + this byte + ETX + BCC would exceed the maximum.
                    self.reset();
                    events.push(MagEvent::Rejected(MagError::TooLong));
                } else {
                    self.data.push(byte);
                }
            }
            State::Bcc => {
                let expected = bcc(&self.data);
                let event = if expected == byte {
                    match self.decode() {
                        Ok(number) => self.accept(number, now),
                        Err(err) => MagEvent::Rejected(err),
                    }
                } else {
                    MagEvent::Rejected(MagError::BadBcc { expected, actual: byte })
                };
                self.reset();
                events.push(event);
            }
        }
    }

    fn accept(&mut self, number: String, now: Instant) -> MagEvent {
        if let Some((last, at)) = &self.last_card
            && *last == number
            && now.saturating_duration_since(*at) < self.config.duplicate_window
        {
            return MagEvent::Duplicate;
        }
        self.last_card = Some((number.clone(), now));
        MagEvent::Card { registration_number: number }
    }

    /// Validates the frame data for the configured track and extracts the number.
    fn decode(&self) -> Result<String, MagError> {
        let rule = self.config.rule;
        let payload: &[u8] = match rule.track {
            Track::Track2 => {
                let inner = match (self.data.first(), self.data.last()) {
                    (Some(&TRACK2_START), Some(&TRACK2_END)) if self.data.len() >= 2 => {
                        self.data.get(1..self.data.len() - 1).ok_or(MagError::BadSentinel)?
                    }
                    _ => return Err(MagError::BadSentinel),
                };
                if inner.is_empty() {
                    return Err(MagError::TooShort);
                }
                if inner.len() > TRACK2_MAX_DATA {
                    return Err(MagError::TooLong);
                }
                if let Some(&bad) = inner.iter().find(|b| !(b.is_ascii_digit() || **b == TRACK2_SEPARATOR)) {
                    return Err(if bad == TRACK2_START || bad == TRACK2_END {
                        MagError::BadSentinel
                    } else {
                        MagError::InvalidCharacter(bad)
                    });
                }
                inner
            }
            Track::JisII => {
                let inner = self.data.as_slice();
                if inner.is_empty() {
                    return Err(MagError::TooShort);
                }
                if inner.len() > JIS2_MAX_DATA {
                    return Err(MagError::TooLong);
                }
                if let Some(&bad) = inner.iter().find(|b| !(0x20..=0x7e).contains(*b)) {
                    return Err(MagError::InvalidCharacter(bad));
                }
                inner
            }
        };
        let end = rule.offset.checked_add(rule.length).ok_or(MagError::TooShort)?;
        if rule.length == 0 {
            return Err(MagError::TooShort);
        }
        let digits = payload.get(rule.offset..end).ok_or(MagError::TooShort)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(MagError::NonDigit);
        }
        Ok(digits.iter().map(|&b| char::from(b)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decoder(track: Track, offset: usize, length: usize) -> MagCardDecoder {
        MagCardDecoder::new(MagDecoderConfig {
            rule: RegistrationNumberRule { track, offset, length },
            ..MagDecoderConfig::default()
        })
    }

    fn card(n: &str) -> MagEvent {
        MagEvent::Card { registration_number: n.to_string() }
    }

    #[test]
    fn encode_frame_computes_bcc_over_data_and_etx() {
        let frame = encode_frame(b";12?");
        assert_eq!(frame, vec![STX, b';', b'1', b'2', b'?', ETX, b';' ^ b'1' ^ b'2' ^ b'?' ^ ETX]);
    }

    #[test]
    fn track2_card_is_read() {
        let mut d = decoder(Track::Track2, 0, 8);
        let t = Instant::now();
        assert_eq!(d.push(&encode_frame(b";12345678=0001?"), t), vec![card("12345678")]);
    }

    #[test]
    fn offset_is_applied() {
        let mut d = decoder(Track::Track2, 3, 5);
        let t = Instant::now();
        assert_eq!(d.push(&encode_frame(b";99912345=1?"), t), vec![card("12345")]);
    }

    #[test]
    fn jis2_card_is_read() {
        let mut d = decoder(Track::JisII, 4, 6);
        let t = Instant::now();
        assert_eq!(d.push(&encode_frame(b"ABC 123456 KOGA"), t), vec![card("123456")]);
    }

    #[test]
    fn byte_by_byte_gives_the_same_result() {
        let mut d = decoder(Track::Track2, 0, 4);
        let t = Instant::now();
        let mut events = Vec::new();
        for b in encode_frame(b";4321?") {
            events.extend(d.push(&[b], t));
        }
        assert_eq!(events, vec![card("4321")]);
    }

    #[test]
    fn garbage_before_stx_is_discarded() {
        let mut d = decoder(Track::Track2, 0, 4);
        let mut bytes = b"\xff\x00garbage?;=".to_vec();
        bytes.extend(encode_frame(b";1111?"));
        assert_eq!(d.push(&bytes, Instant::now()), vec![card("1111")]);
    }

    #[test]
    fn bad_bcc_is_rejected_and_next_frame_reads() {
        let mut d = decoder(Track::Track2, 0, 4);
        let mut bad = encode_frame(b";1111?");
        if let Some(last) = bad.last_mut() {
            *last ^= 0x55;
        }
        let mut bytes = bad;
        bytes.extend(encode_frame(b";2222?"));
        let events = d.push(&bytes, Instant::now());
        assert_eq!(events.len(), 2);
        assert!(matches!(events.first(), Some(MagEvent::Rejected(MagError::BadBcc { .. }))));
        assert_eq!(events.get(1), Some(&card("2222")));
    }

    #[test]
    fn missing_sentinels_are_rejected() {
        let mut d = decoder(Track::Track2, 0, 4);
        let t = Instant::now();
        assert_eq!(d.push(&encode_frame(b"1234?"), t), vec![MagEvent::Rejected(MagError::BadSentinel)]);
        assert_eq!(d.push(&encode_frame(b";1234"), t), vec![MagEvent::Rejected(MagError::BadSentinel)]);
        assert_eq!(d.push(&encode_frame(b";12;34?"), t), vec![MagEvent::Rejected(MagError::BadSentinel)]);
    }

    #[test]
    fn letters_on_track2_are_rejected() {
        let mut d = decoder(Track::Track2, 0, 4);
        assert_eq!(
            d.push(&encode_frame(b";12A4?"), Instant::now()),
            vec![MagEvent::Rejected(MagError::InvalidCharacter(b'A'))]
        );
    }

    #[test]
    fn non_digit_in_number_is_rejected() {
        let mut d = decoder(Track::JisII, 0, 4);
        assert_eq!(d.push(&encode_frame(b"12X4"), Instant::now()), vec![MagEvent::Rejected(MagError::NonDigit)]);
        let mut d = decoder(Track::Track2, 0, 4);
        assert_eq!(d.push(&encode_frame(b";12=4?"), Instant::now()), vec![MagEvent::Rejected(MagError::NonDigit)]);
    }

    #[test]
    fn short_data_is_rejected() {
        let mut d = decoder(Track::Track2, 2, 8);
        assert_eq!(d.push(&encode_frame(b";1234?"), Instant::now()), vec![MagEvent::Rejected(MagError::TooShort)]);
    }

    #[test]
    fn jis2_control_characters_are_rejected() {
        let mut d = decoder(Track::JisII, 0, 2);
        assert_eq!(
            d.push(&encode_frame(b"12\x1b"), Instant::now()),
            vec![MagEvent::Rejected(MagError::InvalidCharacter(0x1b))]
        );
    }

    #[test]
    fn track2_longer_than_37_is_rejected() {
        let mut d = decoder(Track::Track2, 0, 4);
        let mut data = vec![b';'];
        data.extend(std::iter::repeat_n(b'1', 38));
        data.push(b'?');
        assert_eq!(d.push(&encode_frame(&data), Instant::now()), vec![MagEvent::Rejected(MagError::TooLong)]);
    }

    #[test]
    fn jis2_longer_than_69_is_rejected() {
        let mut d = decoder(Track::JisII, 0, 4);
        let data = vec![b'1'; 70];
        assert_eq!(d.push(&encode_frame(&data), Instant::now()), vec![MagEvent::Rejected(MagError::TooLong)]);
    }

    #[test]
    fn overlong_frame_is_rejected_then_resynchronises() {
        let mut d = decoder(Track::Track2, 0, 4);
        let mut bytes = vec![STX];
        bytes.extend(vec![b'1'; 300]);
        bytes.push(ETX);
        bytes.push(0);
        bytes.extend(encode_frame(b";5555?"));
        assert_eq!(d.push(&bytes, Instant::now()), vec![MagEvent::Rejected(MagError::TooLong), card("5555")]);
    }

    #[test]
    fn frame_of_exactly_max_len_is_accepted() {
        let mut d = MagCardDecoder::new(MagDecoderConfig {
            max_frame_len: 9,
            rule: RegistrationNumberRule { track: Track::Track2, offset: 0, length: 4 },
            ..MagDecoderConfig::default()
        });
        // STX ; 1 2 3 4 ? ETX BCC = 9 bytes.
        assert_eq!(d.push(&encode_frame(b";1234?"), Instant::now()), vec![card("1234")]);
        assert_eq!(d.push(&encode_frame(b";12345?"), Instant::now()), vec![MagEvent::Rejected(MagError::TooLong)]);
    }

    #[test]
    fn stale_partial_frame_is_reported_at_next_push() {
        let mut d = decoder(Track::Track2, 0, 4);
        let t0 = Instant::now();
        let frame = encode_frame(b";1234?");
        let (head, _) = frame.split_at(4);
        assert!(d.push(head, t0).is_empty());
        let t1 = t0 + Duration::from_millis(301);
        assert_eq!(d.push(&encode_frame(b";9876?"), t1), vec![MagEvent::Rejected(MagError::Truncated), card("9876")]);
    }

    #[test]
    fn slow_but_within_timeout_is_fine() {
        let mut d = decoder(Track::Track2, 0, 4);
        let mut t = Instant::now();
        let mut events = Vec::new();
        for b in encode_frame(b";1234?") {
            t += Duration::from_millis(250);
            events.extend(d.push(&[b], t));
        }
        assert_eq!(events, vec![card("1234")]);
    }

    #[test]
    fn empty_push_reports_timeout() {
        let mut d = decoder(Track::Track2, 0, 4);
        let t0 = Instant::now();
        assert!(d.push(&[STX, b';'], t0).is_empty());
        assert!(d.push(&[], t0 + Duration::from_millis(100)).is_empty());
        assert_eq!(d.push(&[], t0 + Duration::from_millis(400)), vec![MagEvent::Rejected(MagError::Truncated)]);
        assert!(d.push(&[], t0 + Duration::from_millis(900)).is_empty());
    }

    #[test]
    fn stx_inside_frame_restarts() {
        let mut d = decoder(Track::Track2, 0, 4);
        let mut bytes = vec![STX, b';', b'1'];
        bytes.extend(encode_frame(b";7777?"));
        assert_eq!(d.push(&bytes, Instant::now()), vec![MagEvent::Rejected(MagError::Truncated), card("7777")]);
    }

    #[test]
    fn duplicates_within_window_are_suppressed() {
        let mut d = decoder(Track::Track2, 0, 4);
        let t0 = Instant::now();
        let frame = encode_frame(b";1234?");
        assert_eq!(d.push(&frame, t0), vec![card("1234")]);
        assert_eq!(d.push(&frame, t0 + Duration::from_millis(500)), vec![MagEvent::Duplicate]);
        assert_eq!(d.push(&encode_frame(b";4321?"), t0 + Duration::from_millis(600)), vec![card("4321")]);
        assert_eq!(d.push(&frame, t0 + Duration::from_millis(700)), vec![card("1234")]);
        assert_eq!(d.push(&frame, t0 + Duration::from_millis(2800)), vec![card("1234")]);
    }

    #[test]
    fn debug_masks_registration_number() {
        let text = format!("{:?}", card("12345678"));
        assert!(!text.contains("123456"), "{text}");
        assert!(text.contains("******78"), "{text}");
        assert_eq!(mask_number("7"), "7");
        assert_eq!(mask_number(""), "");
    }

    #[test]
    fn errors_have_messages() {
        for e in [MagError::BadBcc { expected: 1, actual: 2 }, MagError::Truncated, MagError::NonDigit] {
            assert!(!e.to_string().ends_with('.'));
            assert!(!e.message_ja().is_empty());
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
                                            offset in 0usize..80, length in 0usize..80, jis in any::<bool>()) {
            let track = if jis { Track::JisII } else { Track::Track2 };
            let mut d = MagCardDecoder::new(MagDecoderConfig {
                max_frame_len: 64,
                rule: RegistrationNumberRule { track, offset, length },
                ..MagDecoderConfig::default()
            });
            let mut t = Instant::now();
            for chunk in &chunks {
                t += Duration::from_millis(100);
                for event in d.push(chunk, t) {
                    if let MagEvent::Card { registration_number } = event {
                        prop_assert_eq!(registration_number.len(), length);
                        prop_assert!(registration_number.bytes().all(|b| b.is_ascii_digit()));
                    }
                }
            }
        }

        #[test]
        fn any_valid_track2_frame_round_trips(number in "[0-9]{1,20}", tail in "[0-9=]{0,10}", garbage in proptest::collection::vec(any::<u8>().prop_filter("no STX", |b| *b != STX), 0..32)) {
            let mut d = decoder(Track::Track2, 0, number.len());
            let mut bytes = garbage;
            bytes.extend(encode_frame(format!(";{number}{tail}?").as_bytes()));
            prop_assert_eq!(d.push(&bytes, Instant::now()), vec![card(&number)]);
        }
    }
}
