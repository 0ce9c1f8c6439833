//! What Agora learns from a file's bytes, and the copies it serves. Pure CPU work over a
//! file on disk, run on the blocking pool (never on an actix worker): sniffing (the type
//! comes from the bytes only), the engine's rules, then per kind:
//! - images: dimensions read from the header and checked before any pixel is decoded (a
//!   decompression bomb is refused), decoded under allocation limits, turned upright, then
//!   re-encoded for serving (no EXIF, GPS or other metadata survives) plus two thumbnails;
//! - audio and video: the duration (checked against the cap) and, for decodable audio, a
//!   summary of peaks for drawing a voice note's waveform;
//! - PDFs: the page count (a truncated PDF is refused); text: UTF-8 without active markup.
//!
//! Every decoder runs under `catch_unwind`: a file that makes one panic is refused as
//! hostile, and the process goes on.

use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use agora_engine::attachment::{admit, has_active_markup, looks_like_text, FileRefusal, FileType, Kind, Limits, Use};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

/// How many peaks a voice note's waveform summary has.
pub const PEAKS: usize = 64;
/// Thumbnail sizes: the name and the longest side, in pixels.
pub const THUMBNAILS: [(&str, u32); 2] = [("small", 320), ("large", 1280)];
const SNIFF_BYTES: usize = 8192;

/// A re-encoded image.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// What inspection found.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub file: FileType,
    /// Images: the served copy (re-encoded); other kinds serve the uploaded bytes.
    pub reencoded: Option<Encoded>,
    pub thumbnails: Vec<(&'static str, Encoded)>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub peaks: Option<Vec<u8>>,
    pub pages: Option<u32>,
}

fn unreadable(e: impl std::fmt::Display) -> FileRefusal {
    FileRefusal::Unreadable(e.to_string())
}

/// The media type of the bytes, from their magic numbers; `text/plain` for text that
/// nothing else matched. Never looks at a name or a header.
pub fn sniff(head: &[u8]) -> Option<String> {
    match infer::get(head) {
        Some(t) => Some(t.mime_type().to_string()),
        None if looks_like_text(head) => Some("text/plain".into()),
        None => None,
    }
}

/// Inspects the complete file at `path` (`size` bytes) for `used_for`.
pub fn inspect(path: &Path, size: u64, used_for: Use, limits: &Limits) -> Result<Inspected, FileRefusal> {
    match catch_unwind(AssertUnwindSafe(|| inspect_inner(path, size, used_for, limits))) {
        Ok(r) => r,
        Err(_) => Err(FileRefusal::Hostile("a decoder failed on this file".into())),
    }
}

