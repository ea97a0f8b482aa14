//! 返還データ: the ward's data leaves the counter only as one encrypted file. Every table of the store (users without
//! their password hashes) goes into one JSON bundle, sealed with age in passphrase mode (scrypt) under a passphrase
//! generated here and shown once, to be handed over separately. A plaintext manifest — row counts and SHA-256 per
//! table, no personal data — travels with it, so the ward can check after decrypting that it got everything.

use std::collections::BTreeMap;

use age::secrecy::SecretString;
use sha2::{Digest as _, Sha256};

const MANIFEST_HEADER: &str = "madoguchi-return-export/v1";

/// Encrypt any export (the return export, 本人通知 data) under a passphrase: age with scrypt.
pub fn seal_bytes(plaintext: &[u8], passphrase: &str) -> Result<Vec<u8>, ExportError> {
    let recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_string()));
    age::encrypt(&recipient, plaintext).map_err(|e| ExportError::Seal(e.to_string()))
}

/// Decrypt what [`seal_bytes`] sealed; a wrong passphrase is [`ExportError::WrongPassphrase`].
pub fn open_bytes(sealed: &[u8], passphrase: &str) -> Result<Vec<u8>, ExportError> {
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_string()));
    age::decrypt(&identity, sealed).map_err(|_| ExportError::WrongPassphrase)
}

/// Every table of the store, in the order the bundle lists them.
pub const EXPORT_TABLES: [&str; 24] = [
    "users",
    "grants",
    "grant_requests",
    "user_keys",
    "audit_head",
    "audit_log",
    "case_transitions",
    "cases",
    "outputs",
    "approvals",
    "returns",
    "issuances",
    "data_keys",
    "number_reservations",
    "incidents",
    "seal_inquiries",
    "paper_movements",
    "day_closes",
    "run_mode",
    "print_jobs",
    "resident_outbox",
    "print_resolutions",
    "case_voids",
    "fee_tables",
];

/// Columns never exported.
pub const WITHHELD_COLUMNS: [(&str, &str); 1] = [("users", "password_hash")];

/// Why an export could not be made, opened or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The passphrase does not open the file (or the file is not an age file).
    #[error("the passphrase does not open this export (or the file is not a madoguchi export)")]
    WrongPassphrase,
    /// The decrypted bundle or the manifest is not in the expected form.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Bundle or manifest.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The bundle does not match its manifest.
    #[error("table {table} does not match the manifest ({reason})")]
    Mismatch {
        /// The table.
        table: String,
        /// Rows or hash.
        reason: String,
    },
    /// Encryption or the random source failed.
    #[error("the export could not be sealed: {0}")]
    Seal(String),
}

impl ExportError {
    /// The message for the screen.
    pub fn message_ja(&self) -> String {
        match self {
            ExportError::WrongPassphrase => "パスフレーズが違うか、madoguchiの返還データではありません".to_string(),
            ExportError::Malformed { .. } => "返還データまたはマニフェストの形式が正しくありません".to_string(),
            ExportError::Mismatch { table, .. } => {
                format!("返還データの{table}表がマニフェストと一致しません。受け取ったファイルを確認してください")
            }
            ExportError::Seal(_) => "返還データを暗号化できませんでした".to_string(),
        }
    }
}

/// The store's tables as exported: table name → rows (JSON objects, keys sorted, binary columns as hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportBundle {
    /// Format tag.
    pub format: String,
    /// When (µs).
    pub created_at_us: i64,
    /// Rows per table.
    pub tables: BTreeMap<String, Vec<serde_json::Value>>,
}

/// One table's line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Table.
    pub table: String,
    /// Rows.
    pub rows: usize,
    /// SHA-256 of the rows as JSON Lines.
    pub sha256: [u8; 32],
}

/// What the ward checks the decrypted bundle against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// When the export was made (µs).
    pub created_at_us: i64,
    /// One entry per table.
    pub entries: Vec<ManifestEntry>,
}

