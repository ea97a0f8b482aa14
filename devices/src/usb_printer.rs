//! Certificate printers of the USB printer class (class 7): GET_DEVICE_ID with its IEEE 1284 id, GET_PORT_STATUS,
//! and bulk OUT that resumes from the confirmed offset after a partial write and never restarts a job. The class
//! requests sit behind a small trait so the same driver runs against libusb and against a transfer-level model of
//! a printer that can run out of paper, open its cover, go offline or stall mid-job.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ieee1284::{DeviceId, parse_device_id_reply};
use crate::job::{Delivery, JobOutcome};
use crate::port_status::device_status_from_port_status;
use crate::status::DeviceStatus;
use crate::usb::UsbError;

/// bRequest of the class requests (USB printer class 1.1).
const GET_DEVICE_ID: u8 = 0;
const GET_PORT_STATUS: u8 = 1;
/// bmRequestType: device-to-host, class, interface.
const CLASS_IN_INTERFACE: u8 = 0xA1;

/// The transfers the printer class needs.
pub trait PrinterClassIo: Send {
    /// GET_DEVICE_ID: the raw reply (2-byte length + IEEE 1284 id).
    fn get_device_id(&mut self) -> Result<Vec<u8>, UsbError>;
    /// GET_PORT_STATUS: one status byte.
    fn get_port_status(&mut self) -> Result<u8, UsbError>;
    /// Bulk OUT: how many bytes the device accepted before `timeout` (0 on a NAKed transfer; never an error for a
    /// timeout, which is how an offline printer looks).
    fn bulk_out(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError>;
}

impl<T: PrinterClassIo + ?Sized> PrinterClassIo for Box<T> {
    fn get_device_id(&mut self) -> Result<Vec<u8>, UsbError> {
        (**self).get_device_id()
    }
    fn get_port_status(&mut self) -> Result<u8, UsbError> {
        (**self).get_port_status()
    }
    fn bulk_out(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        (**self).bulk_out(data, timeout)
    }
}

/// A certificate printer on the USB printer class.
#[derive(Debug)]
pub struct UsbPrinter<T: PrinterClassIo> {
    io: T,
    /// Size of each bulk transfer.
    pub chunk: usize,
    /// How long one transfer may wait.
    pub transfer_timeout: Duration,
}

impl<T: PrinterClassIo> UsbPrinter<T> {
    /// A printer on `io`.
    pub fn new(io: T) -> Self {
        Self { io, chunk: 16 * 1024, transfer_timeout: Duration::from_millis(500) }
    }

    /// The transport (tests reach the model through it).
    pub fn io(&self) -> &T {
        &self.io
    }

    /// The IEEE 1284 device id.
    pub fn device_id(&mut self) -> Result<DeviceId, UsbError> {
        let reply = self.io.get_device_id()?;
        parse_device_id_reply(&reply).map_err(|e| UsbError::Transfer(e.to_string()))
    }

    /// The typed status (GET_PORT_STATUS works while bulk transfers are blocked).
    pub fn status(&mut self) -> DeviceStatus {
        match self.io.get_port_status() {
            Ok(byte) => device_status_from_port_status(byte),
            Err(_) => DeviceStatus::Offline,
        }
    }