fn inspect_inner(path: &Path, size: u64, used_for: Use, limits: &Limits) -> Result<Inspected, FileRefusal> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| FileRefusal::Unreadable(format!("cannot read the upload: {e}")))?;
    let sniffed = sniff(&head);
    let file = admit(sniffed.as_deref(), used_for, size, limits)?;
    // Markup a browser would run has no business in any accepted type: a text file with
    // it is active content, a binary with it is a polyglot.
    if has_active_markup(&head) {
        return Err(FileRefusal::Hostile(if file == FileType::Text {
            "the text holds markup a browser would run".into()
        } else {
            "the file is also a web page (polyglot)".into()
        }));
    }
    let mut out = Inspected {
        file,
        reencoded: None,
        thumbnails: Vec::new(),
        width: None,
        height: None,
        duration_ms: None,
        peaks: None,
        pages: None,
    };
    match file.kind() {
        Kind::Image => image(path, file, limits, &mut out)?,
        Kind::Audio | Kind::Video => {
            let (duration_ms, peaks) = media(path, file)?;
            if let Some(ms) = duration_ms {
                limits.check_duration(file.kind(), ms)?;
            }
            out.duration_ms = duration_ms;
            out.peaks = peaks;
        }
        Kind::Document => match file {
            FileType::Pdf => out.pages = Some(pdf_pages(&read(path)?)?),
            FileType::Text => {
                let bytes = read(path)?;
                if std::str::from_utf8(&bytes).is_err() || !looks_like_text(&bytes) {
                    return Err(FileRefusal::Unreadable("the text is not valid UTF-8 text".into()));
                }
            }
            // Office files are stored as sent and never opened on the server.
            _ => {}
        },
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Vec<u8>, FileRefusal> {
    std::fs::read(path).map_err(|e| FileRefusal::Unreadable(format!("cannot read the upload: {e}")))
}

/// Whether an image's bytes stop before their format's end marker: a JPEG without EOI
/// after its first scan (entropy-coded data never holds `FF D9`), a PNG without `IEND`, a
/// WebP shorter than its RIFF size. Decoders fill a cut image with grey; Agora refuses it.
pub fn truncated_image(file: FileType, bytes: &[u8]) -> bool {
    let find =
        |needle: &[u8], from: usize| bytes.get(from..).and_then(|b| b.windows(needle.len()).position(|w| w == needle));
    match file {
        FileType::Jpeg => match find(&[0xff, 0xda], 2) {
            Some(sos) => find(&[0xff, 0xd9], sos + 2).is_none(),
            None => true,
        },
        FileType::Png => find(b"IEND", 8).is_none(),
        FileType::Webp => {
            let declared = bytes.get(4..8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize + 8);
            declared.is_none_or(|n| bytes.len() < n)
        }
        _ => false,
    }
}

fn image(path: &Path, file: FileType, limits: &Limits, out: &mut Inspected) -> Result<(), FileRefusal> {
    let bytes = read(path)?;
    if truncated_image(file, &bytes) {
        return Err(unreadable("the image is truncated"));
    }
    let format = match file {
        FileType::Jpeg => ImageFormat::Jpeg,
        FileType::Png => ImageFormat::Png,
        FileType::Webp => ImageFormat::WebP,
        _ => return Err(FileRefusal::UnsupportedType { found: Some(file.content_type().into()) }),
    };
    // Dimensions from the header first: a bomb is refused before a pixel is decoded.
    let (w, h) = ImageReader::with_format(Cursor::new(&bytes), format).into_dimensions().map_err(unreadable)?;
    limits.check_dimensions(w, h)?;
    let mut reader = ImageReader::with_format(Cursor::new(&bytes), format);
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(limits.image_max_side);
    lim.max_image_height = Some(limits.image_max_side);
    lim.max_alloc = Some(limits.image_max_pixels.saturating_mul(8));
    reader.limits(lim);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    img.apply_orientation(orientation);
    // The served copy: re-encoded, so no metadata block of the upload survives.
    let served = match file {
        FileType::Jpeg => encode(&img, ImageFormat::Jpeg)?,
        _ => encode(&img, ImageFormat::Png)?,
    };
    out.width = Some(served.width);
    out.height = Some(served.height);
    for (name, side) in THUMBNAILS {
        let thumb = if img.width() <= side && img.height() <= side { img.clone() } else { img.thumbnail(side, side) };
        out.thumbnails.push((name, encode(&thumb, ImageFormat::Jpeg)?));
    }
    out.reencoded = Some(served);
    Ok(())
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Result<Encoded, FileRefusal> {
    let mut buf = Cursor::new(Vec::new());
    let (content_type, result) = match format {
        ImageFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85);
            ("image/jpeg", rgb.write_with_encoder(enc))
        }
        _ => ("image/png", img.write_to(&mut buf, ImageFormat::Png)),
    };
    result.map_err(|e| FileRefusal::Unreadable(format!("cannot re-encode the image: {e}")))?;
    Ok(Encoded { bytes: buf.into_inner(), content_type, width: img.width(), height: img.height() })
}

