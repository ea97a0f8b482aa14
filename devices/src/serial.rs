//! Serial-port transports for the 印鑑登録証 reader and serial certificate printers, and simulators that play the
//! device on the other end of a pseudo-terminal. The transports survive unplugging (reconnect with backoff to the
//! same, stable path) and report exactly how much of a print job left the host, so nothing is ever printed twice.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

#[cfg(unix)]
use serialport::TTYPort;
use serialport::{ClearBuffer, SerialPort};
use thiserror::Error;

use crate::job::{Delivery, JobOutcome};
use crate::magstripe::{MagCardDecoder, MagDecoderConfig, MagEvent, encode_frame};
use crate::port_status::{NOT_ERROR, PAPER_EMPTY, SELECTED, device_status_from_port_status};
use crate::status::DeviceStatus;

/// Status query byte (ENQ) understood by the serial printer protocol modelled here.
pub const STATUS_QUERY: u8 = 0x05;
/// Status byte of a ready printer (GET_PORT_STATUS bit layout: no error, selected).
pub const STATUS_READY: u8 = NOT_ERROR | SELECTED;
/// Status byte of a printer out of paper.
pub const STATUS_PAPER_OUT: u8 = NOT_ERROR | SELECTED | PAPER_EMPTY;

/// Why a serial port or simulator could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SerialError {
    /// The port could not be opened.
    #[error("cannot open serial port {path}: {reason}")]
    Open {
        /// Configured path.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// A pseudo-terminal pair could not be created (simulators only).
    #[error("cannot create pseudo-terminal pair: {0}")]
    Pty(String),
    /// Reading or writing failed.
    #[error("serial I/O error: {0}")]
    Io(String),
}

impl SerialError {
    /// Message for the operator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            SerialError::Open { .. } => "機器に接続できません。ケーブルと電源を確認してください".to_string(),
            SerialError::Pty(_) => "機器シミュレーターを起動できませんでした".to_string(),
            SerialError::Io(_) => "機器との通信でエラーが発生しました".to_string(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn is_timeout(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

fn open_port(path: &str, baud_rate: u32, timeout: Duration) -> Result<Box<dyn SerialPort>, SerialError> {
    let port = serialport::new(path, baud_rate)
        .timeout(timeout)
        .open()
        .map_err(|e| SerialError::Open { path: path.to_string(), reason: e.to_string() })?;
    // Stale bytes from before the (re)open belong to no frame we can trust.
    port.clear(ClearBuffer::Input).map_err(|e| SerialError::Io(e.to_string()))?;
    Ok(port)
}

/// Configuration of a [`MagReaderPort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagReaderConfig {
    /// Stable device path, for example `/dev/serial/by-id/usb-…-if00-port0`.
    pub path: String,
    /// Line speed.
    pub baud_rate: u32,
    /// How long one `poll` waits for bytes (default 50 ms).
    pub read_timeout: Duration,
    /// First reconnect delay after a disconnect (default 100 ms); doubles per failed attempt.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (default 2 s).
    pub backoff_max: Duration,
    /// Frame decoder settings.
    pub decoder: MagDecoderConfig,
}

impl MagReaderConfig {
    /// Defaults for `path`: 9600 baud, 50 ms reads, backoff 100 ms doubling to 2 s, default decoder.
    pub fn new(path: impl Into<String>) -> MagReaderConfig {
        MagReaderConfig {
            path: path.into(),
            baud_rate: 9600,
            read_timeout: Duration::from_millis(50),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            decoder: MagDecoderConfig::default(),
        }
    }
}

/// What a [`MagReaderPort`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MagReaderEvent {
    /// A decoded card, rejection or duplicate.
    Mag(MagEvent),
    /// The reader's status changed (`Offline` on unplug, `Ready` after reconnect).
    Status(DeviceStatus),
}

/// A 印鑑登録証 reader on a serial port: reads, decodes, and reconnects on its own after unplugging.
pub struct MagReaderPort {
    config: MagReaderConfig,
    port: Option<Box<dyn SerialPort>>,
    decoder: MagCardDecoder,
    status: DeviceStatus,
    backoff: Duration,
    next_attempt: Instant,
    connect_attempts: u64,
}

impl MagReaderPort {
    /// Opens the configured path. Never fails: an absent device starts `Offline` and is retried by [`poll`].
    ///
    /// [`poll`]: MagReaderPort::poll
    pub fn open(config: MagReaderConfig) -> MagReaderPort {
        let decoder = MagCardDecoder::new(config.decoder.clone());
        let backoff = config.backoff_initial;
        let mut reader = MagReaderPort {
            config,
            port: None,
            decoder,
            status: DeviceStatus::Offline,
            backoff,
            next_attempt: Instant::now(),
            connect_attempts: 0,
        };
        let mut ignored = Vec::new();
        reader.try_connect(Instant::now(), &mut ignored);
        reader
    }