    /// Send `job` once. Partial writes resume from the confirmed offset; when the printer is not ready or nothing
    /// moves until `deadline`, the send stops and says how far it got. There is no retry from byte 0, here or
    /// anywhere: a partly delivered job is "outcome unknown" for staff to resolve.
    pub fn send_job(&mut self, job: &[u8], deadline: Duration) -> JobOutcome {
        let started = Instant::now();
        let mut delivered = 0usize;
        let initial = self.status();
        if !initial.is_ready() {
            return JobOutcome { delivered: 0, status: initial, outcome: Delivery::NothingSent };
        }
        while delivered < job.len() {
            let end = (delivered + self.chunk).min(job.len());
            let Some(slice) = job.get(delivered..end) else { break };
            match self.io.bulk_out(slice, self.transfer_timeout) {
                Ok(accepted) => delivered += accepted.min(slice.len()),
                Err(_) => {
                    let status = self.status();
                    return outcome(delivered, status);
                }
            }
            if delivered < end {
                // Nothing or only part moved: a stalled printer. Look at why before waiting again.
                let status = self.status();
                if !status.is_ready() || started.elapsed() >= deadline {
                    return outcome(delivered, status);
                }
            }
        }
        JobOutcome { delivered, status: self.status(), outcome: Delivery::Delivered }
    }
}

fn outcome(delivered: usize, status: DeviceStatus) -> JobOutcome {
    let outcome = if delivered == 0 { Delivery::NothingSent } else { Delivery::Unknown };
    JobOutcome { delivered, status, outcome }
}

/// A USB printer through libusb: the kernel's usblp driver is detached, the printer interface claimed.
pub struct RusbPrinterIo {
    handle: rusb::DeviceHandle<rusb::Context>,
    interface: u8,
    alt_setting: u8,
    config_index: u16,
    endpoint_out: u8,
}

impl std::fmt::Debug for RusbPrinterIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RusbPrinterIo")
            .field("interface", &self.interface)
            .field("endpoint_out", &self.endpoint_out)
            .finish()
    }
}

impl RusbPrinterIo {
    /// Open the printer with this vendor, product and (if given) serial number.
    pub fn open(
        context: &rusb::Context,
        vendor_id: u16,
        product_id: u16,
        serial: Option<&str>,
    ) -> Result<Self, UsbError> {
        let name = format!("{vendor_id:04x}:{product_id:04x}");
        for (device, descriptor) in crate::usb::devices_with_id(context, vendor_id, product_id)? {
            let handle = device.open().map_err(|e| UsbError::Transfer(e.to_string()))?;
            if let Some(wanted) = serial
                && handle.read_serial_number_string_ascii(&descriptor).ok().as_deref() != Some(wanted)
            {
                continue;
            }
            let config = device.active_config_descriptor().map_err(|e| UsbError::Transfer(e.to_string()))?;
            for interface in config.interfaces() {
                for setting in interface.descriptors() {
                    if setting.class_code() != crate::usb::class::PRINTER {
                        continue;
                    }
                    let Some(endpoint) = setting.endpoint_descriptors().find(|e| {
                        e.direction() == rusb::Direction::Out && e.transfer_type() == rusb::TransferType::Bulk
                    }) else {
                        continue;
                    };
                    // Linux binds usblp to printers; libusb detaches it while we hold the interface.
                    handle.set_auto_detach_kernel_driver(true).ok();
                    handle
                        .claim_interface(setting.interface_number())
                        .map_err(|e| UsbError::Transfer(e.to_string()))?;
                    return Ok(Self {
                        handle,
                        interface: setting.interface_number(),
                        alt_setting: setting.setting_number(),
                        config_index: u16::from(config.number().saturating_sub(1)),
                        endpoint_out: endpoint.address(),
                    });
                }
            }
        }
        Err(UsbError::NotFound(name))
    }
}

impl PrinterClassIo for RusbPrinterIo {
    fn get_device_id(&mut self) -> Result<Vec<u8>, UsbError> {
        let mut buffer = vec![0u8; 1024];
        let index = (u16::from(self.interface) << 8) | u16::from(self.alt_setting);
        let read = self
            .handle
            .read_control(
                CLASS_IN_INTERFACE,
                GET_DEVICE_ID,
                self.config_index,
                index,
                &mut buffer,
                Duration::from_secs(2),
            )
            .map_err(|e| UsbError::Transfer(e.to_string()))?;
        buffer.truncate(read);
        Ok(buffer)
    }

    fn get_port_status(&mut self) -> Result<u8, UsbError> {
        let mut status = [0u8; 1];
        let index = u16::from(self.interface) << 8;
        self.handle
            .read_control(CLASS_IN_INTERFACE, GET_PORT_STATUS, 0, index, &mut status, Duration::from_secs(1))
            .map_err(|e| UsbError::Transfer(e.to_string()))?;
        Ok(status[0])
    }

