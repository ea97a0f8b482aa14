//! Card readers and certificate printers, over serial and USB, with simulators that speak the same bytes. This
//! crate moves bytes and reports status; it knows nothing of residents, cases or the store.

pub mod apdu;
pub mod ccid;
pub mod config;
pub mod ieee1284;
pub mod job;
pub mod magstripe;
pub mod mynumber;
#[cfg(feature = "pcsc")]
pub mod pcsc_reader;
pub mod pjl;
pub mod port_status;
pub mod serial;
pub mod status;
pub mod usb;
pub mod usb_printer;
pub mod virtual_card;
pub mod vpcd;

pub use status::DeviceStatus;
