//! Smart-card readers driven directly over USB CCID (class 0x0B), for counters without a PC/SC stack. Commands and
//! responses are CCID bulk messages (10-byte header + data); the driver powers the card on, exchanges short APDUs
//! with XfrBlock, honours time extensions, discards stale responses by sequence number, and maps an absent or mute
//! card to `CardRemoved`. It implements [`ApduTransport`], so the マイナンバーカード flow runs on it unchanged.
//! Only readers at short-APDU exchange level are supported (others are refused by name).

use std::time::Duration;

use crate::apdu::{ApduTransport, TransportError};
use crate::usb::UsbError;

const PC_TO_RDR_ICC_POWER_ON: u8 = 0x62;
const PC_TO_RDR_GET_SLOT_STATUS: u8 = 0x65;
const PC_TO_RDR_XFR_BLOCK: u8 = 0x6F;
const RDR_TO_PC_DATA_BLOCK: u8 = 0x80;
const RDR_TO_PC_SLOT_STATUS: u8 = 0x81;
const HEADER: usize = 10;
/// Responses for older sequence numbers tolerated before giving up (libccid does the same).
const MAX_STALE: usize = 10;

/// Bulk transfers to and from a reader.
pub trait BulkIo: Send {
    /// Send one message.
    fn bulk_out(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError>;
    /// Receive one message into `buffer`; `Ok(0)` on timeout.
    fn bulk_in(&mut self, buffer: &mut [u8], timeout: Duration) -> Result<usize, UsbError>;
}

/// One CCID message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcidMessage {
    /// bMessageType.
    pub kind: u8,
    /// bSlot.
    pub slot: u8,
    /// bSeq.
    pub seq: u8,
    /// The three message-specific header bytes (bStatus, bError, … on responses).
    pub specific: [u8; 3],
    /// abData.
    pub data: Vec<u8>,
}

impl CcidMessage {
    /// Encode to bytes.
    pub fn encode(&self) -> Vec<u8> {
        let length = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(HEADER + self.data.len());
        out.push(self.kind);
        out.extend_from_slice(&length.to_le_bytes());
        out.push(self.slot);
        out.push(self.seq);
        out.extend_from_slice(&self.specific);
        out.extend_from_slice(&self.data);
        out
    }

    /// Decode one message; the length field must match the bytes present.
    pub fn decode(bytes: &[u8]) -> Result<Self, CcidError> {
        let Some(header) = bytes.get(..HEADER) else { return Err(CcidError::Truncated(bytes.len())) };
        let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let data = bytes.get(HEADER..HEADER + length).ok_or(CcidError::Truncated(bytes.len()))?;
        Ok(Self {
            kind: header[0],
            slot: header[5],
            seq: header[6],
            specific: [header[7], header[8], header[9]],
            data: data.to_vec(),
        })
    }

    /// bStatus bits 0–1: 0 card present and active, 1 present and inactive, 2 absent.
    pub fn icc_status(&self) -> u8 {
        self.specific[0] & 0x03
    }

    /// bStatus bits 6–7: 0 processed, 1 failed (see bError), 2 time extension requested.
    pub fn command_status(&self) -> u8 {
        self.specific[0] >> 6
    }

    /// bError.
    pub fn error(&self) -> u8 {
        self.specific[1]
    }
}