    fn bulk_out(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        match self.handle.write_bulk(self.endpoint_out, data, timeout) {
            // rusb returns the partial count of a timed-out transfer as Ok(n).
            Ok(written) => Ok(written),
            Err(rusb::Error::Timeout) => Ok(0),
            Err(rusb::Error::NoDevice) => Err(UsbError::NotFound("printer".into())),
            Err(e) => Err(UsbError::Transfer(e.to_string())),
        }
    }
}

/// What the printer model is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFault {
    /// Working.
    None,
    /// The tray runs empty after this many more bytes.
    PaperOutAfter(usize),
    /// Out of paper now.
    PaperOut,
    /// Cover open.
    CoverOpen,
    /// Switched offline.
    Offline,
    /// Accepts nothing more but reports ready (a hung controller).
    Stall,
}

#[derive(Debug)]
struct ModelState {
    received: Vec<u8>,
    fault: ModelFault,
    device_id: String,
    bulk_transfers: usize,
}

/// A USB printer-class printer modelled at the transfer level, for tests and the demo.
#[derive(Debug, Clone)]
pub struct UsbPrinterModel {
    state: Arc<Mutex<ModelState>>,
    /// wMaxPacketSize of the bulk endpoint: transfers are accepted in whole packets.
    pub max_packet: usize,
}

