//! The demo: what `cargo run --release` starts with no configuration. It keeps an embedded SQLite store and a
//! generated ward population in the user's data folder, creates demo accounts (shown only here, in demo mode), and
//! walks one 住民票の写し request through the whole review loop, ending with the audit chain verified.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use backend_adapter::reference::{GenerationOptions, GenerationSummary, generate};
use backend_adapter::types::SearchQuery;
use indicatif::{ProgressBar, ProgressStyle};
use madoguchi_core::auth::{Role, hash_password};
use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::clock::SystemClock;
use madoguchi_core::counter::{Counter, Session};
use madoguchi_core::mode::{ResidentSystemSetting, RunMode, counter_for_mode};
use madoguchi_core::request::IdentityDocument;
use madoguchi_core::store::{NewUser, OpenMode, open_store, verify_audit_chain};

/// Demo accounts: (login, display name, role, password). Shown on screen in demo mode only.
const DEMO_ACCOUNTS: &[(&str, &str, Role, &str)] = &[
    ("admin", "管理 太郎", Role::Admin, "demo-admin-pass"),
    ("admin2", "管理 次郎", Role::Admin, "demo-admin-pass2"),
    ("operator1", "窓口 花子", Role::Operator, "demo-operator-1"),
    ("operator2", "窓口 次郎", Role::Operator, "demo-operator-2"),
    ("reviewer1", "審査 一郎", Role::Reviewer, "demo-reviewer-1"),
    ("supervisor1", "責任 者", Role::Supervisor, "demo-supervisor"),
    ("auditor1", "監査 三郎", Role::Auditor, "demo-auditor-01"),
];

/// Options of the demo.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its store and population (default: the user's data folder).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Households of the generated population (first run only).
    #[arg(long, default_value_t = 2_000)]
    pub households: u64,
    /// Seed of the generated population (first run only).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// The resident system: a reference store file (default: the data folder's generated population). The demo
    /// terminal runs in training mode (研修), so a live resident system (an http:// URL) is refused.
    #[arg(long, env = "MADOGUCHI_RESIDENT_SYSTEM")]
    pub resident_system: Option<String>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self { data_dir: None, households: 2_000, seed: 2026, resident_system: None }
    }
}

