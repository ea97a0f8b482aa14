//! The print job wrapper for raw printers (USB, serial, port 9100): every job carries its job id and an explicit
//! security-paper tray in the language the printer speaks, so a certificate can never come out of the plain-paper
//! tray by default. Also parses the PJL status replies (`USTATUS`, `INFO STATUS`) the printer sends back.

use thiserror::Error;

use crate::status::DeviceStatus;

/// Universal Exit Language: ends whatever language is active and returns to PJL.
pub const UEL: &[u8] = b"\x1b%-12345X";
/// Most job-name characters.
pub const MAX_JOB_NAME: usize = 64;
/// Most characters in a PJL `MEDIASOURCE` value.
pub const MAX_MEDIA_SOURCE: usize = 32;
/// Largest PJL reply message kept while waiting for its form feed.
const MAX_REPLY_MESSAGE: usize = 8 * 1024;
/// Form feed: ends each PJL reply message.
const FF: u8 = 0x0c;

/// Why a job could not be wrapped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PjlError {
    /// The job name is empty, longer than 64 characters or has characters other than `A-Z a-z 0-9 _ -`.
    #[error("invalid job name (1-64 characters of A-Z, a-z, 0-9, '_' and '-' required)")]
    InvalidJobName,
    /// The PJL media source is empty, too long or has characters other than `A-Z 0-9 _`.
    #[error("invalid PJL media source (1-32 characters of A-Z, 0-9 and '_' required)")]
    InvalidMediaSource,
    /// The payload is empty.
    #[error("empty print payload")]
    EmptyPayload,
    /// The payload contains the Universal Exit Language sequence, which would end the job early.
    #[error("payload contains the universal exit language sequence")]
    PayloadContainsUel,
}

impl PjlError {
    /// Message for the operator's screen.
    pub fn message_ja(&self) -> String {
        match self {
            PjlError::InvalidJobName => "印刷ジョブの識別子が不正です。システム管理者に連絡してください".to_string(),
            PjlError::InvalidMediaSource => "給紙トレイの設定が不正です。システム管理者に連絡してください".to_string(),
            PjlError::EmptyPayload | PjlError::PayloadContainsUel => {
                "印刷データが不正です。システム管理者に連絡してください".to_string()
            }
        }
    }
}

/// The page description language the printer is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrinterLanguage {
    /// PDF direct print inside a PJL job (`@PJL ENTER LANGUAGE=PDF`).
    PdfInPjl,
    /// PCL 5 inside a PJL job (`@PJL ENTER LANGUAGE=PCL`); tray by `ESC&l#H`.
    Pcl5,
    /// PostScript inside a PJL job (`@PJL ENTER LANGUAGE=POSTSCRIPT`); tray by `/MediaPosition`.
    PostScript,
}

/// The security-paper (改ざん防止用紙) tray, spelled for each language. All three values are required, so a job
/// can never be wrapped without an explicit tray whatever language is configured. Values are model-specific.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraySelection {
    pjl_media_source: String,
    pcl5_paper_source: u16,
    postscript_media_position: u32,
}

impl TraySelection {
    /// Builds a selection: the PJL `MEDIASOURCE` value (for example `TRAY2`), the PCL 5 `ESC&l#H` number (HP: 1 is
    /// Tray 2) and the PostScript `/MediaPosition` (HP: 0 is Tray 2).
    pub fn new(
        pjl_media_source: &str,
        pcl5_paper_source: u16,
        postscript_media_position: u32,
    ) -> Result<TraySelection, PjlError> {
        let valid = !pjl_media_source.is_empty()
            && pjl_media_source.len() <= MAX_MEDIA_SOURCE
            && pjl_media_source.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(PjlError::InvalidMediaSource);
        }
        Ok(TraySelection {
            pjl_media_source: pjl_media_source.to_string(),
            pcl5_paper_source,
            postscript_media_position,
        })
    }

    /// PJL `MEDIASOURCE` value.
    pub fn pjl_media_source(&self) -> &str {
        &self.pjl_media_source
    }

    /// PCL 5 paper source number.
    pub fn pcl5_paper_source(&self) -> u16 {
        self.pcl5_paper_source
    }

    /// PostScript `/MediaPosition`.
    pub fn postscript_media_position(&self) -> u32 {
        self.postscript_media_position
    }
}

