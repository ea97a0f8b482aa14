//! A card on the other end of vsmartcard's `vpcd` virtual reader: pcscd's vpcd driver listens on a TCP port and a
//! card connects to it; every message is a 2-byte big-endian length and a payload (one byte = a control code:
//! 0 power off, 1 power on, 2 reset, 4 "send the ATR"; more bytes = a command APDU, answered with the response
//! APDU). With it the PC/SC path is tested end to end through a real pcscd, with our virtual マイナンバーカード.
//! Test machines only: Debian's vpcd listens on every interface.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::apdu::ApduTransport;

/// The vpcd port of the first virtual reader in Debian's configuration.
pub const VPCD_PORT: u16 = 35963;

/// A card inserted into a vpcd reader; dropping it (or [`VpcdCard::remove`]) takes the card out.
#[derive(Debug)]
pub struct VpcdCard {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl VpcdCard {
    /// Connect `card` to the vpcd reader at `address` and answer pcscd from a thread.
    pub fn insert<C: ApduTransport + Send + 'static>(
        address: &str,
        mut card: C,
        atr: Vec<u8>,
    ) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = stream.try_clone()?;
        let stopping = stop.clone();
        let handle = thread::spawn(move || {
            let mut length = [0u8; 2];
            while !stopping.load(Ordering::SeqCst) {
                match reader.read_exact(&mut length) {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(_) => return,
                }
                let mut payload = vec![0u8; usize::from(u16::from_be_bytes(length))];
                if reader.read_exact(&mut payload).is_err() {
                    return;
                }
                let answer = match payload.as_slice() {
                    [4] => Some(atr.clone()),
                    [_] => None,
                    apdu => Some(card.transmit(apdu).unwrap_or_else(|_| vec![0x6F, 0x00])),
                };
                if let Some(answer) = answer {
                    let Ok(length) = u16::try_from(answer.len()) else { return };
                    let mut message = length.to_be_bytes().to_vec();
                    message.extend(answer);
                    if reader.write_all(&message).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Self { stream, stop, handle: Some(handle) })
    }

    /// Take the card out of the reader.
    pub fn remove(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stream.shutdown(Shutdown::Both).ok();
        if let Some(handle) = self.handle.take() {
            handle.join().ok();
        }
    }
}

impl Drop for VpcdCard {
    fn drop(&mut self) {
        self.shutdown();
    }
}
