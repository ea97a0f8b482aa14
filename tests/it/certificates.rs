//! Certificates end to end: the samples of every kind as PDF checked with poppler (exact names through
//! pdftotext, embedded and subset fonts through pdffonts), screen = paper (pdftoppm against the raster renderer),
//! sheet breaks and page marks, the third-party rule, committed snapshots, and refusals that name the item.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use madoguchi_core::certificate::CertificateDocument;
use madoguchi_core::render::layout::{LayoutError, LayoutInput, SheetMarks};
use madoguchi_core::render::{Page, certificate_pages, official_seal_png, pdf, raster};
use madoguchi_core::request::{CertificateKind, CertificateRequest, OptionalItems};
use madoguchi_core::sample;

const KINDS: [CertificateKind; 5] = [
    CertificateKind::ResidentRecordHousehold,
    CertificateKind::ResidentRecordIndividual,
    CertificateKind::ResidentRecordItems,
    CertificateKind::MoveOutCertificate,
    CertificateKind::SealCertificate,
];

const TODAY: jiff::civil::Date = jiff::civil::date(2026, 11, 20);

fn pages_of(document: &CertificateDocument, specimen: bool) -> Result<Vec<Page>, LayoutError> {
    let input = LayoutInput {
        document,
        official_seal_png: Arc::new(official_seal_png("新宿区長").expect("公印")),
        seal_impression_png: Some(Arc::new(sample::sample_seal_registration().impression_png)),
        marks: SheetMarks { issue_number: "第000123号".into(), control_number: "post-1-000045".into() },
        specimen,
    };
    certificate_pages(&input)
}

fn sample_pages(kind: CertificateKind) -> Vec<Page> {
    let document = sample::sample_document(kind, TODAY).expect("sample document");
    pages_of(&document, true).expect("sample pages")
}

pub(crate) fn tool(name: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("{name} is needed for this test (Debian package poppler-utils; .ci/run installs it): {e}")
    });
    assert!(output.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn write_pdf(dir: &Path, kind: CertificateKind) -> PathBuf {
    let path = dir.join(format!("{}.pdf", kind.as_str()));
    std::fs::write(&path, pdf::render_pdf(&sample_pages(kind)).expect("pdf")).expect("write pdf");
    path
}

#[test]
fn every_sample_pdf_carries_the_exact_names_in_embedded_subset_fonts() {
    let dir = tempfile::tempdir().expect("dir");
    for kind in KINDS {
        let path = write_pdf(dir.path(), kind);
        let text = String::from_utf8(tool("pdftotext", &[path.to_str().expect("path"), "-"])).expect("utf-8");
        for name in ["葛\u{E0102}西", "𠮷乃", "髙﨑"] {
            assert!(
                text.contains(name),
                "{kind:?}: pdftotext lacks {name:?} (U+{:X}…):\n{text}",
                name.chars().next().map_or(0, |c| c as u32)
            );
        }
        let fonts = String::from_utf8(tool("pdffonts", &[path.to_str().expect("path")])).expect("utf-8");
        let rows: Vec<&str> = fonts.lines().skip(2).filter(|l| !l.trim().is_empty()).collect();
        assert!(rows.len() >= 2, "{kind:?}: {fonts}");
        for row in rows {
            let columns: Vec<&str> = row.split_whitespace().collect();
            let flags = &columns[columns.len() - 5..columns.len() - 2];
            assert_eq!(flags, ["yes", "yes", "yes"], "{kind:?}: every font embedded, subset, with ToUnicode: {row}");
        }
    }
    let household =
        String::from_utf8(tool("pdftotext", &[dir.path().join("juminhyo-setai.pdf").to_str().expect("p"), "-"]))
            .expect("utf-8");
    assert!(household.contains("髙橋"), "the 6-person household includes 髙橋 和子");
}

/// Gray value of every pixel of a PNG.
pub(crate) fn gray_pixels(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("png");
    let mut buffer = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buffer).expect("frame");
    let channels = info.color_type.samples();
    let gray = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| {
            if channels >= 3 {
                ((u32::from(p[0]) * 30 + u32::from(p[1]) * 59 + u32::from(p[2]) * 11) / 100) as u8
            } else {
                p[0]
            }
        })
        .collect();
    (info.width, info.height, gray)
}

/// Differences between two renderings of the same page, averaged over `block`×`block` pixel cells.
struct BlockDifference {
    mean: f64,
    p99: f64,
    max: f64,
}

fn block_difference(a: &[u8], b: &[u8], width: usize, height: usize, block: usize) -> BlockDifference {
    let mut diffs = Vec::new();
    for y in (0..=height - block).step_by(block) {
        for x in (0..=width - block).step_by(block) {
            let average = |p: &[u8]| {
                let mut sum = 0u32;
                for dy in 0..block {
                    for dx in 0..block {
                        sum += u32::from(p[(y + dy) * width + x + dx]);
                    }
                }
                f64::from(sum) / (block * block) as f64
            };
            diffs.push((average(a) - average(b)).abs());
        }
    }
    diffs.sort_by(f64::total_cmp);
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    BlockDifference { mean, p99: diffs[diffs.len() * 99 / 100], max: diffs[diffs.len() - 1] }
}

