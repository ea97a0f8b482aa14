//! Identifiers typed or scanned at the counter (個人番号, 住民票コード, 郵便番号, 法人番号,
//! 地方公共団体コード): one place that normalizes what people type (full-width digits, spaces,
//! hyphens) and checks the format and check digit, so a mistyped number is caught at the window
//! rather than by the backend, and the sensitive numbers never reach a log unmasked.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Which identifier an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentifierKind {
    /// 個人番号 (My Number)
    IndividualNumber,
    /// 住民票コード
    ResidentRecordCode,
    /// 郵便番号
    PostalCode,
    /// 法人番号
    CorporateNumber,
    /// 地方公共団体コード
    LocalGovernmentCode,
}

impl IdentifierKind {
    /// 名称 in Japanese, e.g. 「個人番号」.
    pub fn name_ja(self) -> &'static str {
        match self {
            IdentifierKind::IndividualNumber => "個人番号",
            IdentifierKind::ResidentRecordCode => "住民票コード",
            IdentifierKind::PostalCode => "郵便番号",
            IdentifierKind::CorporateNumber => "法人番号",
            IdentifierKind::LocalGovernmentCode => "地方公共団体コード",
        }
    }

    /// Name in English, for logs.
    pub fn name_en(self) -> &'static str {
        match self {
            IdentifierKind::IndividualNumber => "individual number",
            IdentifierKind::ResidentRecordCode => "resident record code",
            IdentifierKind::PostalCode => "postal code",
            IdentifierKind::CorporateNumber => "corporate number",
            IdentifierKind::LocalGovernmentCode => "local government code",
        }
    }

    /// Where the check digit sits, for messages.
    fn check_digit_place_ja(self) -> &'static str {
        match self {
            IdentifierKind::CorporateNumber => "先頭の1桁",
            _ => "最後の1桁",
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_en())
    }
}

/// Errors from identifier parsing. They never contain the identifier itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// 未入力: nothing but spaces and hyphens.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier.
        kind: IdentifierKind,
    },
    /// A character that is not a digit (after NFKC; spaces and hyphens are ignored).
    #[error("{kind} contains invalid character {ch:?} at position {position}")]
    InvalidCharacter {
        /// Which identifier.
        kind: IdentifierKind,
        /// The first offending character (after NFKC).
        ch: char,
        /// 1-based character position in the NFKC-normalized input.
        position: usize,
    },
    /// 桁数誤り: the wrong number of digits.
    #[error("{kind} must have {expected} digits, got {actual}")]
    WrongLength {
        /// Which identifier.
        kind: IdentifierKind,
        /// Digits required.
        expected: usize,
        /// Digits found.
        actual: usize,
    },
    /// 検査用数字の不一致.
    #[error("{kind} check digit does not match")]
    CheckDigitMismatch {
        /// Which identifier.
        kind: IdentifierKind,
        /// Check digit computed from the other digits.
        expected: u8,
        /// Check digit as entered.
        actual: u8,
    },
}

impl IdentifierError {
    /// 利用者向けの日本語メッセージ (for the counter UI).
    pub fn message_ja(&self) -> String {
        match self {
            IdentifierError::Empty { kind } => format!("{}が入力されていません", kind.name_ja()),
            IdentifierError::InvalidCharacter { kind, ch, position } => format!(
                "{}に使えない文字「{}」があります（{}文字目）。数字で入力してください",
                kind.name_ja(),
                ch,
                position
            ),
            IdentifierError::WrongLength { kind, expected, actual } => {
                format!("{}は{}桁の数字で入力してください（入力されたのは{}桁です）", kind.name_ja(), expected, actual)
            }
            IdentifierError::CheckDigitMismatch { kind, .. } => format!(
                "{}が正しくありません（{}の検査用数字が一致しません）。番号をご確認ください",
                kind.name_ja(),
                kind.check_digit_place_ja()
            ),
        }
    }
}