/// Whether `name` is a valid job name (the job id): 1–64 characters of `A-Z a-z 0-9 _ -`.
pub fn is_valid_job_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_JOB_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Wraps `payload` into a complete job: PJL header with the job name, `USTATUS JOB=ON` (so the printer reports
/// `JOB END`), the tray in the language's own syntax, the payload and the PJL end of job.
///
/// - PDF: `@PJL SET MEDIASOURCE=…` then `@PJL ENTER LANGUAGE=PDF`.
/// - PCL 5: `ESC E ESC&l#H` before the payload; one leading `ESC E` of the payload is dropped because a reset after
///   the tray command would undo it. Paper-source commands deeper in the payload are not rewritten.
/// - PostScript: `<< /MediaPosition n >> setpagedevice` before the payload.
pub fn wrap_job(
    job_name: &str,
    language: PrinterLanguage,
    tray: &TraySelection,
    payload: &[u8],
) -> Result<Vec<u8>, PjlError> {
    if !is_valid_job_name(job_name) {
        return Err(PjlError::InvalidJobName);
    }
    if payload.is_empty() {
        return Err(PjlError::EmptyPayload);
    }
    if contains(payload, UEL) {
        return Err(PjlError::PayloadContainsUel);
    }
    let mut job = Vec::with_capacity(payload.len() + 256);
    job.extend_from_slice(UEL);
    job.extend_from_slice(format!("@PJL JOB NAME=\"{job_name}\"\r\n@PJL USTATUS JOB=ON\r\n").as_bytes());
    match language {
        PrinterLanguage::PdfInPjl => {
            job.extend_from_slice(format!("@PJL SET MEDIASOURCE={}\r\n", tray.pjl_media_source).as_bytes());
            job.extend_from_slice(b"@PJL ENTER LANGUAGE=PDF\r\n");
            job.extend_from_slice(payload);
        }
        PrinterLanguage::Pcl5 => {
            job.extend_from_slice(b"@PJL ENTER LANGUAGE=PCL\r\n");
            job.extend_from_slice(format!("\x1bE\x1b&l{}H", tray.pcl5_paper_source).as_bytes());
            job.extend_from_slice(payload.strip_prefix(b"\x1bE").unwrap_or(payload));
            job.extend_from_slice(b"\x1bE");
        }
        PrinterLanguage::PostScript => {
            job.extend_from_slice(b"@PJL ENTER LANGUAGE=POSTSCRIPT\r\n");
            job.extend_from_slice(
                format!("<< /MediaPosition {} >> setpagedevice\n", tray.postscript_media_position).as_bytes(),
            );
            job.extend_from_slice(payload);
        }
    }
    job.extend_from_slice(UEL);
    job.extend_from_slice(format!("@PJL EOJ NAME=\"{job_name}\"\r\n").as_bytes());
    job.extend_from_slice(UEL);
    Ok(job)
}

/// Something the printer reported over PJL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PjlEvent {
    /// A device status (`USTATUS DEVICE`, `INFO STATUS`, `USTATUS TIMED`) with its numeric code.
    Status {
        /// The PJL status code, for example 10001.
        code: u32,
        /// What it means for the operator.
        status: DeviceStatus,
    },
    /// `USTATUS JOB END`: the job left the printer; the best available "it really came out" signal.
    JobEnd {
        /// The job name given in `@PJL JOB NAME=`.
        name: String,
        /// Pages printed, when the printer said (`PAGES=n`).
        pages: Option<u32>,
    },
}