/// Compare poppler's rendering of `pdf_path` page 1 with the raster renderer's `page`, at 150 dpi.
fn compare_with_poppler(dir: &Path, pdf_path: &Path, page: &Page, name: &str) -> BlockDifference {
    let prefix = dir.join(format!("{name}-poppler"));
    tool(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            pdf_path.to_str().expect("p"),
            prefix.to_str().expect("p"),
        ],
    );
    let poppler = std::fs::read(prefix.with_extension("png")).expect("poppler png");
    let ours = raster::render_png(page, 150.0).expect("raster");
    let (w1, h1, a) = gray_pixels(&poppler);
    let (w2, h2, b) = gray_pixels(&ours);
    assert_eq!((w1, h1), (w2, h2), "{name}: same pixel size");
    block_difference(&a, &b, w1 as usize, h1 as usize, 4)
}

/// Screen = paper: the PDF rendered by poppler (pdftoppm) and the raster renderer's own PNG of the same page agree.
/// Tolerance, at 150 dpi over 4×4-pixel cells (0.68 mm): mean difference ≤ 2 gray levels, 99th percentile ≤ 32,
/// worst cell ≤ 96. The two rasterizers anti-alias and hint glyph edges differently, which this absorbs; a
/// changed, missing or moved character is far outside it (the negative control below proves the test can fail).
#[test]
fn the_pdf_and_the_raster_preview_agree_pixel_for_pixel_within_tolerance() {
    let dir = tempfile::tempdir().expect("dir");
    for kind in KINDS {
        let pages = sample_pages(kind);
        let pdf_path = write_pdf(dir.path(), kind);
        let d = compare_with_poppler(dir.path(), &pdf_path, &pages[0], kind.as_str());
        eprintln!("{kind:?}: mean {:.3}, p99 {:.1}, max {:.1} gray levels", d.mean, d.p99, d.max);
        assert!(
            d.mean <= 2.0 && d.p99 <= 32.0 && d.max <= 96.0,
            "{kind:?}: mean {:.3} p99 {:.1} max {:.1}",
            d.mean,
            d.p99,
            d.max
        );
    }
    // Negative control: the same page with one character of one name changed must fall outside the tolerance.
    let pdf_path = write_pdf(dir.path(), CertificateKind::SealCertificate);
    let mut document = sample::sample_document(CertificateKind::SealCertificate, TODAY).expect("doc");
    document.persons[0].name = document.persons[0].name.replace('乃', "子");
    let changed = pages_of(&document, true).expect("pages");
    let d = compare_with_poppler(dir.path(), &pdf_path, &changed[0], "changed");
    assert!(d.max > 96.0, "a changed character must be detected: max {:.1}", d.max);
}

#[test]
fn a_household_of_six_prints_on_two_sheets_with_page_marks_and_the_seal_position() {
    let pages = sample_pages(CertificateKind::ResidentRecordHousehold);
    assert_eq!(pages.len(), 2, "six persons, four a sheet");
    for (index, page) in pages.iter().enumerate() {
        let texts: Vec<&str> = page.texts().map(|t| t.text.as_str()).collect();
        assert!(texts.contains(&format!("{}／2頁", index + 1).as_str()), "page mark on sheet {}: {texts:?}", index + 1);
        assert!(texts.contains(&"契印"), "the 契印 position on sheet {}", index + 1);
        assert!(texts.iter().any(|t| t.contains("第000123号")), "発行番号 on every sheet");
        assert!(texts.iter().any(|t| t.contains("post-1-000045")), "管理番号 on every sheet");
        assert!(texts.iter().any(|t| t.starts_with("この写しは")), "認証文 on every sheet");
        assert!(texts.iter().any(|t| t.contains("令和8年11月20日")), "the date in 和暦 on every sheet");
    }
    let names = |page: &Page| page.texts().filter(|t| t.text.contains('\u{3000}') && t.size_pt >= 10.5).count();
    assert!(names(&pages[0]) >= 4 && names(&pages[1]) >= 2);
    let single = sample_pages(CertificateKind::ResidentRecordIndividual);
    assert_eq!(single.len(), 1);
    assert!(single[0].texts().all(|t| !t.text.contains("頁")), "no page mark on a single sheet");
}