    /// Current status.
    pub fn status(&self) -> &DeviceStatus {
        &self.status
    }

    /// Number of open attempts so far (the first included).
    pub fn connect_attempts(&self) -> u64 {
        self.connect_attempts
    }

    fn set_status(&mut self, status: DeviceStatus, events: &mut Vec<MagReaderEvent>) {
        if self.status != status {
            self.status = status.clone();
            events.push(MagReaderEvent::Status(status));
        }
    }

    fn try_connect(&mut self, now: Instant, events: &mut Vec<MagReaderEvent>) {
        self.connect_attempts += 1;
        match open_port(&self.config.path, self.config.baud_rate, self.config.read_timeout) {
            Ok(port) => {
                self.port = Some(port);
                self.decoder.reset();
                self.backoff = self.config.backoff_initial;
                self.set_status(DeviceStatus::Ready, events);
            }
            Err(_) => {
                self.next_attempt = now.checked_add(self.backoff).unwrap_or(now);
                self.backoff = self.backoff.saturating_mul(2).min(self.config.backoff_max);
            }
        }
    }

    fn disconnect(&mut self, events: &mut Vec<MagReaderEvent>) {
        self.port = None;
        self.decoder.reset();
        self.backoff = self.config.backoff_initial;
        let now = Instant::now();
        self.next_attempt = now.checked_add(self.backoff).unwrap_or(now);
        self.backoff = self.backoff.saturating_mul(2).min(self.config.backoff_max);
        self.set_status(DeviceStatus::Offline, events);
    }

    /// Waits at most about `read_timeout` for bytes (or makes one reconnect attempt when due) and returns what
    /// happened. Call it in a loop on a worker thread.
    pub fn poll(&mut self) -> Vec<MagReaderEvent> {
        let mut events = Vec::new();
        let mut buf = [0u8; 256];
        let read = match self.port.as_mut() {
            Some(port) => port.read(&mut buf),
            None => {
                let now = Instant::now();
                if now >= self.next_attempt {
                    self.try_connect(now, &mut events);
                } else {
                    thread::sleep(self.next_attempt.saturating_duration_since(now).min(self.config.read_timeout));
                }
                return events;
            }
        };
        match read {
            Ok(0) => self.disconnect(&mut events),
            Ok(n) => {
                let bytes = buf.get(..n).unwrap_or_default();
                events.extend(self.decoder.push(bytes, Instant::now()).into_iter().map(MagReaderEvent::Mag));
            }
            Err(e) if is_timeout(e.kind()) => {
                events.extend(self.decoder.push(&[], Instant::now()).into_iter().map(MagReaderEvent::Mag));
            }
            // BrokenPipe (hang-up) or EIO: the device is gone.
            Err(_) => self.disconnect(&mut events),
        }
        events
    }
}

#[cfg(unix)]
fn new_pair() -> Result<(TTYPort, TTYPort, String), SerialError> {
    let (master, slave) = TTYPort::pair().map_err(|e| SerialError::Pty(e.to_string()))?;
    let path = slave.name().ok_or_else(|| SerialError::Pty("slave has no name".to_string()))?;
    Ok((master, slave, path))
}

/// A simulated 印鑑登録証 reader on the master side of a pseudo-terminal. The reader under test opens
/// [`slave_path`](MagReaderSimulator::slave_path). Dropping the simulator is unplugging it.
#[cfg(unix)]
pub struct MagReaderSimulator {
    master: TTYPort,
    // Held open so the pty keeps its input queue while the reader under test closes and re-opens the slave.
    _slave: TTYPort,
    slave_path: String,
}

#[cfg(unix)]
impl MagReaderSimulator {
    /// Creates a pseudo-terminal pair.
    pub fn new() -> Result<MagReaderSimulator, SerialError> {
        let (mut master, slave, slave_path) = new_pair()?;
        master.set_timeout(Duration::from_millis(500)).map_err(|e| SerialError::Io(e.to_string()))?;
        Ok(MagReaderSimulator { master, _slave: slave, slave_path })
    }