/// A soft problem: the value is accepted but should be double-checked by the clerk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentifierWarning {
    /// 住民票コードの検査用数字が仮の計算式と一致しない (the formula is unverified).
    ResidentCodeCheckDigit {
        /// Check digit computed by the unverified formula.
        expected: u8,
        /// Check digit as entered.
        actual: u8,
    },
}

impl IdentifierWarning {
    /// 利用者向けの日本語メッセージ (for the counter UI).
    pub fn message_ja(&self) -> String {
        match self {
            IdentifierWarning::ResidentCodeCheckDigit { .. } => concat!(
                "住民票コードの検査用数字（最後の1桁）が想定と異なります。",
                "番号をご確認ください（計算式が未確認のため警告のみです）"
            )
            .to_owned(),
        }
    }
}

impl fmt::Display for IdentifierWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentifierWarning::ResidentCodeCheckDigit { expected, actual } => write!(
                f,
                "resident record code check digit {actual} differs from {expected} \
                 (unverified formula)"
            ),
        }
    }
}

/// NFKC-normalizes `input`, drops whitespace and hyphens, and requires exactly `len` ASCII
/// digits. With `postal_mark`, one leading 〒 is allowed.
fn digits_of(kind: IdentifierKind, input: &str, len: usize, postal_mark: bool) -> Result<String, IdentifierError> {
    let normalized: String = input.nfkc().collect();
    let mut digits = String::with_capacity(len);
    let mut mark_allowed = postal_mark;
    for (index, ch) in normalized.chars().enumerate() {
        if ch.is_whitespace() || ch == '-' {
            continue;
        }
        if ch == '〒' && mark_allowed {
            mark_allowed = false;
            continue;
        }
        mark_allowed = false;
        if !ch.is_ascii_digit() {
            return Err(IdentifierError::InvalidCharacter { kind, ch, position: index + 1 });
        }
        digits.push(ch);
    }
    match digits.len() {
        0 => Err(IdentifierError::Empty { kind }),
        n if n != len => Err(IdentifierError::WrongLength { kind, expected: len, actual: n }),
        _ => Ok(digits),
    }
}

/// Digit values of an all-ASCII-digit string.
fn values(digits: &str) -> impl DoubleEndedIterator<Item = u32> + '_ {
    digits.bytes().map(|b| u32::from(b - b'0'))
}

/// Σ digit × weight, left to right.
fn weighted_sum(digits: &str, weights: &[u32]) -> u32 {
    values(digits).zip(weights).map(|(d, w)| d * w).sum()
}

/// Check digit: r = Σ mod 11; 0 if r ≤ 1, else 11 − r (個人番号 and the 住民票コード hypothesis).
fn mod11_check(digits: &str, weights: &[u32]) -> u8 {
    let r = weighted_sum(digits, weights) % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    u8::try_from(check).unwrap_or(0)
}

/// The last (or, for 法人番号, first) digit as a number.
fn digit_at(digits: &str, index: usize) -> u8 {
    digits.as_bytes().get(index).map_or(0, |b| b - b'0')
}

/// Masks all but the last four digits: "********3214".
fn mask(digits: &str) -> String {
    let keep = digits.len().saturating_sub(4);
    let mut out = "*".repeat(keep);
    out.push_str(digits.get(keep..).unwrap_or(""));
    out
}

const INDIVIDUAL_NUMBER_WEIGHTS: [u32; 11] = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
const RESIDENT_CODE_WEIGHTS: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
const LOCAL_GOVERNMENT_WEIGHTS: [u32; 5] = [6, 5, 4, 3, 2];

/// 個人番号 (My Number): 12 digits, the last a check digit. `Debug` prints it masked.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndividualNumber(String);

