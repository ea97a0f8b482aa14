//! Japanese era dates (和暦): conversion between 元号 dates and Gregorian dates, parsing of the
//! forms people write at the counter, and formatting for forms and certificates.
//! The era table below is our own (not a library's), so a new era is one row plus one variant,
//! and the rules of the lunisolar period and the dual-dated change-over days live in one place.

use std::fmt;

use jiff::civil::{Date, date};
use unicode_normalization::UnicodeNormalization;

/// 元号 (Japanese era name) supported by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Era {
    /// 明治
    Meiji,
    /// 大正
    Taisho,
    /// 昭和
    Showa,
    /// 平成
    Heisei,
    /// 令和
    Reiwa,
}

/// How an era hands over to the next one (改元の日の扱い).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handover {
    /// The next era starts the day after this era's last day; nothing is dual-dated.
    NextDay,
    /// 改元当日: the next era's first day is also validly written in this era
    /// (e.g. 明治45年7月30日 = 大正元年7月30日). Conversion to 和暦 gives the newer era.
    SameDay,
}

/// One row of the era table.
struct EraRow {
    era: Era,
    name_ja: &'static str,
    name_en: &'static str,
    /// JIS X 0301 letter.
    letter: char,
    /// First day, Gregorian (明治 is retroactive to 慶応4年1月1日).
    first_day: Date,
    handover: Handover,
}

const fn row(
    era: Era,
    name_ja: &'static str,
    name_en: &'static str,
    letter: char,
    first_day: Date,
    handover: Handover,
) -> EraRow {
    EraRow { era, name_ja, name_en, letter, first_day, handover }
}

/// The era table, oldest first, one row per era. An era's last day is the day before the next
/// row's first day, so adding an era is one row here (plus its `Era` variant).
#[rustfmt::skip]
const ERA_TABLE: &[EraRow] = &[
    row(Era::Meiji,  "明治", "Meiji",  'M', date(1868, 1, 25),  Handover::SameDay),
    row(Era::Taisho, "大正", "Taisho", 'T', date(1912, 7, 30),  Handover::SameDay),
    row(Era::Showa,  "昭和", "Showa",  'S', date(1926, 12, 25), Handover::NextDay),
    row(Era::Heisei, "平成", "Heisei", 'H', date(1989, 1, 8),   Handover::NextDay),
    row(Era::Reiwa,  "令和", "Reiwa",  'R', date(2019, 5, 1),   Handover::NextDay),
];

/// All eras in table order (derived from `ERA_TABLE`).
static ALL_ERAS: [Era; ERA_TABLE.len()] = {
    let mut out = [Era::Meiji; ERA_TABLE.len()];
    let mut i = 0;
    while i < ERA_TABLE.len() {
        out[i] = ERA_TABLE[i].era;
        i += 1;
    }
    out
};

// Compile-time check: rows follow `Era` declaration order (`Era as usize` indexes the table).
// That first days increase is checked by a unit test.
const _: () = {
    let mut i = 0;
    while i < ERA_TABLE.len() {
        assert!(ERA_TABLE[i].era as usize == i, "ERA_TABLE must follow Era order");
        i += 1;
    }
};

/// 明治6年1月1日 (1873-01-01), the day Japan adopted the Gregorian calendar (太陽暦).
/// Earlier dates were lunisolar (旧暦) and cannot be converted exactly.
pub const FIRST_CONVERTIBLE_DAY: Date = date(1873, 1, 1);

impl Era {
    fn row(self) -> &'static EraRow {
        &ERA_TABLE[self as usize]
    }

    /// 元号名 in kanji, e.g. 「令和」.
    pub fn name_ja(self) -> &'static str {
        self.row().name_ja
    }

    /// English (Hepburn) name, e.g. "Reiwa"; used in log messages.
    pub fn name_en(self) -> &'static str {
        self.row().name_en
    }

    /// JIS X 0301 era letter (M, T, S, H, R).
    pub fn letter(self) -> char {
        self.row().letter
    }

    /// 元年の初日: first day of the era (Gregorian).
    pub fn first_day(self) -> Date {
        self.row().first_day
    }

    /// 最終日: last day of the era (Gregorian), `None` for the current era.
    /// A dual-dated change-over day (改元当日) is counted in the newer era here.
    pub fn last_day(self) -> Option<Date> {
        ERA_TABLE.get(self as usize + 1).and_then(|next| next.first_day.yesterday().ok())
    }

    /// 全元号: every supported era, oldest first.
    pub fn all() -> &'static [Era] {
        &ALL_ERAS
    }

    /// Last day on which a date may be written in this era, including the dual-dated
    /// change-over day for same-day handovers.
    fn last_valid_day(self) -> Option<Date> {
        let next = ERA_TABLE.get(self as usize + 1)?;
        match self.row().handover {
            Handover::SameDay => Some(next.first_day),
            Handover::NextDay => next.first_day.yesterday().ok(),
        }
    }

    /// The era year (1 = 元年) of a Gregorian date, without checking the era's range.
    fn year_of(self, date: Date) -> i16 {
        date.year() - self.first_day().year() + 1
    }

    /// The Gregorian year of an era year, if it is within 1..=9999.
    fn gregorian_year(self, year: i16) -> Option<i16> {
        let g = i32::from(self.first_day().year()) + i32::from(year) - 1;
        if (1..=9999).contains(&g) { i16::try_from(g).ok() } else { None }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_en())
    }
}

/// A date as the caller gave it (和暦 or 西暦); carried by [`WarekiError::Lunisolar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateInput {
    /// 和暦 as written (1 = 元年).
    Wareki {
        /// 元号
        era: Era,
        /// 年 (1 = 元年)
        year: i16,
        /// 月
        month: i8,
        /// 日
        day: i8,
    },
    /// 西暦 (Gregorian).
    Gregorian(Date),
}

