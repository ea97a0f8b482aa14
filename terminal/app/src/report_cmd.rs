//! `madoguchi report`: the 日報 (one day) or 月報 (a span of days) as PDF with charts and as CSV, for staff who
//! report to the ward. The report holds counts, times, fees and paper only — no resident data.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use madoguchi_core::store::OpenMode;
use madoguchi_core::wareki::parse_date;

use crate::cli_io::{StoreArgs, read_secret, write_new_file};

/// `report`: log in as staff (password from MADOGUCHI_PASSWORD or stdin), add the period up and write the files.
pub async fn run(
    store: &StoreArgs,
    user: &str,
    (from, until): (&str, &str),
    pdf_out: &Path,
    csv_out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let from = parse_date(from).map_err(|e| anyhow!("--from: {e}"))?;
    let until = parse_date(until).map_err(|e| anyhow!("--until: {e}"))?;
    if until < from {
        bail!("--until {until} is before --from {from}");
    }
    for path in std::iter::once(pdf_out).chain(csv_out) {
        if path.exists() {
            bail!("{} already exists; a report is never written over another file", path.display());
        }
    }
    let password = read_secret("MADOGUCHI_PASSWORD", "password")?;
    let counter = crate::export_cmd::store_counter(store.open(OpenMode::CreateAndMigrate).await?)?;
    let session = counter.login_any_role(user, &password, "report").await.map_err(|e| anyhow!("{e}"))?;
    let report = counter.period_report(&session, from, until).await.map_err(|e| anyhow!("{e}"))?;
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
