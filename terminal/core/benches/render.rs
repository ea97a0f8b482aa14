//! Rendering a 4-person 世帯連記式 sheet: to PDF (what the printer gets) and to raster at 300 dpi (preview and
//! raster printers). Prints P50/P99 over repeated runs; the baseline beside them is the layout alone, measured in
//! the same run, so the renderers' own cost is visible.
//!
//! `cargo bench -p madoguchi-core --bench render`

use std::time::{Duration, Instant};

use madoguchi_core::certificate::CertificateProfile;
use madoguchi_core::render::{pdf, raster};
use madoguchi_core::request::CertificateKind;
use madoguchi_core::sample;
use madoguchi_core::store::ReservedNumbers;

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut document =
        sample::sample_document(CertificateKind::ResidentRecordHousehold, jiff::civil::date(2026, 11, 20))?;
    document.persons.truncate(4);
    let profile = CertificateProfile::generated(sample::demo_issuer(), false)?;
    let numbers = ReservedNumbers { issue_number: 123, control_number: "post-1-000045".into() };
    let pages = profile.pages(&document, None, &numbers)?;
    assert_eq!(pages.len(), 1, "four persons fit one sheet");
    // Warm-up: font parsing and first-use allocations.
    pdf::render_pdf(&pages)?;
    raster::render_page(&pages[0], 300.0)?;

    let mut rasterizer = raster::Rasterizer::default();
    rasterizer.render(&pages[0], 300.0)?;
    let runs = 60;
    let (mut layout, mut to_pdf, mut to_raster, mut one_off) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pdf_bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let laid_out = profile.pages(&document, None, &numbers)?;
        layout.push(t.elapsed());
        let t = Instant::now();
        pdf_bytes = pdf::render_pdf(&laid_out)?.len();
        to_pdf.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(rasterizer.render(&laid_out[0], 300.0)?);
        to_raster.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(raster::render_page(&laid_out[0], 300.0)?);
        one_off.push(t.elapsed());
    }
    let (l50, l99) = percentiles(layout);
    let (p50, p99) = percentiles(to_pdf);
    let (r50, r99) = percentiles(to_raster);
    let (o50, o99) = percentiles(one_off);
    println!("4-person 世帯連記式 sheet, {runs} runs each:");
    println!("  layout + glyph check (baseline)  P50 {l50:7.2} ms  P99 {l99:7.2} ms");
    println!(
        "  PDF (krilla, {pdf_bytes} bytes)      P50 {p50:7.2} ms  P99 {p99:7.2} ms   target P99 <= 20 ms ({})",
        if p99 <= 20.0 { "met" } else { "NOT met" }
    );
    println!(
        "  raster 300 dpi (2481x3508)       P50 {r50:7.2} ms  P99 {r99:7.2} ms   target P99 <= 40 ms ({})",
        if r99 <= 40.0 { "met" } else { "NOT met" }
    );
    println!(
        "  raster 300 dpi, fresh 35 MB page P50 {o50:7.2} ms  P99 {o99:7.2} ms   (one-off renders allocate the page)"
    );
    Ok(())
}