impl fmt::Display for DateInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DateInput::Wareki { era, year, month, day } => {
                write!(f, "{era} {year}-{month:02}-{day:02}")
            }
            DateInput::Gregorian(d) => write!(f, "{d}"),
        }
    }
}

/// Errors from 和暦 validation, conversion and parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarekiError {
    /// 0年・負の年: era years start at 1 (元年).
    #[error("{era} year {year} does not exist (era years start at 1)")]
    InvalidYear {
        /// 元号
        era: Era,
        /// 年 as given
        year: i16,
    },
    /// The era year maps past Gregorian year 9999.
    #[error("{era} year {year} is beyond the supported range")]
    YearOutOfRange {
        /// 元号
        era: Era,
        /// 年 as given
        year: i16,
    },
    /// 月 outside 1–12.
    #[error("month {month} does not exist ({era} {year})")]
    InvalidMonth {
        /// 元号
        era: Era,
        /// 年
        year: i16,
        /// 月 as given
        month: i8,
    },
    /// 日 outside 1..=days in that month (day 0, 31 in a short month, 2月29日 in a common year).
    #[error("{era} {year}-{month:02}-{day:02} does not exist (the month has {max_day} days)")]
    InvalidDay {
        /// 元号
        era: Era,
        /// 年
        year: i16,
        /// 月
        month: i8,
        /// 日 as given
        day: i8,
        /// Number of days in that month.
        max_day: i8,
    },
    /// The date is before the era's first day (e.g. 平成元年1月7日).
    #[error("{era} {year}-{month:02}-{day:02} is before the era began on {first_day}")]
    BeforeEraStart {
        /// 元号
        era: Era,
        /// 年
        year: i16,
        /// 月
        month: i8,
        /// 日
        day: i8,
        /// The era's first day (Gregorian).
        first_day: Date,
    },
    /// The date is after the era's last valid day (e.g. 平成31年5月1日).
    #[error("{era} {year}-{month:02}-{day:02} is after the era ended on {last_valid_day}")]
    AfterEraEnd {
        /// 元号
        era: Era,
        /// 年
        year: i16,
        /// 月
        month: i8,
        /// 日
        day: i8,
        /// Last day that can be written in this era (Gregorian), counting a dual-dated
        /// change-over day (明治45年7月30日, 大正15年12月25日).
        last_valid_day: Date,
    },
    /// 旧暦: the date is before 1873-01-01 (明治6年1月1日) and cannot be converted exactly.
    #[error("{input} is in the lunisolar calendar period (before 1873-01-01) and cannot be converted")]
    Lunisolar {
        /// The date as given.
        input: DateInput,
    },
    /// A Gregorian date that does not exist (e.g. 2023-02-29).
    #[error("{year:04}-{month:02}-{day:02} is not a valid Gregorian date")]
    InvalidGregorian {
        /// 年 as given
        year: i16,
        /// 月 as given
        month: i8,
        /// 日 as given
        day: i8,
    },
    /// The text is not in any accepted date format.
    #[error("malformed date: {:?}", shorten(input))]
    Malformed {
        /// The input as given (before normalization).
        input: String,
    },
}

impl WarekiError {
    /// 利用者向けの日本語メッセージ (for the counter UI).
    pub fn message_ja(&self) -> String {
        match self {
            WarekiError::InvalidYear { era, year } => {
                format!("{}{}年は存在しない年です（年は元年から数えます）", era.name_ja(), year)
            }
            WarekiError::YearOutOfRange { era, year } => {
                format!("{}{}年は扱える範囲を超えています", era.name_ja(), year)
            }
            WarekiError::InvalidMonth { era, year, month } => {
                format!("{}{}年{}月は存在しない月です（月は1から12まで）", era.name_ja(), year_ja(*year), month)
            }
            WarekiError::InvalidDay { era, year, month, day, max_day } => {
                let ym = format!("{}{}年{}月", era.name_ja(), year_ja(*year), month);
                let range =
                    if *day < 1 { format!("1日から{max_day}日まで") } else { format!("{max_day}日まで") };
                format!("{ym}{day}日は存在しない日付です（{ym}は{range}）")
            }
            WarekiError::BeforeEraStart { era, year, month, day, first_day } => format!(
                "{}は存在しない日付です（{}は{}から）",
                ja_date(*era, *year, *month, *day),
                era.name_ja(),
                ja_date_in_era(*era, *first_day)
            ),
            WarekiError::AfterEraEnd { era, year, month, day, last_valid_day } => format!(
                "{}は存在しない日付です（{}は{}まで）",
                ja_date(*era, *year, *month, *day),
                era.name_ja(),
                ja_date_in_era(*era, *last_valid_day)
            ),
            WarekiError::Lunisolar { input: DateInput::Wareki { era, year, month, day } } => {
                format!(
                    "{}は旧暦の日付のため変換できません（明治5年12月2日以前は旧暦です）",
                    ja_date(*era, *year, *month, *day)
                )
            }
            WarekiError::Lunisolar { input: DateInput::Gregorian(d) } => format!(
                "{}年{}月{}日は旧暦の時代（明治6年1月1日＝1873年1月1日より前）のため和暦に変換できません",
                d.year(),
                d.month(),
                d.day()
            ),
            WarekiError::InvalidGregorian { year, month, day } => {
                format!("{year}年{month}月{day}日は存在しない日付です")
            }
            WarekiError::Malformed { input } => {
                format!("「{}」は日付として読み取れません（例: 令和7年4月1日、R7.4.1、2025-04-01）", shorten(input))
            }
        }
    }
}

