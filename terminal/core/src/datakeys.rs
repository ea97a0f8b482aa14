//! Resident data at rest is sealed under data keys that live outside the database, one key per dataset, so that
//! contract-end erasure is crypto-shredding: destroying a small key file makes every copy of the sealed rows — the
//! database file, its WAL, free pages, backups, replicas — unreadable at once, without having to find them all.
//!
//! A sealed value is `MDG1 ‖ key id (8) ‖ nonce (24) ‖ XChaCha20-Poly1305 ciphertext`, with associated data that
//! names the row it belongs to (a case id, an output's SHA-256), so a value moved to another row does not open.
//! The database records which key ids exist and when they were destroyed (`data_keys`); the key material is only
//! in the key file.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The first bytes of every sealed value.
pub const SEALED_MAGIC: &[u8; 4] = b"MDG1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = SEALED_MAGIC.len() + KEY_ID_LEN + NONCE_LEN;
const FILE_HEADER: &str = "madoguchi data keys v1";

/// A group of resident data with its own key (データセット).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dataset {
    /// The requests taken at the counter (`cases.request`: requester, persons asked for, purpose).
    CaseRequests,
    /// The outputs handed to review (`outputs.bytes` and `outputs.document`: the certificates' content).
    Outputs,
}

impl Dataset {
    /// Every dataset.
    pub const ALL: [Dataset; 2] = [Dataset::CaseRequests, Dataset::Outputs];

    /// Stable name in the key file and the `data_keys` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::CaseRequests => "case_requests",
            Dataset::Outputs => "outputs",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.as_str() == text)
    }

    /// Name on the deletion report.
    pub fn label_ja(self) -> &'static str {
        match self {
            Dataset::CaseRequests => "窓口の請求内容（請求者・対象者・使用目的）",
            Dataset::Outputs => "審査・交付用の出力（証明書の内容と印刷データ）",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with data keys or a sealed value.
#[derive(Debug, thiserror::Error)]
pub enum DataKeyError {
    /// The key file could not be read, written or removed.
    #[error("data key file {path}: {reason}")]
    File {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file is not in the expected form.
    #[error("data key file {path}, line {line}: {reason}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// No key of the ring can open this value (destroyed by erasure, or another store's key file).
    #[error("no data key {key_id} for {dataset} in the key file (destroyed by erasure, or a different key file)")]
    KeyMissing {
        /// The dataset.
        dataset: Dataset,
        /// The key id the value names.
        key_id: String,
    },
    /// This store has no key file loaded (opened read-only without one).
    #[error("no data keys are loaded for {0}; give the data key file")]
    NoKeys(Dataset),
    /// The value is not sealed, or it was altered or moved to another row.
    #[error("a sealed {dataset} value does not open: {reason}")]
    Unsealable {
        /// The dataset.
        dataset: Dataset,
        /// Why.
        reason: String,
    },
    /// A shared store was opened for work without naming its key file.
    #[error(
        "a PostgreSQL store needs its data key file (--data-keys FILE or MADOGUCHI_DATA_KEYS): resident data is sealed under keys kept outside the database"
    )]
    NotConfigured,
    /// The key file does not hold the keys the database records (another store's file, or a lost one).
    #[error("data key file {path} holds keys {in_file}, but the store records keys {recorded}")]
    Mismatch {
        /// The key file.
        path: PathBuf,
        /// Key ids in the file.
        in_file: String,
        /// Key ids the database records as live.
        recorded: String,
    },
    /// The operating system gave no random bytes.
    #[error("no random source: {0}")]
    Random(String),
}

/// One data key.
#[derive(Clone)]
struct DataKey {
    id: [u8; KEY_ID_LEN],
    secret: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("id", &hex::encode(self.id)).finish_non_exhaustive()
    }
}

/// The data keys of one store, loaded from its key file.
#[derive(Debug, Clone, Default)]
pub struct DataKeyRing {
    path: Option<PathBuf>,
    keys: BTreeMap<Dataset, DataKey>,
}

fn random<const N: usize>() -> Result<[u8; N], DataKeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| DataKeyError::Random(e.to_string()))?;
    Ok(bytes)
}

impl DataKeyRing {
    /// A ring with no keys: reading sealed values fails with [`DataKeyError::NoKeys`].
    pub fn empty() -> Self {
        Self::default()
    }