/// Why a CCID exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CcidError {
    /// A message shorter than its header or its length field.
    #[error("a CCID message was truncated ({0} bytes)")]
    Truncated(usize),
    /// No response for our sequence number.
    #[error("the reader did not answer sequence {0}")]
    NoAnswer(u8),
    /// The reader's exchange level is not short APDU.
    #[error("the reader exchanges at {0} level; only short-APDU CCID readers are supported directly (use PC/SC)")]
    UnsupportedExchangeLevel(&'static str),
    /// USB failed.
    #[error(transparent)]
    Usb(#[from] UsbError),
}

/// The exchange level from a CCID class descriptor (dwFeatures at offset 40 of the 54-byte descriptor).
pub fn exchange_level(class_descriptor: &[u8]) -> Result<(), CcidError> {
    let features = class_descriptor
        .get(40..44)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(CcidError::Truncated(class_descriptor.len()))?;
    match features & 0x0007_0000 {
        0x0002_0000 | 0x0004_0000 => Ok(()),
        0x0001_0000 => Err(CcidError::UnsupportedExchangeLevel("TPDU")),
        _ => Err(CcidError::UnsupportedExchangeLevel("character")),
    }
}

/// A CCID reader slot as an APDU transport.
#[derive(Debug)]
pub struct CcidReader<B: BulkIo> {
    io: B,
    slot: u8,
    seq: u8,
    powered: bool,
    /// How long one response may take before a time extension.
    pub timeout: Duration,
}

impl<B: BulkIo> CcidReader<B> {
    /// Slot 0 of the reader on `io`.
    pub fn new(io: B) -> Self {
        Self { io, slot: 0, seq: 0, powered: false, timeout: Duration::from_secs(5) }
    }

    /// The transport (tests reach the model through it).
    pub fn io(&self) -> &B {
        &self.io
    }

    fn exchange(&mut self, kind: u8, specific: [u8; 3], data: &[u8]) -> Result<CcidMessage, CcidError> {
        self.seq = self.seq.wrapping_add(1);
        let request = CcidMessage { kind, slot: self.slot, seq: self.seq, specific, data: data.to_vec() };
        self.io.bulk_out(&request.encode(), self.timeout)?;
        let mut stale = 0;
        let mut buffer = vec![0u8; 65_546];
        loop {
            let read = self.io.bulk_in(&mut buffer, self.timeout)?;
            if read == 0 {
                return Err(CcidError::NoAnswer(self.seq));
            }
            let response = CcidMessage::decode(buffer.get(..read).unwrap_or(&[]))?;
            if response.seq != self.seq {
                stale += 1;
                if stale > MAX_STALE {
                    return Err(CcidError::NoAnswer(self.seq));
                }
                continue;
            }
            if response.command_status() == 2 {
                // Time extension: the card is working; keep waiting for the real answer.
                continue;
            }
            return Ok(response);
        }
    }

    /// Power the card on and return its ATR.
    pub fn power_on(&mut self) -> Result<Vec<u8>, TransportError> {
        let response = self.exchange(PC_TO_RDR_ICC_POWER_ON, [0, 0, 0], &[]).map_err(transport_error)?;
        check(&response)?;
        self.powered = true;
        Ok(response.data)
    }

    /// Whether a card is in the slot.
    pub fn card_present(&mut self) -> Result<bool, TransportError> {
        let response = self.exchange(PC_TO_RDR_GET_SLOT_STATUS, [0, 0, 0], &[]).map_err(transport_error)?;
        Ok(response.kind == RDR_TO_PC_SLOT_STATUS && response.icc_status() != 2)
    }
}

fn transport_error(error: CcidError) -> TransportError {
    match error {
        CcidError::NoAnswer(_) => TransportError::Timeout,
        CcidError::Usb(UsbError::NotFound(_)) => TransportError::NoReader,
        other => TransportError::Other(other.to_string()),
    }
}

fn check(response: &CcidMessage) -> Result<(), TransportError> {
    if response.icc_status() == 2 || (response.command_status() == 1 && response.error() == 0xFE) {
        // Absent, or mute (0xFE): the card was taken out.
        return Err(TransportError::CardRemoved);
    }
    if response.command_status() == 1 {
        return Err(TransportError::Other(format!("CCID command failed, bError 0x{:02X}", response.error())));
    }
    if response.kind != RDR_TO_PC_DATA_BLOCK {
        return Err(TransportError::Other(format!("unexpected CCID response type 0x{:02X}", response.kind)));
    }
    Ok(())
}

impl<B: BulkIo> ApduTransport for CcidReader<B> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if !self.powered {
            self.power_on()?;
        }
        let response = self.exchange(PC_TO_RDR_XFR_BLOCK, [0, 0, 0], command).map_err(transport_error)?;
        if let Err(err) = check(&response) {
            if err == TransportError::CardRemoved {
                self.powered = false;
            }
            return Err(err);
        }
        Ok(response.data)
    }
}

/// A CCID reader modelled at the USB-transfer level around any APDU card (the virtual マイナンバーカード in tests).
#[derive(Debug)]
pub struct CcidReaderModel<C: ApduTransport> {
    card: Option<C>,
    pending: std::collections::VecDeque<Vec<u8>>,
    /// Send a time-extension message before every answer.
    pub time_extensions: bool,
    /// Send a stale response (old sequence number) before every answer.
    pub stale_responses: bool,
    /// The ATR the card answers power-on with.
    pub atr: Vec<u8>,
}

impl<C: ApduTransport> CcidReaderModel<C> {
    /// A reader with `card` inserted.
    pub fn new(card: C) -> Self {
        Self {
            card: Some(card),
            pending: std::collections::VecDeque::new(),
            time_extensions: false,
            stale_responses: false,
            atr: vec![0x3B, 0xD5, 0x18, 0xFF, 0x80, 0x91, 0xFE, 0x1F, 0xC3, 0x80, 0x73, 0xC8, 0x21, 0x13, 0x08],
        }
    }

