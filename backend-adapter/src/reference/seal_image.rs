//! Synthetic 印影 images: a ringed seal drawn from the registration number, so every generated registration has a
//! distinct impression the certificate layout can print. Real impressions are scanned at the counter.

/// Draw a 192×192 grayscale seal impression for `registration_number` (about 200 dpi over the 25 mm a seal may
/// measure, like a counter scan).
pub fn synthetic_impression(registration_number: u64) -> Vec<u8> {
    const SIZE: u32 = 192;
    const SCALE: f32 = SIZE as f32 / 64.0;
    let mut pixels = vec![255u8; (SIZE * SIZE) as usize];
    let centre = (SIZE as f32 - 1.0) / 2.0;
    let mut bits = registration_number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let dx = (x as f32 - centre) / SCALE;
            let dy = (y as f32 - centre) / SCALE;
            let r = (dx * dx + dy * dy).sqrt();
            let ring = (28.0..31.0).contains(&r);
            // Inner strokes: a few radial and horizontal bars chosen by the number's bits.
            let bar_row = (y as f32 / SCALE / 8.0) as u64;
            let bar = r < 24.0 && (bits >> (bar_row * 3)) & 1 == 1 && ((x as f32 / SCALE) as u32 % 8) < 5;
            let angle_bucket = ((dy.atan2(dx) + std::f32::consts::PI) / (std::f32::consts::PI / 8.0)) as u64;
            let spoke = r < 24.0
                && r > 6.0
                && (bits >> (40 + angle_bucket % 16)) & 1 == 1
                && (dx.abs() < 1.5 || dy.abs() < 1.5);
            if ring || bar || spoke {
                pixels[(y * SIZE + x) as usize] = 0;
            }
        }
        if y % (SCALE as u32) == 0 {
            bits = bits.rotate_left(1);
        }
    }
    encode_gray_png(SIZE, SIZE, &pixels).unwrap_or_default()
}

fn encode_gray_png(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

/// Width and height of a PNG image, or `None` if the bytes are not a readable PNG.
pub fn decode_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    Some((info.width, info.height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impressions_are_pngs_and_differ_by_number() {
        let a = synthetic_impression(10_000_001);
        let b = synthetic_impression(10_000_002);
        assert_eq!(decode_dimensions(&a), Some((192, 192)));
        assert_ne!(a, b);
        assert_eq!(decode_dimensions(b"not a png"), None);
    }
}
