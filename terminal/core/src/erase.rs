//! The evidence of contract-end erasure: which resident values to look for once the data keys are gone (taken from
//! the return export before erasure), the scan of the data folder — store, WAL, anything left beside it — and of a
//! shared database's stored rows for any of them, and the deletion report (データ消去報告書) the ward files with
//! its 消去証明書. The report names files, key ids and hashes, never a resident value.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;

use crate::certificate::CertificateDocument;
use crate::render::page::{Element, Page};
use crate::render::pdf;
use crate::request::CounterRequest;
use crate::store::DataKeyRecord;

/// What can go wrong while gathering the evidence.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The export holds a row that cannot be read as what its table stores.
    #[error("the return export's {table} row {row} is unreadable: {reason}")]
    Export {
        /// Table.
        table: &'static str,
        /// Row index.
        row: usize,
        /// Why.
        reason: String,
    },
    /// A file of the data folder could not be read.
    #[error("scanning {path}: {reason}")]
    Scan {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The report could not be rendered.
    #[error("rendering the deletion report: {0}")]
    Render(#[from] pdf::PdfError),
}

/// Shortest probe in bytes: shorter values would match by chance in binary data.
const MIN_PROBE_BYTES: usize = 4;

/// The resident values of the return export (requesters, addresses, names, numbers on the certificates), each
/// once. After erasure none of them may be readable anywhere in the data folder.
pub fn resident_probes(tables: &BTreeMap<String, Vec<serde_json::Value>>) -> Result<Vec<String>, ErasureError> {
    let mut probes = BTreeSet::new();
    let mut add = |value: &str| {
        let value = value.trim();
        if value.len() >= MIN_PROBE_BYTES {
            probes.insert(value.to_string());
        }
    };
    for (row, case) in tables.get("cases").map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let request = case.get("request").cloned().unwrap_or_default();
        let request: CounterRequest = serde_json::from_value(request).map_err(|e| ErasureError::Export {
            table: "cases",
            row,
            reason: e.to_string(),
        })?;
        add(&request.requester.name);
        add(&request.requester.address);
        if let Some(number) = &request.requester.corporate_number {
            add(number);
        }
    }
    for (row, output) in tables.get("outputs").map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let Some(stored) = output.get("document").filter(|d| !d.is_null()) else { continue };
        // The stored preview source is the certificate content with the numbers it was laid out with.
        let document = stored.get("document").unwrap_or(stored).clone();
        let document: CertificateDocument = serde_json::from_value(document).map_err(|e| ErasureError::Export {
            table: "outputs",
            row,
            reason: e.to_string(),
        })?;
        add(&document.address);
        for person in &document.persons {
            add(&person.name);
            for value in [
                &person.furigana,
                &person.former_family_name,
                &person.common_name,
                &person.previous_address,
                &person.registry,
                &person.resident_code,
                &person.individual_number,
            ]
            .into_iter()
            .flatten()
            {
                add(value);
            }
        }
        if let Some(head) = &document.head_of_household {
            add(head);
        }
        if let Some(move_out) = &document.move_out {
            add(&move_out.destination);
        }
    }
    Ok(probes.into_iter().collect())
}

/// One file the scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    /// Path relative to the scanned folder.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// How many resident values were found in it (0 after a good erasure).
    pub hits: usize,
}

/// The result of scanning for leftover resident data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// How many distinct resident values were searched for.
    pub probes: usize,
    /// Every file read, in path order.
    pub files: Vec<ScannedFile>,
    /// Stored tables of a shared database that still hold a resident value in the clear (PostgreSQL).
    pub tables_with_hits: Vec<String>,
}

impl ScanReport {
    /// No resident value anywhere.
    pub fn clean(&self) -> bool {
        self.files.iter().all(|file| file.hits == 0) && self.tables_with_hits.is_empty()
    }
}

fn matcher(probes: &[String]) -> Result<AhoCorasick, ErasureError> {
    AhoCorasick::new(probes).map_err(|e| ErasureError::Scan { path: PathBuf::new(), reason: e.to_string() })
}

