//! `madoguchi resident-system serve`: the embedded reference resident system behind the committed HTTP contract,
//! so terminals on other machines, a vendor's bridge under test and the API fuzzer in CI all talk to the same
//! thing a counter uses.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use backend_adapter::ReferenceResidentSystem;

/// The reference store named by `--database`: a path, or a `sqlite:` URL of one.
pub fn reference_store_path(database: &str) -> PathBuf {
    let path = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:")).unwrap_or(database);
    PathBuf::from(path)
}

/// Serve until Ctrl-C (SIGINT). Prints the address it listens on (port 0 picks a free one) before serving.
pub async fn serve(listen: SocketAddr, database: &Path) -> anyhow::Result<ExitCode> {
    let system = ReferenceResidentSystem::open(database)
        .await
        .map_err(|e| anyhow!("cannot open the reference resident system {}: {e}", database.display()))?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("the listening address")?;
    println!(
        "serving the reference resident system {} on http://{address} (contract: http://{address}/openapi.json)",
        database.display()
    );
    std::io::stdout().flush().context("stdout")?;
    tracing::info!(%address, database = %database.display(), "resident system contract served");
    let shutdown = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot wait for Ctrl-C; serving until killed");
            std::future::pending::<()>().await;
        }
    };
    backend_adapter::http::serve(listener, Arc::new(system), shutdown).await.context("serving")?;
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}