/// The duration of an audio or video file and, when its audio decodes, a peaks summary.
fn media(path: &Path, file: FileType) -> Result<(Option<u64>, Option<Vec<u8>>), FileRefusal> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::codecs::CodecParameters;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let f = std::fs::File::open(path).map_err(unreadable)?;
    let mss = MediaSourceStream::new(Box::new(f), Default::default());
    let probed =
        symphonia::default::get_probe().probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default());
    let mut format = match probed {
        Ok(f) => f,
        // Videos whose container the demuxers do not know are kept without a duration.
        Err(_) if file.kind() == Kind::Video => return Ok((None, None)),
        Err(e) => return Err(FileRefusal::Unreadable(format!("not a readable {} file: {e}", file.kind()))),
    };
    let Some(track) = format.first_track(TrackType::Audio).or_else(|| format.tracks().first()).cloned() else {
        return Err(FileRefusal::Unreadable("the file has no track".into()));
    };
    let track_id = track.id;
    // The playable length: the container's length less the encoder's delay (Opus
    // pre-skip; symphonia's Ogg demuxer counts it in the track's frames). Only used when
    // the audio cannot be decoded: decoded frames win below.
    let declared_ms = track.time_base.and_then(|tb| {
        let ms = |units: u64| tb.calc_duration(symphonia::core::units::Duration::from(units)).map(time_ms);
        let total = match (track.num_frames, track.duration) {
            (Some(frames), _) => ms(frames)?,
            (None, Some(d)) => tb.calc_duration(d).map(time_ms)?,
            (None, None) => return None,
        };
        let delay = track.delay.map_or(Some(0), |d| ms(u64::from(d)))?;
        Some(total.saturating_sub(delay))
    });
    let audio_params = match &track.codec_params {
        Some(CodecParameters::Audio(p)) => Some(p.clone()),
        _ => None,
    };
    let decoder = audio_params
        .as_ref()
        .and_then(|p| symphonia::default::get_codecs().make_audio_decoder(p, &AudioDecoderOptions::default()).ok());
    let Some(mut decoder) = decoder else {
        // No decoder for this codec (Opus, AAC, video): the container's duration only.
        if declared_ms.is_none() && file.kind() == Kind::Audio {
            return Err(FileRefusal::Unreadable("the recording's duration cannot be read".into()));
        }
        return Ok((declared_ms, None));
    };
    let sample_rate = audio_params.as_ref().and_then(|p| p.sample_rate).unwrap_or(0);
    // Decode everything: the peak of each block, then folded into PEAKS buckets.
    let mut block_peaks: Vec<f32> = Vec::new();
    let mut frames: u64 = 0;
    let mut samples: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                if frames == 0 {
                    return Err(FileRefusal::Unreadable(format!("the audio cannot be decoded: {e}")));
                }
                // A damaged tail: keep what decoded.
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(symphonia::core::errors::Error::DecodeError(_)) => continue,
            Err(e) => return Err(FileRefusal::Unreadable(format!("the audio cannot be decoded: {e}"))),
        };
        frames += buf.frames() as u64;
        samples.clear();
        buf.copy_to_vec_interleaved(&mut samples);
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        block_peaks.push(peak);
    }
    if frames == 0 {
        return Err(FileRefusal::Unreadable("the recording holds no sound".into()));
    }
    let decoded_ms = (sample_rate > 0).then(|| frames * 1000 / u64::from(sample_rate));
    Ok((decoded_ms.or(declared_ms), Some(fold_peaks(&block_peaks))))
}

fn time_ms(t: symphonia::core::units::Time) -> u64 {
    let secs = t.as_secs_f64();
    if secs.is_finite() && secs > 0.0 {
        (secs * 1000.0).round() as u64
    } else {
        0
    }
}

