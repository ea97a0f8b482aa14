//! The postal-code data the product ships: 新宿区's rows of Japan Post's file. It gives the synthetic population real
//! addresses and lets the counter turn a 郵便番号 into an address.

/// One 町域 with its postal code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalArea {
    /// 郵便番号, 7 digits.
    pub postal_code: String,
    /// 都道府県.
    pub prefecture: String,
    /// 市区町村.
    pub city: String,
    /// 町域.
    pub town: String,
    /// 町域 reading in katakana.
    pub town_kana: String,
    /// Whether the 町域 is divided into 丁目.
    pub has_chome: bool,
}

const SHINJUKU_CSV: &str = include_str!("../data/shinjuku_postal.csv");

/// Why a postal file line could not be read.
#[derive(Debug, thiserror::Error)]
#[error("postal data line {line}: {reason}")]
pub struct PostalDataError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parse postal data in the shipped CSV layout (header line first).
pub fn parse_postal_csv(text: &str) -> Result<Vec<PostalArea>, PostalDataError> {
    let mut areas = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let [_, _, postal_code, _, _, town_kana, prefecture, city, town, _, _, chome, ..] = fields.as_slice() else {
            return Err(PostalDataError {
                line: index + 1,
                reason: format!("expected 15 fields, found {}", fields.len()),
            });
        };
        if postal_code.len() != 7 || !postal_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PostalDataError { line: index + 1, reason: format!("bad postal code {postal_code:?}") });
        }
        areas.push(PostalArea {
            postal_code: (*postal_code).to_string(),
            prefecture: (*prefecture).to_string(),
            city: (*city).to_string(),
            town: (*town).to_string(),
            town_kana: (*town_kana).to_string(),
            has_chome: *chome == "1",
        });
    }
    Ok(areas)
}

/// 新宿区's postal areas as shipped.
pub fn shinjuku_areas() -> Vec<PostalArea> {
    // The shipped file is checked by a test; a broken build artefact yields no areas rather than a panic.
    parse_postal_csv(SHINJUKU_CSV).unwrap_or_default()
}

/// Areas fit to be a residential address: a named 町域, not a catch-all entry and not a high-rise building whose
/// floors each have their own postal code (such a "町域" appears under many codes).
pub fn residential_areas(areas: &[PostalArea]) -> Vec<PostalArea> {
    let codes_per_town = |town: &str| areas.iter().filter(|a| a.town == town).count();
    areas
        .iter()
        .filter(|a| {
            !a.town.is_empty()
                && !a.town.contains('（')
                && !a.town.contains("以下に掲載がない場合")
                && codes_per_town(&a.town) <= 2
        })
        .cloned()
        .collect()
}

/// The areas of a postal code (some codes cover several 町域).
pub fn lookup<'a>(areas: &'a [PostalArea], postal_code: &str) -> Vec<&'a PostalArea> {
    areas.iter().filter(|a| a.postal_code == postal_code).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_parses_completely() {
        let areas = parse_postal_csv(SHINJUKU_CSV).expect("shipped postal data parses");
        assert_eq!(areas.len(), 696);
        assert!(areas.iter().all(|a| a.city == "新宿区" && a.prefecture == "東京都"));
        let residential = residential_areas(&areas);
        assert!(residential.len() > 80, "{}", residential.len());
        assert!(residential.iter().all(|a| !a.town.contains("タワー")), "building floor entries are not addresses");
    }

    #[test]
    fn postal_code_gives_its_town() {
        let areas = shinjuku_areas();
        let hits = lookup(&areas, "1600022");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].town, "新宿");
        assert!(hits[0].has_chome);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let err =
            parse_postal_csv("header\n13104,160,16000X2,a,b,c,東京都,新宿区,新宿,0,0,1,0,x,y\n").expect_err("bad code");
        assert_eq!(err.line, 2);
        let err = parse_postal_csv("header\nonly,three,fields\n").expect_err("short line");
        assert!(err.reason.contains("15 fields"));
    }
}
