//! The USB bus as the terminal sees it: which devices are attached (vendor, product, serial, classes), and a
//! watcher that reports arrivals and removals. libusb hot-plug callbacks only wake the watcher; it always re-reads
//! the bus and diffs, so a missed callback (no udev in a container, a kiosk without hot-plug) costs at most one
//! polling interval. The security work uses it for the USB key and for removable-storage detection.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusb::UsbContext as _;

/// USB class codes the terminal cares about.
pub mod class {
    /// Printer (certificate printers).
    pub const PRINTER: u8 = 0x07;
    /// Mass storage (removable media: never allowed on a counter terminal).
    pub const MASS_STORAGE: u8 = 0x08;
    /// Smart card (CCID readers).
    pub const SMART_CARD: u8 = 0x0B;
    /// HID (keyboards, barcode wedges, FIDO keys).
    pub const HID: u8 = 0x03;
}

/// One attached device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsbDeviceInfo {
    /// Bus number.
    pub bus: u8,
    /// Address on the bus.
    pub address: u8,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id.
    pub product_id: u16,
    /// Serial number string, if the device has one and it could be read.
    pub serial: Option<String>,
    /// The device class and every interface class.
    pub classes: Vec<u8>,
}

impl UsbDeviceInfo {
    /// Whether the device has an interface of `class`.
    pub fn has_class(&self, class: u8) -> bool {
        self.classes.contains(&class)
    }

    /// The key that tells devices apart across polls.
    fn key(&self) -> (u8, u8, u16, u16, Option<String>) {
        (self.bus, self.address, self.vendor_id, self.product_id, self.serial.clone())
    }
}

/// What changed on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A device appeared.
    Arrived(UsbDeviceInfo),
    /// A device disappeared.
    Left(UsbDeviceInfo),
}

/// Why the bus could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsbError {
    /// libusb could not start or list devices.
    #[error("the USB bus cannot be read: {0}")]
    Bus(String),
    /// The device is not (or no longer) attached.
    #[error("the USB device {0} is not attached")]
    NotFound(String),
    /// A transfer failed.
    #[error("USB transfer failed: {0}")]
    Transfer(String),
}

impl UsbError {
    /// The message for the operator.
    pub fn message_ja(&self) -> String {
        match self {
            UsbError::Bus(_) => "USB機器の状態を読み取れません。端末を再起動してください".to_string(),
            UsbError::NotFound(_) => "USB機器が接続されていません。接続を確認してください".to_string(),
            UsbError::Transfer(_) => "USB機器との通信に失敗しました。接続を確認してください".to_string(),
        }
    }
}

/// A source of the attached-device list.
pub trait UsbEnumerator: Send {
    /// The devices attached now.
    fn list(&mut self) -> Result<Vec<UsbDeviceInfo>, UsbError>;
}

/// The real bus through libusb.
#[derive(Debug)]
pub struct RusbEnumerator {
    context: rusb::Context,
}

impl RusbEnumerator {
    /// Open libusb.
    pub fn new() -> Result<Self, UsbError> {
        Ok(Self { context: rusb::Context::new().map_err(|e| UsbError::Bus(e.to_string()))? })
    }

    /// The libusb context (for hot-plug registration).
    pub fn context(&self) -> &rusb::Context {
        &self.context
    }
}

impl UsbEnumerator for RusbEnumerator {
    fn list(&mut self) -> Result<Vec<UsbDeviceInfo>, UsbError> {
        let devices = self.context.devices().map_err(|e| UsbError::Bus(e.to_string()))?;
        let mut out = Vec::new();
        for device in devices.iter() {
            let Ok(descriptor) = device.device_descriptor() else { continue };
            let mut classes = vec![descriptor.class_code()];
            if let Ok(config) = device.active_config_descriptor() {
                for interface in config.interfaces() {
                    classes.extend(interface.descriptors().map(|d| d.class_code()));
                }
            }
            classes.sort_unstable();
            classes.dedup();
            let serial = device.open().ok().and_then(|handle| handle.read_serial_number_string_ascii(&descriptor).ok());
            out.push(UsbDeviceInfo {
                bus: device.bus_number(),
                address: device.address(),
                vendor_id: descriptor.vendor_id(),
                product_id: descriptor.product_id(),
                serial,
                classes,
            });
        }
        out.sort();
        Ok(out)
    }
}