impl IndividualNumber {
    /// Parses 「983205673214」, 「9832 0567 3214」, 「9832-0567-3214」 or full-width digits;
    /// requires 12 digits and a correct check digit.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let kind = IdentifierKind::IndividualNumber;
        let digits = digits_of(kind, input, 12, false)?;
        let (base, _) = digits.split_at(11);
        let expected = mod11_check(base, &INDIVIDUAL_NUMBER_WEIGHTS);
        let actual = digit_at(&digits, 11);
        if expected != actual {
            return Err(IdentifierError::CheckDigitMismatch { kind, expected, actual });
        }
        Ok(IndividualNumber(digits))
    }

    /// 検査用数字 for the first 11 digits (same normalization as `parse`).
    pub fn compute_check_digit(first11: &str) -> Result<u8, IdentifierError> {
        let base = digits_of(IdentifierKind::IndividualNumber, first11, 11, false)?;
        Ok(mod11_check(&base, &INDIVIDUAL_NUMBER_WEIGHTS))
    }

    /// The 12 digits, unformatted. Sensitive: do not log.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 伏字: "********3214" (only the last four digits shown).
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for IndividualNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IndividualNumber").field(&self.masked()).finish()
    }
}

/// 住民票コード: 11 digits. The check digit is only a soft check (the formula is unverified).
/// `Debug` prints it masked, since the code is protected personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentRecordCode(String);

impl ResidentRecordCode {
    /// Parses 11 digits (NFKC, spaces and hyphens ignored). A wrong format is an error; a check
    /// digit that disagrees with the unverified formula only yields a warning.
    pub fn parse(input: &str) -> Result<(Self, Option<IdentifierWarning>), IdentifierError> {
        let digits = digits_of(IdentifierKind::ResidentRecordCode, input, 11, false)?;
        let (base, _) = digits.split_at(10);
        let expected = mod11_check(base, &RESIDENT_CODE_WEIGHTS);
        let actual = digit_at(&digits, 10);
        let warning = (expected != actual).then_some(IdentifierWarning::ResidentCodeCheckDigit { expected, actual });
        Ok((ResidentRecordCode(digits), warning))
    }

    /// 検査用数字 for the first 10 digits by the unverified formula: weights 5,4,3,2,7,6,5,4,3,2,
    /// r = Σ mod 11, 0 if r ≤ 1 else 11 − r.
    pub fn compute_check_digit(first10: &str) -> Result<u8, IdentifierError> {
        let base = digits_of(IdentifierKind::ResidentRecordCode, first10, 10, false)?;
        Ok(mod11_check(&base, &RESIDENT_CODE_WEIGHTS))
    }

    /// The 11 digits, unformatted. Sensitive: do not log.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 伏字: "*******7608" (only the last four digits shown).
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for ResidentRecordCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentRecordCode").field(&self.masked()).finish()
    }
}

/// 郵便番号: 7 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostalCode(String);

impl PostalCode {
    /// Parses 「1600022」, 「160-0022」, 「１６０－００２２」 or 「〒160-0022」.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        digits_of(IdentifierKind::PostalCode, input, 7, true).map(PostalCode)
    }

    /// The 7 digits: "1600022".
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 表記: "160-0022".
    pub fn formatted(&self) -> String {
        let (head, tail) = self.0.split_at(3);
        format!("{head}-{tail}")
    }
}

impl fmt::Display for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.formatted())
    }
}

/// 法人番号: 13 digits; the FIRST digit is the check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CorporateNumber(String);

impl CorporateNumber {
    /// Parses 13 digits (NFKC, spaces and hyphens ignored) and verifies the check digit.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let kind = IdentifierKind::CorporateNumber;
        let digits = digits_of(kind, input, 13, false)?;
        let (_, base) = digits.split_at(1);
        let expected = corporate_check(base);
        let actual = digit_at(&digits, 0);
        if expected != actual {
            return Err(IdentifierError::CheckDigitMismatch { kind, expected, actual });
        }
        Ok(CorporateNumber(digits))
    }

    /// 検査用数字 for the 12 base digits: 9 − (Σ Pn×Qn mod 9), n counted from the right,
    /// Qn = 1 for odd n and 2 for even n.
    pub fn compute_check_digit(base12: &str) -> Result<u8, IdentifierError> {
        let base = digits_of(IdentifierKind::CorporateNumber, base12, 12, false)?;
        Ok(corporate_check(&base))
    }

    /// The 13 digits, unformatted.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorporateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn corporate_check(base12: &str) -> u8 {
    let sum: u32 = values(base12).rev().enumerate().map(|(i, p)| if i % 2 == 0 { p } else { 2 * p }).sum();
    u8::try_from(9 - sum % 9).unwrap_or(0)
}

