//! Certificates as pages: a page model in millimetres (text runs, rules, boxes, images) that the layouts produce,
//! and two renderers of that same model — PDF for the printer (krilla, fonts embedded and subset) and raster for
//! the screen preview and raster printers — so the reviewer sees exactly what the paper will show. Both renderers
//! place the glyphs this module chose, so no character can differ between screen and paper, and a character no
//! embedded font has is refused before anything is handed to review.

pub mod fonts;
pub mod layout;

pub mod page;
pub mod pdf;
pub mod raster;

pub use fonts::{FontRole, GlyphError};
pub use page::{Color, Element, Page, TextRun};

/// Points per millimetre (PDF user space is in points).
pub const PT_PER_MM: f32 = 72.0 / 25.4;

/// Lay out a certificate and check every character against the embedded fonts: the pages that come back can be
/// rendered to PDF and raster without a missing glyph.
pub fn certificate_pages(input: &layout::LayoutInput<'_>) -> Result<Vec<Page>, layout::LayoutError> {
    let pages = layout::layout(input)?;
    fonts::check_pages(&pages).map_err(|source| layout::LayoutError::Glyph { item: "帳票".to_string(), source })?;
    Ok(pages)
}

/// Lay out a 照会書兼回答書 and check every character against the embedded fonts.
pub fn inquiry_letter_pages(
    letter: &crate::inquiry::InquiryLetter,
    specimen: bool,
) -> Result<Vec<Page>, layout::LayoutError> {
    let pages = layout::inquiry_letter(letter, specimen)?;
    fonts::check_pages(&pages)
        .map_err(|source| layout::LayoutError::Glyph { item: "照会書".to_string(), source })?;
    Ok(pages)
}

/// The 公印 as a red, transparent PNG: the issuer's title and 「之印」 in a square frame, drawn with the embedded
/// Mincho (the configured image of a real ward replaces it).
pub fn official_seal_png(head_title: &str) -> Result<Vec<u8>, raster::RasterError> {
    let text: Vec<char> = format!("{head_title}之印").chars().collect();
    let columns = text.len().div_ceil(3).max(1);
    let size_mm = 24.0;
    let mut page = Page { width_mm: size_mm, height_mm: size_mm, elements: Vec::new() };
    page.elements.push(Element::Box { x_mm: 1.0, y_mm: 1.0, w_mm: size_mm - 2.0, h_mm: size_mm - 2.0, width_mm: 1.2 });
    let cell = (size_mm - 4.0) / 3.0;
    let column_width = (size_mm - 4.0) / columns as f32;
    let glyph_pt = cell.min(column_width) * PT_PER_MM * 0.92;
    // Read top to bottom, columns right to left, as seals are.
    for (index, ch) in text.iter().enumerate() {
        let column = index / 3;
        let row = index % 3;
        let x = size_mm - 2.0 - (column + 1) as f32 * column_width + (column_width - glyph_pt / PT_PER_MM) / 2.0;
        let y = 2.0 + (row + 1) as f32 * cell - cell * 0.16;
        page.elements.push(Element::Text(TextRun {
            x_mm: x,
            y_mm: y,
            size_pt: glyph_pt,
            font: FontRole::Mincho,
            text: ch.to_string(),
            color: Color::BLACK,
            rotation_deg: 0.0,
        }));
    }
    // 300 dpi: what the sheet is printed at; each PDF re-encodes the image, so pixels beyond that cost time only.
    let mut pixmap = raster::render_page(&page, 300.0)?;
    for pixel in pixmap.pixels_mut() {
        let ink = 255 - pixel.demultiply().red();
        let Color { r, g, b } = Color::SEAL_RED;
        if let Some(red) = tiny_skia::PremultipliedColorU8::from_rgba(
            (u16::from(r) * u16::from(ink) / 255) as u8,
            (u16::from(g) * u16::from(ink) / 255) as u8,
            (u16::from(b) * u16::from(ink) / 255) as u8,
            ink,
        ) {
            *pixel = red;
        }
    }
    pixmap.encode_png().map_err(|e| raster::RasterError::Encode(e.to_string()))
}

/// A printer test page: alignment marks 10 mm from each corner, a 100 mm ruler, the station and date, and names
/// with MJ characters and a variation sequence, so paper, tray, alignment and fonts are checked in one sheet.
pub fn test_page(station: &str, printed_on: &str) -> Page {
    let mut page = Page::a4();
    let text = |x_mm, y_mm, size_pt, font, text: &str| {
        Element::Text(TextRun {
            x_mm,
            y_mm,
            size_pt,
            font,
            text: text.to_string(),
            color: Color::BLACK,
            rotation_deg: 0.0,
        })
    };
    let rule = |x1_mm, y1_mm, x2_mm, y2_mm| Element::Rule { x1_mm, y1_mm, x2_mm, y2_mm, width_mm: 0.3 };
    let (w, h) = (page.width_mm, page.height_mm);
    for (x, y, dx, dy) in [
        (10.0, 10.0, 1.0, 1.0),
        (w - 10.0, 10.0, -1.0, 1.0),
        (10.0, h - 10.0, 1.0, -1.0),
        (w - 10.0, h - 10.0, -1.0, -1.0),
    ] {
        page.elements.push(rule(x, y, x + 10.0 * dx, y));
        page.elements.push(rule(x, y, x, y + 10.0 * dy));
    }
    page.elements.push(rule(55.0, 60.0, 155.0, 60.0));
    for mm in 0..=10 {
        let x = 55.0 + mm as f32 * 10.0;
        page.elements.push(rule(x, 60.0, x, if mm % 5 == 0 { 55.0 } else { 57.0 }));
    }
    page.elements.push(text(55.0, 66.0, 8.0, FontRole::Gothic, "0　　　　　　　　　　50　　　　　　　　　　100 mm"));
    page.elements.push(text(75.0, 40.0, 20.0, FontRole::Gothic, "試験印刷"));
    page.elements.push(text(30.0, 90.0, 11.0, FontRole::Gothic, &format!("窓口：{station}　　日時：{printed_on}")));
    page.elements.push(text(30.0, 105.0, 14.0, FontRole::Mincho, "葛\u{E0102}西　𠮷乃　髙﨑　山﨑"));
    page.elements.push(text(
        30.0,
        118.0,
        9.0,
        FontRole::Gothic,
        "四隅の印が用紙の端から10 mmにあること、定規が100 mmであることを確認してください。",
    ));
    page
}
