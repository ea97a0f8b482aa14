//! The fonts madoguchi embeds, kept in their own crate because they are licensed differently from the code
//! (files and licences in `fonts/files/`). BIZ UDGothic sets the UI and the forms; IPAmj明朝 sets names and
//! addresses on certificates, so MJ characters and variation sequences (葛󠄀) print exactly. The files are pinned by
//! SHA-256: glyph shapes of names are legally meaningful, so a font change must be a deliberate one.

/// BIZ UDGothic Regular (SIL Open Font License 1.1, `files/OFL.txt`).
pub static UD_GOTHIC: &[u8] = include_bytes!("../files/BIZUDGothic-Regular.ttf");

/// IPAmj明朝 (IPA Font License 1.0, `files/IPA_Font_License_Agreement_v1.0.txt`), MJ character set with IVS.
pub static IPAMJ_MINCHO: &[u8] = include_bytes!("../files/ipamjm.ttf");

/// SHA-256 of [`UD_GOTHIC`].
pub const UD_GOTHIC_SHA256: &str = "1e190f86ee44b54e999a02c3cd34c4fd4805aa1e9b08849332c3b573c8c869fc";

/// SHA-256 of [`IPAMJ_MINCHO`].
pub const IPAMJ_MINCHO_SHA256: &str = "75268aa9ac2d92080048196af08adee37f1c286cf4b7777ed5ac3722a8737f5f";

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;

    #[test]
    fn embedded_fonts_are_the_pinned_files() {
        assert_eq!(hex::encode(Sha256::digest(UD_GOTHIC)), UD_GOTHIC_SHA256);
        assert_eq!(hex::encode(Sha256::digest(IPAMJ_MINCHO)), IPAMJ_MINCHO_SHA256);
    }
}