/// Generate a population with a progress bar on the terminal.
pub async fn generate_population(out: &Path, seed: u64, households: u64) -> anyhow::Result<GenerationSummary> {
    let bar = ProgressBar::new(households);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} households ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("generating residents");
    let progress_bar = bar.clone();
    let progress = move |done: u64, _total: u64| progress_bar.set_position(done);
    let summary = generate(out, GenerationOptions { seed, households }, &progress)
        .await
        .map_err(|e| anyhow!("generating {}: {e}", out.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}

async fn login(counter: &Counter, login_id: &str, role: Role, station: &str) -> anyhow::Result<Session> {
    let password = DEMO_ACCOUNTS
        .iter()
        .find(|(id, ..)| *id == login_id)
        .map(|(.., password)| *password)
        .ok_or_else(|| anyhow!("no demo account {login_id}"))?;
    counter.login(login_id, password, role, station).await.map_err(|e| anyhow!("login of {login_id}: {e}"))
}

/// The demo's counter, ready to use: store, population and accounts in the data folder.
pub struct DemoSetup {
    /// The counter (demo profile: every sheet 「見本」).
    pub counter: Counter,
    /// Where the data lives.
    pub data_dir: PathBuf,
    /// The card on the demo's simulated マイナンバーカード reader (a resident of the demo population).
    pub simulated_card: Option<devices::mynumber::CardAttributes>,
    /// The 登録番号 the demo's simulated 印鑑登録証 reader swipes: the same resident's registration.
    pub simulated_seal_card: Option<String>,
}

/// The cards the demo's simulated readers hold: the マイナンバーカード and the 印鑑登録証 of the registrant of the
/// demo population's first seal registration (none when another resident system was named).
async fn demo_cards(residents_path: &Path) -> Option<(devices::mynumber::CardAttributes, String)> {
    use backend_adapter::ResidentSystem as _;
    let residents = backend_adapter::ReferenceResidentSystem::open(residents_path).await.ok()?;
    let number = residents.seal_numbers(1).await.ok()?.into_iter().next()?;
    let seal = residents.seal_by_number(&number).await.ok()?;
    let person = residents.person(seal.person_id).await.ok()?;
    let household = residents.household(person.household_id).await.ok()?;
    Some((madoguchi_app::device_check::simulated_card_of(&person, &household), number))
}

/// The demo accounts as (login, password, role) for the login screen.
pub fn demo_account_list() -> Vec<(String, String, String)> {
    DEMO_ACCOUNTS
        .iter()
        .map(|(id, _, role, password)| ((*id).to_string(), (*password).to_string(), role.label_ja().to_string()))
        .collect()
}

/// Run the headless demo walkthrough.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let DemoSetup { counter, data_dir, .. } = prepare(args).await?;
    println!("【デモモード】データ: {}", data_dir.display());
    println!("デモ用アカウント（デモモードでのみ表示）:");
    for (login_id, name, role, password) in DEMO_ACCOUNTS {
        println!("  {login_id:<12} {password:<17} {}（{name}）", role.label_ja());
    }
    walkthrough(&counter, &data_dir).await?;
    match verify_audit_chain(counter.store().as_ref()).await? {
        Ok(verified) => println!("監査ログの連鎖を検証しました：{} 件、正常", verified.entries),
        Err(err) => {
            println!("監査ログの検証に失敗しました：{}", err.message_ja());
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Set up (first run) or open the demo's data folder. The demo is a training terminal: its store is marked
/// training, only a reference resident system is used and every sheet carries 「見本」.
pub async fn prepare(args: DemoArgs) -> anyhow::Result<DemoSetup> {
    // A configured live resident system is refused before anything is created or generated.
    let configured = args.resident_system.as_deref().map(ResidentSystemSetting::parse);
    if let Some(setting) = &configured {
        RunMode::Training.permits(setting)?;
    }
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => dirs::data_dir()
            .ok_or_else(|| anyhow!("no user data folder on this system; pass --data-dir"))?
            .join("madoguchi")
            .join("demo"),
    };
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let residents_path = data_dir.join("residents.sqlite");
    if configured.is_none() && !residents_path.exists() {
        println!("【デモ】住民データを生成しています（{} 世帯）…", args.households);
        let summary = generate_population(&residents_path, args.seed, args.households).await?;
        println!("  {} 世帯・{} 人を生成しました", summary.households, summary.persons);
    }
    let cards = if configured.is_none() { demo_cards(&residents_path).await } else { None };
    let (simulated_card, simulated_seal_card) = cards.map_or((None, None), |(card, seal)| (Some(card), Some(seal)));
    let setting = configured.unwrap_or(ResidentSystemSetting::Reference(residents_path));
    let store_url = format!("sqlite://{}", data_dir.join("store.sqlite").display());
    let store = open_store(&store_url, OpenMode::CreateAndMigrate, None).await?;
    // Training: every sheet carries 「見本」 (counter_for_mode enforces it whatever the profile says).
    let profile =
        CertificateProfile::generated(madoguchi_core::sample::demo_issuer(), true).map_err(|e| anyhow!("{e}"))?;
    let counter =
        counter_for_mode(RunMode::Training, store.clone(), &setting, Arc::new(SystemClock), profile, "demo").await?;
    if !store.is_initialized().await? {
        let now = jiff::Timestamp::now().as_microsecond();
        let new_user = |(login_id, name, role, password): &(&str, &str, Role, &str)| -> anyhow::Result<NewUser> {
            Ok(NewUser {
                login_id: (*login_id).into(),
                display_name: (*name).into(),
                password_hash: hash_password(password)?,
                grants: vec![(*role, None)],
            })
        };
        // Two admins from the start: every later grant is requested by one and approved by the other.
        let admins = DEMO_ACCOUNTS[..2].iter().map(new_user).collect::<anyhow::Result<Vec<_>>>()?;
        store.initialize(&admins, "demo", now).await.map_err(|e| anyhow!("{e}"))?;
        let admin_session = login(&counter, DEMO_ACCOUNTS[0].0, Role::Admin, "demo").await?;
        for account in &DEMO_ACCOUNTS[2..] {
            counter.create_user(&admin_session, new_user(account)?).await.map_err(|e| anyhow!("{e}"))?;
        }
        let second_admin = login(&counter, DEMO_ACCOUNTS[1].0, Role::Admin, "demo").await?;
        for request in counter.grant_requests(&second_admin, true).await.map_err(|e| anyhow!("{e}"))? {
            counter.decide_grant(&second_admin, request.id, true).await.map_err(|e| anyhow!("{e}"))?;
        }
    }
    Ok(DemoSetup { counter, data_dir, simulated_card, simulated_seal_card })
}

/// One 住民票の写し request from counter to issue.
async fn walkthrough(counter: &Counter, data_dir: &Path) -> anyhow::Result<()> {
    let operator = login(counter, "operator1", Role::Operator, "post-1").await?;
    let query = SearchQuery { name_prefix: Some("やまだ".into()), limit: 10, ..SearchQuery::default() };
    let hits = counter.search_residents(&operator, &query).await.map_err(|e| anyhow!("{}", e.message_ja()))?;
    println!("\n1) 入力オペレーター {} が「やまだ」で検索：{} 件", operator.display_name, hits.len());
    let hit = hits
        .iter()
        .find(|h| !h.support_measure)
        .ok_or_else(|| anyhow!("no resident named やまだ without a support measure in the demo population"))?;
    println!("   対象：{}（{}）", hit.name.display(), hit.address.display());
    let request = madoguchi_core::sample::own_household_copy_request(
        hit.household_id,
        &hit.name.display(),
        &hit.address.display(),
        IdentityDocument::DriversLicence,
    );
    let case_id = counter.open_case(&operator, request).await.map_err(|e| anyhow!("{}", e.message_ja()))?;
    let output = counter.prepare_and_submit(&operator, case_id).await.map_err(|e| anyhow!("{}", e.message_ja()))?;
    println!("2) 案件 {case_id} を作成し審査へ回付（出力 SHA-256 {}）", hex::encode(output.sha256));
    let reviewer = login(counter, "reviewer1", Role::Reviewer, "review-1").await?;
    let (case, seen) = counter.review(&reviewer, case_id).await.map_err(|e| anyhow!("{}", e.message_ja()))?;
    println!("3) 審査職員 {} が案件を確認（状態：{}）", reviewer.display_name, case.state.label_ja());
    counter.approve(&reviewer, case_id, seen.sha256).await.map_err(|e| anyhow!("{}", e.message_ja()))?;
    let issuance = counter.issue(&reviewer, case_id, 1).await.map_err(|e| anyhow!("{}", e.message_ja()))?;
    println!("4) 承認・交付：発行番号 第{:06}号、管理番号 {}", issuance.issue_number, issuance.control_number);
    let pdf_path = data_dir.join(format!("certificate-{:06}.pdf", issuance.issue_number));
    std::fs::write(&pdf_path, &seen.bytes).with_context(|| format!("writing {}", pdf_path.display()))?;
    println!("   承認されたバイト列（PDF、見本）: {}", pdf_path.display());
    Ok(())
}
