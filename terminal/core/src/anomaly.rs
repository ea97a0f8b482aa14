//! 異常検知: the access patterns the contract asks the ward to be alerted to even though each single call was
//! allowed — resident lookups outside opening hours, many lookups by one person with no case to show for them, an
//! account locked by repeated failed logins. The counter checks these after the call is recorded and raises an
//! incident for the administrators (the same table as removable media), at most once per person and window.

use jiff::Timestamp;
use jiff::civil::Weekday;

/// When and how much looking up is ordinary at this ward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyPolicy {
    /// Opening time, minutes after midnight at the ward (08:30 → 510).
    pub opens_at_minute: u16,
    /// Closing time, minutes after midnight (17:15 → 1035); lookups at or after it are after hours.
    pub closes_at_minute: u16,
    /// Days the counter is open.
    pub open_days: Vec<Weekday>,
    /// More resident searches than this by one person within `window_minutes`, with no case opened by them in that
    /// window, raise an incident.
    pub lookups_without_case: usize,
    /// The window of the lookup count.
    pub window_minutes: u16,
}

impl Default for AnomalyPolicy {
    /// 8:30–17:15, Monday to Friday; 20 searches an hour without a case.
    fn default() -> Self {
        AnomalyPolicy {
            opens_at_minute: 8 * 60 + 30,
            closes_at_minute: 17 * 60 + 15,
            open_days: vec![Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday],
            lookups_without_case: 20,
            window_minutes: 60,
        }
    }
}

/// An incident kind raised by these rules.
pub mod kind {
    /// A resident lookup outside opening hours.
    pub const AFTER_HOURS: &str = "lookup.after_hours";
    /// Many lookups by one person without a case.
    pub const LOOKUPS_WITHOUT_CASE: &str = "lookups.without_case";
    /// An account was locked by repeated failed logins.
    pub const REPEATED_FAILED_LOGINS: &str = "login.repeated_failures";
}

impl AnomalyPolicy {
    /// Whether `at_us` falls in opening hours at the ward (Asia/Tokyo).
    pub fn is_open(&self, at_us: i64) -> bool {
        let Ok(timestamp) = Timestamp::from_microsecond(at_us) else { return false };
        let local = timestamp.to_zoned(crate::clock::ward_zone());
        let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
        self.open_days.contains(&local.weekday())
            && minute >= i32::from(self.opens_at_minute)
            && minute < i32::from(self.closes_at_minute)
    }

    /// The start of the lookup window ending at `now_us`.
    pub fn window_start(&self, now_us: i64) -> i64 {
        now_us.saturating_sub(i64::from(self.window_minutes) * 60_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().expect("timestamp").as_microsecond()
    }

    #[test]
    fn opening_hours_are_the_wards_local_time() {
        let policy = AnomalyPolicy::default();
        // 2026-11-20 is a Friday. 08:29 JST is 23:29 UTC the day before.
        assert!(!policy.is_open(at("2026-11-19T23:29:00Z")), "08:29 JST");
        assert!(policy.is_open(at("2026-11-19T23:30:00Z")), "08:30 JST");
        assert!(policy.is_open(at("2026-11-20T08:14:59Z")), "17:14 JST");
        assert!(!policy.is_open(at("2026-11-20T08:15:00Z")), "17:15 JST");
        assert!(!policy.is_open(at("2026-11-21T01:00:00Z")), "Saturday 10:00 JST");
        assert_eq!(policy.window_start(at("2026-11-20T01:00:00Z")), at("2026-11-20T00:00:00Z"));
    }
}