/// 地方公共団体コード: 6 digits (5 digits + check digit), e.g. 新宿区 131041.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalGovernmentCode(String);

impl LocalGovernmentCode {
    /// Parses 6 digits (NFKC, spaces and hyphens ignored) and verifies the check digit.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let kind = IdentifierKind::LocalGovernmentCode;
        let digits = digits_of(kind, input, 6, false)?;
        let (base, _) = digits.split_at(5);
        let expected = local_government_check(base);
        let actual = digit_at(&digits, 5);
        if expected != actual {
            return Err(IdentifierError::CheckDigitMismatch { kind, expected, actual });
        }
        Ok(LocalGovernmentCode(digits))
    }

    /// 検査用数字 for the 5 digits: weights 6,5,4,3,2, r = Σ mod 11, check = (11 − r) mod 10.
    pub fn compute_check_digit(first5: &str) -> Result<u8, IdentifierError> {
        let base = digits_of(IdentifierKind::LocalGovernmentCode, first5, 5, false)?;
        Ok(local_government_check(&base))
    }

    /// The 6 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocalGovernmentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn local_government_check(first5: &str) -> u8 {
    let r = weighted_sum(first5, &LOCAL_GOVERNMENT_WEIGHTS) % 11;
    u8::try_from((11 - r) % 10).unwrap_or(0)
}

