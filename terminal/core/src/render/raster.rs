//! The raster renderer (tiny-skia): the reviewer's on-screen preview and raster printers. It draws the same glyphs
//! as the PDF renderer, from the same embedded fonts' outlines, at any resolution.

use skrifa::GlyphId;
use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::prelude::MetadataProvider as _;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, PixmapPaint, Stroke, Transform};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sha2::{Digest as _, Sha256};

use super::fonts::{FontRole, GlyphError, LoadedFont};
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

/// Builds a tiny-skia path from a glyph outline in font units, flipping y (fonts point up, pages down).
struct PathPen {
    builder: PathBuilder,
}

/// Outlines of glyphs already drawn, in font units with y pointing down (fonts are parsed once per process and
/// never change, so the cache never needs invalidating).
fn glyph_path(font: FontRole, loaded: &LoadedFont, glyph_id: u32) -> Option<tiny_skia::Path> {
    type Cache = Mutex<HashMap<(FontRole, u32), Option<tiny_skia::Path>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(path) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&(font, glyph_id)) {
        return path.clone();
    }
    let path = loaded.font().outline_glyphs().get(GlyphId::new(glyph_id)).and_then(|outline| {
        let mut pen = PathPen { builder: PathBuilder::new() };
        let settings = DrawSettings::unhinted(Size::unscaled(), LocationRef::default());
        outline.draw(settings, &mut pen).ok()?;
        pen.builder.finish()
    });
    cache.lock().unwrap_or_else(PoisonError::into_inner).insert((font, glyph_id), path.clone());
    path
}

/// A glyph rasterized at one size and quarter-pixel offset, with where its top-left pixel sits relative to the pen.
#[derive(Clone)]
struct GlyphImage {
    pixmap: Arc<Pixmap>,
    left: i32,
    top: i32,
}

/// Rasterized glyphs, keyed by font, glyph, size in 1/64 px, quarter-pixel offsets and colour.
fn glyph_image(
    font: FontRole,
    loaded: &LoadedFont,
    glyph_id: u32,
    size_px: f32,
    sub: (u8, u8),
    color: Color,
) -> Option<GlyphImage> {
    type Key = (FontRole, u32, u32, u8, u8, [u8; 3]);
    static CACHE: OnceLock<Mutex<HashMap<Key, Option<GlyphImage>>>> = OnceLock::new();
    const LIMIT: usize = 20_000;
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (font, glyph_id, (size_px * 64.0).round() as u32, sub.0, sub.1, [color.r, color.g, color.b]);
    if let Some(image) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return image.clone();
    }
    let image = glyph_path(font, loaded, glyph_id).and_then(|path| {
        let scale = size_px / loaded.units_per_em();
        let offset = (f32::from(sub.0) / 4.0, f32::from(sub.1) / 4.0);
        let placed = path.transform(Transform::from_row(scale, 0.0, 0.0, scale, offset.0, offset.1))?;
        let bounds = placed.bounds();
        let (left, top) = (bounds.left().floor() as i32 - 1, bounds.top().floor() as i32 - 1);
        let width = (bounds.right().ceil() as i32 - left + 1).max(1) as u32;
        let height = (bounds.bottom().ceil() as i32 - top + 1).max(1) as u32;
        let mut pixmap = Pixmap::new(width, height)?;
        let shift = Transform::from_translate(-left as f32, -top as f32);
        pixmap.fill_path(&placed, &paint(color), FillRule::Winding, shift, None);
        Some(GlyphImage { pixmap: Arc::new(pixmap), left, top })
    });
    let mut entries = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if entries.len() >= LIMIT {
        entries.clear();
    }
    entries.insert(key, image.clone());
    image
}

/// Decoded images by the SHA-256 of their PNG bytes (the 公印 and 印影 recur on every sheet).
fn decoded_image(png_bytes: &[u8]) -> Result<Arc<Pixmap>, RasterError> {
    type Cache = Mutex<Vec<([u8; 32], Arc<Pixmap>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    const KEEP: usize = 16;
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let key: [u8; 32] = Sha256::digest(png_bytes).into();
    if let Some((_, pixmap)) = cache.lock().unwrap_or_else(PoisonError::into_inner).iter().find(|(k, _)| *k == key) {
        return Ok(pixmap.clone());
    }
    let pixmap = Arc::new(decode_png(png_bytes)?);
    let mut entries = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if entries.len() >= KEEP {
        entries.remove(0);
    }
    entries.push((key, pixmap.clone()));
    Ok(pixmap)
}

impl OutlinePen for PathPen {
    fn move_to(&mut self, x: f32, y: f32) {
        self.builder.move_to(x, -y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.builder.line_to(x, -y);
    }
    fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
        self.builder.quad_to(cx0, -cy0, x, -y);
    }
    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        self.builder.cubic_to(cx0, -cy0, cx1, -cy1, x, -y);
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

/// Split a pixel coordinate into its whole pixel and quarter-pixel offset.
fn quarter(position: f32) -> (i32, u8) {
    let quarters = (position * 4.0).round() as i32;
    (quarters.div_euclid(4), quarters.rem_euclid(4) as u8)
}

/// A raster renderer that keeps its page buffer between renders, as the reviewer's preview does: a fresh A4 page
/// at 300 dpi is 35 MB whose first touch alone costs more than drawing it.
#[derive(Default)]
pub struct Rasterizer {
    buffer: Option<Pixmap>,
}

impl std::fmt::Debug for Rasterizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rasterizer").field("buffered", &self.buffer.as_ref().map(|p| (p.width(), p.height()))).finish()
    }
}

