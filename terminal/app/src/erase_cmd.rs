//! `madoguchi erase`: contract-end return and erasure (返還・消去). One command does it in the order the contract
//! needs: the encrypted return export with its hash manifest, then the destruction of the data keys (two admins),
//! the rebuild of the database files, the removal of named local copies, a scan of the data folder for any
//! resident value left readable, and the deletion report (PDF) for the ward's 消去証明書.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use madoguchi_core::auth::Role;
use madoguchi_core::datakeys::{DataKeyRing, destroy_file};
use madoguchi_core::erase::{DeletionReport, resident_probes, scan_folder, tables_with_probes};
use madoguchi_core::store::{OpenMode, sqlite_path};
use sha2::Digest as _;

use crate::cli_io::{StoreArgs, read_secret, write_new_file};

/// What `erase` is told.
#[derive(Debug, Clone, clap::Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where the return export, its manifest and the deletion report are written (new files only).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// The admin who erases (password from MADOGUCHI_ADMIN_PASSWORD or stdin).
    #[arg(long, default_value = "admin")]
    pub admin: String,
    /// The second admin who confirms (password from MADOGUCHI_SECOND_ADMIN_PASSWORD or stdin).
    #[arg(long, default_value = "admin2")]
    pub second_admin: String,
    /// Station recorded for the erasure.
    #[arg(long, default_value = "admin-pc")]
    pub station: String,
    /// The data folder to scan for leftovers (default for SQLite: the folder of the database file).
    #[arg(long)]
    pub scan: Option<PathBuf>,
    /// Local copies of resident data to overwrite and remove as well (one or more; repeatable), e.g. the demo
    /// folder's population and its issued certificate PDFs.
    #[arg(long = "remove", num_args = 1..)]
    pub remove: Vec<PathBuf>,
    /// Must be exactly ERASE: erasure cannot be undone.
    #[arg(long)]
    pub confirm: String,
}

/// A database URL without its password, for the report.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}{}", &url[..scheme + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// `erase`: exit 0 when the keys are destroyed and nothing readable was left, 1 when the scan found leftovers.
pub async fn run(args: &EraseArgs) -> anyhow::Result<ExitCode> {
    if args.confirm != "ERASE" {
        bail!("erasure cannot be undone: pass --confirm ERASE to proceed");
    }
    let export_out = args.out_dir.join("return-export.age");
    let manifest_out = crate::export_cmd::manifest_path(&export_out);
    let report_out = args.out_dir.join("deletion-report.pdf");
    let report_hash_out = args.out_dir.join("deletion-report.pdf.sha256");
    for path in [&export_out, &manifest_out, &report_out, &report_hash_out] {
        if path.exists() {
            bail!("{} already exists; erasure writes new files only", path.display());
        }
    }
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating {}", args.out_dir.display()))?;
    let password = read_secret("MADOGUCHI_ADMIN_PASSWORD", "admin password")?;
    let second_password = read_secret("MADOGUCHI_SECOND_ADMIN_PASSWORD", "second admin password")?;

    let store = args.store.open(OpenMode::CreateAndMigrate).await?;
    let counter = crate::export_cmd::store_counter(store.clone())?;
    let session = counter
        .login(&args.admin, &password, Role::Admin, &args.station)
        .await
        .map_err(|e| anyhow!("{e} (only an admin may erase)"))?;
    let witness = counter
        .login(&args.second_admin, &second_password, Role::Admin, &args.station)
        .await
        .map_err(|e| anyhow!("{e} (a second admin confirms the erasure)"))?;
    let started_at_us = jiff::Timestamp::now().as_microsecond();

    // 1. The return export, before anything is destroyed.
    let bundle =
        counter.export(&session).await.map_err(|e| anyhow!("the return export failed, nothing was erased: {e}"))?;
    let probes = resident_probes(&bundle.tables)?;
    let written = crate::export_cmd::write_sealed(&bundle, &export_out).await?;
    let export_rows: usize = bundle.tables.values().map(Vec::len).sum();

    // 2. Crypto-shredding and the rebuild of the database files.
    let keys = counter.erase(&session, &witness).await.map_err(|e| anyhow!("erasure failed: {e}"))?;
    for key in &keys {
        println!("destroyed data key {} ({})", key.key_id, key.dataset);
    }
    let sqlite_file = sqlite_path(&args.store.database);
    let key_file = args.store.data_keys.clone().or_else(|| sqlite_file.map(DataKeyRing::path_beside));
    for file in &args.remove {
        destroy_file(file).with_context(|| format!("removing {}", file.display()))?;
        println!("overwrote and removed {}", file.display());
    }

    // 3. The scan for anything left readable.
    let folder = args.scan.clone().or_else(|| {
        sqlite_file
            .and_then(Path::parent)
            .map(|parent| if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() })
    });
    let mut scan = match &folder {
        Some(folder) => {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("scanning {msg} [{bar:40}] {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(folder.display().to_string());
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let report = scan_folder(folder, &probes, &progress)?;
            bar.finish_and_clear();
            report
        }
        None => madoguchi_core::erase::ScanReport { probes: probes.len(), ..Default::default() },
    };
    if sqlite_file.is_none() {
        scan.tables_with_hits = tables_with_probes(&store.stored_tables().await?, &probes)?;
    }
    let compaction = if sqlite_file.is_some() {
        "SQLite: VACUUM、WAL を切り詰めて反映（checkpoint TRUNCATE）".to_string()
    } else {
        "PostgreSQL: VACUUM FULL（cases, outputs）。サーバの WAL・バックアップは鍵の破棄により復号不能".to_string()
    };
    let report = DeletionReport {
        store: without_credentials(&args.store.database),
        erased_by: args.admin.clone(),
        confirmed_by: args.second_admin.clone(),
        started_at_us,
        finished_at_us: jiff::Timestamp::now().as_microsecond(),
        export_file: export_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        export_sha256: sha256(&written.sealed),
        manifest_sha256: sha256(written.manifest_text.as_bytes()),
        export_rows,
        keys,
        key_file: key_file.map(|path| path.display().to_string()),
        removed_files: args.remove.iter().map(|path| path.display().to_string()).collect(),
        compaction,
        scan,
        scanned_folder: folder.map(|path| path.display().to_string()),
    };
    let pdf = report.to_pdf()?;
    write_new_file(&report_out, &pdf, false)?;
    let report_hash = hex::encode(sha256(&pdf));
    write_new_file(&report_hash_out, format!("{report_hash}  deletion-report.pdf\n").as_bytes(), false)?;
    println!("deletion report: {} (SHA-256 {report_hash})", report_out.display());
    let scanned: u64 = report.scan.files.iter().map(|f| f.bytes).sum();
    if report.passed() {
        println!(
            "erased: {} data keys destroyed; {} resident values searched in {} files ({scanned} bytes): none found",
            report.keys.len(),
            report.scan.probes,
            report.scan.files.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("erasure INCOMPLETE: resident values are still readable in:");
        for file in report.scan.files.iter().filter(|f| f.hits > 0) {
            eprintln!("  {} ({} hits)", file.path.display(), file.hits);
        }
        for table in &report.scan.tables_with_hits {
            eprintln!("  table {table}");
        }
        Ok(ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn the_report_never_names_a_database_password() {
        assert_eq!(
            without_credentials("postgres://ward:secret@db.local:5432/madoguchi"),
            "postgres://db.local:5432/madoguchi"
        );
        assert_eq!(
            without_credentials("sqlite:///var/lib/madoguchi/store.sqlite"),
            "sqlite:///var/lib/madoguchi/store.sqlite"
        );
    }
}
