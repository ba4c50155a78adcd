//! QR codes of `bitcoin:` URIs as PNG images, for address vCards.
//!
//! Each module is 4 pixels and the code has the 4-module quiet zone that
//! scanners need: a P2PKH URI gives a 164-pixel square of about 700 bytes.

use qrcode::{Color, EcLevel, QrCode};

const SCALE: usize = 4;
const QUIET: usize = 4;

/// The PNG of a QR code of `text`, `None` if it cannot be encoded (too
/// long for a QR code).
pub fn png(text: &str) -> Option<Vec<u8>> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
        for dy in 0..SCALE {
            let row = (my * SCALE + dy) * side;
            pixels[row + mx * SCALE..row + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(&pixels).ok()?;
        writer.finish().ok()?;
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes a PNG made by [`png`] back to the QR code's text.
    pub fn decode(png_bytes: &[u8]) -> String {
        let decoder = ::png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn encodes_a_bip21_uri_that_scans_back() {
        for uri in [
            "bitcoin:1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            "bitcoin:bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            "bitcoin:mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn?amount=0.5&label=alice",
        ] {
            let image = png(uri).unwrap();
            assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert!(image.len() < 4096, "{} bytes", image.len());
            assert_eq!(decode(&image), uri);
        }
    }

    #[test]
    fn refuses_what_no_qr_code_can_hold() {
        assert!(png(&"x".repeat(5000)).is_none());
    }
}
