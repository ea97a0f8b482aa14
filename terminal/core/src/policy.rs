//! The ward's security policy file: how long an unattended terminal stays open and what counts as unusual access
//! (opening hours, lookups without a case). Wards set these themselves, so they come from a file the administrator
//! keeps — checked in full before a terminal starts, with the key and the reason named when a value is wrong.

use std::path::Path;
use std::time::Duration;

use jiff::civil::Weekday;
use serde::Deserialize;

use crate::anomaly::AnomalyPolicy;
use crate::guard::DEFAULT_IDLE_LIMIT;

/// The longest idle lock a ward may set: an unattended counter terminal must not stay open longer.
pub const MAX_IDLE_LOCK_MINUTES: u16 = 30;

/// The ward's security policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// Idle time after which the terminal locks (画面ロック).
    pub idle_lock: Duration,
    /// 異常検知 rules.
    pub anomaly: AnomalyPolicy,
}

impl Default for SecurityPolicy {
    /// 5 idle minutes; the default anomaly rules.
    fn default() -> Self {
        SecurityPolicy { idle_lock: DEFAULT_IDLE_LIMIT, anomaly: AnomalyPolicy::default() }
    }
}

/// A policy file that cannot be used; nothing of it is applied.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("security policy {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("security policy: {0}")]
    Syntax(String),
    /// A value is out of range.
    #[error("security policy: {key}: {reason}")]
    Invalid {
        /// The key, e.g. `opening_hours.closes`.
        key: &'static str,
        /// Why, in English.
        reason: String,
        /// Why, in Japanese.
        reason_ja: String,
    },
}

