//! `madoguchi certificate render|sample`: preview a certificate from the reference resident system or from the
//! fixed sample household, as PDF or PNG. These files always carry 「見本」: a certificate that may be handed out is
//! printed only through review.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use backend_adapter::ReferenceResidentSystem;
use backend_adapter::ResidentSystem as _;
use backend_adapter::types::{HouseholdId, PersonId};
use madoguchi_core::certificate::CertificateDocument;
use madoguchi_core::render::layout::{LayoutInput, SheetMarks};
use madoguchi_core::render::{Page, certificate_pages, official_seal_png, pdf, raster};
use madoguchi_core::request::{CertificateKind, CertificateRequest, OptionalItems, RequesterCategory};
use madoguchi_core::sample;

/// Certificate kinds as named on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// 住民票の写し（世帯連記式）
    JuminhyoSetai,
    /// 住民票の写し（個人票）
    JuminhyoKojin,
    /// 住民票記載事項証明書
    KisaiJiko,
    /// 転出証明書
    Tenshutsu,
    /// 印鑑登録証明書
    Inkan,
}

impl KindArg {
    fn kind(self) -> CertificateKind {
        match self {
            KindArg::JuminhyoSetai => CertificateKind::ResidentRecordHousehold,
            KindArg::JuminhyoKojin => CertificateKind::ResidentRecordIndividual,
            KindArg::KisaiJiko => CertificateKind::ResidentRecordItems,
            KindArg::Tenshutsu => CertificateKind::MoveOutCertificate,
            KindArg::Inkan => CertificateKind::SealCertificate,
        }
    }
}

/// Optional items as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ItemArg {
    /// 世帯主・続柄
    Head,
    /// 本籍・筆頭者
    Registry,
    /// 住民票コード
    ResidentCode,
    /// 個人番号
    IndividualNumber,
    /// 転入前住所
    PreviousAddress,
    /// 旧氏
    FormerName,
    /// 振り仮名
    Furigana,
}

/// Who asks, as far as the items are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RequesterArg {
    /// 本人・同一世帯
    Self_,
    /// 第三者（個人）
    ThirdParty,
    /// 特定事務受任者（弁護士）
    Attorney,
}

/// `certificate render` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Which certificate.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// The household (住民票の写し, 記載事項証明書, 転出証明書).
    #[arg(long, conflicts_with = "person")]
    pub household: Option<i64>,
    /// One person (個人票, 記載事項証明書, 印鑑登録証明書).
    #[arg(long)]
    pub person: Option<i64>,
    /// Optional items, comma separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub items: Vec<ItemArg>,
    /// Who asks (third parties never get 住民票コード or 個人番号).
    #[arg(long, value_enum, default_value = "self")]
    pub requester: RequesterArg,
    /// 転出先 (転出証明書).
    #[arg(long, default_value = "大阪府大阪市北区中之島一丁目3番20号")]
    pub destination: String,
    /// 転出予定年月日, 和暦 or 西暦 (転出証明書).
    #[arg(long, default_value = "令和8年12月1日")]
    pub planned_on: String,
    /// The reference resident system: sqlite://FILE made by `residents generate`.
    #[arg(long)]
    pub database: String,
    /// Output file: .pdf, or .png (one file per sheet when there are several).
    #[arg(long)]
    pub out: PathBuf,
}

fn items(list: &[ItemArg]) -> OptionalItems {
    OptionalItems {
        head_and_relationship: list.contains(&ItemArg::Head),
        registry: list.contains(&ItemArg::Registry),
        resident_code: list.contains(&ItemArg::ResidentCode),
        individual_number: list.contains(&ItemArg::IndividualNumber),
        previous_address: list.contains(&ItemArg::PreviousAddress),
        former_family_name: list.contains(&ItemArg::FormerName),
        furigana: list.contains(&ItemArg::Furigana),
    }
}

fn specimen_marks() -> SheetMarks {
    SheetMarks { issue_number: "見本".into(), control_number: "見本".into() }
}

/// Lay out and write `document` to `out` with 「見本」.
fn write(document: &CertificateDocument, impression: Option<Vec<u8>>, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let seal = official_seal_png(&document.issuer.head_title).map_err(|e| anyhow!("{e}"))?;
    let input = LayoutInput {
        document,
        official_seal_png: Arc::new(seal),
        seal_impression_png: impression.map(Arc::new),
        marks: specimen_marks(),
        specimen: true,
    };
    let pages = certificate_pages(&input).map_err(|e| anyhow!("{e} / {}", e.message_ja()))?;
    write_pages(&pages, out)
}