/// At most 40 characters of user input, for messages.
fn shorten(input: &str) -> String {
    const MAX: usize = 40;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let mut s: String = input.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// 「元」 for year 1, otherwise the number.
fn year_ja(year: i16) -> String {
    if year == 1 { "元".to_owned() } else { year.to_string() }
}

/// 「令和元年5月1日」 style, from raw parts.
fn ja_date(era: Era, year: i16, month: i8, day: i8) -> String {
    format!("{}{}年{}月{}日", era.name_ja(), year_ja(year), month, day)
}

/// A Gregorian date as 「31年4月30日」 in the given era, without the era name
/// (for era boundaries in messages; no range check).
fn ja_date_in_era(era: Era, d: Date) -> String {
    format!("{}年{}月{}日", year_ja(era.year_of(d)), d.month(), d.day())
}

/// Days in a Gregorian month (month 1–12; others give 0).
fn days_in_month(year: i16, month: i8) -> i8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

/// A validated 和暦 date. Year 1 is 元年.
///
/// The fields are public for pattern matching; build values with [`WarekiDate::new`] or
/// [`WarekiDate::from_gregorian`] so they are guaranteed to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WarekiDate {
    /// 元号
    pub era: Era,
    /// 年 (1 = 元年)
    pub year: i16,
    /// 月 (1–12)
    pub month: i8,
    /// 日 (1–31)
    pub day: i8,
}

impl WarekiDate {
    /// Validates a 和暦 date. Accepts the dual-dated change-over days 明治45年7月30日 and
    /// 大正15年12月25日; rejects dates outside the era, impossible days, and dates before
    /// 明治6年1月1日 (旧暦).
    pub fn new(era: Era, year: i16, month: i8, day: i8) -> Result<Self, WarekiError> {
        if year < 1 {
            return Err(WarekiError::InvalidYear { era, year });
        }
        let Some(g_year) = era.gregorian_year(year) else {
            return Err(WarekiError::YearOutOfRange { era, year });
        };
        if !(1..=12).contains(&month) {
            return Err(WarekiError::InvalidMonth { era, year, month });
        }
        if g_year < FIRST_CONVERTIBLE_DAY.year() {
            let input = DateInput::Wareki { era, year, month, day };
            return Err(WarekiError::Lunisolar { input });
        }
        let max_day = days_in_month(g_year, month);
        if !(1..=max_day).contains(&day) {
            return Err(WarekiError::InvalidDay { era, year, month, day, max_day });
        }
        let g =
            Date::new(g_year, month, day).map_err(|_| WarekiError::InvalidDay { era, year, month, day, max_day })?;
        if g < era.first_day() {
            let first_day = era.first_day();
            return Err(WarekiError::BeforeEraStart { era, year, month, day, first_day });
        }
        if let Some(last_valid_day) = era.last_valid_day()
            && g > last_valid_day
        {
            return Err(WarekiError::AfterEraEnd { era, year, month, day, last_valid_day });
        }
        Ok(WarekiDate { era, year, month, day })
    }

    /// 西暦→和暦. Always gives the newer era on a change-over day (大正元年7月30日,
    /// 昭和元年12月25日). Dates before 1873-01-01 are rejected as 旧暦.
    pub fn from_gregorian(date: Date) -> Result<Self, WarekiError> {
        let lunisolar = || WarekiError::Lunisolar { input: DateInput::Gregorian(date) };
        if date < FIRST_CONVERTIBLE_DAY {
            return Err(lunisolar());
        }
        let row = ERA_TABLE.iter().rev().find(|r| r.first_day <= date).ok_or_else(lunisolar)?;
        Ok(WarekiDate { era: row.era, year: row.era.year_of(date), month: date.month(), day: date.day() })
    }

    /// 和暦→西暦. Exact for values made by [`WarekiDate::new`] / [`WarekiDate::from_gregorian`];
    /// a hand-built impossible value is clamped to a real date instead of panicking.
    pub fn to_gregorian(&self) -> Date {
        let first = self.era.first_day();
        let year = i32::from(first.year()) + i32::from(self.year) - 1;
        let year = i16::try_from(year.clamp(1, 9999)).unwrap_or(9999);
        let month = self.month.clamp(1, 12);
        let day = self.day.clamp(1, days_in_month(year, month));
        Date::new(year, month, day).unwrap_or(first)
    }

    /// 漢字表記: 「令和元年5月1日」, 「令和7年4月1日」 (ASCII digits, no padding).
    pub fn format_kanji(&self) -> String {
        ja_date(self.era, self.year, self.month, self.day)
    }

    /// JIS X 0301 表記: "R01.05.01" (letter, two-digit year, month and day).
    pub fn format_letter(&self) -> String {
        format!("{}{:02}.{:02}.{:02}", self.era.letter(), self.year, self.month, self.day)
    }
}

impl fmt::Display for WarekiDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_kanji())
    }
}

/// A date for messages and reports: 和暦 in kanji, or ISO for a date before the first era in the table.
pub fn date_label(date: Date) -> String {
    format_date_kanji(date).unwrap_or_else(|_| date.to_string())
}

/// 西暦の日付を漢字の和暦で表記する (e.g. 2019-05-01 → 「令和元年5月1日」).
pub fn format_date_kanji(date: Date) -> Result<String, WarekiError> {
    WarekiDate::from_gregorian(date).map(|w| w.format_kanji())
}

/// 日付の入力を読み取る: parses a date typed at the counter.
///
/// The input is NFKC-normalized (full-width digits, letters and punctuation work) and trimmed.
/// Accepted: 「令和7年4月1日」, 「令和元年5月1日」, 「R7.4.1」, 「r7.4.1」, 「R07.04.01」,
/// 「H31/4/30」, 「S64-1-7」, and Gregorian 「2025-04-01」, 「2025/4/1」, 「2025年4月1日」,
/// 「20250401」. Anything else is [`WarekiError::Malformed`]; well-formed but impossible
/// dates get the specific error.
pub fn parse_date(input: &str) -> Result<Date, WarekiError> {
    let normalized: String = input.nfkc().collect();
    let text = normalized.trim();
    let parsed = parse_wareki(text).or_else(|| parse_gregorian(text));
    match parsed {
        Some(result) => result,
        None => Err(WarekiError::Malformed { input: input.to_owned() }),
    }
}

