//! `madoguchi report`: the 日報 (one day) or 月報 (a span of days) as PDF with charts and as CSV, for staff who
//! report to the ward. The report holds counts, times, fees and paper only — no resident data — and, given the
//! ward's signed checkpoint, prints it so the audit log is anchored on paper.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use madoguchi_core::checkpoint::{Checkpoint, WardPublicKey};
use madoguchi_core::store::{OpenMode, verify_audit_against_checkpoints};

use crate::cli_io::{StoreArgs, read_secret, write_new_file};

/// The ward's checkpoint, checked before it goes on paper: its signature under the ward's public key, and that this
/// store's audit log still holds the history it signed.
async fn verified_checkpoint(
    store: &dyn madoguchi_core::store::Store,
    checkpoint_path: &Path,
    key_path: &Path,
) -> anyhow::Result<Checkpoint> {
    let read = |path: &Path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    let checkpoint = Checkpoint::parse(&read(checkpoint_path)?)
        .with_context(|| format!("reading the checkpoint {}", checkpoint_path.display()))?;
    let key = WardPublicKey::parse(&read(key_path)?)
        .with_context(|| format!("reading the public key {}", key_path.display()))?;
    match verify_audit_against_checkpoints(store, std::slice::from_ref(&checkpoint), &key).await? {
        Ok(_) => Ok(checkpoint),
        Err(err) => bail!("the checkpoint {} does not hold for this store: {err}", checkpoint_path.display()),
    }
}

/// `report`: log in as staff (password from MADOGUCHI_PASSWORD or stdin), add the period up and write the files.
pub async fn run(
    store: &StoreArgs,
    user: &str,
    (from, until): (&str, &str),
    pdf_out: &Path,
    csv_out: Option<&Path>,
    anchor: Option<(&Path, &Path)>,
) -> anyhow::Result<ExitCode> {
    let (from, until) = crate::cli_io::parse_period(from, until)?;
    for path in std::iter::once(pdf_out).chain(csv_out) {
        if path.exists() {
            bail!("{} already exists; a report is never written over another file", path.display());
        }
    }
    let password = read_secret("MADOGUCHI_PASSWORD", "password")?;
    let counter = crate::export_cmd::store_counter(store.open(OpenMode::CreateAndMigrate).await?)?;
    let session = counter.login_any_role(user, &password, "report").await.map_err(|e| anyhow!("{e}"))?;
    let mut report = counter.period_report(&session, from, until).await.map_err(|e| anyhow!("{e}"))?;
    if let Some((checkpoint_path, key_path)) = anchor {
        report =
            report.with_checkpoint(&verified_checkpoint(counter.store().as_ref(), checkpoint_path, key_path).await?);
    }
    write_new_file(pdf_out, &report.to_pdf()?, false)?;
    if let Some(csv_out) = csv_out {
        write_new_file(csv_out, report.to_csv().as_bytes(), false)?;
    }
    println!(
        "{} {from}..={until}: {} cases taken, {} issued, {} yen in fees → {}",
        report.title_ja(),
        report.by_post.iter().map(|(_, n)| n).sum::<i64>(),
        report.issued,
        report.fees_yen,
        pdf_out.display()
    );
    Ok(ExitCode::SUCCESS)
}
