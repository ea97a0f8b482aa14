//! The raster renderer (tiny-skia): the reviewer's on-screen preview and raster printers. It draws the same glyphs
//! as the PDF renderer, from the same embedded fonts' outlines, at any resolution.

use skrifa::GlyphId;
use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::prelude::MetadataProvider as _;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, PixmapPaint, Stroke, Transform};

use super::fonts::{GlyphError, LoadedFont};
use super::page::{Color, Element, Page};

/// Why a page could not be rasterized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RasterError {
    /// A character has no glyph.
    #[error(transparent)]
    Glyph(#[from] GlyphError),
    /// An image is not a readable PNG.
    #[error("an image on the page is not a readable PNG: {0}")]
    Image(String),
    /// The resolution gives no pixels or too many.
    #[error("cannot rasterize a page at {0} dpi")]
    Resolution(f32),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

struct PathPen {
    builder: PathBuilder,
    scale: f32,
}

impl OutlinePen for PathPen {
    fn move_to(&mut self, x: f32, y: f32) {
        self.builder.move_to(x * self.scale, -y * self.scale);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.builder.line_to(x * self.scale, -y * self.scale);
    }
    fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
        self.builder.quad_to(cx0 * self.scale, -cy0 * self.scale, x * self.scale, -y * self.scale);
    }
    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        self.builder.cubic_to(
            cx0 * self.scale,
            -cy0 * self.scale,
            cx1 * self.scale,
            -cy1 * self.scale,
            x * self.scale,
            -y * self.scale,
        );
    }
    fn close(&mut self) {
        self.builder.close();
    }
}

fn paint(color: Color) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(color.r, color.g, color.b, 255);
    paint.anti_alias = true;
    paint
}

/// Decode a PNG into a premultiplied tiny-skia pixmap.
fn decode_png(bytes: &[u8]) -> Result<Pixmap, RasterError> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(|e| RasterError::Image(e.to_string()))?;
    let mut buffer = vec![0; reader.output_buffer_size().ok_or_else(|| RasterError::Image("too large".into()))?];
    let info = reader.next_frame(&mut buffer).map_err(|e| RasterError::Image(e.to_string()))?;
    let (width, height) = (info.width, info.height);
    let mut pixmap = Pixmap::new(width, height).ok_or_else(|| RasterError::Image("empty image".into()))?;
    let data = &buffer[..info.buffer_size()];
    let rgba: Vec<[u8; 4]> = match (info.color_type, info.bit_depth) {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => data.iter().map(|g| [*g, *g, *g, 255]).collect(),
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => {
            data.chunks_exact(2).map(|c| [c[0], c[0], c[0], c[1]]).collect()
        }
        (png::ColorType::Rgb, png::BitDepth::Eight) => data.chunks_exact(3).map(|c| [c[0], c[1], c[2], 255]).collect(),
        (png::ColorType::Rgba, png::BitDepth::Eight) => {
            data.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
        }
        other => return Err(RasterError::Image(format!("unsupported PNG format {other:?}"))),
    };
    for (pixel, [r, g, b, a]) in pixmap.pixels_mut().iter_mut().zip(rgba) {
        if let Some(color) = tiny_skia::ColorU8::from_rgba(r, g, b, a).premultiply().into() {
            *pixel = color;
        }
    }
    Ok(pixmap)
}

/// A straight line along an axis, snapped to whole pixels and at least one pixel wide, as PDF viewers and printer
/// drivers do ("stroke adjustment"), so a 0.2 mm rule stays one crisp pixel row on screen as on paper.
fn snapped_line(pixmap: &mut Pixmap, (x1, y1, x2, y2): (f32, f32, f32, f32), width: f32) -> bool {
    let span = |a: f32, b: f32| {
        let (lo, hi) = (a.min(b), a.max(b));
        let (start, end) = ((lo - width / 2.0).round(), (hi + width / 2.0).round());
        (start, if end <= start { start + 1.0 } else { end })
    };
    let rect = if (y1 - y2).abs() < 0.01 {
        let (top, bottom) = span(y1, y1);
        let (left, right) = span(x1, x2);
        tiny_skia::Rect::from_ltrb(left, top, right, bottom)
    } else if (x1 - x2).abs() < 0.01 {
        let (left, right) = span(x1, x1);
        let (top, bottom) = span(y1, y2);
        tiny_skia::Rect::from_ltrb(left, top, right, bottom)
    } else {
        return false;
    };
    if let Some(rect) = rect {
        let mut solid = paint(Color::BLACK);
        solid.anti_alias = false;
        pixmap.fill_rect(rect, &solid, Transform::identity(), None);
    }
    true
}