impl Rasterizer {
    /// Render `page` at `dpi` into the kept buffer.
    pub fn render(&mut self, page: &Page, dpi: f32) -> Result<&Pixmap, RasterError> {
        let (width, height) = page_size_px(page, dpi)?;
        let buffer = match self.buffer.take() {
            Some(buffer) if buffer.width() == width && buffer.height() == height => buffer,
            _ => Pixmap::new(width, height).ok_or(RasterError::Resolution(dpi))?,
        };
        let pixmap = self.buffer.insert(buffer);
        draw_page(pixmap, page, dpi)?;
        Ok(pixmap)
    }
}

fn page_size_px(page: &Page, dpi: f32) -> Result<(u32, u32), RasterError> {
    let px_per_mm = dpi / 25.4;
    let width = (page.width_mm * px_per_mm).ceil();
    let height = (page.height_mm * px_per_mm).ceil();
    if !(1.0..=20_000.0).contains(&width) || !(1.0..=20_000.0).contains(&height) {
        return Err(RasterError::Resolution(dpi));
    }
    Ok((width as u32, height as u32))
}

/// Rasterize one page at `dpi` onto white.
pub fn render_page(page: &Page, dpi: f32) -> Result<Pixmap, RasterError> {
    let (width, height) = page_size_px(page, dpi)?;
    let mut pixmap = Pixmap::new(width, height).ok_or(RasterError::Resolution(dpi))?;
    draw_page(&mut pixmap, page, dpi)?;
    Ok(pixmap)
}

fn draw_page(pixmap: &mut Pixmap, page: &Page, dpi: f32) -> Result<(), RasterError> {
    let px_per_mm = dpi / 25.4;
    // Opaque white is all bytes 255 premultiplied: a memset, much faster than a per-pixel fill.
    pixmap.data_mut().fill(255);
    let page_transform = Transform::from_scale(px_per_mm, px_per_mm);
    for element in &page.elements {
        match element {
            Element::Text(run) if run.rotation_deg == 0.0 => {
                // Upright text: blit cached glyph images at quarter-pixel positions.
                let loaded = LoadedFont::get(run.font)?;
                let glyphs = loaded.shape(&run.text)?;
                let size_px = run.size_pt / super::PT_PER_MM * px_per_mm;
                let baseline = run.y_mm * px_per_mm;
                let (y_int, sub_y) = quarter(baseline);
                let mut pen = run.x_mm * px_per_mm;
                for glyph in glyphs {
                    let (x_int, sub_x) = quarter(pen);
                    if let Some(image) =
                        glyph_image(run.font, loaded, glyph.glyph_id, size_px, (sub_x, sub_y), run.color)
                    {
                        pixmap.draw_pixmap(
                            x_int + image.left,
                            y_int + image.top,
                            image.pixmap.as_ref().as_ref(),
                            &PixmapPaint::default(),
                            Transform::identity(),
                            None,
                        );
                    }
                    pen += glyph.advance_em * size_px;
                }
            }
            Element::Text(run) => {
                let loaded = LoadedFont::get(run.font)?;
                let glyphs = loaded.shape(&run.text)?;
                let size_mm = run.size_pt / super::PT_PER_MM;
                let scale = size_mm / loaded.units_per_em();
                // Rotated text (the 見本 mark): one path per run, glyphs placed along the baseline.
                let mut builder = PathBuilder::new();
                let mut pen_x = run.x_mm;
                for glyph in glyphs {
                    if let Some(path) = glyph_path(run.font, loaded, glyph.glyph_id)
                        && let Some(placed) =
                            path.transform(Transform::from_row(scale, 0.0, 0.0, scale, pen_x, run.y_mm))
                    {
                        builder.push_path(&placed);
                    }
                    pen_x += glyph.advance_em * size_mm;
                }
                if let Some(path) = builder.finish() {
                    let transform =
                        page_transform.pre_concat(Transform::from_rotate_at(run.rotation_deg, run.x_mm, run.y_mm));
                    pixmap.fill_path(&path, &paint(run.color), FillRule::Winding, transform, None);
                }
            }
            Element::Rule { x1_mm, y1_mm, x2_mm, y2_mm, width_mm } => {
                let px = (x1_mm * px_per_mm, y1_mm * px_per_mm, x2_mm * px_per_mm, y2_mm * px_per_mm);
                if snapped_line(pixmap, px, width_mm * px_per_mm) {
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
                    snapped_line(pixmap, edge, width);
                }
            }
            Element::Image { x_mm, y_mm, w_mm, h_mm, png } => {
                let image = decoded_image(png)?;
                let sx = w_mm * px_per_mm / image.width() as f32;
                let sy = h_mm * px_per_mm / image.height() as f32;
                let transform = Transform::from_row(sx, 0.0, 0.0, sy, x_mm * px_per_mm, y_mm * px_per_mm);
                let paint = PixmapPaint { quality: tiny_skia::FilterQuality::Bicubic, ..PixmapPaint::default() };
                pixmap.draw_pixmap(0, 0, image.as_ref().as_ref(), &paint, transform, None);
            }
        }
    }
    Ok(())
}

/// Rasterize one page to PNG bytes.
pub fn render_png(page: &Page, dpi: f32) -> Result<Vec<u8>, RasterError> {
    render_page(page, dpi)?.encode_png().map_err(|e| RasterError::Encode(e.to_string()))
}
