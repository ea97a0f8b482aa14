//! `madoguchi`: the counter terminal's binary. With no subcommand it runs the demo on the embedded default
//! (SQLite, synthetic ward population); the subcommands initialize a store, verify its audit chain and generate
//! a reference population. All logic lives in the core and adapter crates; this is glue.

mod audit_cmd;
mod certificate;
mod cli_io;
mod demo;
mod devices_cmd;
mod erase_cmd;
mod export_cmd;
mod report_cmd;
mod resident_system_cmd;
mod worker_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::store::{NewUser, OpenMode};

#[derive(Debug, Parser)]
#[command(name = "madoguchi", version, about = "窓口: counter terminal for a ward office's 戸籍住民課")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The counter terminal (default): the egui front end on the demo store with simulated devices.
    Terminal {
        #[command(flatten)]
        demo: demo::DemoArgs,
        /// This terminal's station.
        #[arg(long, default_value = "post-1")]
        station: String,
        /// The ward's security policy (TOML: idle_lock_minutes, [opening_hours], [lookups]); defaults when omitted.
        #[arg(long, env = "MADOGUCHI_POLICY")]
        policy: Option<PathBuf>,
        /// The ward's 手数料 table (TOML: [certificates] with an amount per kind); the demo's ¥300 table when omitted.
        #[arg(long, env = "MADOGUCHI_FEES")]
        fees: Option<PathBuf>,
    },
    /// The headless demo: one 住民票の写し request walked through the whole review loop, audit chain verified.
    Demo(demo::DemoArgs),
    /// The print worker of one printer station, headless: prints the station's queue, never a suspect job twice.
    Worker(worker_cmd::WorkerArgs),
    /// Contract end: write the encrypted return export, destroy the data keys (two admins), rebuild the database
    /// files, scan the data folder for leftover resident data and write the deletion report (PDF).
    Erase(erase_cmd::EraseArgs),
    /// The 日報 (one day) or 月報 (FROM..=UNTIL) as PDF with charts and optionally CSV (staff or supervisor;
    /// password from MADOGUCHI_PASSWORD or stdin).
    Report {
        #[command(flatten)]
        store: cli_io::StoreArgs,
        /// Who reports (a reviewer or supervisor).
        #[arg(long)]
        user: String,
        /// First day (和暦 or 西暦).
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: the first day, a 日報).
        #[arg(long)]
        until: Option<String>,
        /// The PDF to write (never overwritten).
        #[arg(long)]
        pdf: PathBuf,
        /// Also write the CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// The ward's signed checkpoint of the audit log to print on the report (needs --public-key).
        #[arg(long, requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// The ward's public key that checks the checkpoint.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<PathBuf>,
    },
    /// 本人通知 data for the ward's notice system.
    Notices {
        #[command(subcommand)]
        command: NoticesCommand,
    },
    /// Create or migrate a store and register its two first admins (passwords from MADOGUCHI_ADMIN_PASSWORD and
    /// MADOGUCHI_SECOND_ADMIN_PASSWORD, or two lines on stdin).
    Init {
        #[command(flatten)]
        store: cli_io::StoreArgs,
        /// Login id of the first admin.
        #[arg(long, default_value = "admin")]
        admin: String,
        /// Display name of the first admin.
        #[arg(long, default_value = "システム管理者")]
        admin_name: String,
        /// Login id of the second admin: every later grant is requested by one admin and approved by another.
        #[arg(long, default_value = "admin2")]
        second_admin: String,
        /// Display name of the second admin.
        #[arg(long, default_value = "システム管理者（承認）")]
        second_admin_name: String,
        /// Station recorded for the initialization.
        #[arg(long, default_value = "setup")]
        station: String,
    },
    /// Audit-log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Certificate previews (always marked 「見本」).
    Certificate {
        #[command(subcommand)]
        command: CertificateCommand,
    },
    /// Counter devices: what is configured and attached, and a hands-on test per station.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// The return export: encrypted, admins only, audited; and its check by the ward.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// The reference resident system: generate a population, serve it over the HTTP contract.
    #[command(name = "resident-system", alias = "residents")]
    ResidentSystem {
        #[command(subcommand)]
        command: ResidentsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the hash chain (and signed checkpoints); exit 0 when it verifies, 1 naming the first problem.
    Verify {
        /// The store, opened read-only (works on a copy; no data key file needed).
        #[command(flatten)]
        store: cli_io::StoreArgs,
        /// A checkpoint file the ward signed and kept (repeatable); needs --public-key.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// The ward's public key file.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Generate the ward's checkpoint signing key and its public key (never overwrites).
    Keygen {
        /// The signing key file (kept by ward staff).
        #[arg(long)]
        secret_out: PathBuf,
        /// The public key file (given to auditors).
        #[arg(long)]
        public_out: PathBuf,
    },
    /// Sign a checkpoint of the verified chain with the ward's key and record the signing in the chain.
    Checkpoint {
        #[command(flatten)]
        store: cli_io::StoreArgs,
        /// The ward's signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Whose log this is (one line, e.g. 「新宿区 戸籍住民課」).
        #[arg(long)]
        origin: String,
        /// Station recorded for the signing.
        #[arg(long, default_value = "ward-audit")]
        station: String,
        /// The checkpoint file to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Who exports, from where, into which new file.
#[derive(Debug, clap::Args)]
struct AdminExportArgs {
    /// The admin who exports (password from MADOGUCHI_ADMIN_PASSWORD or stdin).
    #[arg(long, default_value = "admin")]
    admin: String,
    /// Station recorded for the export.
    #[arg(long, default_value = "admin-pc")]
    station: String,
    /// The encrypted file to write (never overwritten), e.g. return.age or notices.csv.age.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum NoticesCommand {
    /// Write the 本人通知 data (issues to a 代理人 or 第三者) of the ward days FROM..=UNTIL as an encrypted CSV for
    /// the ward's notice system (admin password from MADOGUCHI_ADMIN_PASSWORD or stdin; passphrase shown once).
    Export {
        #[command(flatten)]
        store: cli_io::StoreArgs,
        /// First day (和暦 or 西暦: 令和8年11月1日, R8.11.1, 2026-11-01).
        #[arg(long)]
        from: String,
        /// Last day, inclusive.
        #[arg(long)]
        until: String,
        #[command(flatten)]
        by: AdminExportArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Export every table, encrypted under a generated passphrase shown once (admin password from
    /// MADOGUCHI_ADMIN_PASSWORD or stdin); writes FILE and FILE.manifest.txt.
    Create {
        #[command(flatten)]
        store: cli_io::StoreArgs,
        #[command(flatten)]
        by: AdminExportArgs,
    },
    /// Open an export with its passphrase (MADOGUCHI_EXPORT_PASSPHRASE or stdin) and check it against its manifest.
    Verify {
        /// The encrypted export.
        #[arg(long)]
        file: PathBuf,
        /// The manifest (default: FILE.manifest.txt).
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CertificateCommand {
    /// Render a certificate for a household or person of the reference resident system.
    Render(certificate::RenderArgs),
    /// Render a certificate of the fixed sample household (𠮷, 髙, 﨑 and 葛󠄂).
    Sample {
        /// Which certificate.
        #[arg(long, value_enum)]
        kind: certificate::KindArg,
        /// Output file (.pdf or .png).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// List configured devices with their status, and the USB devices attached.
    List {
        /// Device configuration (TOML); the demo's simulators when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Read a card, read a 印鑑登録証 and print a test page on a station's devices (or simulators).
    Test {
        /// The station.
        #[arg(long)]
        station: String,
        /// Device configuration (TOML); the demo's simulators when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The card's 4-digit 券面事項入力補助用 PIN (the virtual card's is 1234). Sent once; never retried.
        #[arg(long, default_value = "1234")]
        pin: String,
    },
}

#[derive(Debug, Subcommand)]
enum ResidentsCommand {
    /// Generate a deterministic synthetic population into a new reference store file.
    Generate {
        /// The new file.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the generator.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Number of households.
        #[arg(long, default_value_t = 2_000)]
        households: u64,
    },
    /// Serve a reference store over the HTTP contract (backend-adapter/openapi.json) until Ctrl-C.
    Serve {
        /// Address to listen on (port 0: any free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8620")]
        listen: std::net::SocketAddr,
        /// The reference store (a path or sqlite:PATH), made by `resident-system generate`.
        #[arg(long)]
        database: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MADOGUCHI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Terminal {
        demo: demo::DemoArgs::default(),
        station: "post-1".into(),
        policy: None,
        fees: None,
    }) {
        Command::Terminal { demo, station, policy, fees } => {
            terminal(demo, station, policy.as_deref(), fees.as_deref()).await
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Erase(args) => erase_cmd::run(&args).await,
        Command::Worker(args) => worker_cmd::run(&args).await,
        Command::Report { store, user, from, until, pdf, csv, checkpoint, public_key } => {
            let until = until.unwrap_or_else(|| from.clone());
            let anchor = checkpoint.as_deref().zip(public_key.as_deref());
            report_cmd::run(&store, &user, (&from, &until), &pdf, csv.as_deref(), anchor).await
        }
        Command::Notices { command: NoticesCommand::Export { store, from, until, by } } => {
            export_cmd::notices(&store, &by.admin, &by.station, (&from, &until), &by.out).await
        }
        Command::Init { store, admin, admin_name, second_admin, second_admin_name, station } => {
            init(&store, [(&admin, &admin_name), (&second_admin, &second_admin_name)], &station).await
        }
        Command::Audit { command: AuditCommand::Verify { store, checkpoints, public_key } } => {
            audit_cmd::verify(&store, &checkpoints, public_key.as_deref()).await
        }
        Command::Audit { command: AuditCommand::Keygen { secret_out, public_out } } => {
            audit_cmd::keygen(&secret_out, &public_out)
        }
        Command::Audit { command: AuditCommand::Checkpoint { store, key, origin, station, out } } => {
            audit_cmd::checkpoint(&store, &key, &origin, &station, &out).await
        }
        Command::Certificate { command } => {
            let written = match command {
                CertificateCommand::Render(args) => certificate::render(args).await?,
                CertificateCommand::Sample { kind, out } => certificate::sample(kind, &out)?,
            };
            for path in written {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices { command: DevicesCommand::List { config } } => {
            devices_cmd::list(&devices_cmd::load(config.as_deref())?)
        }
        Command::Devices { command: DevicesCommand::Test { station, config, pin } } => {
            devices_cmd::test(&devices_cmd::load(config.as_deref())?, &station, &pin)
        }
        Command::Export { command: ExportCommand::Create { store, by } } => {
            export_cmd::create(&store, &by.admin, &by.station, &by.out).await
        }
        Command::Export { command: ExportCommand::Verify { file, manifest } } => {
            export_cmd::verify(&file, manifest.as_deref()).await
        }
        Command::ResidentSystem { command: ResidentsCommand::Serve { listen, database } } => {
            resident_system_cmd::serve(listen, &resident_system_cmd::reference_store_path(&database)).await
        }
        Command::ResidentSystem { command: ResidentsCommand::Generate { out, seed, households } } => {
            let summary = demo::generate_population(&out, seed, households).await?;
            println!(
                "generated {} households, {} persons ({} foreign residents, {} under support measures, {} seal registrations) into {}",
                summary.households,
                summary.persons,
                summary.foreign_persons,
                summary.support_measure_persons,
                summary.seals,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Open the terminal window on the demo store. The window runs on this thread (windowing systems require the main
/// thread); the counter runs on the back end's own thread and runtime.
async fn terminal(
    args: demo::DemoArgs,
    station: String,
    policy: Option<&std::path::Path>,
    fees: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;

    use devices::usb_printer::UsbPrinterModel;
    use madoguchi_app::ui::{TerminalApp, backend, install_theme};
    use madoguchi_core::policy::SecurityPolicy;

    // The policy and the fee table are checked before anything starts: a wrong value stops the terminal with the
    // key named.
    let policy = match policy {
        Some(path) => SecurityPolicy::load(path)?,
        None => SecurityPolicy::default(),
    };
    let fees = match fees {
        Some(path) => madoguchi_core::fees::FeeTable::load(path)?,
        None => madoguchi_core::fees::FeeTable::demo(),
    };
    let setup = demo::prepare(args).await?;
    let model = UsbPrinterModel::new(madoguchi_app::printing::SIMULATOR_DEVICE_ID);
    let printer: backend::StationPrinter = madoguchi_app::printing::UsbCertificatePrinter::pdf_in_pjl(Box::new(model))
        .map_err(anyhow::Error::msg)?
        .shared();
    let accounts = demo::demo_account_list();
    let simulated_card = setup.simulated_card.clone();
    let simulated_seal_card = setup.simulated_seal_card.clone();
    let counter = setup.counter.with_anomaly_policy(policy.anomaly).with_fee_table(fees);
    let idle_lock = policy.idle_lock;
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1180.0, 820.0])
            .with_title("madoguchi 窓口端末（デモ）"),
        ..Default::default()
    };
    let result = tokio::task::block_in_place(|| {
        eframe::run_native(
            "madoguchi",
            options,
            Box::new(move |cc| {
                install_theme(&cc.egui_ctx);
                let ctx = cc.egui_ctx.clone();
                let backend = backend::spawn(
                    counter,
                    &station,
                    Some(printer),
                    devices::config::DeviceConfig::demo(),
                    // The demo's bus is simulated: a real USB disk on the developer's PC must not lock the demo.
                    Some(backend::watch_bus(devices::usb::SimulatedBus::default())),
                    idle_lock,
                    Arc::new(move || ctx.request_repaint()),
                );
                if let Some(card) = simulated_card {
                    backend.send(backend::Command::PlaceSimulatedCard(Box::new(card)));
                }
                if let Some(number) = simulated_seal_card {
                    backend.send(backend::Command::PlaceSimulatedSealCard(number));
                }
                Ok(Box::new(TerminalApp::new(backend, &station, Some(accounts))))
            }),
        )
    });
    result.map_err(|e| anyhow::anyhow!("the terminal window could not be opened ({e}); without a display, run `madoguchi demo` for the headless walkthrough"))?;
    Ok(ExitCode::SUCCESS)
}

/// The passwords of the two first admins: from the environment, or one line each on stdin.
fn read_admin_passwords() -> anyhow::Result<[String; 2]> {
    Ok([
        cli_io::read_secret("MADOGUCHI_ADMIN_PASSWORD", "password for the first admin")?,
        cli_io::read_secret("MADOGUCHI_SECOND_ADMIN_PASSWORD", "password for the second admin")?,
    ])
}

async fn init(store_args: &cli_io::StoreArgs, admins: [(&str, &str); 2], station: &str) -> anyhow::Result<ExitCode> {
    let database = store_args.database.as_str();
    let store = store_args.open(OpenMode::CreateAndMigrate).await?;
    if store.is_initialized().await? {
        println!("{database} is migrated and already has users; nothing else to do");
        return Ok(ExitCode::SUCCESS);
    }
    if admins[0].0 == admins[1].0 {
        bail!("the two first admins must be different people (both are {})", admins[0].0);
    }
    let passwords = read_admin_passwords()?;
    let now = jiff::Timestamp::now().as_microsecond();
    let mut users = Vec::with_capacity(2);
    for ((login_id, name), password) in admins.iter().zip(&passwords) {
        users.push(NewUser {
            login_id: (*login_id).to_string(),
            display_name: (*name).to_string(),
            password_hash: hash_password(password)
                .with_context(|| format!("the password of {login_id} is not acceptable"))?,
            grants: vec![(Role::Admin, None)],
        });
    }
    store.initialize(&users, station, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("initialized {database}; admins: {} and {} (each approves the other's grants)", admins[0].0, admins[1].0);
    Ok(ExitCode::SUCCESS)
}
