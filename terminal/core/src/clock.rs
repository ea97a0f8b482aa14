//! Time as the counter sees it, injectable so tests and trainings can fix "today" (和暦 on certificates, deadlines).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// The ward's time zone (Asia/Tokyo; a fixed +09:00 if the system has no time zone database).
pub fn ward_zone() -> TimeZone {
    TimeZone::get("Asia/Tokyo").unwrap_or(TimeZone::fixed(jiff::tz::offset(9)))
}

/// A moment as printed on reports: 和暦 date and time at the ward, with the ISO form beside it.
pub fn format_local_time(at_us: i64) -> String {
    let Ok(timestamp) = Timestamp::from_microsecond(at_us) else { return at_us.to_string() };
    let zoned = timestamp.to_zoned(ward_zone());
    let wareki = crate::wareki::date_label(zoned.date());
    format!("{wareki} {}（{}）", zoned.strftime("%H:%M:%S"), zoned.strftime("%Y-%m-%dT%H:%M:%S%:z"))
}

/// A span in whole microseconds, as the store counts time (saturating).
pub fn duration_us(span: std::time::Duration) -> i64 {
    i64::try_from(span.as_micros()).unwrap_or(i64::MAX)
}

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, as a timestamp.
    fn now(&self) -> Timestamp;

    /// Now in microseconds since the Unix epoch (what the store records).
    fn now_us(&self) -> i64 {
        self.now().as_microsecond()
    }

    /// Today's date at the ward (Asia/Tokyo).
    fn today(&self) -> Date {
        Zoned::new(self.now(), ward_zone()).date()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still unless moved (tests, training).
#[derive(Debug)]
pub struct FixedClock {
    now_us: std::sync::atomic::AtomicI64,
}

impl FixedClock {
    /// A clock fixed at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self { now_us: std::sync::atomic::AtomicI64::new(now.as_microsecond()) }
    }

    /// Move the clock forward.
    pub fn advance(&self, span: std::time::Duration) {
        self.now_us.fetch_add(duration_us(span), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        let micros = self.now_us.load(std::sync::atomic::Ordering::SeqCst);
        Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
