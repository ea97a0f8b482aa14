//! The PDF renderer (krilla): the printer's copy. Fonts are embedded and subset by krilla; each text run is drawn
//! from the glyphs `fonts` chose, with their source text attached, so text extraction returns the exact names.

use std::sync::OnceLock;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::text::{Font, GlyphId, KrillaGlyph};

use super::PT_PER_MM;
use super::fonts::{FontRole, GlyphError, LoadedFont};
use super::page::{Color, Element, Page};

/// Why a PDF could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// A character has no glyph.
    #[error(transparent)]
    Glyph(#[from] GlyphError),
    /// An image is not a readable PNG.
    #[error("an image on the page is not a readable PNG: {0}")]
    Image(String),
    /// A page has no area.
    #[error("a page has an invalid size")]
    PageSize,
    /// krilla refused the document.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

fn mm(v: f32) -> f32 {
    v * PT_PER_MM
}

fn paint(color: Color) -> krilla::paint::Paint {
    rgb::Color::new(color.r, color.g, color.b).into()
}

fn fill(color: Color) -> Fill {
    Fill { paint: paint(color), opacity: NormalizedF32::ONE, rule: FillRule::NonZero }
}

fn stroke(width_mm: f32) -> Stroke {
    Stroke { paint: paint(Color::BLACK), width: mm(width_mm), ..Stroke::default() }
}

/// The embedded font as krilla holds it, parsed once per process (a `Font` is a shared handle; parsing the 46 MB
/// IPAmj明朝 for every sheet would cost each certificate its tables' parse).
fn embedded_font(role: FontRole) -> Result<Font, PdfError> {
    static GOTHIC: OnceLock<Option<Font>> = OnceLock::new();
    static MINCHO: OnceLock<Option<Font>> = OnceLock::new();
    let cell = match role {
        FontRole::Gothic => &GOTHIC,
        FontRole::Mincho => &MINCHO,
    };
    cell.get_or_init(|| Font::new(role.data().into(), 0)).clone().ok_or_else(|| PdfError::Write(role.name().into()))
}

/// Render pages to one PDF document.
pub fn render_pdf(pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::new();
    let gothic = embedded_font(FontRole::Gothic)?;
    let mincho = embedded_font(FontRole::Mincho)?;
    for page in pages {
        let settings = PageSettings::from_wh(mm(page.width_mm), mm(page.height_mm)).ok_or(PdfError::PageSize)?;
        let mut pdf_page = document.start_page_with(settings);
        let mut surface = pdf_page.surface();
        for element in &page.elements {
            match element {
                Element::Text(run) => {
                    let loaded = LoadedFont::get(run.font)?;
                    let glyphs: Vec<KrillaGlyph> = loaded
                        .shape(&run.text)?
                        .into_iter()
                        .map(|g| KrillaGlyph {
                            glyph_id: GlyphId::new(g.glyph_id),
                            text_range: g.text_range,
                            x_advance: g.advance_em,
                            x_offset: 0.0,
                            y_offset: 0.0,
                            y_advance: 0.0,
                            location: None,
                        })
                        .collect();
                    let font = match run.font {
                        FontRole::Gothic => gothic.clone(),
                        FontRole::Mincho => mincho.clone(),
                    };
                    let (x, y) = (mm(run.x_mm), mm(run.y_mm));
                    let rotated = run.rotation_deg != 0.0;
                    if rotated {
                        surface.push_transform(&Transform::from_rotate_at(run.rotation_deg, x, y));
                    }
                    surface.set_fill(Some(fill(run.color)));
                    surface.set_stroke(None);
                    surface.draw_glyphs(Point::from_xy(x, y), &glyphs, font, &run.text, run.size_pt, false);
                    if rotated {
                        surface.pop();
                    }
                }
                Element::Rule { x1_mm, y1_mm, x2_mm, y2_mm, width_mm } => {
                    let mut builder = PathBuilder::new();
                    builder.move_to(mm(*x1_mm), mm(*y1_mm));
                    builder.line_to(mm(*x2_mm), mm(*y2_mm));
                    if let Some(path) = builder.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(stroke(*width_mm)));
                        surface.draw_path(&path);
                    }
                }
                Element::Box { x_mm, y_mm, w_mm, h_mm, width_mm } => {
                    let mut builder = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(mm(*x_mm), mm(*y_mm), mm(*w_mm), mm(*h_mm)) {
                        builder.push_rect(rect);
                    }
                    if let Some(path) = builder.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(stroke(*width_mm)));
                        surface.draw_path(&path);
                    }
                }
                Element::Image { x_mm, y_mm, w_mm, h_mm, png } => {
                    let image = Image::from_png(png.as_ref().clone().into(), true).map_err(PdfError::Image)?;
                    let size = Size::from_wh(mm(*w_mm), mm(*h_mm)).ok_or(PdfError::PageSize)?;
                    surface.push_transform(&Transform::from_translate(mm(*x_mm), mm(*y_mm)));
                    surface.draw_image(image, size);
                    surface.pop();
                }
            }
        }
        surface.finish();
        pdf_page.finish();
    }
    document.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}