/// Folds per-block peaks (0.0..=1.0) into [`PEAKS`] values 0..=255.
pub fn fold_peaks(blocks: &[f32]) -> Vec<u8> {
    if blocks.is_empty() {
        return vec![0; PEAKS];
    }
    (0..PEAKS)
        .map(|i| {
            let start = i * blocks.len() / PEAKS;
            let end = ((i + 1) * blocks.len() / PEAKS).max(start + 1).min(blocks.len());
            let peak = blocks[start.min(blocks.len() - 1)..end].iter().fold(0f32, |m, p| m.max(*p));
            (peak.clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

/// The page count of a PDF: the largest `/Count` of a page tree, else the number of
/// `/Type /Page` objects. A file without `%%EOF` near its end is truncated.
pub fn pdf_pages(bytes: &[u8]) -> Result<u32, FileRefusal> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(unreadable("not a PDF"));
    }
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(unreadable("the PDF is truncated (no %%EOF)"));
    }
    let mut max_count = 0u32;
    let mut pages = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' {
            let rest = &bytes[i + 1..];
            if rest.starts_with(b"Count") {
                let digits: Vec<u8> = rest[5..]
                    .iter()
                    .skip_while(|b| b.is_ascii_whitespace())
                    .take_while(|b| b.is_ascii_digit())
                    .copied()
                    .collect();
                if let Ok(n) = std::str::from_utf8(&digits).unwrap_or("").parse::<u32>() {
                    max_count = max_count.max(n);
                }
            } else if rest.starts_with(b"Type") {
                let after: Vec<u8> =
                    rest[4..].iter().skip_while(|b| b.is_ascii_whitespace()).take(6).copied().collect();
                if after.starts_with(b"/Page") && !after.starts_with(b"/Pages") {
                    pages += 1;
                }
            }
        }
        i += 1;
    }
    let n = if max_count > 0 { max_count } else { pages };
    if n == 0 {
        return Err(unreadable("the PDF has no pages"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_page_counts() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n3 0 obj << /Type /Page >> endobj\n4 0 obj << /Type/Page >> endobj\ntrailer\n%%EOF\n";
        assert_eq!(pdf_pages(pdf).ok(), Some(2));
        let no_count = b"%PDF-1.4\n3 0 obj << /Type /Page >> endobj\n4 0 obj << /Type /Page >> endobj\n5 0 obj << /Type /Page >> endobj\n%%EOF";
        assert_eq!(pdf_pages(no_count).ok(), Some(3));
        assert!(pdf_pages(&pdf[..pdf.len() - 8]).is_err(), "truncated");
        assert!(pdf_pages(b"%PDF-1.4\n%%EOF").is_err(), "no pages");
        assert!(pdf_pages(b"hello %%EOF").is_err(), "not a PDF");
    }

    #[test]
    fn truncated_images() {
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xda, 0, 2, 0x12, 0x34, 0xff, 0x00];
        assert!(truncated_image(FileType::Jpeg, &jpeg));
        jpeg.extend_from_slice(&[0xff, 0xd9]);
        assert!(!truncated_image(FileType::Jpeg, &jpeg));
        assert!(truncated_image(FileType::Png, b"\x89PNG\r\n\x1a\n....IHDR"));
        assert!(!truncated_image(FileType::Png, b"\x89PNG\r\n\x1a\n....IHDR....IEND"));
        assert!(truncated_image(FileType::Webp, b"RIFF\x20\0\0\0WEBP"));
        assert!(!truncated_image(FileType::Pdf, b""));
    }

    #[test]
    fn peaks_fold() {
        assert_eq!(fold_peaks(&[]).len(), PEAKS);
        let p = fold_peaks(&[0.0, 1.0, 0.5]);
        assert_eq!(p.len(), PEAKS);
        assert_eq!(p.iter().max(), Some(&255));
        let ramp: Vec<f32> = (0..640).map(|i| i as f32 / 640.0).collect();
        let p = fold_peaks(&ramp);
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "a ramp folds into a ramp: {p:?}");
    }

    #[test]
    fn sniffing_ignores_names_and_finds_text() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").as_deref(), Some("image/png"));
        assert_eq!(sniff(b"<!DOCTYPE html><html><script>alert(1)</script>").as_deref(), Some("text/html"));
        assert_eq!(sniff(b"just some notes\n").as_deref(), Some("text/plain"));
        assert_eq!(sniff(b"\0\x01\x02binary"), None);
    }
}