#[test]
fn a_third_party_never_gets_the_resident_code_or_individual_number() {
    use madoguchi_core::request::{
        CounterRequest, IdentityCheck, IdentityDocument, LicensedProfession, Requester, RequesterCategory, TaskRequest,
    };
    let household = sample::sample_household();
    let everything = OptionalItems {
        head_and_relationship: true,
        registry: true,
        resident_code: true,
        individual_number: true,
        previous_address: true,
        former_family_name: true,
        furigana: true,
    };
    for category in [
        RequesterCategory::ThirdPartyIndividual,
        RequesterCategory::ThirdPartyCorporation,
        RequesterCategory::LicensedProfessional(LicensedProfession::JudicialScrivener),
    ] {
        let certificate = CertificateRequest {
            kind: CertificateKind::ResidentRecordHousehold,
            household: household.id,
            persons: Vec::new(),
            items: everything,
            copies: 1,
            move_case: None,
        };
        let request = CounterRequest {
            requester: Requester {
                category,
                name: "請求 者".into(),
                address: "東京都".into(),
                corporate_number: Some("7000012050002".into()),
                purpose: "債権回収のため".into(),
                identity: IdentityCheck {
                    documents: vec![IdentityDocument::DriversLicence, IdentityDocument::ProfessionalForm],
                    letter_of_attorney: false,
                },
            },
            task: TaskRequest::Certificate(certificate.clone()),
            fee_exemption: None,
        };
        assert!(request.validate().is_err(), "{category:?}: asking for the codes is refused at intake");
        let items = request.effective_items(everything);
        let document =
            CertificateDocument::resident_record(&household, &certificate, items, &sample::demo_issuer(), TODAY)
                .expect("document");
        let pages = pages_of(&document, false).expect("pages");
        for page in &pages {
            for text in page.texts() {
                assert!(
                    !text.text.contains("住民票コード") && !text.text.contains("個人番号"),
                    "{category:?}: {}",
                    text.text
                );
                for person in &household.members {
                    assert!(
                        !text.text.contains(person.resident_code.as_str()),
                        "{category:?}: a 住民票コード is printed"
                    );
                    assert!(
                        !text.text.contains(person.individual_number.as_str()),
                        "{category:?}: a 個人番号 is printed"
                    );
                }
            }
        }
    }
}

/// Snapshots of every layout (page 1 at 50 dpi, with 「見本」) are committed under tests/snapshots/certificates and
/// compared pixel for pixel; `UPDATE_SNAPSHOTS=1` rewrites them after a deliberate layout change.
#[test]
fn layouts_match_their_committed_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots").join("certificates");
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut failures = Vec::new();
    for kind in KINDS {
        let pages = sample_pages(kind);
        let png = raster::render_png(&pages[0], 50.0).expect("raster");
        let path = dir.join(format!("{}.png", kind.as_str()));
        if update {
            std::fs::create_dir_all(&dir).expect("snapshot dir");
            std::fs::write(&path, &png).expect("write snapshot");
            continue;
        }
        let Ok(committed) = std::fs::read(&path) else {
            std::fs::write(path.with_extension("new.png"), &png).ok();
            failures
                .push(format!("{}: no snapshot; run `UPDATE_SNAPSHOTS=1 cargo test` and commit it", path.display()));
            continue;
        };
        if gray_pixels(&committed) != gray_pixels(&png) {
            std::fs::write(path.with_extension("new.png"), &png).ok();
            failures.push(format!("{}: differs (see the .new.png beside it)", path.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn data_that_cannot_be_laid_out_is_refused_naming_the_item() {
    let mut document = sample::sample_document(CertificateKind::ResidentRecordHousehold, TODAY).expect("doc");
    document.persons[1].name = "葛\u{E0102}西\u{3000}".to_string() + &"𠮷".repeat(40);
    let err = pages_of(&document, false).expect_err("too long");
    assert!(matches!(&err, LayoutError::TooLong { item, .. } if item == "2人目の氏名"), "{err:?}");
    assert!(
        err.message_ja().contains("2人目の氏名") && err.message_ja().contains("収まりません"),
        "{}",
        err.message_ja()
    );

    let mut document = sample::sample_document(CertificateKind::ResidentRecordHousehold, TODAY).expect("doc");
    document.persons[0].name = "山田\u{3000}\u{E000}子".into();
    let err = pages_of(&document, false).expect_err("private-use character");
    assert!(
        matches!(&err, LayoutError::Glyph { item, source } if item == "1人目の氏名" && source.sequence == "U+E000"),
        "{err:?}"
    );
    assert!(err.message_ja().contains("フォントがありません"));

    let mut document = sample::sample_document(CertificateKind::ResidentRecordHousehold, TODAY).expect("doc");
    document.persons[0].name = "葛\u{E0100}西\u{3000}一郎".into();
    let err = pages_of(&document, false).expect_err("a variation sequence outside the MJ collection");
    assert!(matches!(&err, LayoutError::Glyph { source, .. } if source.sequence == "U+845B U+E0100"), "{err:?}");

    let document = sample::sample_document(CertificateKind::SealCertificate, TODAY).expect("doc");
    let input = LayoutInput {
        document: &document,
        official_seal_png: Arc::new(official_seal_png("新宿区長").expect("公印")),
        seal_impression_png: None,
        marks: SheetMarks { issue_number: "1".into(), control_number: "1".into() },
        specimen: false,
    };
    let err = certificate_pages(&input).expect_err("no 印影");
    assert_eq!(err, LayoutError::MissingSealImage);

    let mut document = sample::sample_document(CertificateKind::ResidentRecordIndividual, TODAY).expect("doc");
    let extra = document.persons[0].clone();
    document.persons.push(extra);
    let err = pages_of(&document, false).expect_err("two persons on a 個人票");
    assert!(matches!(err, LayoutError::TooManyPersons { count: 2, max: 1, .. }), "{err:?}");
}