impl UsbPrinterModel {
    /// A ready printer answering GET_DEVICE_ID with `device_id` (e.g. `MFG:…;MDL:…;CMD:PJL,PDF;CLS:PRINTER;`).
    pub fn new(device_id: &str) -> Self {
        Self {
            state: Arc::new(Mutex::new(ModelState {
                received: Vec::new(),
                fault: ModelFault::None,
                device_id: device_id.to_string(),
                bulk_transfers: 0,
            })),
            max_packet: 512,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ModelState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Inject a fault.
    pub fn set_fault(&self, fault: ModelFault) {
        self.state().fault = fault;
    }

    /// Every byte received, in order.
    pub fn received(&self) -> Vec<u8> {
        self.state().received.clone()
    }

    /// How many bulk transfers were made.
    pub fn bulk_transfers(&self) -> usize {
        self.state().bulk_transfers
    }
}

impl PrinterClassIo for UsbPrinterModel {
    fn get_device_id(&mut self) -> Result<Vec<u8>, UsbError> {
        let id = self.state().device_id.clone().into_bytes();
        let length = u16::try_from(id.len() + 2).map_err(|_| UsbError::Transfer("device id too long".into()))?;
        let mut reply = length.to_be_bytes().to_vec();
        reply.extend(id);
        Ok(reply)
    }

    fn get_port_status(&mut self) -> Result<u8, UsbError> {
        // 0x08 no error, 0x10 selected, 0x20 paper empty; 0x80 cover open (vendor bit, as pappl maps it).
        Ok(match self.state().fault {
            ModelFault::None | ModelFault::Stall | ModelFault::PaperOutAfter(_) => 0x18,
            ModelFault::PaperOut => 0x30,
            ModelFault::CoverOpen => 0x80 | 0x10,
            ModelFault::Offline => 0x08,
        })
    }

    fn bulk_out(&mut self, data: &[u8], _timeout: Duration) -> Result<usize, UsbError> {
        let packet = self.max_packet.max(1);
        let mut state = self.state();
        state.bulk_transfers += 1;
        let accept = match state.fault {
            ModelFault::None => data.len(),
            ModelFault::PaperOutAfter(left) => {
                let accept = left.min(data.len());
                state.fault =
                    if accept == left { ModelFault::PaperOut } else { ModelFault::PaperOutAfter(left - accept) };
                // Whole packets only, like a device NAKing the rest of a transfer.
                if accept == data.len() { accept } else { accept / packet * packet }
            }
            ModelFault::PaperOut | ModelFault::CoverOpen | ModelFault::Offline | ModelFault::Stall => 0,
        };
        let accepted = data.get(..accept).unwrap_or(data);
        state.received.extend_from_slice(accepted);
        Ok(accepted.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "MFG:TestMfg;MDL:CertPrinter;CMD:PJL,PDF,PCLXL;CLS:PRINTER;SN:A123;";

    fn job(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn a_job_arrives_byte_for_byte_with_the_device_id_parsed() {
        let model = UsbPrinterModel::new(ID);
        let mut printer = UsbPrinter::new(model.clone());
        printer.chunk = 4096;
        let id = printer.device_id().expect("device id");
        assert_eq!(id.model.as_deref(), Some("CertPrinter"));
        assert!(id.supports("PDF"));
        assert_eq!(printer.status(), DeviceStatus::Ready);
        let bytes = job(50_000);
        let outcome = printer.send_job(&bytes, Duration::from_secs(5));
        assert_eq!(outcome.outcome, Delivery::Delivered);
        assert_eq!(outcome.delivered, bytes.len());
        assert_eq!(model.received(), bytes, "byte for byte");
    }

    #[test]
    fn paper_out_mid_job_reports_the_delivered_bytes_and_never_resends() {
        let model = UsbPrinterModel::new(ID);
        model.set_fault(ModelFault::PaperOutAfter(10_000));
        let mut printer = UsbPrinter::new(model.clone());
        printer.chunk = 4096;
        let bytes = job(30_000);
        let outcome = printer.send_job(&bytes, Duration::from_secs(5));
        assert_eq!(outcome.status, DeviceStatus::NoPaper);
        assert_eq!(outcome.outcome, Delivery::Unknown, "some bytes left the host: suspect, not retryable");
        assert_eq!(outcome.delivered, model.received().len());
        assert_eq!(model.received(), bytes[..outcome.delivered].to_vec(), "what arrived is a prefix, in order");
        // Paper loaded again: a new send of the same job is refused by the caller's ledger, not here; the driver
        // itself has no retry, so nothing more arrived.
        model.set_fault(ModelFault::None);
        assert_eq!(model.received().len(), outcome.delivered);
    }

    #[test]
    fn a_printer_that_is_not_ready_gets_nothing() {
        for (fault, status) in [
            (ModelFault::PaperOut, DeviceStatus::NoPaper),
            (ModelFault::CoverOpen, DeviceStatus::CoverOpen),
            (ModelFault::Offline, DeviceStatus::Offline),
        ] {
            let model = UsbPrinterModel::new(ID);
            model.set_fault(fault);
            let mut printer = UsbPrinter::new(model.clone());
            let outcome = printer.send_job(&job(1000), Duration::from_secs(1));
            assert_eq!((outcome.outcome, outcome.status, outcome.delivered), (Delivery::NothingSent, status, 0));
            assert!(model.received().is_empty());
        }
    }

    #[test]
    fn a_stalled_printer_ends_the_send_at_the_deadline_as_unknown() {
        let model = UsbPrinterModel::new(ID);
        let mut printer = UsbPrinter::new(model.clone());
        printer.chunk = 1000;
        // Deliver part of the job, then hang while reporting ready.
        let bytes = job(5000);
        let first = printer.send_job(&bytes[..2000], Duration::from_secs(1));
        assert_eq!(first.outcome, Delivery::Delivered);
        model.set_fault(ModelFault::Stall);
        let started = Instant::now();
        let outcome = printer.send_job(&bytes, Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(outcome.outcome, Delivery::NothingSent);
        assert_eq!(outcome.status, DeviceStatus::Ready);
    }

    #[test]
    fn partial_transfers_resume_from_the_confirmed_offset() {
        /// A link that accepts at most 700 bytes a transfer, to force resumption.
        struct Choppy(UsbPrinterModel);
        impl PrinterClassIo for Choppy {
            fn get_device_id(&mut self) -> Result<Vec<u8>, UsbError> {
                self.0.get_device_id()
            }
            fn get_port_status(&mut self) -> Result<u8, UsbError> {
                self.0.get_port_status()
            }
            fn bulk_out(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
                let cut = data.len().min(700);
                self.0.bulk_out(&data[..cut], timeout)
            }
        }
        let model = UsbPrinterModel::new(ID);
        let mut printer = UsbPrinter::new(Choppy(model.clone()));
        printer.chunk = 4096;
        let bytes = job(10_000);
        let outcome = printer.send_job(&bytes, Duration::from_secs(5));
        assert_eq!(outcome.outcome, Delivery::Delivered);
        assert_eq!(model.received(), bytes, "no byte repeated, none skipped");
        assert!(model.bulk_transfers() >= 15);
    }
}
