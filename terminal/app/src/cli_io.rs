//! What several commands do with the terminal and the file system the same way: read a secret from the environment
//! or one line of stdin, write a new file that never replaces an existing one, and open the store a command names.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use madoguchi_core::store::{OpenMode, Store, open_store};

use anyhow::{Context as _, bail};

/// A secret from `variable`, or one line on stdin (prompted for `what` when stdin is a terminal).
pub fn read_secret(variable: &str, what: &str) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(variable) {
        return Ok(value);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).with_context(|| format!("reading the {what} from stdin"))?;
    let value = line.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        bail!("no {what} given: pipe it on stdin or set {variable}");
    }
    Ok(value)
}

/// Write `bytes` to a new file (refused if it exists) and sync it; `secret` files are readable by the owner only
/// (on Unix).
pub fn write_new_file(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", path.display()))
}

/// A span of ward days from `--from` and `--until` (和暦 or 西暦), refused when it runs backwards.
pub fn parse_period(from: &str, until: &str) -> anyhow::Result<(jiff::civil::Date, jiff::civil::Date)> {
    use madoguchi_core::wareki::parse_date;
    let from = parse_date(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let until = parse_date(until).map_err(|e| anyhow::anyhow!("--until: {e}"))?;
    if until < from {
        bail!("--until {until} is before --from {from}");
    }
    Ok((from, until))
}

/// Which store a command works on.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// sqlite://PATH or postgres://…
    #[arg(long)]
    pub database: String,
    /// The data key file that seals the store's resident data (default for SQLite: the file beside the database,
    /// PATH.keys; required for PostgreSQL).
    #[arg(long, env = "MADOGUCHI_DATA_KEYS")]
    pub data_keys: Option<PathBuf>,
}

impl StoreArgs {
    /// Open the store.
    pub async fn open(&self, mode: OpenMode) -> anyhow::Result<Arc<dyn Store>> {
        open_store(&self.database, mode, self.data_keys.as_deref())
            .await
            .with_context(|| format!("opening {}", self.database))
    }
}