/// Write pages as PDF or PNG, by the file's extension.
pub fn write_pages(pages: &[Page], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    match out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("pdf") => {
            let bytes = pdf::render_pdf(pages).map_err(|e| anyhow!("{e}"))?;
            std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
            Ok(vec![out.to_path_buf()])
        }
        Some("png") => {
            let mut written = Vec::new();
            for (index, page) in pages.iter().enumerate() {
                let path = if pages.len() == 1 {
                    out.to_path_buf()
                } else {
                    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("certificate");
                    out.with_file_name(format!("{stem}-{}.png", index + 1))
                };
                let bytes = raster::render_png(page, 150.0).map_err(|e| anyhow!("{e}"))?;
                std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
                written.push(path);
            }
            Ok(written)
        }
        _ => bail!("the output file must end in .pdf or .png: {}", out.display()),
    }
}

/// `certificate sample`.
pub fn sample(kind: KindArg, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let today = jiff::Zoned::now().date();
    let document = sample::sample_document(kind.kind(), today).map_err(|e| anyhow!("{e}"))?;
    let impression = matches!(kind, KindArg::Inkan).then(|| sample::sample_seal_registration().impression_png);
    write(&document, impression, out)
}

/// `certificate render`.
pub async fn render(args: RenderArgs) -> anyhow::Result<Vec<PathBuf>> {
    let path = args.database.strip_prefix("sqlite://").unwrap_or(&args.database);
    let residents = ReferenceResidentSystem::open(Path::new(path)).await.map_err(|e| anyhow!("{e}"))?;
    let today = jiff::Zoned::now().date();
    let issuer = sample::demo_issuer();
    let kind = args.kind.kind();
    let category = match args.requester {
        RequesterArg::Self_ => RequesterCategory::Self_,
        RequesterArg::ThirdParty => RequesterCategory::ThirdPartyIndividual,
        RequesterArg::Attorney => {
            RequesterCategory::LicensedProfessional(madoguchi_core::request::LicensedProfession::Attorney)
        }
    };
    let mut asked = items(&args.items);
    if category.is_third_party() {
        // 住基法12条の3: never to a third party, whatever is asked.
        asked.resident_code = false;
        asked.individual_number = false;
    }
    let (household, persons) = match (args.household, args.person) {
        (Some(id), _) => (residents.household(HouseholdId(id)).await.map_err(|e| anyhow!("{e}"))?, Vec::new()),
        (None, Some(id)) => {
            let person = residents.person(PersonId(id)).await.map_err(|e| anyhow!("{e}"))?;
            (residents.household(person.household_id).await.map_err(|e| anyhow!("{e}"))?, vec![person.id])
        }
        (None, None) => bail!("give --household ID or --person ID"),
    };
    if household.members.iter().any(|m| m.support_measure) {
        bail!("a member of this household is under a support measure (支援措置); no certificate is rendered");
    }
    let document = match kind {
        CertificateKind::MoveOutCertificate => {
            let planned =
                madoguchi_core::wareki::parse_date(&args.planned_on).map_err(|e| anyhow!("--planned-on: {e}"))?;
            let movers = if persons.is_empty() { household.members.iter().map(|p| p.id).collect() } else { persons };
            CertificateDocument::move_out(&household, &movers, &args.destination, planned, today, &issuer, today)
        }
        CertificateKind::SealCertificate => {
            let person_id = persons.first().copied().ok_or_else(|| anyhow!("a 印鑑登録証明書 needs --person ID"))?;
            let person = residents.person(person_id).await.map_err(|e| anyhow!("{e}"))?;
            let number = residents.seal_number_of(person_id).await.map_err(|e| anyhow!("{e}"))?;
            let registration = residents.seal_by_number(&number).await.map_err(|e| anyhow!("{e}"))?;
            let document =
                CertificateDocument::seal_certificate(&person, &household.address, &registration, &issuer, today, 1)
                    .map_err(|e| anyhow!("{e}"))?;
            return write(&document, Some(registration.impression_png), &args.out);
        }
        _ => {
            let request =
                CertificateRequest { kind, household: household.id, persons, items: asked, copies: 1, move_case: None };
            CertificateDocument::resident_record(&household, &request, asked, &issuer, today)
        }
    }
    .map_err(|e| anyhow!("{e}"))?;
    write(&document, None, &args.out)
}
