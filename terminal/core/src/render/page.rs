//! The page model: what a certificate sheet shows, in millimetres from the top-left corner of an A4 portrait page.

use std::sync::Arc;

use super::fonts::FontRole;

/// A4 width in mm.
pub const A4_WIDTH_MM: f32 = 210.0;
/// A4 height in mm.
pub const A4_HEIGHT_MM: f32 = 297.0;

/// A gray or colour value (sRGB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl Color {
    /// Black ink.
    pub const BLACK: Color = Color { r: 0, g: 0, b: 0 };
    /// Seal red (朱色).
    pub const SEAL_RED: Color = Color { r: 200, g: 30, b: 30 };
    /// The light gray of the 見本 mark.
    pub const SPECIMEN_GRAY: Color = Color { r: 222, g: 222, b: 222 };
}

/// A line of text in one font.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRun {
    /// Left end of the baseline, mm.
    pub x_mm: f32,
    /// Baseline, mm from the top.
    pub y_mm: f32,
    /// Size in points.
    pub size_pt: f32,
    /// Which font.
    pub font: FontRole,
    /// The text, exactly as recorded.
    pub text: String,
    /// Colour.
    pub color: Color,
    /// Rotation in degrees around the run's origin (clockwise on the page), for the 見本 mark.
    pub rotation_deg: f32,
}

/// One thing drawn on a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// Text.
    Text(TextRun),
    /// A straight rule.
    Rule {
        /// Start x, mm.
        x1_mm: f32,
        /// Start y, mm.
        y1_mm: f32,
        /// End x, mm.
        x2_mm: f32,
        /// End y, mm.
        y2_mm: f32,
        /// Line width, mm.
        width_mm: f32,
    },
    /// A rectangle outline.
    Box {
        /// Left, mm.
        x_mm: f32,
        /// Top, mm.
        y_mm: f32,
        /// Width, mm.
        w_mm: f32,
        /// Height, mm.
        h_mm: f32,
        /// Line width, mm.
        width_mm: f32,
    },
    /// A PNG image scaled into a rectangle (印影, 公印).
    Image {
        /// Left, mm.
        x_mm: f32,
        /// Top, mm.
        y_mm: f32,
        /// Width, mm.
        w_mm: f32,
        /// Height, mm.
        h_mm: f32,
        /// PNG bytes.
        png: Arc<Vec<u8>>,
    },
}

/// One sheet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// Width, mm.
    pub width_mm: f32,
    /// Height, mm.
    pub height_mm: f32,
    /// What is drawn, in drawing order.
    pub elements: Vec<Element>,
}

impl Element {
    /// Black upright text in the Gothic font (reports and other plain documents).
    pub fn gothic_text(x_mm: f32, y_mm: f32, size_pt: f32, text: String) -> Element {
        Element::Text(TextRun {
            x_mm,
            y_mm,
            size_pt,
            font: FontRole::Gothic,
            text,
            color: Color::BLACK,
            rotation_deg: 0.0,
        })
    }
}

impl Page {
    /// An empty A4 portrait page.
    pub fn a4() -> Self {
        Self { width_mm: A4_WIDTH_MM, height_mm: A4_HEIGHT_MM, elements: Vec::new() }
    }

    /// Every text on the page, in drawing order (for checks and tests).
    pub fn texts(&self) -> impl Iterator<Item = &TextRun> {
        self.elements.iter().filter_map(|e| match e {
            Element::Text(run) => Some(run),
            _ => None,
        })
    }
}