    /// Path of the slave side (`/dev/pts/N`).
    pub fn slave_path(&self) -> &str {
        &self.slave_path
    }

    /// Swipes a card whose Track 2 data is `;<registration_number>?`.
    pub fn swipe(&mut self, registration_number: &str) -> Result<(), SerialError> {
        self.swipe_track2(registration_number)
    }

    /// Swipes a card with the given Track 2 data (between the sentinels, for example `12345678=0001`).
    pub fn swipe_track2(&mut self, data: &str) -> Result<(), SerialError> {
        self.send_raw(&encode_frame(format!(";{data}?").as_bytes()))
    }

    /// Swipes a card with the given JIS-II data (sentinels stripped by the reader).
    pub fn swipe_jis2(&mut self, data: &str) -> Result<(), SerialError> {
        self.send_raw(&encode_frame(data.as_bytes()))
    }

    /// Sends line noise.
    pub fn send_garbage(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        self.send_raw(bytes)
    }

    /// Sends bytes exactly as given (partial or broken frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        self.master.write_all(bytes).map_err(|e| SerialError::Io(e.to_string()))?;
        self.master.flush().map_err(|e| SerialError::Io(e.to_string()))
    }

    /// Unplugs the reader: the pty disappears and the reader side sees a hang-up.
    pub fn unplug(self) {
        drop(self);
    }
}

/// Configuration of a [`SerialPrinter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPrinterConfig {
    /// Stable device path.
    pub path: String,
    /// Line speed.
    pub baud_rate: u32,
    /// A job write that makes no progress for this long stops (default 1 s).
    pub write_timeout: Duration,
    /// How long to wait for a status byte (default 300 ms).
    pub status_timeout: Duration,
}

impl SerialPrinterConfig {
    /// Defaults for `path`: 115200 baud, 1 s write timeout, 300 ms status timeout.
    pub fn new(path: impl Into<String>) -> SerialPrinterConfig {
        SerialPrinterConfig {
            path: path.into(),
            baud_rate: 115_200,
            write_timeout: Duration::from_secs(1),
            status_timeout: Duration::from_millis(300),
        }
    }
}

/// A certificate printer on a serial line. Sends each job once; no automatic retry exists in this type.
pub struct SerialPrinter {
    port: Box<dyn SerialPort>,
    config: SerialPrinterConfig,
}

impl SerialPrinter {
    /// Opens the configured path.
    pub fn open(config: SerialPrinterConfig) -> Result<SerialPrinter, SerialError> {
        let port = open_port(&config.path, config.baud_rate, config.write_timeout)?;
        Ok(SerialPrinter { port, config })
    }