/// The attached devices with this vendor and product id, with their descriptors (drivers open the one they want).
pub fn devices_with_id(
    context: &rusb::Context,
    vendor_id: u16,
    product_id: u16,
) -> Result<Vec<(rusb::Device<rusb::Context>, rusb::DeviceDescriptor)>, UsbError> {
    let devices = context.devices().map_err(|e| UsbError::Bus(e.to_string()))?;
    Ok(devices
        .iter()
        .filter_map(|device| device.device_descriptor().ok().map(|descriptor| (device, descriptor)))
        .filter(|(_, d)| (d.vendor_id(), d.product_id()) == (vendor_id, product_id))
        .collect())
}

/// A simulated bus: tests and the demo attach and detach devices by hand.
#[derive(Debug, Clone, Default)]
pub struct SimulatedBus {
    devices: Arc<Mutex<Vec<UsbDeviceInfo>>>,
}

impl SimulatedBus {
    /// Attach a device.
    pub fn attach(&self, device: UsbDeviceInfo) {
        self.devices.lock().unwrap_or_else(PoisonError::into_inner).push(device);
    }

    /// Detach every device with this vendor, product and serial.
    pub fn detach(&self, vendor_id: u16, product_id: u16, serial: Option<&str>) {
        self.devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|d| !(d.vendor_id == vendor_id && d.product_id == product_id && d.serial.as_deref() == serial));
    }
}

impl UsbEnumerator for SimulatedBus {
    fn list(&mut self) -> Result<Vec<UsbDeviceInfo>, UsbError> {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner).clone();
        devices.sort();
        Ok(devices)
    }
}

/// The events between two readings of the bus.
pub fn diff(previous: &[UsbDeviceInfo], current: &[UsbDeviceInfo]) -> Vec<BusEvent> {
    let before: BTreeMap<_, _> = previous.iter().map(|d| (d.key(), d)).collect();
    let after: BTreeMap<_, _> = current.iter().map(|d| (d.key(), d)).collect();
    let mut events: Vec<BusEvent> =
        before.iter().filter(|(k, _)| !after.contains_key(*k)).map(|(_, d)| BusEvent::Left((*d).clone())).collect();
    events.extend(after.iter().filter(|(k, _)| !before.contains_key(*k)).map(|(_, d)| BusEvent::Arrived((*d).clone())));
    events
}

/// Watches a bus and reports changes; the first reading reports every attached device as arrived.
#[derive(Debug)]
pub struct BusWatcher<E: UsbEnumerator> {
    enumerator: E,
    known: Vec<UsbDeviceInfo>,
}

impl<E: UsbEnumerator> BusWatcher<E> {
    /// Watch `enumerator`.
    pub fn new(enumerator: E) -> Self {
        Self { enumerator, known: Vec::new() }
    }

    /// Read the bus now and report what changed since the last reading.
    pub fn poll(&mut self) -> Result<Vec<BusEvent>, UsbError> {
        let current = self.enumerator.list()?;
        let events = diff(&self.known, &current);
        self.known = current;
        Ok(events)
    }

    /// What was attached at the last reading.
    pub fn attached(&self) -> &[UsbDeviceInfo] {
        &self.known
    }
}

/// A running watcher thread: bus events (or a bus error) arrive on `events`; dropping `stop` ends it.
#[derive(Debug)]
pub struct WatcherThread {
    /// Events as they happen.
    pub events: Receiver<Result<BusEvent, UsbError>>,
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for WatcherThread {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(handle) = self.handle.take() {
            handle.join().ok();
        }
    }
}

/// Watch `enumerator` on its own thread, reading the bus every `interval` and whenever `wake` receives a hint
/// (libusb hot-plug callbacks send those; see [`hotplug_hints`]).
pub fn spawn_watcher<E: UsbEnumerator + 'static>(
    enumerator: E,
    interval: Duration,
    wake: Option<Receiver<()>>,
) -> WatcherThread {
    let (events_tx, events) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        let mut watcher = BusWatcher::new(enumerator);
        loop {
            match watcher.poll() {
                Ok(changes) => {
                    for change in changes {
                        if events_tx.send(Ok(change)).is_err() {
                            return;
                        }
                    }
                }
                Err(err) => {
                    if events_tx.send(Err(err)).is_err() {
                        return;
                    }
                }
            }
            let woken = wake.as_ref().is_some_and(|w| w.recv_timeout(interval).is_ok());
            if !woken && wake.is_none() {
                match stop_rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            } else if !matches!(stop_rx.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                return;
            }
        }
    });
    WatcherThread { events, stop: Some(stop_tx), handle: Some(handle) }
}

struct HotplugHint(Sender<()>);