    /// The key file of a SQLite store: beside the database file (`store.sqlite` → `store.sqlite.keys`).
    pub fn path_beside(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".keys");
        PathBuf::from(name)
    }

    /// Load the key file; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, DataKeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(DataKeyError::File { path: path.to_path_buf(), reason: err.to_string() }),
        };
        Self::parse(path, &text).map(Some)
    }

    /// Create a new key file with a fresh key per dataset. Never replaces a file: when another process created
    /// it first, that file is loaded instead.
    pub fn create(path: &Path) -> Result<Self, DataKeyError> {
        let mut keys = BTreeMap::new();
        for dataset in Dataset::ALL {
            keys.insert(dataset, DataKey { id: random()?, secret: random()? });
        }
        let ring = Self { path: Some(path.to_path_buf()), keys };
        let file_error = |err: std::io::Error| DataKeyError::File { path: path.to_path_buf(), reason: err.to_string() };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(ring.to_text().as_bytes()).map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Ok(ring)
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path)?
                .ok_or_else(|| DataKeyError::File { path: path.to_path_buf(), reason: "vanished".to_string() }),
            Err(err) => Err(file_error(err)),
        }
    }

    fn to_text(&self) -> String {
        let mut text = format!("{FILE_HEADER}\n");
        for (dataset, key) in &self.keys {
            text.push_str(&format!("{dataset} {} {}\n", hex::encode(key.id), hex::encode(key.secret)));
        }
        text
    }

    fn parse(path: &Path, text: &str) -> Result<Self, DataKeyError> {
        let malformed =
            |line: usize, reason: String| DataKeyError::Malformed { path: path.to_path_buf(), line, reason };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, FILE_HEADER)) => {}
            _ => return Err(malformed(1, format!("the first line must be {FILE_HEADER:?}"))),
        }
        let mut keys = BTreeMap::new();
        for (index, line) in lines {
            let number = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(' ').collect();
            let [dataset, id, secret] = fields[..] else {
                return Err(malformed(number, "expected: DATASET KEY_ID KEY".to_string()));
            };
            let dataset =
                Dataset::parse(dataset).ok_or_else(|| malformed(number, format!("unknown dataset {dataset:?}")))?;
            let id: [u8; KEY_ID_LEN] = hex::decode(id)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| malformed(number, "the key id must be 16 hex digits".to_string()))?;
            let secret: [u8; 32] = hex::decode(secret)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| malformed(number, "the key must be 64 hex digits".to_string()))?;
            if keys.insert(dataset, DataKey { id, secret }).is_some() {
                return Err(malformed(number, format!("a second key for {dataset}")));
            }
        }
        if let Some(missing) = Dataset::ALL.into_iter().find(|d| !keys.contains_key(d)) {
            return Err(malformed(text.lines().count(), format!("no key for {missing}")));
        }
        Ok(Self { path: Some(path.to_path_buf()), keys })
    }

    /// The key file this ring was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// (dataset, key id in hex) of every key, for the `data_keys` table and the deletion report.
    pub fn key_ids(&self) -> Vec<(Dataset, String)> {
        self.keys.iter().map(|(dataset, key)| (*dataset, hex::encode(key.id))).collect()
    }

    /// Seal a value of `dataset` for the row `context` names.
    pub fn seal(&self, dataset: Dataset, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, DataKeyError> {
        let key = self.keys.get(&dataset).ok_or(DataKeyError::NoKeys(dataset))?;
        let nonce: [u8; NONCE_LEN] = random()?;
        let aad = associated_data(dataset, context);
        let ciphertext = cipher(key)
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| DataKeyError::Unsealable { dataset, reason: "encryption failed".to_string() })?;
        let mut sealed = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        sealed.extend_from_slice(SEALED_MAGIC);
        sealed.extend_from_slice(&key.id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Open a sealed value of `dataset` for the row `context` names.
    pub fn open(&self, dataset: Dataset, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, DataKeyError> {
        let unsealable = |reason: &str| DataKeyError::Unsealable { dataset, reason: reason.to_string() };
        if sealed.len() < HEADER_LEN || !sealed.starts_with(SEALED_MAGIC) {
            return Err(unsealable("the value is not sealed"));
        }
        let key_id = &sealed[SEALED_MAGIC.len()..SEALED_MAGIC.len() + KEY_ID_LEN];
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&sealed[SEALED_MAGIC.len() + KEY_ID_LEN..HEADER_LEN]);
        let key = match self.keys.get(&dataset) {
            Some(key) if key.id == key_id => key,
            Some(_) => return Err(DataKeyError::KeyMissing { dataset, key_id: hex::encode(key_id) }),
            None if self.keys.is_empty() => return Err(DataKeyError::NoKeys(dataset)),
            None => return Err(DataKeyError::KeyMissing { dataset, key_id: hex::encode(key_id) }),
        };
        let aad = associated_data(dataset, context);
        cipher(key)
            .decrypt(&XNonce::from(nonce_bytes), Payload { msg: &sealed[HEADER_LEN..], aad: &aad })
            .map_err(|_| unsealable("authentication failed: altered, or moved from another row"))
    }

    /// Destroy the key file: overwrite it with zeros, flush it to disk, remove it. The ring forgets its keys.
    /// Returns the ids of the destroyed keys.
    pub fn destroy(&mut self) -> Result<Vec<(Dataset, String)>, DataKeyError> {
        let ids = self.key_ids();
        if let Some(path) = &self.path {
            destroy_file(path)?;
        }
        for key in self.keys.values_mut() {
            key.secret = [0; 32];
        }
        self.keys.clear();
        Ok(ids)
    }
}

/// Overwrite a file with zeros, flush, and remove it (a missing file is already gone).
pub fn destroy_file(path: &Path) -> Result<(), DataKeyError> {
    let file_error = |err: std::io::Error| DataKeyError::File { path: path.to_path_buf(), reason: err.to_string() };
    let length = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(file_error(err)),
    };
    let mut file = std::fs::OpenOptions::new().write(true).open(path).map_err(file_error)?;
    let zeros = vec![0u8; 64 * 1024];
    let mut left = length;
    while left > 0 {
        let chunk = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..chunk]).map_err(file_error)?;
        left -= chunk as u64;
    }
    file.sync_all().map_err(file_error)?;
    drop(file);
    std::fs::remove_file(path).map_err(file_error)
}

