//! Maps the one-byte USB printer class GET_PORT_STATUS reply (IEEE 1284 status lines) onto [`DeviceStatus`]. It is
//! a control transfer that still answers while bulk OUT is stalled, so it is the status poll for USB printers.

use crate::status::DeviceStatus;

/// Bit set when there is no error (nFault high).
pub const NOT_ERROR: u8 = 0x08;
/// Bit set when the printer is selected (on line).
pub const SELECTED: u8 = 0x10;
/// Bit set when the paper is out.
pub const PAPER_EMPTY: u8 = 0x20;
/// Vendor extension used by pappl: media jam.
pub const VENDOR_JAM: u8 = 0x40;
/// Vendor extension used by pappl: cover open.
pub const VENDOR_COVER_OPEN: u8 = 0x80;

/// Interprets a GET_PORT_STATUS byte. Priority: paper empty, cover open, jam, error, not selected; `0x18` (no error,
/// selected) is ready.
pub fn device_status_from_port_status(byte: u8) -> DeviceStatus {
    if byte & PAPER_EMPTY != 0 {
        DeviceStatus::NoPaper
    } else if byte & VENDOR_COVER_OPEN != 0 {
        DeviceStatus::CoverOpen
    } else if byte & VENDOR_JAM != 0 {
        DeviceStatus::Jam
    } else if byte & NOT_ERROR == 0 {
        DeviceStatus::Error("unspecified".to_string())
    } else if byte & SELECTED == 0 {
        DeviceStatus::Offline
    } else {
        DeviceStatus::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_values_from_the_gadget() {
        assert_eq!(device_status_from_port_status(0x18), DeviceStatus::Ready);
        assert_eq!(device_status_from_port_status(0x38), DeviceStatus::NoPaper);
    }

    #[test]
    fn each_bit() {
        assert_eq!(device_status_from_port_status(0x10), DeviceStatus::Error("unspecified".into()));
        assert_eq!(device_status_from_port_status(0x08), DeviceStatus::Offline);
        assert_eq!(device_status_from_port_status(0x20), DeviceStatus::NoPaper);
        assert_eq!(device_status_from_port_status(0x18 | 0x40), DeviceStatus::Jam);
        assert_eq!(device_status_from_port_status(0x10 | 0x40), DeviceStatus::Jam);
        assert_eq!(device_status_from_port_status(0x18 | 0x80), DeviceStatus::CoverOpen);
        assert_eq!(device_status_from_port_status(0xC0), DeviceStatus::CoverOpen);
        assert_eq!(device_status_from_port_status(0x00), DeviceStatus::Error("unspecified".into()));
        assert_eq!(device_status_from_port_status(0x1F), DeviceStatus::Ready);
    }

    #[test]
    fn only_ready_when_selected_without_error() {
        for byte in 0..=u8::MAX {
            let ready = device_status_from_port_status(byte).is_ready();
            assert_eq!(ready, byte & 0xF8 == 0x18, "byte {byte:#04x}");
        }
    }
}
