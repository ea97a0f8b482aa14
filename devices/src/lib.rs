//! Card readers and certificate printers, over serial and USB, with simulators that speak the same bytes. This
//! crate moves bytes and reports status; it knows nothing of residents, cases or the store.

use serde::{Deserialize, Serialize};

/// What a device reports about itself; actions that need a device are disabled while it is not ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeviceStatus {
    /// Ready to use.
    Ready,
    /// Out of paper (a blocking error for the security-paper tray; never falls back to plain paper).
    NoPaper,
    /// A cover is open.
    CoverOpen,
    /// Paper jam.
    Jam,
    /// Not answering or not connected.
    Offline,
    /// Any other fault, with the device's own description.
    Error(String),
}

impl DeviceStatus {
    /// Whether the device can take work now.
    pub fn is_ready(&self) -> bool {
        matches!(self, DeviceStatus::Ready)
    }

    /// The message shown to the operator.
    pub fn label_ja(&self) -> String {
        match self {
            DeviceStatus::Ready => "準備完了".to_string(),
            DeviceStatus::NoPaper => "用紙切れ".to_string(),
            DeviceStatus::CoverOpen => "カバーオープン".to_string(),
            DeviceStatus::Jam => "紙詰まり".to_string(),
            DeviceStatus::Offline => "オフライン".to_string(),
            DeviceStatus::Error(kind) => format!("エラー（{kind}）"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ready_takes_work() {
        assert!(DeviceStatus::Ready.is_ready());
        for status in [DeviceStatus::NoPaper, DeviceStatus::CoverOpen, DeviceStatus::Jam, DeviceStatus::Offline] {
            assert!(!status.is_ready());
        }
        assert_eq!(DeviceStatus::Error("fuser".into()).label_ja(), "エラー（fuser）");
    }
}