    /// Take the card out.
    pub fn remove_card(&mut self) {
        self.card = None;
    }

    fn answer(&mut self, request: &CcidMessage) -> CcidMessage {
        let reply = |kind, status: u8, error: u8, data: Vec<u8>| CcidMessage {
            kind,
            slot: request.slot,
            seq: request.seq,
            specific: [status, error, 0],
            data,
        };
        match (request.kind, self.card.as_mut()) {
            (_, None) => reply(RDR_TO_PC_SLOT_STATUS, 0x40 | 0x02, 0xFE, Vec::new()),
            (PC_TO_RDR_GET_SLOT_STATUS, Some(_)) => reply(RDR_TO_PC_SLOT_STATUS, 0x00, 0, Vec::new()),
            (PC_TO_RDR_ICC_POWER_ON, Some(_)) => reply(RDR_TO_PC_DATA_BLOCK, 0x00, 0, self.atr.clone()),
            (PC_TO_RDR_XFR_BLOCK, Some(card)) => match card.transmit(&request.data) {
                Ok(data) => reply(RDR_TO_PC_DATA_BLOCK, 0x00, 0, data),
                Err(TransportError::CardRemoved) => {
                    self.card = None;
                    reply(RDR_TO_PC_DATA_BLOCK, 0x40 | 0x02, 0xFE, Vec::new())
                }
                Err(_) => reply(RDR_TO_PC_DATA_BLOCK, 0x40, 0xFD, Vec::new()),
            },
            // Command not supported: bError 0 (bad message type) per CCID.
            (_, Some(_)) => reply(RDR_TO_PC_SLOT_STATUS, 0x40, 0x00, Vec::new()),
        }
    }
}

impl<C: ApduTransport + Send> BulkIo for CcidReaderModel<C> {
    fn bulk_out(&mut self, data: &[u8], _timeout: Duration) -> Result<usize, UsbError> {
        let request = CcidMessage::decode(data).map_err(|e| UsbError::Transfer(e.to_string()))?;
        if self.stale_responses {
            let mut stale = self.answer(&CcidMessage { kind: PC_TO_RDR_GET_SLOT_STATUS, ..request.clone() });
            stale.seq = request.seq.wrapping_sub(1);
            self.pending.push_back(stale.encode());
        }
        if self.time_extensions {
            let extension = CcidMessage {
                kind: RDR_TO_PC_DATA_BLOCK,
                slot: request.slot,
                seq: request.seq,
                specific: [0x80, 1, 0],
                data: Vec::new(),
            };
            self.pending.push_back(extension.encode());
        }
        let answer = self.answer(&request);
        self.pending.push_back(answer.encode());
        Ok(data.len())
    }

    fn bulk_in(&mut self, buffer: &mut [u8], _timeout: Duration) -> Result<usize, UsbError> {
        let Some(message) = self.pending.pop_front() else { return Ok(0) };
        let target = buffer.get_mut(..message.len()).ok_or_else(|| UsbError::Transfer("buffer too small".into()))?;
        target.copy_from_slice(&message);
        Ok(message.len())
    }
}

/// A CCID reader through libusb (bulk OUT/IN endpoints of its smart-card interface).
pub struct RusbCcidIo {
    handle: rusb::DeviceHandle<rusb::Context>,
    endpoint_out: u8,
    endpoint_in: u8,
}

impl std::fmt::Debug for RusbCcidIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RusbCcidIo")
            .field("endpoint_out", &self.endpoint_out)
            .field("endpoint_in", &self.endpoint_in)
            .finish()
    }
}

impl RusbCcidIo {
    /// Open the reader with this vendor and product id; refuse readers below short-APDU exchange level.
    pub fn open(context: &rusb::Context, vendor_id: u16, product_id: u16) -> Result<Self, CcidError> {
        for (device, _) in crate::usb::devices_with_id(context, vendor_id, product_id)? {
            let config = device.active_config_descriptor().map_err(|e| UsbError::Transfer(e.to_string()))?;
            for interface in config.interfaces() {
                for setting in interface.descriptors() {
                    if setting.class_code() != crate::usb::class::SMART_CARD {
                        continue;
                    }
                    exchange_level(setting.extra())?;
                    let bulk = |direction| {
                        setting
                            .endpoint_descriptors()
                            .find(|e| e.direction() == direction && e.transfer_type() == rusb::TransferType::Bulk)
                            .map(|e| e.address())
                    };
                    let (Some(endpoint_out), Some(endpoint_in)) =
                        (bulk(rusb::Direction::Out), bulk(rusb::Direction::In))
                    else {
                        continue;
                    };
                    let handle = device.open().map_err(|e| UsbError::Transfer(e.to_string()))?;
                    handle.set_auto_detach_kernel_driver(true).ok();
                    handle
                        .claim_interface(setting.interface_number())
                        .map_err(|e| UsbError::Transfer(e.to_string()))?;
                    return Ok(Self { handle, endpoint_out, endpoint_in });
                }
            }
        }
        Err(UsbError::NotFound(format!("{vendor_id:04x}:{product_id:04x}")).into())
    }
}