    /// Re-open the configured (stable) path after the printer was unplugged and plugged in again, retrying with
    /// backoff (100 ms doubling to 2 s) until `give_up_after`. Input left from the old connection is flushed.
    pub fn reconnect(&mut self, give_up_after: Duration) -> Result<(), SerialError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match open_port(&self.config.path, self.config.baud_rate, self.config.write_timeout) {
                Ok(port) => {
                    self.port = port;
                    return Ok(());
                }
                Err(err) if started.elapsed() >= give_up_after => return Err(err),
                Err(_) => {
                    thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Sends `job` once and reports how many bytes the driver accepted.
    ///
    /// Bytes are written one per `write(2)`, each after `poll` reports room: a terminal write larger than the free
    /// buffer space blocks in the kernel until it completes, so a printer that stops reading mid-job could hang a
    /// bigger write and leave its partial count unknown. One-byte writes keep the count exact and the timeout
    /// effective; at serial line speeds the extra system calls cost nothing.
    pub fn send_job(&mut self, job: &[u8]) -> JobOutcome {
        if job.is_empty() {
            return JobOutcome { delivered: 0, status: self.query_status(), outcome: Delivery::NothingSent };
        }
        let _ = self.port.set_timeout(self.config.write_timeout);
        let mut delivered = 0usize;
        let mut hung_up = false;
        let mut failed = false;
        for byte in job.chunks(1) {
            match self.port.write(byte) {
                Ok(1) => delivered += 1,
                Ok(_) => {
                    failed = true;
                    break;
                }
                Err(e) => {
                    failed = true;
                    hung_up = !is_timeout(e.kind());
                    break;
                }
            }
        }
        if !failed {
            let status = self.read_status(Duration::from_millis(10)).unwrap_or(DeviceStatus::Ready);
            return JobOutcome { delivered, status, outcome: Delivery::Delivered };
        }
        let status = if hung_up {
            DeviceStatus::Offline
        } else {
            self.read_status(self.config.status_timeout).unwrap_or(DeviceStatus::Offline)
        };
        let outcome = if delivered == 0 { Delivery::NothingSent } else { Delivery::Unknown };
        JobOutcome { delivered, status, outcome }
    }

    /// Asks the printer for its status (ENQ `0x05` → one status byte); no answer in time is `Offline`. Unsolicited
    /// status bytes a stalled printer sends also count as an answer.
    pub fn query_status(&mut self) -> DeviceStatus {
        let _ = self.port.clear(ClearBuffer::Input);
        let _ = self.port.set_timeout(self.config.status_timeout);
        match self.port.write(&[STATUS_QUERY]) {
            Ok(_) => {}
            Err(e) if is_timeout(e.kind()) => {}
            Err(_) => return DeviceStatus::Offline,
        }
        self.read_status(self.config.status_timeout).unwrap_or(DeviceStatus::Offline)
    }

    /// Reads status bytes for up to `wait`, then drains what else is queued; the last byte wins.
    fn read_status(&mut self, wait: Duration) -> Option<DeviceStatus> {
        let mut last = None;
        let mut buf = [0u8; 64];
        let _ = self.port.set_timeout(wait);
        loop {
            match self.port.read(&mut buf) {
                Ok(0) => return Some(DeviceStatus::Offline),
                Ok(n) => {
                    last = buf.get(n - 1).copied().or(last);
                    let _ = self.port.set_timeout(Duration::from_millis(5));
                }
                Err(e) if is_timeout(e.kind()) => break,
                Err(_) => return Some(DeviceStatus::Offline),
            }
        }
        last.map(device_status_from_port_status)
    }
}

/// Shared state of a [`SerialPrinterSimulator`].
#[derive(Debug, Default)]
#[cfg(unix)]
struct PrinterSimState {
    received: Vec<u8>,
    paper_limit: Option<usize>,
    offline: bool,
    stop: bool,
    /// Bumped by every control call.
    generation: u64,
    /// The generation the printer thread has taken into account (no read started under an older one is running).
    seen_generation: u64,
}

/// A simulated serial printer on the master side of a pseudo-terminal: records every byte it reads, answers ENQ
/// with a status byte, and can run out of paper (stops reading and sends an unsolicited paper-out status byte every
/// 100 ms, like automatic status back) or go offline (stops reading and answering).
#[cfg(unix)]
pub struct SerialPrinterSimulator {
    state: Arc<Mutex<PrinterSimState>>,
    thread: Option<JoinHandle<()>>,
    _slave: TTYPort,
    slave_path: String,
}

#[cfg(unix)]
impl SerialPrinterSimulator {
    /// Creates the pty pair and starts the printer thread.
    pub fn new() -> Result<SerialPrinterSimulator, SerialError> {
        let (mut master, slave, slave_path) = new_pair()?;
        master.set_timeout(Duration::from_millis(20)).map_err(|e| SerialError::Io(e.to_string()))?;
        let state = Arc::new(Mutex::new(PrinterSimState::default()));
        let shared = Arc::clone(&state);
        let thread = thread::Builder::new()
            .name("printer-sim".to_string())
            .spawn(move || run_printer(master, &shared))
            .map_err(|e| SerialError::Pty(e.to_string()))?;
        Ok(SerialPrinterSimulator { state, thread: Some(thread), _slave: slave, slave_path })
    }

    /// Path of the slave side, for [`SerialPrinterConfig`].
    pub fn slave_path(&self) -> &str {
        &self.slave_path
    }

    /// Everything received so far (status queries included).
    pub fn received(&self) -> Vec<u8> {
        lock(&self.state).received.clone()
    }

    /// Number of bytes received so far.
    pub fn received_len(&self) -> usize {
        lock(&self.state).received.len()
    }

    /// Applies a change and waits until the printer thread has seen it, so no read started under the old settings
    /// is still running when this returns.
    fn control(&self, change: impl FnOnce(&mut PrinterSimState)) {
        let target = {
            let mut state = lock(&self.state);
            change(&mut state);
            state.generation += 1;
            state.generation
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while lock(&self.state).seen_generation < target && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Runs out of paper after reading `n_bytes` more bytes.
    pub fn paper_out_after(&self, n_bytes: usize) {
        self.control(|state| state.paper_limit = Some(state.received.len() + n_bytes));
    }

    /// Paper loaded: reading resumes.
    pub fn load_paper(&self) {
        self.control(|state| state.paper_limit = None);
    }

    /// Stops reading and answering.
    pub fn go_offline(&self) {
        self.control(|state| state.offline = true);
    }

    /// Back on line.
    pub fn go_online(&self) {
        self.control(|state| state.offline = false);
    }
}

#[cfg(unix)]
impl Drop for SerialPrinterSimulator {
    fn drop(&mut self) {
        lock(&self.state).stop = true;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(unix)]
fn run_printer(mut master: TTYPort, state: &Mutex<PrinterSimState>) {
    let mut buf = [0u8; 4096];
    let mut last_unsolicited: Option<Instant> = None;
    loop {
        let (stop, offline, room) = {
            let mut s = lock(state);
            s.seen_generation = s.generation;
            (s.stop, s.offline, s.paper_limit.map(|limit| limit.saturating_sub(s.received.len())))
        };
        if stop {
            return;
        }
        if offline {
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        if room == Some(0) {
            if last_unsolicited.is_none_or(|at| at.elapsed() >= Duration::from_millis(100)) {
                let _ = master.write(&[STATUS_PAPER_OUT]);
                last_unsolicited = Some(Instant::now());
            }
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        let cap = room.map_or(buf.len(), |r| r.min(buf.len()));
        match master.read(buf.get_mut(..cap).unwrap_or_default()) {
            Ok(n) if n > 0 => {
                let bytes = buf.get(..n).unwrap_or_default();
                let queries = bytes.iter().filter(|&&b| b == STATUS_QUERY).count();
                lock(state).received.extend_from_slice(bytes);
                for _ in 0..queries {
                    let _ = master.write(&[STATUS_READY]);
                }
            }
            Ok(_) => thread::sleep(Duration::from_millis(10)),
            Err(e) if is_timeout(e.kind()) => {}
            // EIO while nobody has the slave open: wait for the host.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::magstripe::{MagError, RegistrationNumberRule, Track};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Pty tests run one at a time: they create and free pty numbers and time out on purpose.
    static PTY_LOCK: Mutex<()> = Mutex::new(());

    fn card(n: &str) -> MagReaderEvent {
        MagReaderEvent::Mag(MagEvent::Card { registration_number: n.to_string() })
    }

    fn config(path: &str) -> MagReaderConfig {
        let mut c = MagReaderConfig::new(path);
        c.decoder.rule = RegistrationNumberRule { track: Track::Track2, offset: 0, length: 8 };
        c
    }

    /// Polls until `done` says so or `limit` passes; returns every event seen.
    fn poll_until(
        reader: &mut MagReaderPort,
        limit: Duration,
        done: impl Fn(&[MagReaderEvent]) -> bool,
    ) -> Vec<MagReaderEvent> {
        let deadline = Instant::now() + limit;
        let mut events = Vec::new();
        while Instant::now() < deadline && !done(&events) {
            events.extend(reader.poll());
        }
        events
    }

    fn temp_dir() -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "madoguchi-serial-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// Points `link` at `target` atomically, as udev does for /dev/serial/by-id.
    fn point(link: &std::path::Path, target: &str) {
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).expect("symlink");
        std::fs::rename(&tmp, link).expect("rename");
    }

    #[test]
    fn swipe_gives_card_event() {
        let _guard = lock(&PTY_LOCK);
        let mut sim = MagReaderSimulator::new().expect("pty");
        let mut reader = MagReaderPort::open(config(sim.slave_path()));
        assert_eq!(reader.status(), &DeviceStatus::Ready);
        sim.swipe("12345678").expect("write");
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| !e.is_empty());
        assert_eq!(events, vec![card("12345678")]);
    }

    #[test]
    fn garbage_bad_bcc_and_duplicates_through_the_pty() {
        let _guard = lock(&PTY_LOCK);
        let mut sim = MagReaderSimulator::new().expect("pty");
        let mut reader = MagReaderPort::open(config(sim.slave_path()));
        sim.send_garbage(b"\x00\xffnoise;1234?").expect("write");
        sim.swipe("11112222").expect("write");
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| !e.is_empty());
        assert_eq!(events, vec![card("11112222")]);

        let mut bad = encode_frame(b";33334444?");
        if let Some(last) = bad.last_mut() {
            *last ^= 0xFF;
        }
        sim.send_raw(&bad).expect("write");
        sim.swipe("55556666").expect("write");
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| e.len() >= 2);
        assert!(matches!(events.first(), Some(MagReaderEvent::Mag(MagEvent::Rejected(MagError::BadBcc { .. })))));
        assert_eq!(events.get(1), Some(&card("55556666")));

        sim.swipe("55556666").expect("write");
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| !e.is_empty());
        assert_eq!(events, vec![MagReaderEvent::Mag(MagEvent::Duplicate)]);
    }

    #[test]
    fn partial_frame_times_out() {
        let _guard = lock(&PTY_LOCK);
        let mut sim = MagReaderSimulator::new().expect("pty");
        let mut reader = MagReaderPort::open(config(sim.slave_path()));
        sim.send_raw(&[0x02, b';', b'1', b'2']).expect("write");
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| !e.is_empty());
        assert_eq!(events, vec![MagReaderEvent::Mag(MagEvent::Rejected(MagError::Truncated))]);
    }

    #[test]
    fn unplug_reports_offline_and_replug_on_the_same_path_reconnects() {
        let _guard = lock(&PTY_LOCK);
        let dir = temp_dir();
        let link = dir.join("usb-Vendor_MagReader_0001-if00-port0");
        let first = MagReaderSimulator::new().expect("pty");
        // Created now so it cannot reuse the first pty's number.
        let mut second = MagReaderSimulator::new().expect("pty");
        point(&link, first.slave_path());
        let link_str = link.to_str().expect("utf-8 path").to_string();
        let mut reader = MagReaderPort::open(config(&link_str));
        assert_eq!(reader.status(), &DeviceStatus::Ready);

        // Unplug: the device disappears and udev removes its by-id link.
        first.unplug();
        point(&link, dir.join("absent").to_str().expect("utf-8"));
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| !e.is_empty());
        assert_eq!(events, vec![MagReaderEvent::Status(DeviceStatus::Offline)]);
        let attempts_before = reader.connect_attempts();
        let _ = poll_until(&mut reader, Duration::from_millis(500), |_| false);
        assert!(reader.connect_attempts() > attempts_before);

        // Bytes queued before the reader re-opens (a half frame) must be flushed, not decoded.
        second.send_raw(&[0x02, b';', b'9', b'9']).expect("write");
        thread::sleep(Duration::from_millis(50));
        point(&link, second.slave_path());
        let events = poll_until(&mut reader, Duration::from_secs(5), |e| !e.is_empty());
        assert_eq!(events, vec![MagReaderEvent::Status(DeviceStatus::Ready)]);
        second.swipe("87654321").expect("write");
        let events = poll_until(&mut reader, Duration::from_secs(3), |e| !e.is_empty());
        assert_eq!(events, vec![card("87654321")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn absent_device_is_retried_with_backoff() {
        let _guard = lock(&PTY_LOCK);
        let dir = temp_dir();
        let path = dir.join("missing");
        let mut reader = MagReaderPort::open(config(path.to_str().expect("utf-8")));
        assert_eq!(reader.status(), &DeviceStatus::Offline);
        let start = Instant::now();
        let events = poll_until(&mut reader, Duration::from_millis(1600), |_| false);
        assert!(events.is_empty());
        // Attempts at 0, 0.1, 0.3, 0.7, 1.5 s: 5 within 1.6 s (polling every 50 ms would have made 30).
        let attempts = reader.connect_attempts();
        assert!((4..=6).contains(&attempts), "{attempts} attempts in {:?}", start.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn printer(sim: &SerialPrinterSimulator) -> SerialPrinter {
        let mut config = SerialPrinterConfig::new(sim.slave_path());
        config.write_timeout = Duration::from_millis(300);
        SerialPrinter::open(config).expect("open")
    }

    fn wait_for(limit: Duration, cond: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        cond()
    }

    #[test]
    fn job_is_received_byte_for_byte() {
        let _guard = lock(&PTY_LOCK);
        let sim = SerialPrinterSimulator::new().expect("pty");
        let mut printer = printer(&sim);
        assert_eq!(printer.query_status(), DeviceStatus::Ready);
        let before = sim.received_len();
        let tray = crate::pjl::TraySelection::new("TRAY2", 1, 0).expect("tray");
        let payload: Vec<u8> = (0..20_000u32).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
        let job = crate::pjl::wrap_job("job-1", crate::pjl::PrinterLanguage::PdfInPjl, &tray, &payload).expect("job");
        let outcome = printer.send_job(&job);
        assert_eq!(outcome.outcome, Delivery::Delivered);
        assert_eq!(outcome.delivered, job.len());
        assert_eq!(outcome.status, DeviceStatus::Ready);
        assert!(wait_for(Duration::from_secs(5), || sim.received_len() == before + job.len()));
        assert_eq!(sim.received().get(before..), Some(job.as_slice()));
    }

    #[test]
    fn paper_out_mid_job_is_unknown_and_never_resent() {
        let _guard = lock(&PTY_LOCK);
        let sim = SerialPrinterSimulator::new().expect("pty");
        let mut printer = printer(&sim);
        sim.paper_out_after(1000);
        let job: Vec<u8> = (0..256 * 1024u32).map(|i| u8::try_from(i % 4 + 0x30).unwrap_or(0)).collect();
        let first = printer.send_job(&job);
        assert_eq!(first.outcome, Delivery::Unknown);
        assert_eq!(first.status, DeviceStatus::NoPaper);
        // The printer consumed exactly 1000 bytes; the rest of `delivered` sits in the kernel's pty buffers.
        assert_eq!(sim.received_len(), 1000);
        assert!(first.delivered >= 1000 && first.delivered < job.len(), "{}", first.delivered);
        assert_eq!(printer.query_status(), DeviceStatus::NoPaper);

        // A second attempt only happens because the caller asks; with the buffers full nothing leaves the host.
        let second = printer.send_job(&job);
        assert_eq!(second.outcome, Delivery::NothingSent);
        assert_eq!(second.delivered, 0);
        assert_eq!(second.status, DeviceStatus::NoPaper);

        // Paper loaded: exactly the bytes reported as delivered arrive, and nothing more.
        sim.load_paper();
        assert!(wait_for(Duration::from_secs(5), || sim.received_len() >= first.delivered));
        thread::sleep(Duration::from_millis(200));
        let received = sim.received();
        assert_eq!(received.len(), first.delivered);
        assert_eq!(received.as_slice(), job.get(..first.delivered).expect("prefix"));
    }

    #[test]
    fn offline_printer() {
        let _guard = lock(&PTY_LOCK);
        let sim = SerialPrinterSimulator::new().expect("pty");
        let mut printer = printer(&sim);
        sim.go_offline();
        assert_eq!(printer.query_status(), DeviceStatus::Offline);
        sim.go_online();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut status = printer.query_status();
        while status != DeviceStatus::Ready && Instant::now() < deadline {
            status = printer.query_status();
        }
        assert_eq!(status, DeviceStatus::Ready);
    }

    #[test]
    fn unplugged_printer_gets_nothing() {
        let _guard = lock(&PTY_LOCK);
        let sim = SerialPrinterSimulator::new().expect("pty");
        let mut printer = printer(&sim);
        drop(sim);
        let outcome = printer.send_job(b"%PDF-1.7");
        assert_eq!(outcome, JobOutcome { delivered: 0, status: DeviceStatus::Offline, outcome: Delivery::NothingSent });
    }

    #[test]
    fn an_unplugged_printer_reconnects_on_its_stable_path_and_prints() {
        let _guard = lock(&PTY_LOCK);
        let dir = temp_dir();
        let link = dir.join("usb-Vendor_CertPrinter_0001-if00-port0");
        let first = SerialPrinterSimulator::new().expect("pty");
        let second = SerialPrinterSimulator::new().expect("pty");
        point(&link, first.slave_path());
        let mut config = SerialPrinterConfig::new(link.to_str().expect("utf-8"));
        config.write_timeout = Duration::from_millis(300);
        let mut printer = SerialPrinter::open(config).expect("open");
        assert_eq!(printer.query_status(), DeviceStatus::Ready);

        // Unplug: the master end closes and the by-id link goes away.
        drop(first);
        point(&link, dir.join("absent").to_str().expect("utf-8"));
        let outcome = printer.send_job(b"%PDF-1.7 first");
        assert_eq!((outcome.delivered, outcome.outcome), (0, Delivery::NothingSent));
        assert!(printer.reconnect(Duration::from_millis(300)).is_err(), "nothing to reconnect to yet");

        // Plugged in again: the link points at the new device; reconnect and print.
        point(&link, second.slave_path());
        printer.reconnect(Duration::from_secs(3)).expect("reconnect");
        let before = second.received_len();
        let job = b"%PDF-1.7 after reconnect".to_vec();
        let outcome = printer.send_job(&job);
        assert_eq!(outcome.outcome, Delivery::Delivered);
        assert!(wait_for(Duration::from_secs(5), || second.received_len() == before + job.len()));
        assert_eq!(second.received().get(before..), Some(job.as_slice()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn opening_a_missing_port_fails_with_a_message() {
        let err = SerialPrinter::open(SerialPrinterConfig::new("/nonexistent/tty")).err().expect("must fail");
        assert!(matches!(err, SerialError::Open { .. }));
        assert!(err.message_ja().contains("接続"));
    }
}
