//! Why a terminal locks by itself: the user's registered USB key (the second factor) left the bus, removable
//! storage arrived (持ち出し禁止: no medium may ever be attached to a counter terminal), or nobody touched it for the
//! idle limit. The bus watcher in `devices` reports arrivals and removals; this module decides, with time passed in,
//! so it is tested without sleeping; the terminal locks its screen and the counter records the incident.

use devices::usb::{BusEvent, UsbDeviceInfo, class};
use serde::{Deserialize, Serialize};

/// The default idle lock (security.md §5.2: at most 5 minutes).
pub const DEFAULT_IDLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// A registered USB key: the second factor a user must have attached to log in and to stay logged in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsbKey {
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// Serial number (a key without one cannot be told apart from its siblings, so it is not accepted).
    pub serial: String,
}

/// Why a USB key description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a USB key is written VENDOR:PRODUCT:SERIAL in hex, e.g. 1050:0407:12345678 ({0})")]
pub struct UsbKeyParseError(String);

impl UsbKeyParseError {
    /// The message for the admin's screen.
    pub fn message_ja(&self) -> String {
        "USBキーは「ベンダーID:製品ID:シリアル番号」（IDは16進4桁）で入力してください".to_string()
    }
}

impl UsbKey {
    /// Parse `VENDOR:PRODUCT:SERIAL` (ids in hex).
    pub fn parse(text: &str) -> Result<UsbKey, UsbKeyParseError> {
        let mut parts = text.trim().splitn(3, ':');
        let mut id = |what: &str| -> Result<u16, UsbKeyParseError> {
            let part = parts.next().ok_or_else(|| UsbKeyParseError(format!("the {what} id is missing")))?;
            if part.len() != 4 {
                return Err(UsbKeyParseError(format!("the {what} id must be 4 hex digits")));
            }
            u16::from_str_radix(part, 16).map_err(|_| UsbKeyParseError(format!("the {what} id is not hex")))
        };
        let vendor_id = id("vendor")?;
        let product_id = id("product")?;
        let serial = parts.next().unwrap_or_default().trim().to_string();
        if serial.is_empty() || serial.chars().any(char::is_control) {
            return Err(UsbKeyParseError("the serial number is missing".to_string()));
        }
        Ok(UsbKey { vendor_id, product_id, serial })
    }

    /// Whether `device` is this key.
    pub fn matches(&self, device: &UsbDeviceInfo) -> bool {
        device.vendor_id == self.vendor_id
            && device.product_id == self.product_id
            && device.serial.as_deref() == Some(self.serial.as_str())
    }
}

impl std::fmt::Display for UsbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}:{:04x}:{}", self.vendor_id, self.product_id, self.serial)
    }
}

/// Why the terminal locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockReason {
    /// The user's registered USB key is not attached (a session cannot start).
    KeyMissing(UsbKey),
    /// The logged-in user's USB key left the bus.
    KeyRemoved(UsbKey),
    /// A removable storage device arrived.
    RemovableMedia {
        /// Vendor id.
        vendor_id: u16,
        /// Product id.
        product_id: u16,
        /// Serial, if any.
        serial: Option<String>,
    },
    /// Nobody touched the terminal for the idle limit.
    Idle,
}

