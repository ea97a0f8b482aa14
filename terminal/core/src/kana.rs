//! Kana entry fields (振り仮名, フリガナ): the rule for what a stored furigana may contain, and an
//! input helper that turns what people actually type (hiragana, half-width katakana) into
//! full-width katakana. Used only on kana fields, never on names themselves.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Errors from [`validate_katakana`]. Positions are 1-based and count `char`s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KanaError {
    /// 未入力 (empty, or only spaces).
    #[error("{field} is empty")]
    Empty {
        /// Field label as shown to the user, e.g. 「フリガナ」.
        field: String,
    },
    /// A character other than 全角カタカナ, ー, ・ and the separator space.
    #[error("{field} contains invalid character {} at position {position}", CharName(*ch))]
    InvalidCharacter {
        /// Field label as shown to the user.
        field: String,
        /// The first offending character.
        ch: char,
        /// 1-based character position.
        position: usize,
    },
    /// 先頭の空白.
    #[error("{field} starts with a space")]
    LeadingSpace {
        /// Field label as shown to the user.
        field: String,
    },
    /// 末尾の空白.
    #[error("{field} ends with a space")]
    TrailingSpace {
        /// Field label as shown to the user.
        field: String,
        /// 1-based position of the first trailing space.
        position: usize,
    },
    /// 空白の連続 (two spaces in a row, full- or half-width).
    #[error("{field} has consecutive spaces at position {position}")]
    ConsecutiveSpaces {
        /// Field label as shown to the user.
        field: String,
        /// 1-based position of the second space.
        position: usize,
    },
}

impl KanaError {
    /// 利用者向けの日本語メッセージ (for the counter UI).
    pub fn message_ja(&self) -> String {
        match self {
            KanaError::Empty { field } => format!("{field}を入力してください"),
            KanaError::InvalidCharacter { field, ch, position } => format!(
                "{field}に使えない文字「{}」があります（{position}文字目）。全角カタカナで入力してください",
                VisibleChar(*ch)
            ),
            KanaError::LeadingSpace { field } => {
                format!("{field}の先頭に空白があります。空白を削除してください")
            }
            KanaError::TrailingSpace { field, .. } => {
                format!("{field}の末尾に空白があります。空白を削除してください")
            }
            KanaError::ConsecutiveSpaces { field, position } => {
                format!("{field}に空白が続けて入力されています（{position}文字目）。空白は1つにしてください")
            }
        }
    }
}

/// A character for English messages: `'ヤ' (U+30E4)`.
struct CharName(char);

impl fmt::Display for CharName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (U+{:04X})", self.0, u32::from(self.0))
    }
}

/// A character for Japanese messages: itself, or `U+3099` when it would be invisible.
struct VisibleChar(char);

impl fmt::Display for VisibleChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let invisible = c.is_control()
            || c.is_whitespace()
            || matches!(
                c,
                '\u{0300}'..='\u{036F}' // combining diacritics
                    | '\u{3099}'..='\u{309A}' // combining (han)dakuten
                    | '\u{200B}'..='\u{200F}' // zero-width and direction marks
                    | '\u{2060}'
                    | '\u{FEFF}'
                    | '\u{FE00}'..='\u{FE0F}' // variation selectors
            );
        if invisible { write!(f, "U+{:04X}", u32::from(c)) } else { write!(f, "{c}") }
    }
}

/// 全角カタカナ (U+30A1–U+30F6, incl. small kana, ヴ, ヵ, ヶ), ー and ・.
fn is_katakana_char(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30F6}' | '\u{30FC}' | '\u{30FB}')
}

/// Separator between family and given name: 全角空白 U+3000 or one ASCII space.
fn is_separator(c: char) -> bool {
    c == '\u{3000}' || c == ' '
}

/// カタカナ欄の検証: the value must be non-empty 全角カタカナ (U+30A1–U+30F6), ー, ・, with single
/// full-width (or ASCII) spaces between words. `field` is the label used in messages.
pub fn validate_katakana(field: &str, input: &str) -> Result<(), KanaError> {
    let field = || field.to_owned();
    if input.chars().all(is_separator) {
        return Err(KanaError::Empty { field: field() });
    }
    let mut previous_was_space = false;
    for (index, c) in input.chars().enumerate() {
        let position = index + 1;
        if is_separator(c) {
            if position == 1 {
                return Err(KanaError::LeadingSpace { field: field() });
            }
            let mut rest = input.chars().skip(position);
            if rest.all(is_separator) {
                return Err(KanaError::TrailingSpace { field: field(), position });
            }
            if previous_was_space {
                return Err(KanaError::ConsecutiveSpaces { field: field(), position });
            }
            previous_was_space = true;
        } else if is_katakana_char(c) {
            previous_was_space = false;
        } else {
            return Err(KanaError::InvalidCharacter { field: field(), ch: c, position });
        }
    }
    Ok(())
}