impl<T: rusb::UsbContext> rusb::Hotplug<T> for HotplugHint {
    fn device_arrived(&mut self, _device: rusb::Device<T>) {
        self.0.send(()).ok();
    }
    fn device_left(&mut self, _device: rusb::Device<T>) {
        self.0.send(()).ok();
    }
}

/// Register libusb hot-plug callbacks that send a hint for every arrival or removal, and a thread that runs
/// libusb's event loop. Returns `None` where libusb has no hot-plug support (then polling alone is used).
pub fn hotplug_hints(context: &rusb::Context) -> Option<Receiver<()>> {
    if !rusb::has_hotplug() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let registration =
        rusb::HotplugBuilder::new().enumerate(false).register(context.clone(), Box::new(HotplugHint(tx))).ok()?;
    let context = context.clone();
    thread::spawn(move || {
        let _registration = registration;
        while context.handle_events(Some(Duration::from_secs(1))).is_ok() {}
    });
    Some(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(address: u8, vid: u16, pid: u16, serial: &str, classes: &[u8]) -> UsbDeviceInfo {
        UsbDeviceInfo {
            bus: 1,
            address,
            vendor_id: vid,
            product_id: pid,
            serial: Some(serial.into()),
            classes: classes.to_vec(),
        }
    }

    #[test]
    fn diff_reports_arrivals_and_removals_by_identity() {
        let key = device(3, 0x1050, 0x0407, "KEY-1", &[class::HID]);
        let printer = device(4, 0x04b8, 0x0e28, "PRN-9", &[class::PRINTER]);
        let stick = device(5, 0x0781, 0x5583, "STICK", &[class::MASS_STORAGE]);
        assert_eq!(diff(&[], std::slice::from_ref(&key)), vec![BusEvent::Arrived(key.clone())]);
        let events = diff(&[key.clone(), printer.clone()], &[printer.clone(), stick.clone()]);
        assert_eq!(events, vec![BusEvent::Left(key.clone()), BusEvent::Arrived(stick.clone())]);
        assert!(diff(std::slice::from_ref(&printer), std::slice::from_ref(&printer)).is_empty());
        // Re-plugged at another address: a removal and an arrival.
        let moved = UsbDeviceInfo { address: 9, ..printer.clone() };
        assert_eq!(diff(std::slice::from_ref(&printer), std::slice::from_ref(&moved)).len(), 2);
        assert!(stick.has_class(class::MASS_STORAGE) && !stick.has_class(class::PRINTER));
    }

    #[test]
    fn the_watcher_thread_reports_simulated_events_promptly() {
        let bus = SimulatedBus::default();
        let (wake_tx, wake_rx) = mpsc::channel();
        let watcher = spawn_watcher(bus.clone(), Duration::from_secs(5), Some(wake_rx));
        let key = device(3, 0x1050, 0x0407, "KEY-1", &[class::HID]);
        bus.attach(key.clone());
        wake_tx.send(()).expect("wake");
        let started = std::time::Instant::now();
        assert_eq!(
            watcher.events.recv_timeout(Duration::from_secs(2)).expect("event"),
            Ok(BusEvent::Arrived(key.clone()))
        );
        bus.detach(0x1050, 0x0407, Some("KEY-1"));
        wake_tx.send(()).expect("wake");
        assert_eq!(watcher.events.recv_timeout(Duration::from_secs(2)).expect("event"), Ok(BusEvent::Left(key)));
        assert!(started.elapsed() < Duration::from_secs(1), "a hint is acted on at once, not at the next poll");
    }

    #[test]
    fn polling_alone_finds_changes_without_hot_plug() {
        let bus = SimulatedBus::default();
        let watcher = spawn_watcher(bus.clone(), Duration::from_millis(50), None);
        let stick = device(5, 0x0781, 0x5583, "STICK", &[class::MASS_STORAGE]);
        bus.attach(stick.clone());
        assert_eq!(watcher.events.recv_timeout(Duration::from_secs(2)).expect("event"), Ok(BusEvent::Arrived(stick)));
    }

    #[test]
    fn the_real_bus_is_read_or_refused_with_a_typed_error() {
        // On a terminal this lists the attached devices. In a container without any USB stack libusb cannot start:
        // that must be a typed, explained error (the terminal shows it and keeps working), never a panic.
        match RusbEnumerator::new().and_then(|mut e| e.list()) {
            Ok(devices) => eprintln!("USB bus readable: {} device(s)", devices.len()),
            Err(err) => {
                eprintln!("USB bus not readable here: {err}");
                assert!(matches!(err, UsbError::Bus(_)), "{err:?}");
                assert!(err.message_ja().contains("USB"));
            }
        }
    }
}