fn table_digest(rows: &[serde_json::Value]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for row in rows {
        hasher.update(row.to_string().as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().into()
}

fn malformed(what: &'static str, reason: impl Into<String>) -> ExportError {
    ExportError::Malformed { what, reason: reason.into() }
}

impl ExportBundle {
    /// A bundle of `tables`.
    pub fn new(created_at_us: i64, tables: BTreeMap<String, Vec<serde_json::Value>>) -> ExportBundle {
        ExportBundle { format: MANIFEST_HEADER.to_string(), created_at_us, tables }
    }

    /// Its manifest.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            created_at_us: self.created_at_us,
            entries: self
                .tables
                .iter()
                .map(|(table, rows)| ManifestEntry {
                    table: table.clone(),
                    rows: rows.len(),
                    sha256: table_digest(rows),
                })
                .collect(),
        }
    }

    /// Seal the bundle under `passphrase` (age, scrypt).
    pub fn seal(&self, passphrase: &str) -> Result<Vec<u8>, ExportError> {
        let plaintext = serde_json::to_vec(self).map_err(|e| ExportError::Seal(e.to_string()))?;
        seal_bytes(&plaintext, passphrase)
    }

    /// Open a sealed bundle with its passphrase.
    pub fn open(sealed: &[u8], passphrase: &str) -> Result<ExportBundle, ExportError> {
        let plaintext = open_bytes(sealed, passphrase)?;
        let bundle: ExportBundle =
            serde_json::from_slice(&plaintext).map_err(|e| malformed("bundle", e.to_string()))?;
        if bundle.format != MANIFEST_HEADER {
            return Err(malformed("bundle", format!("unknown format {:?}", bundle.format)));
        }
        Ok(bundle)
    }

    /// Check the bundle against a manifest: the same tables, row counts and digests.
    pub fn check(&self, manifest: &Manifest) -> Result<(), ExportError> {
        let own = self.manifest();
        for expected in &manifest.entries {
            let Some(found) = own.entries.iter().find(|e| e.table == expected.table) else {
                return Err(ExportError::Mismatch { table: expected.table.clone(), reason: "missing".into() });
            };
            if found.rows != expected.rows {
                let reason = format!("{} rows, the manifest says {}", found.rows, expected.rows);
                return Err(ExportError::Mismatch { table: expected.table.clone(), reason });
            }
            if found.sha256 != expected.sha256 {
                return Err(ExportError::Mismatch { table: expected.table.clone(), reason: "digest differs".into() });
            }
        }
        if let Some(extra) = own.entries.iter().find(|e| !manifest.entries.iter().any(|m| m.table == e.table)) {
            return Err(ExportError::Mismatch { table: extra.table.clone(), reason: "not in the manifest".into() });
        }
        Ok(())
    }
}

impl Manifest {
    /// The manifest's text.
    pub fn to_text(&self) -> String {
        let mut text = format!("{MANIFEST_HEADER}\ncreated: {}\n", self.created_at_us);
        for entry in &self.entries {
            text.push_str(&format!("table {} rows {} sha256 {}\n", entry.table, entry.rows, hex::encode(entry.sha256)));
        }
        text
    }

    /// Read a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, ExportError> {
        let mut lines = text.lines();
        if lines.next() != Some(MANIFEST_HEADER) {
            return Err(malformed("manifest", format!("the first line must be {MANIFEST_HEADER}")));
        }
        let created_at_us = lines
            .next()
            .and_then(|line| line.strip_prefix("created: "))
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| malformed("manifest", "the created line is missing"))?;
        let mut entries = Vec::new();
        for line in lines.filter(|line| !line.trim().is_empty()) {
            let parts: Vec<&str> = line.split(' ').collect();
            let ["table", table, "rows", rows, "sha256", digest] = parts.as_slice() else {
                return Err(malformed("manifest", format!("unexpected line {line:?}")));
            };
            let rows = rows.parse().map_err(|_| malformed("manifest", format!("row count in {line:?}")))?;
            let sha256 = hex::decode(digest)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| malformed("manifest", format!("digest in {line:?}")))?;
            entries.push(ManifestEntry { table: (*table).to_string(), rows, sha256 });
        }
        Ok(Manifest { created_at_us, entries })
    }
}

/// A new passphrase: 8 groups of 5 characters from a 32-letter alphabet without look-alikes (200 bits).
pub fn generate_passphrase() -> Result<String, ExportError> {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789#";
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| ExportError::Seal(format!("no random source: {e}")))?;
    let chars: Vec<char> = random.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect();
    Ok(chars.chunks(5).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> ExportBundle {
        let mut tables = BTreeMap::new();
        tables.insert("cases".to_string(), vec![serde_json::json!({ "id": 1, "request": "山田 太郎" })]);
        tables.insert("users".to_string(), vec![serde_json::json!({ "id": 1, "login_id": "admin" })]);
        ExportBundle::new(7, tables)
    }

    #[test]
    fn a_sealed_bundle_opens_with_its_passphrase_and_matches_its_manifest() {
        let passphrase = generate_passphrase().expect("passphrase");
        assert_eq!(passphrase.len(), 47, "{passphrase}");
        let sealed = bundle().seal(&passphrase).expect("seal");
        assert!(!sealed.windows("山田".len()).any(|w| w == "山田".as_bytes()), "no plaintext in the sealed file");
        let opened = ExportBundle::open(&sealed, &passphrase).expect("open");
        let manifest = Manifest::parse(&bundle().manifest().to_text()).expect("manifest");
        opened.check(&manifest).expect("matches");
        assert!(matches!(ExportBundle::open(&sealed, "wrong-passphrase"), Err(ExportError::WrongPassphrase)));
    }

    #[test]
    fn a_changed_row_or_a_missing_table_is_named() {
        let manifest = bundle().manifest();
        let mut changed = bundle();
        changed.tables.insert("cases".to_string(), vec![serde_json::json!({ "id": 1, "request": "山田 次郎" })]);
        assert!(matches!(changed.check(&manifest), Err(ExportError::Mismatch { table, .. }) if table == "cases"));
        let mut missing = bundle();
        missing.tables.remove("users");
        assert!(matches!(missing.check(&manifest), Err(ExportError::Mismatch { table, .. }) if table == "users"));
        assert!(Manifest::parse("something else").is_err());
    }
}
