//! Glyph choice for both renderers. Characters are mapped to glyphs here, once: a base character followed by a
//! variation selector (IVS, e.g. 葛 + U+E0102 of the Moji_Joho collection) maps through the font's format-14 cmap, and a sequence or character
//! the font lacks is an error that names it — never a blank box.

use std::ops::Range;
use std::sync::OnceLock;

use skrifa::GlyphId;
use skrifa::instance::{LocationRef, Size};
use skrifa::prelude::{FontRef, MetadataProvider as _};
use skrifa::raw::TableProvider as _;
use skrifa::raw::tables::cmap::MapVariant;

/// Which embedded font a text run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FontRole {
    /// BIZ UDゴシック: labels, titles, numbers.
    Gothic,
    /// IPAmj明朝: names, addresses and other recorded data (MJ characters, IVS).
    Mincho,
}

impl FontRole {
    /// The font file.
    pub fn data(self) -> &'static [u8] {
        match self {
            FontRole::Gothic => madoguchi_fonts::UD_GOTHIC,
            FontRole::Mincho => madoguchi_fonts::IPAMJ_MINCHO,
        }
    }

    /// The font's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            FontRole::Gothic => "BIZ UDGothic",
            FontRole::Mincho => "IPAmj Mincho",
        }
    }
}

/// A character (or variation sequence) the font cannot print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{font} has no glyph for {sequence} (in {text:?})")]
pub struct GlyphError {
    /// The font.
    pub font: &'static str,
    /// The missing character or sequence, as `U+XXXX` code points.
    pub sequence: String,
    /// The missing text itself.
    pub missing: String,
    /// The text it occurs in.
    pub text: String,
}

impl GlyphError {
    /// The message for the UI.
    pub fn message_ja(&self) -> String {
        format!("「{}」（{}）を印字できるフォントがありません（「{}」）", self.missing, self.sequence, self.text)
    }
}

/// A glyph placed in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedGlyph {
    /// Glyph id in the font.
    pub glyph_id: u32,
    /// Byte range of the source text it shows (a character and its variation selector).
    pub text_range: Range<usize>,
    /// Advance as a fraction of the em.
    pub advance_em: f32,
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

fn code_points(text: &str) -> String {
    text.chars().map(|c| format!("U+{:04X}", c as u32)).collect::<Vec<_>>().join(" ")
}

/// A parsed embedded font.
pub struct LoadedFont {
    role: FontRole,
    font: FontRef<'static>,
    units_per_em: f32,
}

impl std::fmt::Debug for LoadedFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedFont").field("role", &self.role).field("units_per_em", &self.units_per_em).finish()
    }
}

