//! `madoguchi audit …`: the auditor's and the ward's tools for the audit chain. Verification works offline on a
//! copy of the store and, given the ward's public key, on the checkpoints the ward filed; key generation and
//! checkpoint signing are for the ward staff who hold the key (never the contractor's terminals).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use madoguchi_core::checkpoint::{Checkpoint, WardPublicKey, WardSigningKey};
use madoguchi_core::store::{OpenMode, sign_audit_checkpoint, verify_audit_against_checkpoints, verify_audit_chain};

/// `audit verify`: exit 0 when the chain (and every checkpoint given) verifies, 1 naming the first problem.
pub async fn verify(
    store: &crate::cli_io::StoreArgs,
    checkpoints: &[PathBuf],
    public_key: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let store = store.open(OpenMode::ExistingReadOnly).await?;
    let verdict = match public_key {
        Some(key_path) => {
            let key = WardPublicKey::parse(&read_text(key_path)?)
                .with_context(|| format!("reading the public key {}", key_path.display()))?;
            let mut parsed = Vec::with_capacity(checkpoints.len());
            for path in checkpoints {
                parsed.push(
                    Checkpoint::parse(&read_text(path)?)
                        .with_context(|| format!("reading the checkpoint {}", path.display()))?,
                );
            }
            verify_audit_against_checkpoints(store.as_ref(), &parsed, &key).await?
        }
        None if !checkpoints.is_empty() => bail!("--checkpoint needs --public-key to check its signature"),
        None => verify_audit_chain(store.as_ref()).await?.map_err(Into::into),
    };
    match verdict {
        Ok(verified) => {
            println!("audit chain verified: {} entries, head {}", verified.entries, hex::encode(verified.head));
            for path in checkpoints {
                println!("checkpoint {} verified: its signed history is intact", path.display());
            }
            if checkpoints.is_empty() {
                println!("no checkpoint given: rows after the last anchored checkpoint are not protected");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("audit chain BROKEN: {err}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `audit keygen`: a new ward signing key and its public key, refusing to overwrite either file.
pub fn keygen(secret_out: &Path, public_out: &Path) -> anyhow::Result<ExitCode> {
    for path in [secret_out, public_out] {
        if path.exists() {
            bail!("{} already exists; a key file is never overwritten", path.display());
        }
    }
    let key = WardSigningKey::generate()?;
    crate::cli_io::write_new_file(secret_out, key.to_text().as_bytes(), true)?;
    crate::cli_io::write_new_file(public_out, key.public().to_text().as_bytes(), false)?;
    println!(
        "wrote the signing key {} (keep it with ward staff) and the public key {}",
        secret_out.display(),
        public_out.display()
    );
    println!("key id {}", key.public().key_id());
    Ok(ExitCode::SUCCESS)
}

/// `audit checkpoint`: sign the store's verified chain head with the ward key and write the checkpoint text.
pub async fn checkpoint(
    store_args: &crate::cli_io::StoreArgs,
    key_path: &Path,
    origin: &str,
    station: &str,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    if out.exists() {
        bail!("{} already exists; a checkpoint file is never overwritten", out.display());
    }
    let key = WardSigningKey::parse(&read_text(key_path)?)
        .with_context(|| format!("reading the signing key {}", key_path.display()))?;
    let store = store_args.open(OpenMode::CreateAndMigrate).await?;
    let at_us = jiff::Timestamp::now().as_microsecond();
    match sign_audit_checkpoint(store.as_ref(), &key, origin, station, at_us).await? {
        Ok(checkpoint) => {
            crate::cli_io::write_new_file(out, checkpoint.to_text().as_bytes(), false)?;
            println!(
                "signed checkpoint of {} entries, head {} → {}",
                checkpoint.size,
                hex::encode(checkpoint.head),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("not signed: {err}");
            Ok(ExitCode::from(1))
        }
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