impl BulkIo for RusbCcidIo {
    fn bulk_out(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        self.handle.write_bulk(self.endpoint_out, data, timeout).map_err(|e| match e {
            rusb::Error::NoDevice => UsbError::NotFound("card reader".into()),
            other => UsbError::Transfer(other.to_string()),
        })
    }

    fn bulk_in(&mut self, buffer: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        match self.handle.read_bulk(self.endpoint_in, buffer, timeout) {
            Ok(read) => Ok(read),
            Err(rusb::Error::Timeout) => Ok(0),
            Err(rusb::Error::NoDevice) => Err(UsbError::NotFound("card reader".into())),
            Err(other) => Err(UsbError::Transfer(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mynumber::{CardAttributes, CardError, MyNumberReader, Pin, Sex};
    use crate::virtual_card::VirtualMyNumberCard;

    fn card() -> VirtualMyNumberCard {
        let attributes = CardAttributes {
            name: "葛\u{E0102}西 𠮷乃".into(),
            address: "東京都新宿区西新宿二丁目8番1号".into(),
            birth_date_raw: "19770815".into(),
            sex: Sex::Female,
            individual_number: "983205673214".into(),
        };
        VirtualMyNumberCard::new(&attributes, "1234").expect("virtual card")
    }

    fn pin(text: &str) -> Pin {
        Pin::parse(text).expect("pin")
    }

    #[test]
    fn messages_round_trip_and_truncation_is_refused() {
        let message =
            CcidMessage { kind: PC_TO_RDR_XFR_BLOCK, slot: 0, seq: 7, specific: [1, 2, 3], data: vec![0, 0xA4, 4, 0] };
        let bytes = message.encode();
        assert_eq!(bytes.len(), 14);
        assert_eq!(CcidMessage::decode(&bytes), Ok(message));
        assert_eq!(CcidMessage::decode(&bytes[..9]), Err(CcidError::Truncated(9)));
        assert_eq!(CcidMessage::decode(&bytes[..12]), Err(CcidError::Truncated(12)));
    }

    #[test]
    fn the_my_number_flow_runs_over_ccid_with_time_extensions_and_stale_responses() {
        let mut model = CcidReaderModel::new(card());
        model.time_extensions = true;
        model.stale_responses = true;
        let mut reader = MyNumberReader::new(CcidReader::new(model));
        assert_eq!(reader.pin_tries_left().expect("tries"), 3);
        let attributes = reader.read_with_pin(&pin("1234")).expect("read");
        assert_eq!(attributes.name, "葛\u{E0102}西 𠮷乃");
        assert_eq!(attributes.individual_number, "983205673214");
        assert!(matches!(reader.read_with_pin(&pin("0000")), Err(CardError::WrongPin { tries_left: 2 })));
    }

    #[test]
    fn a_card_taken_out_is_reported_as_removed() {
        let mut virtual_card = card();
        virtual_card.remove_after(4);
        let mut reader = MyNumberReader::new(CcidReader::new(CcidReaderModel::new(virtual_card)));
        assert!(matches!(reader.read_with_pin(&pin("1234")), Err(CardError::Removed)));
        let mut empty = CcidReader::new(CcidReaderModel::new(card()));
        assert!(empty.card_present().expect("status"));
        let mut model = CcidReaderModel::new(card());
        model.remove_card();
        let mut reader = CcidReader::new(model);
        assert_eq!(reader.card_present(), Ok(false));
        assert_eq!(reader.transmit(&[0, 0xA4, 4, 0]), Err(TransportError::CardRemoved));
    }

    #[test]
    fn readers_below_short_apdu_level_are_refused_by_name() {
        let mut descriptor = vec![0u8; 54];
        descriptor[40..44].copy_from_slice(&0x0002_04BAu32.to_le_bytes());
        assert_eq!(exchange_level(&descriptor), Ok(()));
        descriptor[40..44].copy_from_slice(&0x0001_01BAu32.to_le_bytes());
        assert_eq!(exchange_level(&descriptor), Err(CcidError::UnsupportedExchangeLevel("TPDU")));
        assert_eq!(exchange_level(&descriptor[..20]), Err(CcidError::Truncated(20)));
    }
}