/// Maps a PJL status code: 10001 ready, 40021 cover open, 40022 and 42xxx–44xxx jam, 41xxx paper out, 35xxx ready
/// with a warning, 50xxx hardware error; every other code is `Error("code NNNNN")`.
pub fn status_from_code(code: u32) -> DeviceStatus {
    match code {
        10001 => DeviceStatus::Ready,
        35000..=35999 => DeviceStatus::Ready,
        40021 => DeviceStatus::CoverOpen,
        40022 => DeviceStatus::Jam,
        41000..=41999 => DeviceStatus::NoPaper,
        42000..=44999 => DeviceStatus::Jam,
        50000..=50999 => DeviceStatus::Error(format!("hardware code {code}")),
        _ => DeviceStatus::Error(format!("code {code}")),
    }
}

/// Splits on whitespace; double quotes group (and are removed).
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if c.is_whitespace() && !quoted {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn value_of<'a>(tokens: &'a [String], key: &str) -> Option<&'a str> {
    tokens.iter().find_map(|t| {
        let (k, v) = t.split_once('=')?;
        k.eq_ignore_ascii_case(key).then_some(v)
    })
}

/// Parses one PJL reply message (the text up to its form feed), single-line or multi-line. Returns `None` for
/// messages that are not status or job-end reports, or that are malformed.
pub fn parse_pjl_message(message: &[u8]) -> Option<PjlEvent> {
    let text = String::from_utf8_lossy(message);
    let tokens = tokenize(&text);
    let mut iter = tokens.iter();
    if !iter.next()?.eq_ignore_ascii_case("@PJL") {
        return None;
    }
    let kind = iter.next()?;
    if !(kind.eq_ignore_ascii_case("USTATUS") || kind.eq_ignore_ascii_case("INFO")) {
        return None;
    }
    let category = iter.next()?;
    let rest = tokens.get(3..).unwrap_or_default();
    if category.eq_ignore_ascii_case("JOB") {
        if !rest.iter().any(|t| t.eq_ignore_ascii_case("END")) {
            return None;
        }
        let name = value_of(rest, "NAME")?.to_string();
        let pages = value_of(rest, "PAGES").and_then(|p| p.trim().parse::<u32>().ok());
        return Some(PjlEvent::JobEnd { name, pages });
    }
    let code = value_of(rest, "CODE")?.trim().parse::<u32>().ok()?;
    Some(PjlEvent::Status { code, status: status_from_code(code) })
}

/// Stream parser for the printer's back channel: splits on form feeds and parses each message.
#[derive(Debug, Default)]
pub struct PjlReplyParser {
    buffer: Vec<u8>,
    overflowed: bool,
}

impl PjlReplyParser {
    /// An empty parser.
    pub fn new() -> Self {
        PjlReplyParser::default()
    }