impl LockReason {
    /// The incident to record, if this lock is one (an idle lock is routine).
    pub fn incident_kind(&self) -> Option<&'static str> {
        match self {
            LockReason::KeyRemoved(_) => Some("usb_key.removed"),
            LockReason::RemovableMedia { .. } => Some("media.attached"),
            LockReason::KeyMissing(_) | LockReason::Idle => None,
        }
    }

    /// The incident's detail (device identity, never resident data).
    pub fn detail(&self) -> serde_json::Value {
        match self {
            LockReason::KeyMissing(key) | LockReason::KeyRemoved(key) => serde_json::json!({ "key": key.to_string() }),
            LockReason::RemovableMedia { vendor_id, product_id, serial } => serde_json::json!({
                "vendor_id": format!("{vendor_id:04x}"),
                "product_id": format!("{product_id:04x}"),
                "serial": serial,
            }),
            LockReason::Idle => serde_json::json!({}),
        }
    }

    /// What the lock screen says.
    pub fn message_ja(&self) -> String {
        match self {
            LockReason::KeyMissing(_) => {
                "登録されたUSBキーが接続されていません。ご自分のUSBキーを差してからログインしてください".to_string()
            }
            LockReason::KeyRemoved(_) => {
                "USBキーが取り外されたため画面をロックしました。USBキーを差し、もう一度ログインしてください".to_string()
            }
            LockReason::RemovableMedia { .. } => "外部記憶媒体（USBメモリ等）が接続されたため画面をロックしました。\
                媒体を取り外し、システム管理者に連絡してください（事故として記録されました）"
                .to_string(),
            LockReason::Idle => {
                "一定時間操作がなかったため画面をロックしました。もう一度ログインしてください".to_string()
            }
        }
    }
}

impl std::fmt::Display for LockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockReason::KeyMissing(key) => write!(f, "the registered USB key {key} is not attached"),
            LockReason::KeyRemoved(key) => write!(f, "the USB key {key} was removed"),
            LockReason::RemovableMedia { vendor_id, product_id, .. } => {
                write!(f, "removable storage {vendor_id:04x}:{product_id:04x} is attached")
            }
            LockReason::Idle => write!(f, "the terminal was idle for the idle limit"),
        }
    }
}

/// The terminal's lock state: what is attached, whose key the session needs, and when it was last used.
#[derive(Debug, Clone)]
pub struct TerminalGuard {
    attached: Vec<UsbDeviceInfo>,
    session_key: Option<UsbKey>,
    in_session: bool,
    idle_limit_us: i64,
    last_activity_us: i64,
}

impl TerminalGuard {
    /// A guard with this idle limit, no session yet.
    pub fn new(idle_limit: std::time::Duration, now_us: i64) -> TerminalGuard {
        TerminalGuard {
            attached: Vec::new(),
            session_key: None,
            in_session: false,
            idle_limit_us: crate::clock::duration_us(idle_limit),
            last_activity_us: now_us,
        }
    }

    /// Whether `key` is attached now.
    pub fn key_present(&self, key: &UsbKey) -> bool {
        self.attached.iter().any(|device| key.matches(device))
    }

    /// Removable storage attached now, if any (a session cannot start while it is there).
    pub fn removable_media(&self) -> Option<LockReason> {
        self.attached.iter().find(|d| d.has_class(class::MASS_STORAGE)).map(media_reason)
    }

    /// Take one bus event. Returns the reason to lock now, if it is one: removable storage arriving (whether or not
    /// anyone is logged in: it is an incident either way), or the session's key leaving.
    pub fn observe(&mut self, event: &BusEvent) -> Option<LockReason> {
        match event {
            BusEvent::Arrived(device) => {
                self.attached.push(device.clone());
                device.has_class(class::MASS_STORAGE).then(|| media_reason(device))
            }
            BusEvent::Left(device) => {
                self.attached.retain(|d| d != device);
                let key = self.session_key.as_ref().filter(|key| key.matches(device) && !self.key_present(key))?;
                let reason = LockReason::KeyRemoved(key.clone());
                self.in_session.then_some(reason)
            }
        }
    }

    /// Start a session that needs `key` (when the user has one registered); refused while the key is absent or
    /// removable storage is attached.
    pub fn start_session(&mut self, key: Option<UsbKey>, now_us: i64) -> Result<(), LockReason> {
        if let Some(reason) = self.removable_media() {
            return Err(reason);
        }
        if let Some(key) = &key
            && !self.key_present(key)
        {
            return Err(LockReason::KeyMissing(key.clone()));
        }
        self.session_key = key;
        self.in_session = true;
        self.last_activity_us = now_us;
        Ok(())
    }

    /// End the session (logout or lock).
    pub fn end_session(&mut self) {
        self.session_key = None;
        self.in_session = false;
    }