// Records carry identifiers as their plain digit strings; reading one back re-checks its format, so a stored or
// received record with a malformed number is refused rather than carried on.
impl serde::Serialize for IndividualNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for IndividualNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        IndividualNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ResidentRecordCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ResidentRecordCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The check digit is a soft check (its official formula is unverified): only the format is enforced here.
        ResidentRecordCode::parse(&text).map(|(code, _warning)| code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MY_NUMBER: &str = "983205673214";

    /// Every number obtained by changing exactly one digit of `digits`.
    fn single_digit_changes(digits: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for pos in 0..digits.len() {
            for alt in b'0'..=b'9' {
                let mut bytes = digits.as_bytes().to_vec();
                if bytes[pos] == alt {
                    continue;
                }
                bytes[pos] = alt;
                out.push((pos, String::from_utf8(bytes).unwrap_or_default()));
            }
        }
        out
    }

    fn remainder(base11: &str) -> u32 {
        weighted_sum(base11, &INDIVIDUAL_NUMBER_WEIGHTS) % 11
    }

    #[test]
    fn individual_number_test_vector() {
        assert_eq!(IndividualNumber::compute_check_digit("98320567321"), Ok(4));
        let n = IndividualNumber::parse(MY_NUMBER);
        assert_eq!(n.as_ref().map(IndividualNumber::as_str), Ok(MY_NUMBER));
        assert_eq!(n.as_ref().map(IndividualNumber::masked), Ok("********3214".to_owned()));
    }

    #[test]
    fn individual_number_accepts_printed_and_full_width_forms() {
        for input in [
            "9832 0567 3214",
            "9832-0567-3214",
            "９８３２　０５６７　３２１４",
            "９８３２－０５６７－３２１４",
            "  983205673214\n",
        ] {
            let n = IndividualNumber::parse(input);
            assert_eq!(n.as_ref().map(IndividualNumber::as_str), Ok(MY_NUMBER), "{input:?}");
        }
    }

    #[test]
    fn individual_number_debug_is_masked() {
        let Ok(n) = IndividualNumber::parse(MY_NUMBER) else { panic!("test vector must parse") };
        let debug = format!("{n:?}");
        assert_eq!(debug, "IndividualNumber(\"********3214\")");
        assert!(!debug.contains("98320567"));
        let err = IndividualNumber::parse("983205673215").err();
        let text = format!("{err:?} {}", err.as_ref().map(|e| e.to_string()).unwrap_or_default());
        assert!(!text.contains("98320567"), "{text}");
    }

    #[test]
    fn individual_number_errors_have_the_right_variant() {
        let kind = IdentifierKind::IndividualNumber;
        assert_eq!(IndividualNumber::parse(""), Err(IdentifierError::Empty { kind }));
        assert_eq!(IndividualNumber::parse("  - "), Err(IdentifierError::Empty { kind }));
        assert_eq!(
            IndividualNumber::parse("98320567321"),
            Err(IdentifierError::WrongLength { kind, expected: 12, actual: 11 })
        );
        assert_eq!(
            IndividualNumber::parse("9832056732140"),
            Err(IdentifierError::WrongLength { kind, expected: 12, actual: 13 })
        );
        assert_eq!(
            IndividualNumber::parse("98320567321A"),
            Err(IdentifierError::InvalidCharacter { kind, ch: 'A', position: 12 })
        );
        assert_eq!(
            IndividualNumber::parse("９８３２ａ"),
            Err(IdentifierError::InvalidCharacter { kind, ch: 'a', position: 5 })
        );
        assert_eq!(
            IndividualNumber::parse("9832.0567.3214"),
            Err(IdentifierError::InvalidCharacter { kind, ch: '.', position: 5 })
        );
        assert_eq!(
            IndividualNumber::parse("983205673215"),
            Err(IdentifierError::CheckDigitMismatch { kind, expected: 4, actual: 5 })
        );
        assert_eq!(
            IndividualNumber::compute_check_digit("9832056732"),
            Err(IdentifierError::WrongLength { kind, expected: 11, actual: 10 })
        );
        assert_eq!(
            IndividualNumber::parse("98320567321A").map_err(|e| e.message_ja()),
            Err("個人番号に使えない文字「A」があります（12文字目）。数字で入力してください".to_owned())
        );
        assert_eq!(
            IndividualNumber::parse("123").map_err(|e| e.message_ja()),
            Err("個人番号は12桁の数字で入力してください（入力されたのは3桁です）".to_owned())
        );
        assert_eq!(
            IndividualNumber::parse("983205673215").map_err(|e| e.message_ja()),
            Err("個人番号が正しくありません（最後の1桁の検査用数字が一致しません）。番号をご確認ください".to_owned())
        );
        assert_eq!(
            IndividualNumber::parse("").map_err(|e| e.to_string()),
            Err("individual number is empty".to_owned())
        );
    }

    #[test]
    fn every_single_digit_change_of_the_test_vector_is_rejected() {
        let changes = single_digit_changes(MY_NUMBER);
        assert_eq!(changes.len(), 12 * 9);
        for (pos, changed) in changes {
            assert!(
                matches!(IndividualNumber::parse(&changed), Err(IdentifierError::CheckDigitMismatch { .. })),
                "position {pos}: {changed} was accepted"
            );
        }
    }

    /// The 個人番号 formula maps both r = 0 and r = 1 to check digit 0, so a single-digit change
    /// that moves r between 0 and 1 goes undetected. This pins the known blind spot down.
    #[test]
    fn check_digit_zero_has_a_known_blind_spot() {
        assert!(IndividualNumber::parse("000000000000").is_ok()); // r = 0
        assert!(IndividualNumber::parse("200000000000").is_ok()); // r = 12 mod 11 = 1
    }

    fn any_base11() -> impl Strategy<Value = String> {
        "[0-9]{11}"
    }

    proptest! {
        /// Every single-digit change is rejected, except exactly the blind spot above: the
        /// original check digit is 0 and the change moves the remainder between 0 and 1.
        #[test]
        fn single_digit_changes_are_rejected_except_the_r0_r1_blind_spot(base in any_base11()) {
            let check = IndividualNumber::compute_check_digit(&base);
            prop_assert!(check.is_ok());
            let number = format!("{base}{}", check.unwrap_or_default());
            prop_assert!(IndividualNumber::parse(&number).is_ok());
            for (pos, changed) in single_digit_changes(&number) {
                let accepted = IndividualNumber::parse(&changed).is_ok();
                let blind_spot = pos < 11
                    && remainder(&base) <= 1
                    && remainder(changed.get(..11).unwrap_or_default()) <= 1;
                prop_assert_eq!(accepted, blind_spot, "{} -> {}", number, changed);
            }
        }

        /// With a non-zero check digit, every single-digit change is rejected.
        #[test]
        fn single_digit_changes_are_rejected_when_check_digit_is_nonzero(base in any_base11()) {
            let check = IndividualNumber::compute_check_digit(&base).unwrap_or_default();
            prop_assume!(check != 0);
            let number = format!("{base}{check}");
            for (_, changed) in single_digit_changes(&number) {
                let rejected = IndividualNumber::parse(&changed).is_err();
                prop_assert!(rejected, "{} -> {}", number, changed);
            }
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,20}") {
            let _ = IndividualNumber::parse(&input);
            let _ = ResidentRecordCode::parse(&input);
            let _ = PostalCode::parse(&input);
            let _ = CorporateNumber::parse(&input);
            let _ = LocalGovernmentCode::parse(&input);
        }
    }

    #[test]
    fn resident_record_code_vectors_pass_without_warning() {
        for code in ["24727059608", "24846016224", "25208017643"] {
            let parsed = ResidentRecordCode::parse(code);
            let Ok((rc, warning)) = parsed else { panic!("{code}: {parsed:?}") };
            assert_eq!(rc.as_str(), code);
            assert_eq!(warning, None, "{code}");
            let (base, last) = code.split_at(10);
            assert_eq!(ResidentRecordCode::compute_check_digit(base).map(|d| d.to_string()), Ok(last.to_owned()));
        }
    }

    #[test]
    fn resident_record_code_check_digit_is_only_a_warning() {
        let parsed = ResidentRecordCode::parse("2472-7059-609");
        let Ok((rc, warning)) = parsed else { panic!("{parsed:?}") };
        assert_eq!(rc.as_str(), "24727059609");
        let expected = IdentifierWarning::ResidentCodeCheckDigit { expected: 8, actual: 9 };
        assert_eq!(warning, Some(expected));
        assert!(expected.message_ja().contains("住民票コード"));
        assert!(!expected.to_string().ends_with('.'));
        assert_eq!(format!("{rc:?}"), "ResidentRecordCode(\"*******9609\")");
    }

    #[test]
    fn resident_record_code_format_errors_are_hard() {
        let kind = IdentifierKind::ResidentRecordCode;
        assert_eq!(ResidentRecordCode::parse(""), Err(IdentifierError::Empty { kind }));
        assert_eq!(
            ResidentRecordCode::parse("2472705960"),
            Err(IdentifierError::WrongLength { kind, expected: 11, actual: 10 })
        );
        assert_eq!(
            ResidentRecordCode::parse("2472705960X"),
            Err(IdentifierError::InvalidCharacter { kind, ch: 'X', position: 11 })
        );
        assert_eq!(
            ResidentRecordCode::parse("２４７２７０５９６０８").map(|(c, w)| (c.as_str().to_owned(), w)),
            Ok(("24727059608".to_owned(), None))
        );
    }

    #[test]
    fn postal_code_forms() {
        for input in ["1600022", "160-0022", "１６０－００２２", "〒160-0022", "〒 160-0022", "〒１６０－００２２"]
        {
            let p = PostalCode::parse(input);
            assert_eq!(p.as_ref().map(PostalCode::as_str), Ok("1600022"), "{input}");
            assert_eq!(p.as_ref().map(PostalCode::formatted), Ok("160-0022".to_owned()));
        }
        let kind = IdentifierKind::PostalCode;
        assert_eq!(PostalCode::parse("〒"), Err(IdentifierError::Empty { kind }));
        assert_eq!(PostalCode::parse("160-002"), Err(IdentifierError::WrongLength { kind, expected: 7, actual: 6 }));
        assert_eq!(
            PostalCode::parse("160〒0022"),
            Err(IdentifierError::InvalidCharacter { kind, ch: '〒', position: 4 })
        );
        assert_eq!(
            PostalCode::parse("〒〒1600022"),
            Err(IdentifierError::InvalidCharacter { kind, ch: '〒', position: 2 })
        );
        assert_eq!(
            PostalCode::parse("abc").map_err(|e| e.message_ja()),
            Err("郵便番号に使えない文字「a」があります（1文字目）。数字で入力してください".to_owned())
        );
    }

    #[test]
    fn corporate_number_vector_and_errors() {
        assert_eq!(CorporateNumber::compute_check_digit("000012050002"), Ok(7));
        for input in ["7000012050002", "7-0000-1205-0002", "７０００ ０１２０ ５０００２"] {
            let c = CorporateNumber::parse(input);
            assert_eq!(c.as_ref().map(CorporateNumber::as_str), Ok("7000012050002"), "{input}");
        }
        let kind = IdentifierKind::CorporateNumber;
        assert_eq!(
            CorporateNumber::parse("8000012050002"),
            Err(IdentifierError::CheckDigitMismatch { kind, expected: 7, actual: 8 })
        );
        assert_eq!(
            CorporateNumber::parse("700001205000"),
            Err(IdentifierError::WrongLength { kind, expected: 13, actual: 12 })
        );
        assert_eq!(CorporateNumber::parse(""), Err(IdentifierError::Empty { kind }));
        assert!(
            CorporateNumber::parse("8000012050002").map_err(|e| e.message_ja()).is_err_and(|m| m.contains("先頭の1桁"))
        );
        // The mod-9 formula cannot see a 0 ↔ 9 swap in a base digit (the sum moves by 9 or 18);
        // every other single-digit change is rejected.
        let original = "7000012050002".as_bytes();
        for (pos, changed) in single_digit_changes("7000012050002") {
            let swapped = [original[pos], changed.as_bytes()[pos]];
            let zero_nine = pos > 0 && (swapped == *b"09" || swapped == *b"90");
            assert_eq!(CorporateNumber::parse(&changed).is_ok(), zero_nine, "{pos}: {changed}");
        }
    }

    #[test]
    fn local_government_code_vectors_and_errors() {
        assert_eq!(LocalGovernmentCode::compute_check_digit("13104"), Ok(1));
        assert_eq!(LocalGovernmentCode::compute_check_digit("01100"), Ok(2));
        for input in ["131041", "011002", "１３１０４１", "13104-1"] {
            assert!(LocalGovernmentCode::parse(input).is_ok(), "{input}");
        }
        let kind = IdentifierKind::LocalGovernmentCode;
        assert_eq!(
            LocalGovernmentCode::parse("131042"),
            Err(IdentifierError::CheckDigitMismatch { kind, expected: 1, actual: 2 })
        );
        assert_eq!(
            LocalGovernmentCode::parse("13104"),
            Err(IdentifierError::WrongLength { kind, expected: 6, actual: 5 })
        );
        assert_eq!(
            LocalGovernmentCode::parse("13l041"),
            Err(IdentifierError::InvalidCharacter { kind, ch: 'l', position: 3 })
        );
        // r = 0 → 1, r = 1 → 0, otherwise (11 − r) mod 10.
        assert_eq!(local_government_check("00000"), 1); // r = 0
        assert_eq!(local_government_check("20000"), 0); // r = 12 mod 11 = 1
        assert_eq!(local_government_check("00003"), 5); // r = 6
        assert_eq!(local_government_check("00005"), 1); // r = 10
    }

    #[test]
    fn displays_have_no_trailing_period() {
        let errors = [
            IndividualNumber::parse("").err(),
            IndividualNumber::parse("1").err(),
            IndividualNumber::parse("x").err(),
            IndividualNumber::parse("983205673215").err(),
        ];
        for e in errors {
            let Some(e) = e else { panic!("expected an error") };
            assert!(!e.to_string().ends_with('.'), "{e}");
            assert!(!e.message_ja().is_empty());
        }
    }
}
