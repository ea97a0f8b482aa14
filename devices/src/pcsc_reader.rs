//! マイナンバーカード readers through PC/SC (pcscd on Linux, WinSCard on Windows): the production path for card
//! readers. Only built with the `pcsc` feature, because the library it links (libpcsclite) is not on every machine.

use crate::apdu::{ApduTransport, TransportError};

/// A card in a PC/SC reader.
pub struct PcscCard {
    card: pcsc::Card,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcscCard")
    }
}

/// Why no card could be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcscError {
    /// pcscd is not running (or not reachable).
    #[error("the PC/SC service is not running: {0}")]
    NoService(String),
    /// No reader whose name starts with the configured prefix.
    #[error("no PC/SC reader named {0:?}")]
    NoReader(String),
    /// The reader is empty.
    #[error("no card in reader {0:?}")]
    NoCard(String),
    /// Anything else PC/SC reports.
    #[error("PC/SC: {0}")]
    Other(String),
}

impl PcscError {
    /// The message for the operator.
    pub fn message_ja(&self) -> String {
        match self {
            PcscError::NoService(_) => {
                "カードリーダーのサービスが動いていません。システム管理者に連絡してください".into()
            }
            PcscError::NoReader(_) => "カードリーダーが見つかりません。接続を確認してください".into(),
            PcscError::NoCard(_) => "カードがリーダーに置かれていません".into(),
            PcscError::Other(_) => "カードリーダーでエラーが発生しました。カードを置き直してください".into(),
        }
    }
}

/// The readers PC/SC knows now.
pub fn readers() -> Result<Vec<String>, PcscError> {
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| PcscError::NoService(e.to_string()))?;
    let names = context.list_readers_owned().map_err(|e| match e {
        pcsc::Error::NoReadersAvailable => PcscError::NoReader(String::new()),
        other => PcscError::Other(other.to_string()),
    })?;
    Ok(names.iter().map(|n| n.to_string_lossy().into_owned()).collect())
}

impl PcscCard {
    /// Connect to the card in the first reader whose name starts with `reader_prefix`.
    pub fn connect(reader_prefix: &str) -> Result<Self, PcscError> {
        let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| PcscError::NoService(e.to_string()))?;
        let names = context.list_readers_owned().map_err(|e| PcscError::Other(e.to_string()))?;
        let reader = names
            .iter()
            .find(|n| n.to_string_lossy().starts_with(reader_prefix))
            .ok_or_else(|| PcscError::NoReader(reader_prefix.to_string()))?;
        let card = context.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).map_err(|e| match e {
            pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => {
                PcscError::NoCard(reader.to_string_lossy().into_owned())
            }
            other => PcscError::Other(other.to_string()),
        })?;
        Ok(Self { card })
    }
}

impl ApduTransport for PcscCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE];
        match self.card.transmit(command, &mut buffer) {
            Ok(response) => Ok(response.to_vec()),
            Err(pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard | pcsc::Error::ResetCard) => {
                Err(TransportError::CardRemoved)
            }
            Err(pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::ReaderUnavailable) => {
                Err(TransportError::NoReader)
            }
            Err(pcsc::Error::Timeout) => Err(TransportError::Timeout),
            Err(other) => Err(TransportError::Other(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    //! End to end through a running pcscd with the vsmartcard vpcd driver (Debian packages pcscd and
    //! vsmartcard-vpcd; .ci/run installs and starts them). Skipped loudly where pcscd is not running.

    use std::time::{Duration, Instant};

    use super::*;
    use crate::mynumber::{CardAttributes, CardError, MyNumberReader, Pin, Sex};
    use crate::virtual_card::VirtualMyNumberCard;
    use crate::vpcd::{VPCD_PORT, VpcdCard};

    fn insert_virtual_card() -> Option<VpcdCard> {
        let attributes = CardAttributes {
            name: "葛\u{E0102}西\u{3000}𠮷乃".into(),
            address: "東京都新宿区西新宿二丁目8番1号".into(),
            birth_date_raw: "19770815".into(),
            sex: Sex::Female,
            individual_number: "983205673214".into(),
        };
        let card = VirtualMyNumberCard::new(&attributes, "1234").expect("virtual card");
        let atr = vec![0x3B, 0xD5, 0x18, 0xFF, 0x80, 0x91, 0xFE, 0x1F, 0xC3, 0x80, 0x73, 0xC8, 0x21, 0x13, 0x08];
        VpcdCard::insert(&format!("127.0.0.1:{VPCD_PORT}"), card, atr).ok()
    }

    fn wait_for_card() -> Result<PcscCard, PcscError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match PcscCard::connect("Virtual PCD") {
                Ok(card) => return Ok(card),
                Err(err) if Instant::now() >= deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    #[test]
    fn the_my_number_flow_runs_through_pcscd_and_vpcd() {
        if let Err(err) = readers() {
            eprintln!("SKIPPED PC/SC end-to-end test: {err} (start pcscd with vsmartcard-vpcd; .ci/run does)");
            return;
        }
        let Some(inserted) = insert_virtual_card() else {
            eprintln!("SKIPPED PC/SC end-to-end test: the vpcd reader does not listen on port {VPCD_PORT}");
            return;
        };
        let card = wait_for_card().expect("pcscd sees the virtual card");
        let mut reader = MyNumberReader::new(card);
        assert_eq!(reader.pin_tries_left().expect("tries"), 3, "reading the counter spends no try");
        let attributes = reader.read_with_pin(&Pin::parse("1234").expect("pin")).expect("read through PC/SC");
        assert_eq!(attributes.name, "葛\u{E0102}西\u{3000}𠮷乃");
        assert_eq!(attributes.individual_number, "983205673214");
        assert!(matches!(
            reader.read_with_pin(&Pin::parse("0000").expect("pin")),
            Err(CardError::WrongPin { tries_left: 2 })
        ));
        inserted.remove();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match reader.pin_tries_left() {
                Err(CardError::Removed) => break,
                other if Instant::now() >= deadline => panic!("removal not seen: {other:?}"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}