/// 入力補助: NFKC (half-width ｶﾞ → ガ), then hiragana U+3041–U+3096 → katakana and ゝゞ → ヽヾ.
/// 全角空白 is kept as is; everything else is left for [`validate_katakana`] to judge.
pub fn to_katakana_input(input: &str) -> String {
    // NFKC would turn U+3000 into an ASCII space, so normalize between them.
    let mut out = String::with_capacity(input.len());
    for (i, part) in input.split('\u{3000}').enumerate() {
        if i > 0 {
            out.push('\u{3000}');
        }
        out.extend(part.nfkc().map(hiragana_to_katakana));
    }
    out
}

fn hiragana_to_katakana(c: char) -> char {
    match c {
        '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => char::from_u32(u32::from(c) + 0x60).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const F: &str = "フリガナ";

    fn invalid(ch: char, position: usize) -> Result<(), KanaError> {
        Err(KanaError::InvalidCharacter { field: F.to_owned(), ch, position })
    }

    #[test]
    fn accepts_full_width_katakana_names() {
        for ok in [
            "ヤマダ　タロウ",
            "ヤマダ タロウ",
            "ヤマダ",
            "ヴァイオリン",
            "ァィゥェォッャュョヮヵヶ",
            "スミス・ジョン",
            "サトー",
            "ア",
            "ヤマダ　タロウ　ジロウ",
        ] {
            assert_eq!(validate_katakana(F, ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_hiragana_at_its_position() {
        assert_eq!(validate_katakana(F, "やまだ"), invalid('や', 1));
        assert_eq!(validate_katakana(F, "ヤマだ"), invalid('だ', 3));
        assert_eq!(
            validate_katakana(F, "やまだ").map_err(|e| e.message_ja()),
            Err("フリガナに使えない文字「や」があります（1文字目）。全角カタカナで入力してください".to_owned())
        );
    }

    #[test]
    fn rejects_half_width_kanji_latin_digits_and_other_kana() {
        assert_eq!(validate_katakana(F, "ﾔﾏﾀﾞ"), invalid('ﾔ', 1));
        assert_eq!(validate_katakana(F, "ヤﾏ"), invalid('ﾏ', 2));
        assert_eq!(validate_katakana(F, "ヤマ･ダ"), invalid('･', 3));
        assert_eq!(validate_katakana(F, "山田"), invalid('山', 1));
        assert_eq!(validate_katakana(F, "Yamada"), invalid('Y', 1));
        assert_eq!(validate_katakana(F, "ヤマダ1"), invalid('1', 4));
        assert_eq!(validate_katakana(F, "ヤマダ１"), invalid('１', 4));
        assert_eq!(validate_katakana(F, "ヷ"), invalid('ヷ', 1)); // U+30F7, outside the range
        assert_eq!(validate_katakana(F, "イスヾ"), invalid('ヾ', 3)); // iteration mark
        assert_eq!(validate_katakana(F, "ゕ"), invalid('ゕ', 1)); // small hiragana ka
        assert_eq!(validate_katakana(F, "ヤマダ\tタロウ"), invalid('\t', 4));
        // Decomposed ガ (カ + combining dakuten) is rejected; the helper composes it.
        assert_eq!(validate_katakana(F, "カ\u{3099}"), invalid('\u{3099}', 2));
        assert_eq!(to_katakana_input("カ\u{3099}"), "ガ");
        assert_eq!(
            validate_katakana(F, "カ\u{3099}").map_err(|e| e.message_ja()),
            Err("フリガナに使えない文字「U+3099」があります（2文字目）。全角カタカナで入力してください".to_owned())
        );
    }

    #[test]
    fn rejects_empty_and_badly_placed_spaces() {
        let field = F.to_owned();
        assert_eq!(validate_katakana(F, ""), Err(KanaError::Empty { field: field.clone() }));
        assert_eq!(validate_katakana(F, "　"), Err(KanaError::Empty { field: field.clone() }));
        assert_eq!(validate_katakana(F, " 　 "), Err(KanaError::Empty { field: field.clone() }));
        assert_eq!(validate_katakana(F, "　ヤマダ"), Err(KanaError::LeadingSpace { field: field.clone() }));
        assert_eq!(validate_katakana(F, " ヤマダ"), Err(KanaError::LeadingSpace { field: field.clone() }));
        assert_eq!(
            validate_katakana(F, "ヤマダ　"),
            Err(KanaError::TrailingSpace { field: field.clone(), position: 4 })
        );
        assert_eq!(
            validate_katakana(F, "ヤマダ 　"),
            Err(KanaError::TrailingSpace { field: field.clone(), position: 4 })
        );
        assert_eq!(
            validate_katakana(F, "ヤマダ　　タロウ"),
            Err(KanaError::ConsecutiveSpaces { field: field.clone(), position: 5 })
        );
        assert_eq!(
            validate_katakana(F, "ヤマダ  タロウ"),
            Err(KanaError::ConsecutiveSpaces { field: field.clone(), position: 5 })
        );
        assert_eq!(validate_katakana(F, "ヤマダ　 タロウ"), Err(KanaError::ConsecutiveSpaces { field, position: 5 }));
    }

    #[test]
    fn messages_name_the_field() {
        let e = validate_katakana("セイ（フリガナ）", "").map_err(|e| e.message_ja());
        assert_eq!(e, Err("セイ（フリガナ）を入力してください".to_owned()));
        let e = validate_katakana(F, "ヤマダ　　タロウ").map_err(|e| e.message_ja());
        assert_eq!(e, Err("フリガナに空白が続けて入力されています（5文字目）。空白は1つにしてください".to_owned()));
        let e = validate_katakana(F, "やまだ").map_err(|e| e.to_string());
        assert_eq!(e, Err("フリガナ contains invalid character 'や' (U+3084) at position 1".to_owned()));
        for bad in ["", " ア", "ア ", "ア  ア", "a"] {
            let Err(e) = validate_katakana(F, bad) else { panic!("{bad:?} accepted") };
            assert!(!e.to_string().ends_with('.'));
            assert!(e.message_ja().contains(F));
        }
    }

    #[test]
    fn input_helper_converts_to_katakana() {
        assert_eq!(to_katakana_input("ﾔﾏﾀﾞ"), "ヤマダ");
        assert_eq!(to_katakana_input("やまだ　たろう"), "ヤマダ　タロウ");
        assert_eq!(to_katakana_input("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダ タロウ");
        assert_eq!(to_katakana_input("ｻﾄｰ"), "サトー");
        assert_eq!(to_katakana_input("ﾊﾟﾋﾟﾌﾟ"), "パピプ");
        assert_eq!(to_katakana_input("ゔぁゕゖ"), "ヴァヵヶ");
        assert_eq!(to_katakana_input("いすゞ"), "イスヾ");
        assert_eq!(to_katakana_input("ゝ"), "ヽ");
        assert_eq!(to_katakana_input("ぁ"), "ァ");
        assert_eq!(to_katakana_input("ヤマダ"), "ヤマダ");
        assert_eq!(to_katakana_input("山田ABC"), "山田ABC");
        assert_eq!(to_katakana_input("ＡＢＣ"), "ABC");
        assert_eq!(to_katakana_input(""), "");
        assert_eq!(validate_katakana(F, &to_katakana_input("ﾔﾏﾀﾞ　ﾀﾛｳ")), Ok(()));
        assert_eq!(validate_katakana(F, &to_katakana_input("やまだ たろう")), Ok(()));
    }

    proptest! {
        #[test]
        fn converted_hiragana_always_validates(s in "[\u{3041}-\u{3096}ー]{1,12}") {
            let converted = to_katakana_input(&s);
            prop_assert_eq!(validate_katakana(F, &converted), Ok(()), "{} -> {}", s, converted);
            prop_assert_eq!(converted.chars().count(), s.chars().count());
        }

        #[test]
        fn validate_and_convert_never_panic(s in "\\PC{0,16}") {
            let _ = validate_katakana(F, &s);
            let _ = to_katakana_input(&s);
        }
    }
}