impl LoadedFont {
    /// The parsed font of a role (parsed once per process).
    pub fn get(role: FontRole) -> Result<&'static LoadedFont, GlyphError> {
        static GOTHIC: OnceLock<Option<LoadedFont>> = OnceLock::new();
        static MINCHO: OnceLock<Option<LoadedFont>> = OnceLock::new();
        let cell = match role {
            FontRole::Gothic => &GOTHIC,
            FontRole::Mincho => &MINCHO,
        };
        cell.get_or_init(|| {
            let font = FontRef::new(role.data()).ok()?;
            let units_per_em = f32::from(font.head().ok()?.units_per_em());
            Some(LoadedFont { role, font, units_per_em })
        })
        .as_ref()
        .ok_or_else(|| GlyphError {
            font: role.name(),
            sequence: String::new(),
            missing: String::new(),
            text: "(the embedded font file cannot be read)".to_string(),
        })
    }

    /// The skrifa font.
    pub fn font(&self) -> &FontRef<'static> {
        &self.font
    }

    /// Units per em.
    pub fn units_per_em(&self) -> f32 {
        self.units_per_em
    }

    /// Map `text` to glyphs, or name the first character (or variation sequence) the font lacks.
    pub fn shape(&self, text: &str) -> Result<Vec<PlacedGlyph>, GlyphError> {
        let charmap = self.font.charmap();
        let metrics = self.font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let mut glyphs = Vec::new();
        let mut chars = text.char_indices().peekable();
        while let Some((start, ch)) = chars.next() {
            let missing = |sequence: &str| GlyphError {
                font: self.role.name(),
                sequence: code_points(sequence),
                missing: sequence.to_string(),
                text: text.to_string(),
            };
            if is_variation_selector(ch) {
                // A selector without a base character cannot be printed meaningfully.
                return Err(missing(&text[start..start + ch.len_utf8()]));
            }
            let (glyph, end) = match chars.peek().copied() {
                Some((vs_start, vs)) if is_variation_selector(vs) => {
                    chars.next();
                    let end = vs_start + vs.len_utf8();
                    let glyph = match charmap.map_variant(ch, vs) {
                        Some(MapVariant::Variant(glyph)) => Some(glyph),
                        Some(MapVariant::UseDefault) => charmap.map(ch),
                        None => None,
                    };
                    (glyph.ok_or_else(|| missing(&text[start..end]))?, end)
                }
                _ => {
                    let end = start + ch.len_utf8();
                    (charmap.map(ch).filter(|g| *g != GlyphId::NOTDEF).ok_or_else(|| missing(&text[start..end]))?, end)
                }
            };
            let advance = metrics.advance_width(glyph).unwrap_or(self.units_per_em);
            glyphs.push(PlacedGlyph {
                glyph_id: glyph.to_u32(),
                text_range: start..end,
                advance_em: advance / self.units_per_em,
            });
        }
        Ok(glyphs)
    }

    /// Width of `text` at `size_pt`, in mm.
    pub fn width_mm(&self, text: &str, size_pt: f32) -> Result<f32, GlyphError> {
        let em: f32 = self.shape(text)?.iter().map(|g| g.advance_em).sum();
        Ok(em * size_pt / super::PT_PER_MM)
    }
}

/// Check that every character of every text on the pages has a glyph in its font.
pub fn check_pages(pages: &[super::Page]) -> Result<(), GlyphError> {
    for page in pages {
        for run in page.texts() {
            LoadedFont::get(run.font)?.shape(&run.text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mincho_prints_mj_characters_and_ivs_sequences() {
        let mincho = LoadedFont::get(FontRole::Mincho).expect("font");
        for name in ["𠮷田", "髙橋", "山﨑", "葛\u{E0102}西"] {
            let glyphs = mincho.shape(name).expect(name);
            assert_eq!(glyphs.len(), 2, "{name}");
        }
        let plain = mincho.shape("葛").expect("plain");
        let variant = mincho.shape("葛\u{E0102}").expect("ivs");
        assert_ne!(plain[0].glyph_id, variant[0].glyph_id, "the IVS selects another glyph");
        assert_eq!(variant[0].text_range, 0.."葛\u{E0102}".len(), "the glyph shows both code points");
        // IPAmj carries the Moji_Joho collection; an Adobe-Japan1 sequence it lacks is refused, not approximated.
        let err = mincho.shape("葛\u{E0100}").expect_err("not in the Moji_Joho collection");
        assert_eq!(err.sequence, "U+845B U+E0100");
    }

    #[test]
    fn a_missing_character_is_named_never_blank() {
        let gothic = LoadedFont::get(FontRole::Gothic).expect("font");
        let err = gothic.shape("山田\u{E000}").expect_err("private use character");
        assert_eq!(err.sequence, "U+E000");
        assert!(err.message_ja().contains("フォントがありません"));
        let mincho = LoadedFont::get(FontRole::Mincho).expect("font");
        let err = mincho.shape("山\u{E01EF}").expect_err("unregistered variation sequence");
        assert_eq!(err.sequence, "U+5C71 U+E01EF");
        assert!(mincho.shape("\u{E0100}").is_err(), "a lone selector is refused");
    }
}