/// Rasterize one page at `dpi` onto white.
pub fn render_page(page: &Page, dpi: f32) -> Result<Pixmap, RasterError> {
    let px_per_mm = dpi / 25.4;
    let width = (page.width_mm * px_per_mm).ceil();
    let height = (page.height_mm * px_per_mm).ceil();
    if !(1.0..=20_000.0).contains(&width) || !(1.0..=20_000.0).contains(&height) {
        return Err(RasterError::Resolution(dpi));
    }
    let mut pixmap = Pixmap::new(width as u32, height as u32).ok_or(RasterError::Resolution(dpi))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let page_transform = Transform::from_scale(px_per_mm, px_per_mm);
    for element in &page.elements {
        match element {
            Element::Text(run) => {
                let loaded = LoadedFont::get(run.font)?;
                let glyphs = loaded.shape(&run.text)?;
                let outlines = loaded.font().outline_glyphs();
                let size_mm = run.size_pt / super::PT_PER_MM;
                let scale = size_mm / loaded.units_per_em();
                let base = page_transform.pre_concat(Transform::from_rotate_at(run.rotation_deg, run.x_mm, run.y_mm));
                let mut pen_x = run.x_mm;
                for glyph in glyphs {
                    if let Some(outline) = outlines.get(GlyphId::new(glyph.glyph_id)) {
                        let mut pen = PathPen { builder: PathBuilder::new(), scale };
                        let settings = DrawSettings::unhinted(Size::unscaled(), LocationRef::default());
                        if outline.draw(settings, &mut pen).is_ok()
                            && let Some(path) = pen.builder.finish()
                        {
                            let transform = base.pre_translate(pen_x, run.y_mm);
                            pixmap.fill_path(&path, &paint(run.color), FillRule::Winding, transform, None);
                        }
                    }
                    pen_x += glyph.advance_em * size_mm;
                }
            }
            Element::Rule { x1_mm, y1_mm, x2_mm, y2_mm, width_mm } => {
                let px = (x1_mm * px_per_mm, y1_mm * px_per_mm, x2_mm * px_per_mm, y2_mm * px_per_mm);
                if snapped_line(&mut pixmap, px, width_mm * px_per_mm) {
                    continue;
                }
                let mut builder = PathBuilder::new();
                builder.move_to(*x1_mm, *y1_mm);
                builder.line_to(*x2_mm, *y2_mm);
                if let Some(path) = builder.finish() {
                    let stroke = Stroke { width: *width_mm, ..Stroke::default() };
                    pixmap.stroke_path(&path, &paint(Color::BLACK), &stroke, page_transform, None);
                }
            }
            Element::Box { x_mm, y_mm, w_mm, h_mm, width_mm } => {
                let (left, top) = (x_mm * px_per_mm, y_mm * px_per_mm);
                let (right, bottom) = ((x_mm + w_mm) * px_per_mm, (y_mm + h_mm) * px_per_mm);
                let width = width_mm * px_per_mm;
                for edge in [
                    (left, top, right, top),
                    (left, bottom, right, bottom),
                    (left, top, left, bottom),
                    (right, top, right, bottom),
                ] {
                    snapped_line(&mut pixmap, edge, width);
                }
            }
            Element::Image { x_mm, y_mm, w_mm, h_mm, png } => {
                let image = decode_png(png)?;
                let sx = w_mm * px_per_mm / image.width() as f32;
                let sy = h_mm * px_per_mm / image.height() as f32;
                let transform = Transform::from_row(sx, 0.0, 0.0, sy, x_mm * px_per_mm, y_mm * px_per_mm);
                let paint = PixmapPaint { quality: tiny_skia::FilterQuality::Bicubic, ..PixmapPaint::default() };
                pixmap.draw_pixmap(0, 0, image.as_ref(), &paint, transform, None);
            }
        }
    }
    Ok(pixmap)
}

/// Rasterize one page to PNG bytes.
pub fn render_png(page: &Page, dpi: f32) -> Result<Vec<u8>, RasterError> {
    render_page(page, dpi)?.encode_png().map_err(|e| RasterError::Encode(e.to_string()))
}