    /// Feeds received bytes; returns the events of every message they complete. A message longer than 8 KiB is
    /// dropped whole.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<PjlEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            if b == FF {
                if !self.overflowed
                    && let Some(event) = parse_pjl_message(&self.buffer)
                {
                    events.push(event);
                }
                self.buffer.clear();
                self.overflowed = false;
            } else if self.buffer.len() >= MAX_REPLY_MESSAGE {
                self.overflowed = true;
                self.buffer.clear();
            } else if !self.overflowed {
                self.buffer.push(b);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tray() -> TraySelection {
        TraySelection::new("TRAY2", 1, 0).expect("valid tray")
    }

    #[test]
    fn pdf_job_is_wrapped_exactly() {
        let job = wrap_job("job-42_a", PrinterLanguage::PdfInPjl, &tray(), b"%PDF-1.7 body").expect("wraps");
        let expected = b"\x1b%-12345X@PJL JOB NAME=\"job-42_a\"\r\n@PJL USTATUS JOB=ON\r\n\
@PJL SET MEDIASOURCE=TRAY2\r\n@PJL ENTER LANGUAGE=PDF\r\n%PDF-1.7 body\
\x1b%-12345X@PJL EOJ NAME=\"job-42_a\"\r\n\x1b%-12345X";
        assert_eq!(job, expected.to_vec());
    }

    #[test]
    fn pcl5_job_selects_tray_after_reset() {
        let job = wrap_job("j1", PrinterLanguage::Pcl5, &tray(), b"\x1bE\x1b&l0O\x1b&l26Apage").expect("wraps");
        let text = String::from_utf8_lossy(&job);
        assert!(text.contains("@PJL ENTER LANGUAGE=PCL\r\n\x1bE\x1b&l1H\x1b&l0O\x1b&l26Apage\x1bE\x1b%-12345X"));
        // The payload's own reset was dropped: exactly two resets in the job (ours before and after).
        assert_eq!(job.windows(2).filter(|w| *w == b"\x1bE").count(), 2);
    }

    #[test]
    fn postscript_job_sets_media_position() {
        let t = TraySelection::new("TRAY3", 5, 1).expect("valid");
        let job = wrap_job("ps", PrinterLanguage::PostScript, &t, b"%!PS\nshowpage\n").expect("wraps");
        let text = String::from_utf8_lossy(&job);
        assert!(text.contains("@PJL ENTER LANGUAGE=POSTSCRIPT\r\n<< /MediaPosition 1 >> setpagedevice\n%!PS"));
        assert!(text.ends_with("\x1b%-12345X@PJL EOJ NAME=\"ps\"\r\n\x1b%-12345X"));
    }

    #[test]
    fn job_names_are_validated() {
        for bad in ["", "a\"b", "a b", "x\r\n@PJL", "名前", &"a".repeat(65)] {
            assert_eq!(wrap_job(bad, PrinterLanguage::PdfInPjl, &tray(), b"x"), Err(PjlError::InvalidJobName));
        }
        assert!(wrap_job(&"a".repeat(64), PrinterLanguage::PdfInPjl, &tray(), b"x").is_ok());
    }

    #[test]
    fn media_source_is_validated() {
        for bad in ["", "tray2", "TRAY2\r\n@PJL", "TRAY 2", &"A".repeat(33)] {
            assert_eq!(TraySelection::new(bad, 1, 0), Err(PjlError::InvalidMediaSource));
        }
        assert_eq!(tray().pjl_media_source(), "TRAY2");
        assert_eq!(tray().pcl5_paper_source(), 1);
        assert_eq!(tray().postscript_media_position(), 0);
    }

    #[test]
    fn payload_checks() {
        assert_eq!(wrap_job("a", PrinterLanguage::PdfInPjl, &tray(), b""), Err(PjlError::EmptyPayload));
        assert_eq!(
            wrap_job("a", PrinterLanguage::PdfInPjl, &tray(), b"x\x1b%-12345X@PJL ENTER LANGUAGE=PCL"),
            Err(PjlError::PayloadContainsUel)
        );
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_from_code(10001), DeviceStatus::Ready);
        assert_eq!(status_from_code(35078), DeviceStatus::Ready);
        assert_eq!(status_from_code(40021), DeviceStatus::CoverOpen);
        assert_eq!(status_from_code(40022), DeviceStatus::Jam);
        assert_eq!(status_from_code(42104), DeviceStatus::Jam);
        assert_eq!(status_from_code(44999), DeviceStatus::Jam);
        assert_eq!(status_from_code(41201), DeviceStatus::NoPaper);
        assert_eq!(status_from_code(50001), DeviceStatus::Error("hardware code 50001".into()));
        assert_eq!(status_from_code(40010), DeviceStatus::Error("code 40010".into()));
        assert_eq!(status_from_code(99999), DeviceStatus::Error("code 99999".into()));
    }

    #[test]
    fn parses_info_status_and_ustatus_device() {
        let msg = b"@PJL INFO STATUS\r\nCODE=10001\r\nDISPLAY=\"READY\"\r\nONLINE=TRUE\r\n";
        assert_eq!(parse_pjl_message(msg), Some(PjlEvent::Status { code: 10001, status: DeviceStatus::Ready }));
        let msg = b"@PJL USTATUS DEVICE\r\nCODE=41201\r\nDISPLAY=\"LOAD TRAY 2 A4\"\r\nONLINE=FALSE\r\n";
        assert_eq!(parse_pjl_message(msg), Some(PjlEvent::Status { code: 41201, status: DeviceStatus::NoPaper }));
    }

    #[test]
    fn parses_job_end_single_and_multi_line() {
        let one = b"@PJL USTATUS JOB END NAME=\"job-1\" PAGES=2";
        assert_eq!(parse_pjl_message(one), Some(PjlEvent::JobEnd { name: "job-1".into(), pages: Some(2) }));
        let multi = b"@PJL USTATUS JOB\r\nEND\r\nNAME=\"job 2\"\r\nPAGES=1\r\n";
        assert_eq!(parse_pjl_message(multi), Some(PjlEvent::JobEnd { name: "job 2".into(), pages: Some(1) }));
        let start = b"@PJL USTATUS JOB\r\nSTART\r\nNAME=\"job 2\"\r\n";
        assert_eq!(parse_pjl_message(start), None);
    }

    #[test]
    fn malformed_messages_are_ignored() {
        assert_eq!(parse_pjl_message(b""), None);
        assert_eq!(parse_pjl_message(b"@PJL"), None);
        assert_eq!(parse_pjl_message(b"@PJL ECHO hello"), None);
        assert_eq!(parse_pjl_message(b"@PJL USTATUS DEVICE CODE=abc"), None);
        assert_eq!(parse_pjl_message(b"@PJL USTATUS DEVICE CODE=99999999999"), None);
        assert_eq!(parse_pjl_message(b"garbage"), None);
    }

    #[test]
    fn stream_parser_splits_on_form_feed() {
        let mut p = PjlReplyParser::new();
        let stream =
            b"@PJL USTATUS DEVICE\r\nCODE=40021\r\n\x0c@PJL USTATUS JOB\r\nEND\r\nNAME=\"a1\"\r\nPAGES=3\r\n\x0c";
        let (first, second) = stream.split_at(30);
        let mut events = p.push(first);
        events.extend(p.push(second));
        assert_eq!(
            events,
            vec![
                PjlEvent::Status { code: 40021, status: DeviceStatus::CoverOpen },
                PjlEvent::JobEnd { name: "a1".into(), pages: Some(3) },
            ]
        );
    }

    #[test]
    fn stream_parser_drops_oversized_message() {
        let mut p = PjlReplyParser::new();
        let mut stream = b"@PJL USTATUS DEVICE CODE=10001 ".to_vec();
        stream.extend(vec![b'x'; MAX_REPLY_MESSAGE + 10]);
        stream.push(FF);
        stream.extend_from_slice(b"@PJL USTATUS DEVICE CODE=10001\x0c");
        assert_eq!(p.push(&stream), vec![PjlEvent::Status { code: 10001, status: DeviceStatus::Ready }]);
    }

    #[test]
    fn error_messages() {
        assert!(!PjlError::InvalidJobName.to_string().ends_with('.'));
        assert!(PjlError::InvalidMediaSource.message_ja().contains("トレイ"));
    }

    proptest! {
        #[test]
        fn reply_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut p = PjlReplyParser::new();
            let _ = p.push(&bytes);
            let _ = parse_pjl_message(&bytes);
        }

        #[test]
        fn wrapped_job_contains_payload_and_tray(name in "[A-Za-z0-9_-]{1,64}", payload in proptest::collection::vec(any::<u8>(), 1..256)) {
            prop_assume!(!contains(&payload, UEL));
            let job = wrap_job(&name, PrinterLanguage::PdfInPjl, &tray(), &payload).expect("valid");
            prop_assert!(contains(&job, &payload));
            prop_assert!(contains(&job, b"@PJL SET MEDIASOURCE=TRAY2\r\n"));
            let ends_with_uel = job.ends_with(UEL);
            prop_assert!(ends_with_uel);
        }
    }
}