/// `None`: not 和暦 syntax. `Some(result)`: 和暦 syntax, validated.
fn parse_wareki(text: &str) -> Option<Result<Date, WarekiError>> {
    let mut c = Cursor::new(text);
    let era = c.era()?;
    c.skip_spaces();
    let (year, gannen): (i16, bool) = if c.eat("元") { (1, true) } else { (c.number(4)?, false) };
    c.skip_spaces();
    let (month, day) = if c.eat("年") {
        c.kanji_month_day()?
    } else if gannen {
        return None;
    } else {
        c.separated_month_day()?
    };
    if !c.is_empty() {
        return None;
    }
    Some(WarekiDate::new(era, year, month, day).map(|w| w.to_gregorian()))
}

/// `None`: not Gregorian syntax. `Some(result)`: Gregorian syntax, validated.
fn parse_gregorian(text: &str) -> Option<Result<Date, WarekiError>> {
    let (year, month, day) = if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        let num = |s: &str| s.parse::<i16>().ok();
        let year = num(text.get(0..4)?)?;
        let month = i8::try_from(num(text.get(4..6)?)?).ok()?;
        let day = i8::try_from(num(text.get(6..8)?)?).ok()?;
        (year, month, day)
    } else {
        let mut c = Cursor::new(text);
        let year: i16 = c.exact_digits(4)?;
        c.skip_spaces();
        let (month, day) = if c.eat("年") { c.kanji_month_day()? } else { c.separated_month_day()? };
        if !c.is_empty() {
            return None;
        }
        (year, month, day)
    };
    let invalid = WarekiError::InvalidGregorian { year, month, day };
    if year < 1 {
        return Some(Err(invalid));
    }
    Some(Date::new(year, month, day).map_err(|_| invalid))
}

