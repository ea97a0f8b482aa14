//! `madoguchi export …`: the return export (返還データ) — only an admin may make one, it is always encrypted under a
//! passphrase generated here and shown once (to be handed over separately from the file), and every export is
//! recorded in the audit chain; and the ward's check that a received export opens and matches its manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use madoguchi_core::auth::Role;
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::clock::SystemClock;
use madoguchi_core::counter::Counter;
use madoguchi_core::export::{ExportBundle, Manifest, generate_passphrase};
use madoguchi_core::store::OpenMode;

use crate::cli_io::{read_secret, write_new_file};

/// The manifest written beside an export file.
pub fn manifest_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".manifest.txt");
    PathBuf::from(name)
}

/// `export create`: log in as an admin, export every table, seal it and write the file and its manifest.
pub async fn create(
    store_args: &crate::cli_io::StoreArgs,
    admin: &str,
    station: &str,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let manifest_out = manifest_path(out);
    for path in [out, manifest_out.as_path()] {
        if path.exists() {
            bail!("{} already exists; an export is never written over another file", path.display());
        }
    }
    let password = read_secret("MADOGUCHI_ADMIN_PASSWORD", "admin password")?;
    let store = store_args.open(OpenMode::CreateAndMigrate).await?;
    let counter = store_counter(store)?;
    let session = counter
        .login(admin, &password, Role::Admin, station)
        .await
        .map_err(|e| anyhow::anyhow!("{e} (only an admin may export)"))?;
    let bundle = counter.export(&session).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    write_sealed(&bundle, out).await?;
    Ok(ExitCode::SUCCESS)
}

/// A counter on the store alone, for the admins' commands: no resident system is connected.
pub fn store_counter(store: Arc<dyn madoguchi_core::store::Store>) -> anyhow::Result<Counter> {
    let profile = CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), true)?;
    Ok(Counter::new(store, Arc::new(backend_adapter::Disconnected), Arc::new(SystemClock), profile))
}

/// The written return export: the encrypted file's bytes and the manifest's text.
pub struct WrittenExport {
    /// The encrypted file as written.
    pub sealed: Vec<u8>,
    /// The manifest as written.
    pub manifest_text: String,
}

/// Seal `bundle` under a new passphrase, write it to `out` and its manifest beside it (new files only), and show
/// the passphrase once.
pub async fn write_sealed(bundle: &ExportBundle, out: &Path) -> anyhow::Result<WrittenExport> {
    let manifest_out = manifest_path(out);
    let passphrase = generate_passphrase()?;
    let sealed = tokio::task::spawn_blocking({
        let bundle = bundle.clone();
        let passphrase = passphrase.clone();
        move || bundle.seal(&passphrase)
    })
    .await??;
    let manifest = bundle.manifest();
    let manifest_text = manifest.to_text();
    write_new_file(out, &sealed, false)?;
    write_new_file(&manifest_out, manifest_text.as_bytes(), false)?;
    let rows: usize = manifest.entries.iter().map(|e| e.rows).sum();
    println!(
        "wrote {} ({} tables, {rows} rows, encrypted) and its manifest {}",
        out.display(),
        manifest.entries.len(),
        manifest_out.display()
    );
    println!("passphrase (shown only now; hand it over separately from the file): {passphrase}");
    Ok(WrittenExport { sealed, manifest_text })
}

/// `notices export`: the 本人通知 data of a span of ward days as CSV, encrypted under a passphrase shown once (admins
/// only; the read is audited). `from` and `until` take 和暦 or 西暦.
pub async fn notices(
    store_args: &crate::cli_io::StoreArgs,
    admin: &str,
    station: &str,
    (from, until): (&str, &str),
    out: &Path,
) -> anyhow::Result<ExitCode> {
    if out.exists() {
        bail!("{} already exists; an export is never written over another file", out.display());
    }
    let (from, until) = crate::cli_io::parse_period(from, until)?;
    let password = read_secret("MADOGUCHI_ADMIN_PASSWORD", "admin password")?;
    let counter = store_counter(store_args.open(OpenMode::CreateAndMigrate).await?)?;
    let session = counter
        .login(admin, &password, Role::Admin, station)
        .await
        .map_err(|e| anyhow::anyhow!("{e} (only an admin may export)"))?;
    let records = counter.notice_records(&session, from, until).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let csv = madoguchi_core::notice::to_csv(&records);
    let passphrase = generate_passphrase()?;
    let sealed = tokio::task::spawn_blocking({
        let passphrase = passphrase.clone();
        move || madoguchi_core::export::seal_bytes(csv.as_bytes(), &passphrase)
    })
    .await??;
    write_new_file(out, &sealed, false)?;
    println!("wrote {} ({} notifiable issues, {from}..={until}, encrypted CSV)", out.display(), records.len());
    println!("passphrase (shown only now; hand it over separately from the file): {passphrase}");
    Ok(ExitCode::SUCCESS)
}

/// `export verify`: open an export with its passphrase and check it against its manifest.
pub async fn verify(file: &Path, manifest: Option<&Path>) -> anyhow::Result<ExitCode> {
    let manifest_file = manifest.map_or_else(|| manifest_path(file), Path::to_path_buf);
    let sealed = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let manifest_text = std::fs::read_to_string(&manifest_file)
        .with_context(|| format!("reading the manifest {}", manifest_file.display()))?;
    let manifest = Manifest::parse(&manifest_text)?;
    let passphrase = read_secret("MADOGUCHI_EXPORT_PASSPHRASE", "export passphrase")?;
    let opened = tokio::task::spawn_blocking(move || ExportBundle::open(&sealed, &passphrase)).await?;
    let result = opened.and_then(|bundle| bundle.check(&manifest).map(|()| bundle));
    match result {
        Ok(bundle) => {
            let rows: usize = bundle.tables.values().map(Vec::len).sum();
            println!("export verified: {} tables, {rows} rows, every table matches the manifest", bundle.tables.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("export NOT verified: {err}");
            Ok(ExitCode::from(1))
        }
    }
}