    /// The user did something.
    pub fn activity(&mut self, now_us: i64) {
        self.last_activity_us = self.last_activity_us.max(now_us);
    }

    /// Check the idle limit at `now_us`.
    pub fn tick(&self, now_us: i64) -> Option<LockReason> {
        (self.in_session && now_us.saturating_sub(self.last_activity_us) >= self.idle_limit_us)
            .then_some(LockReason::Idle)
    }
}

fn media_reason(device: &UsbDeviceInfo) -> LockReason {
    LockReason::RemovableMedia {
        vendor_id: device.vendor_id,
        product_id: device.product_id,
        serial: device.serial.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(vendor_id: u16, product_id: u16, serial: &str, classes: &[u8]) -> UsbDeviceInfo {
        UsbDeviceInfo {
            bus: 1,
            address: 4,
            vendor_id,
            product_id,
            serial: Some(serial.into()),
            classes: classes.to_vec(),
        }
    }

    fn key() -> UsbKey {
        UsbKey::parse("1050:0407:KEY-0001").expect("key")
    }

    #[test]
    fn keys_parse_and_bad_ones_are_refused() {
        assert_eq!(key(), UsbKey { vendor_id: 0x1050, product_id: 0x0407, serial: "KEY-0001".into() });
        assert_eq!(key().to_string(), "1050:0407:KEY-0001");
        for bad in ["", "1050", "1050:0407", "1050:0407:", "zz50:0407:1", "10500:0407:1", "1050:407:1"] {
            assert!(UsbKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_session_needs_the_key_and_its_removal_locks() {
        let mut guard = TerminalGuard::new(DEFAULT_IDLE_LIMIT, 0);
        assert_eq!(guard.start_session(Some(key()), 0), Err(LockReason::KeyMissing(key())), "key absent");
        assert_eq!(guard.observe(&BusEvent::Arrived(device(0x1050, 0x0407, "KEY-0001", &[class::HID]))), None);
        guard.start_session(Some(key()), 0).expect("key present");
        // Another device leaving, or a foreign key, changes nothing.
        let foreign = device(0x1050, 0x0407, "KEY-9999", &[class::HID]);
        assert_eq!(guard.observe(&BusEvent::Arrived(foreign.clone())), None);
        assert_eq!(guard.observe(&BusEvent::Left(foreign)), None);
        let lock = guard.observe(&BusEvent::Left(device(0x1050, 0x0407, "KEY-0001", &[class::HID])));
        assert_eq!(lock, Some(LockReason::KeyRemoved(key())));
        assert_eq!(lock.and_then(|l| l.incident_kind()), Some("usb_key.removed"));
    }

    #[test]
    fn removable_storage_locks_and_blocks_a_new_session() {
        let mut guard = TerminalGuard::new(DEFAULT_IDLE_LIMIT, 0);
        guard.start_session(None, 0).expect("no key registered");
        let stick = device(0x0781, 0x5583, "STICK", &[class::MASS_STORAGE]);
        let lock = guard.observe(&BusEvent::Arrived(stick.clone())).expect("media locks");
        assert_eq!(lock.incident_kind(), Some("media.attached"));
        assert!(lock.message_ja().contains("外部記憶媒体"));
        guard.end_session();
        assert!(guard.start_session(None, 0).is_err(), "no session while the medium is attached");
        guard.observe(&BusEvent::Left(stick));
        guard.start_session(None, 0).expect("medium removed");
    }

    #[test]
    fn the_idle_limit_locks_and_activity_postpones_it() {
        let minute = 60_000_000;
        let mut guard = TerminalGuard::new(DEFAULT_IDLE_LIMIT, 0);
        assert_eq!(guard.tick(10 * minute), None, "no session, nothing to lock");
        guard.start_session(None, 0).expect("session");
        assert_eq!(guard.tick(4 * minute), None);
        guard.activity(4 * minute);
        assert_eq!(guard.tick(8 * minute), None);
        assert_eq!(guard.tick(9 * minute), Some(LockReason::Idle));
        assert_eq!(LockReason::Idle.incident_kind(), None);
    }
}