/// A tiny hand-written scanner over NFKC-normalized input.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { rest: text }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches(' ');
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// An era as kanji name or JIS X 0301 letter (case-insensitive).
    fn era(&mut self) -> Option<Era> {
        for row in ERA_TABLE {
            if self.eat(row.name_ja) {
                return Some(row.era);
            }
        }
        let first = self.rest.chars().next()?;
        let row = ERA_TABLE.iter().find(|r| r.letter.eq_ignore_ascii_case(&first))?;
        self.rest = self.rest.get(first.len_utf8()..)?;
        Some(row.era)
    }

    /// A run of 1..=`max_len` ASCII digits (a longer run is rejected).
    fn number<T: TryFrom<u32>>(&mut self, max_len: usize) -> Option<T> {
        let len = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > max_len {
            return None;
        }
        let (digits, rest) = self.rest.split_at(len);
        self.rest = rest;
        T::try_from(digits.parse::<u32>().ok()?).ok()
    }

    /// Exactly `len` ASCII digits.
    fn exact_digits<T: TryFrom<u32>>(&mut self, len: usize) -> Option<T> {
        let run = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if run != len {
            return None;
        }
        self.number(len)
    }

    /// After 「年」: 「4月1日」 (spaces allowed between parts).
    fn kanji_month_day(&mut self) -> Option<(i8, i8)> {
        self.skip_spaces();
        let month = self.number(2)?;
        self.skip_spaces();
        if !self.eat("月") {
            return None;
        }
        self.skip_spaces();
        let day = self.number(2)?;
        self.skip_spaces();
        if !self.eat("日") {
            return None;
        }
        Some((month, day))
    }

    /// 「.4.1」, 「/4/1」 or 「-4-1」, the same separator twice.
    fn separated_month_day(&mut self) -> Option<(i8, i8)> {
        let sep = ['.', '/', '-'].into_iter().find(|s| self.rest.starts_with(*s))?;
        self.rest = self.rest.get(1..)?;
        let month = self.number(2)?;
        if !self.rest.starts_with(sep) {
            return None;
        }
        self.rest = self.rest.get(1..)?;
        let day = self.number(2)?;
        Some((month, day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(era: Era, year: i16, month: i8, day: i8) -> Result<WarekiDate, WarekiError> {
        WarekiDate::new(era, year, month, day)
    }

    fn ok_w(era: Era, year: i16, month: i8, day: i8) -> WarekiDate {
        WarekiDate { era, year, month, day }
    }

    #[test]
    fn era_table_matches_the_official_dates() {
        let expected = [
            (Era::Meiji, "明治", 'M', date(1868, 1, 25), Some(date(1912, 7, 29))),
            (Era::Taisho, "大正", 'T', date(1912, 7, 30), Some(date(1926, 12, 24))),
            (Era::Showa, "昭和", 'S', date(1926, 12, 25), Some(date(1989, 1, 7))),
            (Era::Heisei, "平成", 'H', date(1989, 1, 8), Some(date(2019, 4, 30))),
            (Era::Reiwa, "令和", 'R', date(2019, 5, 1), None),
        ];
        assert_eq!(Era::all().len(), expected.len());
        for (era, (e, name, letter, first, last)) in Era::all().iter().zip(expected) {
            assert_eq!(*era, e);
            assert_eq!(era.name_ja(), name);
            assert_eq!(era.letter(), letter);
            assert_eq!(era.first_day(), first);
            assert_eq!(era.last_day(), last);
        }
        assert_eq!(Era::Heisei.to_string(), "Heisei");
        for pair in Era::all().windows(2) {
            assert!(pair[0].first_day() < pair[1].first_day());
        }
    }

    #[test]
    fn formats_kanji_with_gannen_and_letters() {
        assert_eq!(ok_w(Era::Reiwa, 1, 5, 1).format_kanji(), "令和元年5月1日");
        assert_eq!(ok_w(Era::Reiwa, 7, 4, 1).format_kanji(), "令和7年4月1日");
        assert_eq!(ok_w(Era::Reiwa, 1, 5, 1).format_letter(), "R01.05.01");
        assert_eq!(ok_w(Era::Heisei, 31, 4, 30).format_letter(), "H31.04.30");
        assert_eq!(ok_w(Era::Reiwa, 7, 4, 1).to_string(), "令和7年4月1日");
        assert_eq!(format_date_kanji(date(2019, 5, 1)), Ok("令和元年5月1日".to_owned()));
        assert_eq!(format_date_kanji(date(2025, 4, 1)), Ok("令和7年4月1日".to_owned()));
    }

    #[test]
    fn converts_known_dates() {
        let cases = [
            (date(1873, 1, 1), ok_w(Era::Meiji, 6, 1, 1)),
            (date(1912, 7, 29), ok_w(Era::Meiji, 45, 7, 29)),
            (date(1912, 7, 30), ok_w(Era::Taisho, 1, 7, 30)),
            (date(1926, 12, 24), ok_w(Era::Taisho, 15, 12, 24)),
            (date(1926, 12, 25), ok_w(Era::Showa, 1, 12, 25)),
            (date(1989, 1, 7), ok_w(Era::Showa, 64, 1, 7)),
            (date(1989, 1, 8), ok_w(Era::Heisei, 1, 1, 8)),
            (date(2019, 4, 30), ok_w(Era::Heisei, 31, 4, 30)),
            (date(2019, 5, 1), ok_w(Era::Reiwa, 1, 5, 1)),
            (date(2025, 4, 1), ok_w(Era::Reiwa, 7, 4, 1)),
        ];
        for (g, wd) in cases {
            assert_eq!(WarekiDate::from_gregorian(g), Ok(wd), "{g}");
            assert_eq!(wd.to_gregorian(), g);
            assert_eq!(w(wd.era, wd.year, wd.month, wd.day), Ok(wd));
        }
    }

    #[test]
    fn dual_dated_change_over_days_are_accepted_as_aliases() {
        let meiji = w(Era::Meiji, 45, 7, 30);
        assert_eq!(meiji, Ok(ok_w(Era::Meiji, 45, 7, 30)));
        assert_eq!(meiji.map(|d| d.to_gregorian()), Ok(date(1912, 7, 30)));
        assert_eq!(WarekiDate::from_gregorian(date(1912, 7, 30)), Ok(ok_w(Era::Taisho, 1, 7, 30)));

        let taisho = w(Era::Taisho, 15, 12, 25);
        assert_eq!(taisho, Ok(ok_w(Era::Taisho, 15, 12, 25)));
        assert_eq!(taisho.map(|d| d.to_gregorian()), Ok(date(1926, 12, 25)));
        assert_eq!(WarekiDate::from_gregorian(date(1926, 12, 25)), Ok(ok_w(Era::Showa, 1, 12, 25)));

        assert_eq!(parse_date("明治45年7月30日"), Ok(date(1912, 7, 30)));
        assert_eq!(parse_date("大正元年7月30日"), Ok(date(1912, 7, 30)));
        assert_eq!(parse_date("大正15年12月25日"), Ok(date(1926, 12, 25)));
        assert_eq!(parse_date("昭和元年12月25日"), Ok(date(1926, 12, 25)));
        assert_eq!(parse_date("M45.7.30"), Ok(date(1912, 7, 30)));
    }

    #[test]
    fn rejects_days_after_an_era_ended() {
        let cases = [
            (Era::Heisei, 31, 5, 1, date(2019, 4, 30)),
            (Era::Showa, 64, 1, 8, date(1989, 1, 7)),
            (Era::Taisho, 15, 12, 26, date(1926, 12, 25)),
            (Era::Meiji, 45, 7, 31, date(1912, 7, 30)),
            (Era::Showa, 65, 1, 1, date(1989, 1, 7)),
        ];
        for (era, year, month, day, last_valid_day) in cases {
            assert_eq!(
                w(era, year, month, day),
                Err(WarekiError::AfterEraEnd { era, year, month, day, last_valid_day })
            );
        }
        let err = w(Era::Heisei, 31, 5, 1).err();
        assert_eq!(
            err.map(|e| e.message_ja()),
            Some("平成31年5月1日は存在しない日付です（平成は31年4月30日まで）".to_owned())
        );
        let err = w(Era::Meiji, 45, 7, 31).err();
        assert_eq!(
            err.map(|e| e.message_ja()),
            Some("明治45年7月31日は存在しない日付です（明治は45年7月30日まで）".to_owned())
        );
        assert_eq!(
            parse_date("Ｈ３１．５．１").map_err(|e| e.message_ja()),
            Err("平成31年5月1日は存在しない日付です（平成は31年4月30日まで）".to_owned())
        );
        assert_eq!(
            w(Era::Showa, 64, 1, 8).map_err(|e| e.message_ja()),
            Err("昭和64年1月8日は存在しない日付です（昭和は64年1月7日まで）".to_owned())
        );
    }

    #[test]
    fn rejects_days_before_an_era_began() {
        let cases = [
            (Era::Reiwa, 1, 4, 30, date(2019, 5, 1)),
            (Era::Heisei, 1, 1, 7, date(1989, 1, 8)),
            (Era::Showa, 1, 12, 24, date(1926, 12, 25)),
            (Era::Taisho, 1, 7, 29, date(1912, 7, 30)),
        ];
        for (era, year, month, day, first_day) in cases {
            assert_eq!(w(era, year, month, day), Err(WarekiError::BeforeEraStart { era, year, month, day, first_day }));
        }
        assert_eq!(
            w(Era::Reiwa, 1, 4, 30).map_err(|e| e.message_ja()),
            Err("令和元年4月30日は存在しない日付です（令和は元年5月1日から）".to_owned())
        );
        assert_eq!(
            w(Era::Heisei, 1, 1, 7).map_err(|e| e.message_ja()),
            Err("平成元年1月7日は存在しない日付です（平成は元年1月8日から）".to_owned())
        );
    }

    #[test]
    fn rejects_impossible_calendar_days() {
        let invalid_day =
            |era, year, month, day, max_day| Err(WarekiError::InvalidDay { era, year, month, day, max_day });
        assert_eq!(w(Era::Reiwa, 7, 4, 0), invalid_day(Era::Reiwa, 7, 4, 0, 30));
        assert_eq!(w(Era::Reiwa, 7, 4, -1), invalid_day(Era::Reiwa, 7, 4, -1, 30));
        assert_eq!(w(Era::Reiwa, 7, 4, 31), invalid_day(Era::Reiwa, 7, 4, 31, 30));
        assert_eq!(w(Era::Reiwa, 7, 6, 31), invalid_day(Era::Reiwa, 7, 6, 31, 30));
        assert_eq!(w(Era::Reiwa, 7, 9, 31), invalid_day(Era::Reiwa, 7, 9, 31, 30));
        assert_eq!(w(Era::Reiwa, 7, 11, 31), invalid_day(Era::Reiwa, 7, 11, 31, 30));
        assert_eq!(w(Era::Reiwa, 7, 1, 32), invalid_day(Era::Reiwa, 7, 1, 32, 31));
        assert_eq!(w(Era::Reiwa, 5, 2, 29), invalid_day(Era::Reiwa, 5, 2, 29, 28));
        assert_eq!(w(Era::Reiwa, 6, 2, 30), invalid_day(Era::Reiwa, 6, 2, 30, 29));
        // 明治33年 = 1900: not a leap year; 平成12年 = 2000: a leap year.
        assert_eq!(w(Era::Meiji, 33, 2, 29), invalid_day(Era::Meiji, 33, 2, 29, 28));
        assert_eq!(w(Era::Heisei, 12, 2, 29), Ok(ok_w(Era::Heisei, 12, 2, 29)));
        assert_eq!(w(Era::Reiwa, 6, 2, 29), Ok(ok_w(Era::Reiwa, 6, 2, 29)));
        assert_eq!(
            w(Era::Reiwa, 5, 2, 29).map_err(|e| e.message_ja()),
            Err("令和5年2月29日は存在しない日付です（令和5年2月は28日まで）".to_owned())
        );
        assert_eq!(
            w(Era::Reiwa, 7, 4, 0).map_err(|e| e.message_ja()),
            Err("令和7年4月0日は存在しない日付です（令和7年4月は1日から30日まで）".to_owned())
        );
    }

    #[test]
    fn rejects_bad_months_and_years() {
        for month in [0, 13, -1, i8::MAX] {
            assert_eq!(w(Era::Reiwa, 7, month, 1), Err(WarekiError::InvalidMonth { era: Era::Reiwa, year: 7, month }));
        }
        for year in [0, -1, i16::MIN] {
            assert_eq!(w(Era::Heisei, year, 1, 1), Err(WarekiError::InvalidYear { era: Era::Heisei, year }));
        }
        assert_eq!(w(Era::Reiwa, i16::MAX, 1, 1), Err(WarekiError::YearOutOfRange { era: Era::Reiwa, year: i16::MAX }));
        assert_eq!(w(Era::Reiwa, 7981, 12, 31).map(|d| d.to_gregorian()), Ok(date(9999, 12, 31)));
        assert_eq!(w(Era::Reiwa, 7982, 1, 1), Err(WarekiError::YearOutOfRange { era: Era::Reiwa, year: 7982 }));
        assert_eq!(
            w(Era::Reiwa, 13, 13, 1).map_err(|e| e.message_ja()),
            Err("令和13年13月は存在しない月です（月は1から12まで）".to_owned())
        );
        assert_eq!(
            w(Era::Reiwa, 0, 1, 1).map_err(|e| e.message_ja()),
            Err("令和0年は存在しない年です（年は元年から数えます）".to_owned())
        );
    }

    #[test]
    fn rejects_lunisolar_period_both_ways() {
        for (year, month, day) in [(5, 12, 2), (5, 12, 31), (1, 1, 1), (1, 1, 25), (3, 6, 15)] {
            let input = DateInput::Wareki { era: Era::Meiji, year, month, day };
            assert_eq!(w(Era::Meiji, year, month, day), Err(WarekiError::Lunisolar { input }));
        }
        assert_eq!(w(Era::Meiji, 6, 1, 1), Ok(ok_w(Era::Meiji, 6, 1, 1)));
        for g in [date(1872, 12, 31), date(1868, 1, 25), date(1800, 1, 1), date(-5, 3, 1)] {
            let input = DateInput::Gregorian(g);
            assert_eq!(WarekiDate::from_gregorian(g), Err(WarekiError::Lunisolar { input }));
            assert_eq!(format_date_kanji(g), Err(WarekiError::Lunisolar { input }));
        }
        assert_eq!(
            w(Era::Meiji, 5, 12, 2).map_err(|e| e.message_ja()),
            Err("明治5年12月2日は旧暦の日付のため変換できません（明治5年12月2日以前は旧暦です）".to_owned())
        );
        assert_eq!(
            WarekiDate::from_gregorian(date(1872, 12, 31)).map_err(|e| e.message_ja()),
            Err("1872年12月31日は旧暦の時代（明治6年1月1日＝1873年1月1日より前）のため和暦に変換できません".to_owned())
        );
        assert_eq!(
            parse_date("明治5年12月2日"),
            Err(WarekiError::Lunisolar { input: DateInput::Wareki { era: Era::Meiji, year: 5, month: 12, day: 2 } })
        );
        // Plain Gregorian dates before the reform still parse as Gregorian.
        assert_eq!(parse_date("1872-12-31"), Ok(date(1872, 12, 31)));
        assert_eq!(parse_date("1868/1/25"), Ok(date(1868, 1, 25)));
    }

    #[test]
    fn parses_every_documented_form() {
        let cases = [
            ("令和7年4月1日", date(2025, 4, 1)),
            ("令和元年5月1日", date(2019, 5, 1)),
            ("令和1年5月1日", date(2019, 5, 1)),
            ("R7.4.1", date(2025, 4, 1)),
            ("r7.4.1", date(2025, 4, 1)),
            ("R07.04.01", date(2025, 4, 1)),
            ("H31/4/30", date(2019, 4, 30)),
            ("S64-1-7", date(1989, 1, 7)),
            ("2025-04-01", date(2025, 4, 1)),
            ("2025/4/1", date(2025, 4, 1)),
            ("2025年4月1日", date(2025, 4, 1)),
            ("20250401", date(2025, 4, 1)),
            ("  令和7年4月1日\n", date(2025, 4, 1)),
            ("令和 7年 4月 1日", date(2025, 4, 1)),
            ("m6.1.1", date(1873, 1, 1)),
            ("T1.7.30", date(1912, 7, 30)),
            ("R7981.12.31", date(9999, 12, 31)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_date(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn parses_full_width_input_after_nfkc() {
        let cases = [
            ("令和７年４月１日", date(2025, 4, 1)),
            ("Ｒ７．４．１", date(2025, 4, 1)),
            ("ｒ０７．０４．０１", date(2025, 4, 1)),
            ("Ｈ３１／４／３０", date(2019, 4, 30)),
            ("２０２５－０４－０１", date(2025, 4, 1)),
            ("２０２５年４月１日", date(2025, 4, 1)),
            ("２０２５０４０１", date(2025, 4, 1)),
            ("　令和元年５月１日　", date(2019, 5, 1)),
            ("㍻31年4月30日", date(2019, 4, 30)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_date(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_input_quoting_it() {
        for input in [
            "",
            "   ",
            "令和",
            "令和7年",
            "令和7年4月",
            "令和7年4月1",
            "令和7年4月1日です",
            "R7.4",
            "R7.4/1",
            "R7..4.1",
            "R元.5.1",
            "X7.4.1",
            "令和七年四月一日",
            "2025-4",
            "2025-04-01T00:00",
            "25-04-01",
            "202504011",
            "2025-004-01",
            "R12345.1.1",
            "R7.4.1.",
            "今日",
        ] {
            assert_eq!(parse_date(input), Err(WarekiError::Malformed { input: input.to_owned() }), "{input:?}");
        }
        let err = parse_date("きのう").err();
        assert_eq!(err.as_ref().map(|e| e.to_string()), Some("malformed date: \"きのう\"".to_owned()));
        assert_eq!(
            err.map(|e| e.message_ja()),
            Some("「きのう」は日付として読み取れません（例: 令和7年4月1日、R7.4.1、2025-04-01）".to_owned())
        );
    }

    #[test]
    fn parse_rejects_impossible_dates_with_specific_errors() {
        assert_eq!(parse_date("2023-02-29"), Err(WarekiError::InvalidGregorian { year: 2023, month: 2, day: 29 }));
        assert_eq!(parse_date("20231301"), Err(WarekiError::InvalidGregorian { year: 2023, month: 13, day: 1 }));
        assert_eq!(parse_date("0000-01-01"), Err(WarekiError::InvalidGregorian { year: 0, month: 1, day: 1 }));
        assert_eq!(
            parse_date("2023-02-29").map_err(|e| e.message_ja()),
            Err("2023年2月29日は存在しない日付です".to_owned())
        );
        assert!(matches!(parse_date("平成31年5月1日"), Err(WarekiError::AfterEraEnd { .. })));
        assert!(matches!(parse_date("S64.1.8"), Err(WarekiError::AfterEraEnd { .. })));
        assert!(matches!(parse_date("令和元年4月30日"), Err(WarekiError::BeforeEraStart { .. })));
        assert!(matches!(parse_date("令和5年2月29日"), Err(WarekiError::InvalidDay { .. })));
        assert!(matches!(parse_date("R0.1.1"), Err(WarekiError::InvalidYear { .. })));
        assert!(matches!(parse_date("令和0年1月1日"), Err(WarekiError::InvalidYear { .. })));
        assert!(matches!(parse_date("R7.13.1"), Err(WarekiError::InvalidMonth { .. })));
        assert!(matches!(parse_date("R7.0.1"), Err(WarekiError::InvalidMonth { .. })));
        assert!(matches!(parse_date("R7.4.0"), Err(WarekiError::InvalidDay { .. })));
    }

    #[test]
    fn english_display_has_no_trailing_period() {
        let errors = [
            w(Era::Heisei, 31, 5, 1).err(),
            w(Era::Heisei, 0, 5, 1).err(),
            w(Era::Reiwa, 9000, 5, 1).err(),
            w(Era::Heisei, 3, 13, 1).err(),
            w(Era::Heisei, 3, 2, 30).err(),
            w(Era::Heisei, 1, 1, 1).err(),
            w(Era::Meiji, 1, 1, 1).err(),
            parse_date("2023-02-29").err(),
            parse_date("x").err(),
        ];
        for e in errors {
            let Some(e) = e else { panic!("expected an error") };
            let text = e.to_string();
            assert!(!text.is_empty() && !text.ends_with('.'), "{text}");
            assert!(!e.message_ja().is_empty());
        }
        assert_eq!(
            w(Era::Heisei, 31, 5, 1).map_err(|e| e.to_string()),
            Err("Heisei 31-05-01 is after the era ended on 2019-04-30".to_owned())
        );
    }

    #[test]
    fn malformed_message_shortens_long_input() {
        let long = "x".repeat(500);
        let msg = parse_date(&long).map_err(|e| e.message_ja());
        assert_eq!(
            msg,
            Err(format!("「{}…」は日付として読み取れません（例: 令和7年4月1日、R7.4.1、2025-04-01）", "x".repeat(40)))
        );
    }

    #[test]
    fn to_gregorian_clamps_hand_built_values_without_panicking() {
        let bogus = WarekiDate { era: Era::Reiwa, year: i16::MAX, month: 14, day: -3 };
        assert_eq!(bogus.to_gregorian(), date(9999, 12, 1));
        let bogus = WarekiDate { era: Era::Reiwa, year: 5, month: 2, day: 31 };
        assert_eq!(bogus.to_gregorian(), date(2023, 2, 28));
    }

    /// Walks every day from 1873-01-01 to 2100-12-31 through every conversion and format.
    #[test]
    fn every_day_round_trips() {
        let last = date(2100, 12, 31);
        let mut d = FIRST_CONVERTIBLE_DAY;
        let mut days = 0_u32;
        let mut prev: Option<WarekiDate> = None;
        loop {
            let wd = WarekiDate::from_gregorian(d);
            let Ok(wd) = wd else { panic!("{d}: {wd:?}") };
            assert_eq!(wd.to_gregorian(), d);
            assert_eq!(WarekiDate::new(wd.era, wd.year, wd.month, wd.day), Ok(wd));
            assert_eq!(parse_date(&wd.format_kanji()), Ok(d), "{}", wd.format_kanji());
            assert_eq!(parse_date(&wd.format_letter()), Ok(d), "{}", wd.format_letter());
            if let Some(p) = prev
                && p.era != wd.era
            {
                // Era boundary: today is the first day, yesterday the previous era's last day.
                assert_eq!(wd.era.first_day(), d);
                assert_eq!(wd.year, 1);
                assert!(wd.format_kanji().contains("元年"), "{}", wd.format_kanji());
                assert_eq!(p.era.last_day().and_then(|l| l.tomorrow().ok()), Some(d));
                let Some(idx) = Era::all().iter().position(|e| *e == wd.era) else { panic!("era not in table") };
                assert_eq!(Some(&p.era), idx.checked_sub(1).and_then(|i| Era::all().get(i)));
            }
            if wd.year == 1 {
                assert!(wd.format_kanji().contains("元年"));
                assert!(!wd.format_kanji().contains("1年"));
            }
            prev = Some(wd);
            days += 1;
            if d == last {
                break;
            }
            let Ok(next) = d.tomorrow() else { panic!("no tomorrow for {d}") };
            d = next;
        }
        assert_eq!(days, 83_275);
        for era in Era::all().iter().skip(1) {
            let Ok(before) = era.first_day().yesterday() else { panic!("no yesterday") };
            let Ok(prev) = WarekiDate::from_gregorian(before) else { panic!("{before}") };
            assert_eq!(Some(before), prev.era.last_day());
            assert_eq!(Era::all().iter().position(|e| e == era), Some(prev.era as usize + 1));
        }
    }

    fn offset_date(offset: i32) -> Date {
        match FIRST_CONVERTIBLE_DAY.checked_add(jiff::Span::new().days(offset)) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn any_era() -> impl Strategy<Value = Era> {
        prop::sample::select(Era::all().to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn gregorian_round_trips(offset in 0_i32..=83_274) {
            let d = offset_date(offset);
            prop_assert!(d <= date(2100, 12, 31));
            let wd = WarekiDate::from_gregorian(d);
            prop_assert!(wd.is_ok(), "{d}: {wd:?}");
            let Ok(wd) = wd else { return Ok(()) };
            prop_assert_eq!(wd.to_gregorian(), d);
            prop_assert_eq!(parse_date(&wd.format_kanji()), Ok(d));
            prop_assert_eq!(parse_date(&wd.format_letter()), Ok(d));
        }

        #[test]
        fn random_parts_are_rejected_or_round_trip(
            era in any_era(),
            year in 0_i16..=70,
            month in -1_i8..=14,
            day in -1_i8..=33,
        ) {
            if let Ok(wd) = WarekiDate::new(era, year, month, day) {
                prop_assert_eq!((wd.era, wd.year, wd.month, wd.day), (era, year, month, day));
                let g = wd.to_gregorian();
                let back = WarekiDate::from_gregorian(g);
                let dual = [ok_w(Era::Meiji, 45, 7, 30), ok_w(Era::Taisho, 15, 12, 25)];
                if dual.contains(&wd) {
                    let Ok(back) = back else { return Err(TestCaseError::fail("alias lost")) };
                    prop_assert_eq!(back.era as usize, era as usize + 1);
                    prop_assert_eq!(back.year, 1);
                    prop_assert_eq!(back.to_gregorian(), g);
                } else {
                    prop_assert_eq!(back, Ok(wd));
                }
                prop_assert_eq!(parse_date(&wd.format_kanji()), Ok(g));
                prop_assert_eq!(parse_date(&wd.format_letter()), Ok(g));
            }
        }

        #[test]
        fn parse_date_never_panics(input in "\\PC{0,20}") {
            let _ = parse_date(&input);
        }
    }
}
