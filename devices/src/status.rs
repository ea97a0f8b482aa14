//! The one status vocabulary every device reports in. The application disables actions that need a device while it is
//! not ready and shows `label_ja` to the operator; protocol modules (`port_status`, `pjl`, `serial`) map their own
//! codes onto it.

use serde::{Deserialize, Serialize};

/// What a device reports about itself; actions that need a device are disabled while it is not ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeviceStatus {
    /// Ready to use (準備完了).
    Ready,
    /// Out of paper (用紙切れ); a blocking error for the security-paper tray, never a fallback to plain paper.
    NoPaper,
    /// A cover is open (カバーオープン).
    CoverOpen,
    /// Paper jam (紙詰まり).
    Jam,
    /// Not answering or not connected (オフライン).
    Offline,
    /// Any other fault, with the device's own description (エラー).
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
        for status in [
            DeviceStatus::NoPaper,
            DeviceStatus::CoverOpen,
            DeviceStatus::Jam,
            DeviceStatus::Offline,
            DeviceStatus::Error("x".into()),
        ] {
            assert!(!status.is_ready());
        }
    }

    #[test]
    fn japanese_labels() {
        assert_eq!(DeviceStatus::Ready.label_ja(), "準備完了");
        assert_eq!(DeviceStatus::NoPaper.label_ja(), "用紙切れ");
        assert_eq!(DeviceStatus::CoverOpen.label_ja(), "カバーオープン");
        assert_eq!(DeviceStatus::Jam.label_ja(), "紙詰まり");
        assert_eq!(DeviceStatus::Offline.label_ja(), "オフライン");
        assert_eq!(DeviceStatus::Error("fuser".into()).label_ja(), "エラー（fuser）");
    }

    #[test]
    fn serde_round_trip_is_declared() {
        fn assert_serde<T: Serialize + for<'de> Deserialize<'de>>() {}
        assert_serde::<DeviceStatus>();
    }
}