fn cipher(key: &DataKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&key.secret.into())
}

fn associated_data(dataset: Dataset, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + context.len());
    aad.extend_from_slice(b"madoguchi:");
    aad.extend_from_slice(dataset.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> (tempfile::TempDir, DataKeyRing) {
        let dir = tempfile::tempdir().expect("dir");
        let ring = DataKeyRing::create(&dir.path().join("store.sqlite.keys")).expect("create");
        (dir, ring)
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_row_and_dataset() {
        let (_dir, ring) = ring();
        let sealed = ring.seal(Dataset::CaseRequests, b"case:1", "山田 太郎".as_bytes()).expect("seal");
        assert!(sealed.starts_with(SEALED_MAGIC));
        assert!(!sealed.windows(6).any(|w| w == "山田".as_bytes()), "the value is not in the clear");
        assert_eq!(ring.open(Dataset::CaseRequests, b"case:1", &sealed).expect("open"), "山田 太郎".as_bytes());
        assert!(matches!(ring.open(Dataset::CaseRequests, b"case:2", &sealed), Err(DataKeyError::Unsealable { .. })));
        assert!(matches!(ring.open(Dataset::Outputs, b"case:1", &sealed), Err(DataKeyError::KeyMissing { .. })));
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(matches!(ring.open(Dataset::CaseRequests, b"case:1", &altered), Err(DataKeyError::Unsealable { .. })));
        assert!(matches!(
            ring.open(Dataset::CaseRequests, b"case:1", b"{\"plain\":1}"),
            Err(DataKeyError::Unsealable { .. })
        ));
    }

    #[test]
    fn the_key_file_round_trips_and_is_never_replaced() {
        let (dir, ring) = ring();
        let path = dir.path().join("store.sqlite.keys");
        let again = DataKeyRing::create(&path).expect("second create loads");
        assert_eq!(again.key_ids(), ring.key_ids());
        let loaded = DataKeyRing::load(&path).expect("load").expect("exists");
        let sealed = ring.seal(Dataset::Outputs, b"x", b"bytes").expect("seal");
        assert_eq!(loaded.open(Dataset::Outputs, b"x", &sealed).expect("open"), b"bytes");
        assert!(DataKeyRing::load(&dir.path().join("none.keys")).expect("load").is_none());
    }

    #[test]
    fn a_malformed_key_file_is_refused_with_its_line() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("bad.keys");
        for (text, expected) in [
            ("something else\n", "line 1"),
            ("madoguchi data keys v1\ncase_requests 00 11\n", "16 hex digits"),
            ("madoguchi data keys v1\nletters 0011223344556677 00\n", "unknown dataset"),
            (
                "madoguchi data keys v1\ncase_requests 0011223344556677 0000000000000000000000000000000000000000000000000000000000000000\n",
                "no key for outputs",
            ),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = DataKeyRing::load(&path).expect_err(text);
            assert!(err.to_string().contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn destroying_the_ring_removes_the_file_and_every_key() {
        let (dir, mut ring) = ring();
        let path = dir.path().join("store.sqlite.keys");
        let sealed = ring.seal(Dataset::Outputs, b"x", b"bytes").expect("seal");
        let destroyed = ring.destroy().expect("destroy");
        assert_eq!(destroyed.len(), Dataset::ALL.len());
        assert!(!path.exists());
        assert!(matches!(ring.open(Dataset::Outputs, b"x", &sealed), Err(DataKeyError::NoKeys(_))));
    }
}