fn files_under(root: &Path) -> Result<Vec<(PathBuf, u64)>, ErasureError> {
    let scan_error =
        |path: &Path, err: std::io::Error| ErasureError::Scan { path: path.to_path_buf(), reason: err.to_string() };
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(|e| scan_error(&folder, e))? {
            let entry = entry.map_err(|e| scan_error(&folder, e))?;
            let kind = entry.file_type().map_err(|e| scan_error(&entry.path(), e))?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                let size = entry.metadata().map_err(|e| scan_error(&entry.path(), e))?.len();
                files.push((entry.path(), size));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Read every file under `root` (the store, its WAL and shared-memory files, anything else left in the data
/// folder) in one pass per file and count the resident values found. `progress(done, total)` is in bytes.
pub fn scan_folder(root: &Path, probes: &[String], progress: &dyn Fn(u64, u64)) -> Result<ScanReport, ErasureError> {
    let files = files_under(root)?;
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let mut report = ScanReport { probes: probes.len(), ..ScanReport::default() };
    let matcher = if probes.is_empty() { None } else { Some(matcher(probes)?) };
    let mut done = 0;
    for (path, size) in files {
        let scan_error = |err: std::io::Error| ErasureError::Scan { path: path.clone(), reason: err.to_string() };
        let mut hits = 0;
        if let Some(matcher) = &matcher {
            let file = std::fs::File::open(&path).map_err(scan_error)?;
            let matches = matcher
                .try_stream_find_iter(std::io::BufReader::new(file).take(size))
                .map_err(|e| ErasureError::Scan { path: path.clone(), reason: e.to_string() })?;
            for found in matches {
                found.map_err(scan_error)?;
                hits += 1;
            }
        }
        done += size;
        progress(done, total);
        let relative = path.strip_prefix(root).map_or_else(|_| path.clone(), Path::to_path_buf);
        report.files.push(ScannedFile { path: relative, bytes: size, hits });
    }
    Ok(report)
}

/// The stored tables (as the database returns them, sealed columns sealed) that still hold a resident value.
pub fn tables_with_probes(
    tables: &BTreeMap<String, Vec<serde_json::Value>>,
    probes: &[String],
) -> Result<Vec<String>, ErasureError> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let matcher = matcher(probes)?;
    Ok(tables
        .iter()
        .filter(|(_, rows)| rows.iter().any(|row| matcher.is_match(&row.to_string())))
        .map(|(table, _)| table.clone())
        .collect())
}

/// The deletion report (データ消去報告書).
#[derive(Debug, Clone)]
pub struct DeletionReport {
    /// The store erased (a URL without credentials).
    pub store: String,
    /// The admin who erased.
    pub erased_by: String,
    /// The second admin who confirmed.
    pub confirmed_by: String,
    /// When the erasure started and finished (µs since the epoch).
    pub started_at_us: i64,
    /// Finished.
    pub finished_at_us: i64,
    /// The return export file's name, SHA-256 and row count, and its manifest's SHA-256.
    pub export_file: String,
    /// SHA-256 of the encrypted export file.
    pub export_sha256: [u8; 32],
    /// SHA-256 of the manifest file.
    pub manifest_sha256: [u8; 32],
    /// Rows in the export.
    pub export_rows: usize,
    /// The data keys destroyed.
    pub keys: Vec<DataKeyRecord>,
    /// The key file destroyed (overwritten and removed), if this terminal held it.
    pub key_file: Option<String>,
    /// Other files overwritten and removed (local copies named by the operator).
    pub removed_files: Vec<String>,
    /// How the database files were rebuilt.
    pub compaction: String,
    /// The scan.
    pub scan: ScanReport,
    /// The folder scanned, if any.
    pub scanned_folder: Option<String>,
}

use crate::clock::format_local_time as local_time;

/// Text for the report's Gothic font: characters outside printable ASCII and common Japanese are escaped, so a
/// file name can never make the report fail to render or carry something unreadable.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic()
                || c == ' '
                || ('\u{3000}'..='\u{9FFF}').contains(&c)
                || ('\u{FF00}'..='\u{FFEF}').contains(&c)
            {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

impl DeletionReport {
    /// The erasure succeeded: keys destroyed and no resident value found anywhere scanned.
    pub fn passed(&self) -> bool {
        !self.keys.is_empty() && self.keys.iter().all(|key| key.destroyed_at_us.is_some()) && self.scan.clean()
    }

    /// The report's lines: (label, value); an empty label continues the previous item.
    fn lines(&self) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = vec![
            ("対象".into(), printable(&self.store)),
            ("実施者".into(), format!("{}（確認：{}）", printable(&self.erased_by), printable(&self.confirmed_by))),
            ("開始".into(), local_time(self.started_at_us)),
            ("終了".into(), local_time(self.finished_at_us)),
            (
                "結果".into(),
                if self.passed() {
                    "完了：残存データなし".into()
                } else {
                    "不完全：下記の残存あり".into()
                },
            ),
            ("".into(), "".into()),
            ("返還データ".into(), format!("{}（暗号化、{}行）", printable(&self.export_file), self.export_rows)),
            ("  SHA-256".into(), hex::encode(self.export_sha256)),
            ("  目録 SHA-256".into(), hex::encode(self.manifest_sha256)),
            ("".into(), "".into()),
            ("消去方法".into(), "暗号化消去（データセットごとの鍵を破棄）".into()),
            ("".into(), "XChaCha20-Poly1305 で封緘した住民データの鍵を上書きのうえ削除".into()),
            ("再構築".into(), printable(&self.compaction)),
        ];
        if let Some(key_file) = &self.key_file {
            lines.push(("鍵ファイル".into(), format!("{}（上書き・削除）", printable(key_file))));
        }
        for key in &self.keys {
            let when = key.destroyed_at_us.map_or_else(|| "未破棄".to_string(), local_time);
            lines.push(("破棄した鍵".into(), format!("{} {}", key.dataset, key.key_id)));
            lines.push(("".into(), key.dataset.label_ja().to_string()));
            lines.push(("".into(), format!("破棄：{when}")));
        }
        for file in &self.removed_files {
            lines.push(("削除したファイル".into(), format!("{}（上書き・削除）", printable(file))));
        }
        lines.push(("".into(), "".into()));
        lines.push(("残存検査".into(), format!("住民データ {} 件の値を検索", self.scan.probes)));
        if let Some(folder) = &self.scanned_folder {
            lines.push(("検査した場所".into(), printable(folder)));
        }
        for file in &self.scan.files {
            let verdict = if file.hits == 0 { "検出なし".to_string() } else { format!("検出 {} 件", file.hits) };
            lines.push((
                "  ファイル".into(),
                format!("{}（{} バイト）：{verdict}", printable(&file.path.display().to_string()), file.bytes),
            ));
        }
        for table in &self.scan.tables_with_hits {
            lines.push(("  表".into(), format!("{}：検出あり", printable(table))));
        }
        lines
    }

    /// The report laid out on A4 pages.
    pub fn pages(&self) -> Vec<Page> {
        const TOP_MM: f32 = 45.0;
        const LINE_MM: f32 = 6.0;
        const BOTTOM_MM: f32 = 280.0;
        let text = Element::gothic_text;
        let lines = self.lines();
        let per_page = ((BOTTOM_MM - TOP_MM) / LINE_MM) as usize;
        let page_count = lines.len().div_ceil(per_page).max(1);
        let mut pages = Vec::with_capacity(page_count);
        for (index, chunk) in lines.chunks(per_page).enumerate() {
            let mut page = Page::a4();
            page.elements.push(text(20.0, 25.0, 18.0, "データ消去報告書".into()));
            page.elements.push(text(20.0, 33.0, 9.0, "（消去証明書添付用・madoguchi が作成）".into()));
            page.elements.push(Element::Rule { x1_mm: 20.0, y1_mm: 37.0, x2_mm: 190.0, y2_mm: 37.0, width_mm: 0.4 });
            for (row, (label, value)) in chunk.iter().enumerate() {
                let y = TOP_MM + row as f32 * LINE_MM;
                page.elements.push(text(20.0, y, 9.0, label.clone()));
                page.elements.push(text(58.0, y, 9.0, value.clone()));
            }
            page.elements.push(text(170.0, 290.0, 8.0, format!("{} / {}", index + 1, page_count)));
            pages.push(page);
        }
        pages
    }

    /// The report as a PDF.
    pub fn to_pdf(&self) -> Result<Vec<u8>, ErasureError> {
        Ok(pdf::render_pdf(&self.pages())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_counts_every_probe_in_every_file_and_names_no_value() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("spool")).expect("spool");
        std::fs::write(dir.path().join("store.sqlite"), b"\x00\x01sealed\xff").expect("write");
        std::fs::write(dir.path().join("spool").join("job.pdf"), "..窓口カナリア..窓口カナリア..".as_bytes())
            .expect("write");
        let probes = vec!["窓口カナリア".to_string(), "東京都新宿区".to_string()];
        let seen = std::sync::Mutex::new(Vec::new());
        let report = scan_folder(dir.path(), &probes, &|done, total| seen.lock().expect("lock").push((done, total)))
            .expect("scan");
        assert_eq!(report.probes, 2);
        assert_eq!(report.files.len(), 2);
        let job = report.files.iter().find(|f| f.path.ends_with("job.pdf")).expect("job scanned");
        assert_eq!(job.hits, 2);
        assert!(!report.clean());
        assert_eq!(seen.lock().expect("lock").last().map(|(done, total)| done == total), Some(true));
        std::fs::remove_file(dir.path().join("spool").join("job.pdf")).expect("remove");
        assert!(scan_folder(dir.path(), &probes, &|_, _| {}).expect("scan").clean());
    }

    #[test]
    fn short_values_are_not_probes() {
        let mut tables = BTreeMap::new();
        tables.insert("cases".to_string(), Vec::new());
        assert!(resident_probes(&tables).expect("probes").is_empty());
        let bad = serde_json::json!({ "request": { "not": "a request" } });
        tables.insert("cases".to_string(), vec![bad]);
        assert!(matches!(resident_probes(&tables), Err(ErasureError::Export { table: "cases", .. })));
    }
}
