//! Search keys: the only place where names are normalized. Stored names keep their exact code points; the keys
//! derived here let 「やまだ」, 「ﾔﾏﾀﾞ」 and 「ヤマダ」 find the same person, and 「高橋」 find 「髙橋」.

use unicode_normalization::UnicodeNormalization as _;

/// Common 異体字 folded to the form a clerk types, for search only (never for display or storage).
const VARIANT_FOLDS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('嵜', '崎'),
    ('𠮷', '吉'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('澤', '沢'),
    ('濱', '浜'),
    ('齋', '斎'),
    ('齊', '斉'),
    ('廣', '広'),
    ('櫻', '桜'),
    ('國', '国'),
    ('學', '学'),
    ('德', '徳'),
    ('惠', '恵'),
    ('眞', '真'),
    ('槇', '槙'),
    ('冨', '富'),
];

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// The normalized key for a name, reading or address fragment: NFKC, hiragana → katakana, variation selectors
/// dropped, common 異体字 folded, white space removed, Latin letters upper-cased.
pub fn search_key(input: &str) -> String {
    input
        .nfkc()
        .filter(|c| !c.is_whitespace() && !is_variation_selector(*c))
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => VARIANT_FOLDS.iter().find(|(from, _)| *from == c).map_or(c, |(_, to)| *to),
        })
        .flat_map(char::to_uppercase)
        .collect()
}

/// The exclusive upper bound of the keys that start with `prefix` (UTF-8 order equals code point order).
pub fn prefix_upper_bound(prefix: &str) -> String {
    let mut upper = prefix.to_string();
    upper.push(char::MAX);
    upper
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_in_any_form_gives_one_key() {
        assert_eq!(search_key("やまだ　たろう"), "ヤマダタロウ");
        assert_eq!(search_key("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダタロウ");
        assert_eq!(search_key("ヤマダタロウ"), "ヤマダタロウ");
    }

    #[test]
    fn variants_and_variation_sequences_fold_for_search_only() {
        assert_eq!(search_key("髙橋"), "高橋");
        assert_eq!(search_key("山﨑"), "山崎");
        assert_eq!(search_key("𠮷田"), "吉田");
        assert_eq!(search_key("葛\u{E0102}西"), "葛西");
        assert_eq!(search_key("smith john"), "SMITHJOHN");
    }

    #[test]
    fn upper_bound_sorts_after_every_extension() {
        let upper = prefix_upper_bound("ヤマ");
        assert!(*"ヤマダ" < *upper);
        assert!(*"ヤマ𠮷" < *upper);
        assert!(*"ヤミ" > *upper);
    }
}