impl PolicyError {
    /// The message for the administrator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            PolicyError::Read { path, .. } => format!("セキュリティ設定ファイル（{path}）を読めません"),
            PolicyError::Syntax(_) => {
                "セキュリティ設定ファイルの書式に誤りがあります（不明な項目または型の誤り）".to_string()
            }
            PolicyError::Invalid { key, reason_ja, .. } => format!("セキュリティ設定「{key}」：{reason_ja}"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    idle_lock_minutes: Option<u16>,
    opening_hours: Option<OpeningHoursFile>,
    lookups: Option<LookupsFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpeningHoursFile {
    opens: String,
    closes: String,
    days: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupsFile {
    without_case_limit: usize,
    window_minutes: u16,
}

fn invalid(key: &'static str, reason: impl Into<String>, reason_ja: impl Into<String>) -> PolicyError {
    PolicyError::Invalid { key, reason: reason.into(), reason_ja: reason_ja.into() }
}

/// `HH:MM` → minutes after midnight.
fn minute_of_day(key: &'static str, text: &str) -> Result<u16, PolicyError> {
    let parsed = text.split_once(':').and_then(|(hours, minutes)| {
        let (hours, minutes) = (hours.parse::<u16>().ok()?, minutes.parse::<u16>().ok()?);
        (text.len() == 5 && hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
    });
    parsed.ok_or_else(|| {
        invalid(key, format!("{text:?} is not a time HH:MM"), format!("「{text}」は時刻（HH:MM）ではありません"))
    })
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

impl SecurityPolicy {
    /// Parse and check a policy file's text. Keys left out keep their defaults.
    pub fn parse(text: &str) -> Result<SecurityPolicy, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let mut policy = SecurityPolicy::default();
        if let Some(minutes) = file.idle_lock_minutes {
            if minutes == 0 || minutes > MAX_IDLE_LOCK_MINUTES {
                return Err(invalid(
                    "idle_lock_minutes",
                    format!("{minutes} is outside 1–{MAX_IDLE_LOCK_MINUTES} minutes"),
                    format!("{minutes}分は設定できません（1〜{MAX_IDLE_LOCK_MINUTES}分）"),
                ));
            }
            policy.idle_lock = Duration::from_secs(u64::from(minutes) * 60);
        }
        if let Some(hours) = file.opening_hours {
            let opens = minute_of_day("opening_hours.opens", &hours.opens)?;
            let closes = minute_of_day("opening_hours.closes", &hours.closes)?;
            if closes <= opens {
                return Err(invalid(
                    "opening_hours.closes",
                    format!("closes at {} before it opens at {}", hours.closes, hours.opens),
                    format!("終了時刻（{}）が開始時刻（{}）より前です", hours.closes, hours.opens),
                ));
            }
            let mut days = Vec::new();
            for day in &hours.days {
                let parsed = weekday(day).ok_or_else(|| {
                    invalid(
                        "opening_hours.days",
                        format!("{day:?} is not one of mon tue wed thu fri sat sun"),
                        format!("「{day}」は曜日（mon〜sun）ではありません"),
                    )
                })?;
                if days.contains(&parsed) {
                    return Err(invalid(
                        "opening_hours.days",
                        format!("{day:?} twice"),
                        format!("「{day}」が重複しています"),
                    ));
                }
                days.push(parsed);
            }
            if days.is_empty() {
                return Err(invalid("opening_hours.days", "no opening day", "開庁日が1日もありません"));
            }
            policy.anomaly.opens_at_minute = opens;
            policy.anomaly.closes_at_minute = closes;
            policy.anomaly.open_days = days;
        }
        if let Some(lookups) = file.lookups {
            if lookups.without_case_limit == 0 {
                return Err(invalid("lookups.without_case_limit", "must be at least 1", "1以上にしてください"));
            }
            if !(5..=1440).contains(&lookups.window_minutes) {
                return Err(invalid(
                    "lookups.window_minutes",
                    format!("{} is outside 5–1440 minutes", lookups.window_minutes),
                    format!("{}分は設定できません（5〜1440分）", lookups.window_minutes),
                ));
            }
            policy.anomaly.lookups_without_case = lookups.without_case_limit;
            policy.anomaly.window_minutes = lookups.window_minutes;
        }
        Ok(policy)
    }

    /// Read and check a policy file.
    pub fn load(path: &Path) -> Result<SecurityPolicy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_policy_is_applied_and_left_out_keys_keep_their_defaults() {
        let policy = SecurityPolicy::parse(
            "idle_lock_minutes = 3\n[opening_hours]\nopens = \"08:00\"\ncloses = \"19:00\"\ndays = [\"mon\", \"sat\"]\n\
             [lookups]\nwithout_case_limit = 5\nwindow_minutes = 30\n",
        )
        .expect("valid");
        assert_eq!(policy.idle_lock, Duration::from_secs(180));
        assert_eq!(policy.anomaly.opens_at_minute, 480);
        assert_eq!(policy.anomaly.closes_at_minute, 1140);
        assert_eq!(policy.anomaly.open_days, vec![Weekday::Monday, Weekday::Saturday]);
        assert_eq!((policy.anomaly.lookups_without_case, policy.anomaly.window_minutes), (5, 30));
        assert_eq!(SecurityPolicy::parse("").expect("empty"), SecurityPolicy::default());
        assert_eq!(
            SecurityPolicy::parse("idle_lock_minutes = 10").expect("idle only").anomaly,
            AnomalyPolicy::default()
        );
    }

    #[test]
    fn the_shipped_example_policy_is_the_default() {
        let policy = SecurityPolicy::parse(include_str!("../../../config/policy.example.toml")).expect("example");
        assert_eq!(policy, SecurityPolicy::default());
    }

    #[test]
    fn every_bad_value_is_refused_naming_its_key() {
        let hours = |opens: &str, closes: &str, days: &str| {
            format!("[opening_hours]\nopens = \"{opens}\"\ncloses = \"{closes}\"\ndays = {days}\n")
        };
        for (text, key) in [
            ("idle_lock_minutes = 0".to_string(), "idle_lock_minutes"),
            ("idle_lock_minutes = 31".to_string(), "idle_lock_minutes"),
            (hours("8:30", "17:15", "[\"mon\"]"), "opening_hours.opens"),
            (hours("08:30", "24:00", "[\"mon\"]"), "opening_hours.closes"),
            (hours("17:15", "08:30", "[\"mon\"]"), "opening_hours.closes"),
            (hours("08:30", "17:15", "[]"), "opening_hours.days"),
            (hours("08:30", "17:15", "[\"monday\"]"), "opening_hours.days"),
            (hours("08:30", "17:15", "[\"mon\", \"mon\"]"), "opening_hours.days"),
            ("[lookups]\nwithout_case_limit = 0\nwindow_minutes = 60".to_string(), "lookups.without_case_limit"),
            ("[lookups]\nwithout_case_limit = 5\nwindow_minutes = 2".to_string(), "lookups.window_minutes"),
        ] {
            let err = SecurityPolicy::parse(&text).expect_err(&text);
            assert!(err.to_string().contains(key), "{err} should name {key}");
            assert!(err.message_ja().contains(key), "{}", err.message_ja());
        }
        for text in [
            "idle_lock = 5",
            "idle_lock_minutes = \"five\"",
            "idle_lock_minutes = -1",
            "[lookups]\nwindow_minutes = 60",
        ] {
            assert!(matches!(SecurityPolicy::parse(text), Err(PolicyError::Syntax(_))), "{text}");
        }
    }
}
