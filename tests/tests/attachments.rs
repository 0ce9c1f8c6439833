//! Attachments end to end, with real files made here: a JPEG carrying EXIF GPS, a PNG, a
//! WAV voice note, an Ogg/Opus voice note, a PDF, a zip bomb, a PNG declaring 50000x50000
//! pixels, a truncated JPEG, a JPEG/HTML polyglot and an HTML page named `.jpg`. They go
//! through tus (interrupted and resumed, also across a restart) and multipart uploads,
//! into chat messages, and out through signed links.

use std::io::Cursor;
use std::time::Duration;

use agora_tests::{spawn_app, spawn_app_with, start_stoppable, test_settings, Encoding, TestApp, TestUser};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

// ---- files

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).expect("jpeg");
    out.into_inner()
}

/// A PNG of noise (so it does not compress away).
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let img = image::RgbaImage::from_fn(width, height, |_, _| {
        let v = next().to_le_bytes();
        image::Rgba([v[0], v[1], v[2], 255])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img).write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// An EXIF APP1 segment (little-endian TIFF) with a GPS IFD: 48°51'24" N, 2°17'40" E.
fn exif_gps_segment() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0: one entry, GPSInfo -> the GPS IFD at 26.
    t.extend_from_slice(&1u16.to_le_bytes());
    entry(&mut t, 0x8825, 4, 1, 26);
    t.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 26: four entries, data at 80 and 104.
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    entry(&mut t, 0x0002, 5, 3, 80);
    entry(&mut t, 0x0003, 2, 2, u32::from_le_bytes(*b"E\0\0\0"));
    entry(&mut t, 0x0004, 5, 3, 104);
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 80);
    for (n, d) in [(48, 1), (51, 1), (2400, 100), (2, 1), (17, 1), (4000, 100)] {
        t.extend_from_slice(&(n as u32).to_le_bytes());
        t.extend_from_slice(&(d as u32).to_le_bytes());
    }
    let mut seg = vec![0xff, 0xe1];
    let len = (2 + 6 + t.len()) as u16;
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&t);
    seg
}

fn entry(t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32) {
    t.extend_from_slice(&tag.to_le_bytes());
    t.extend_from_slice(&kind.to_le_bytes());
    t.extend_from_slice(&count.to_le_bytes());
    t.extend_from_slice(&value.to_le_bytes());
}

/// A JPEG whose EXIF block holds GPS coordinates (inserted right after SOI).
fn jpeg_with_gps() -> Vec<u8> {
    let plain = jpeg(640, 480);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&exif_gps_segment());
    out.extend_from_slice(&plain[2..]);
    out
}

fn gps_of(bytes: &[u8]) -> Option<String> {
    let exif = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).ok()?;
    let f = exif.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)?;
    Some(f.display_value().to_string())
}

/// A mono 16 kHz 16-bit WAV: `ms` of a 440 Hz tone whose loudness rises then falls.
fn wav(ms: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let n = rate * ms / 1000;
    let mut data = Vec::with_capacity(n as usize * 2);
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let envelope = 1.0 - ((i as f32 / n as f32) * 2.0 - 1.0).abs();
        let s = (t * 440.0 * std::f32::consts::TAU).sin() * envelope * 0.9;
        data.extend_from_slice(&((s * i16::MAX as f32) as i16).to_le_bytes());
    }
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    w
}

fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for b in data {
        crc ^= u32::from(*b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

fn ogg_page(out: &mut Vec<u8>, header_type: u8, granule: u64, seq: u32, packets: &[&[u8]]) {
    let mut lacing = Vec::new();
    for p in packets {
        let mut left = p.len();
        while left >= 255 {
            lacing.push(255u8);
            left -= 255;
        }
        lacing.push(left as u8);
    }
    let start = out.len();
    out.extend_from_slice(b"OggS\0");
    out.push(header_type);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&0x4147_4f52u32.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    for p in packets {
        out.extend_from_slice(p);
    }
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

/// An Ogg/Opus voice note of `frames` 20 ms frames (each an Opus silence frame).
fn ogg_opus(frames: u64) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(1);
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0u16.to_le_bytes());
    head.push(0);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&5u32.to_le_bytes());
    tags.extend_from_slice(b"agora");
    tags.extend_from_slice(&0u32.to_le_bytes());
    let mut out = Vec::new();
    ogg_page(&mut out, 0x02, 0, 0, &[&head]);
    ogg_page(&mut out, 0x00, 0, 1, &[&tags]);
    let frame: &[u8] = &[0xf8, 0xff, 0xfe];
    let per_page = 50u64;
    let mut seq = 2;
    let mut done = 0u64;
    while done < frames {
        let n = per_page.min(frames - done);
        done += n;
        let packets: Vec<&[u8]> = (0..n).map(|_| frame).collect();
        let last = done == frames;
        ogg_page(&mut out, if last { 0x04 } else { 0x00 }, 312 + done * 960, seq, &packets);
        seq += 1;
    }
    out
}

/// A two-page PDF.
fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, e) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        *e = c;
    }
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc = table[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ 0xffff_ffff
}

/// A PNG whose header declares 50000 x 50000 pixels (2.5 gigapixels) over a tiny stream.
fn png_bomb() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let zeros = vec![0u8; 1 << 20];
    let mut idat = vec![0x78, 0xda];
    idat.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&zeros, 9));
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A zip whose one entry inflates from a few KB to 20 MB of zeros.
fn zip_bomb() -> Vec<u8> {
    let zeros = vec![0u8; 20 << 20];
    let packed = miniz_oxide::deflate::compress_to_vec(&zeros, 9);
    let crc = crc32(&zeros);
    let name = b"zeros.bin";
    let mut z = Vec::new();
    z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    z.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    z.extend_from_slice(&(zeros.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(&packed);
    let cd_start = z.len() as u32;
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    z.extend_from_slice(&(zeros.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 12]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name);
    let cd_len = z.len() as u32 - cd_start;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// A JPEG that is also a web page: markup in a comment segment near the start.
fn polyglot() -> Vec<u8> {
    let plain = jpeg(64, 64);
    let markup = b"<html><script>alert(document.cookie)</script></html>";
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xfe]);
    out.extend_from_slice(&((markup.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(markup);
    out.extend_from_slice(&plain[2..]);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---- helpers

/// Uploads `bytes` as one multipart file.
async fn multipart(app: &TestApp, token: &str, name: &str, bytes: &[u8]) -> agora_tests::Reply {
    app.upload(token, name, bytes).await
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn tus_create(app: &TestApp, token: &str, name: &str, length: usize) -> agora_tests::Reply {
    app.send(
        app.client
            .post(app.url("/api/uploads"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", format!("filename {},filetype {}", b64(name), b64("image/jpeg"))),
    )
    .await
}

async fn tus_patch(
    app: &TestApp,
    token: &str,
    location: &str,
    offset: usize,
    chunk: &[u8],
    checksum: Option<&[u8]>,
) -> agora_tests::Reply {
    let mut req = app
        .client
        .patch(app.url(location))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(chunk.to_vec());
    if let Some(digest_of) = checksum {
        req = req.header(
            "Upload-Checksum",
            format!("sha256 {}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(digest_of))),
        );
    }
    app.send(req).await
}

async fn tus_offset(app: &TestApp, token: &str, location: &str) -> u64 {
    let r = app.send(app.client.head(app.url(location)).bearer_auth(token).header("Tus-Resumable", "1.0.0")).await;
    assert_eq!(r.status, 200, "HEAD {location}");
    header(&r, "upload-offset").parse().expect("Upload-Offset")
}

fn header(r: &agora_tests::Reply, name: &str) -> String {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Uploads through tus in one PATCH and answers the attachment's metadata.
async fn tus_upload(app: &TestApp, user: &TestUser, name: &str, bytes: &[u8]) -> agora_tests::Reply {
    let created = tus_create(app, &user.token, name, bytes.len()).await;
    created.expect(201, None);
    let location = header(&created, "location");
    let done = tus_patch(app, &user.token, &location, 0, bytes, None).await;
    if done.status != 204 {
        return done;
    }
    let id = header(&done, "agora-attachment-id");
    app.get(&format!("/api/attachments/{id}"), Some(&user.token)).await
}

async fn download(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(app.url(url)).send().await.expect("download")
}

async fn bytes_of(app: &TestApp, url: &str) -> Vec<u8> {
    let res = download(app, url).await;
    assert_eq!(res.status().as_u16(), 200, "download {url}");
    res.bytes().await.expect("bytes").to_vec()
}

// ---- tests

#[actix_web::test]
async fn tus_options_announce_the_protocol() {
    let app = spawn_app().await;
    let r = app.send(app.client.request(reqwest::Method::OPTIONS, app.url("/api/uploads"))).await;
    assert_eq!(r.status, 204);
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r, "tus-extension"), "creation,expiration,checksum");
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha256");
    assert_eq!(header(&r, "tus-max-size"), (100u64 * 1024 * 1024).to_string());
    // Uploads need an account.
    tus_create(&app, "not-a-token", "x.pdf", 10).await.expect(401, None);
}

#[actix_web::test]
async fn jpeg_exif_gps_is_stripped_and_thumbnails_are_made() {
    let app = spawn_app().await;
    let a = app.user("photographer").await;
    let original = jpeg_with_gps();
    assert!(gps_of(&original).is_some_and(|g| g.contains("48")), "the test file carries GPS: {:?}", gps_of(&original));
    let meta = tus_upload(&app, &a, "holiday.jpg", &original).await;
    meta.expect(200, None);
    let m = &meta.json;
    assert_eq!((m["kind"].as_str(), m["content_type"].as_str()), (Some("image"), Some("image/jpeg")), "{m}");
    assert_eq!((m["width"].as_u64(), m["height"].as_u64()), (Some(640), Some(480)));
    assert_eq!(m["name"], "holiday.jpg");
    assert_eq!(m["sha256"], sha256_hex(&original));
    let served = bytes_of(&app, m["url"].as_str().expect("url")).await;
    assert!(image::load_from_memory(&served).is_ok(), "the served copy is an image");
    assert_eq!(gps_of(&served), None, "no GPS in the served copy");
    assert!(exif::Reader::new().read_from_container(&mut Cursor::new(&served)).is_err(), "no EXIF at all");
    for (url, max) in [(&m["thumbnail_url"], 320), (&m["preview_url"], 1280)] {
        let t = bytes_of(&app, url.as_str().expect("thumbnail url")).await;
        let img = image::load_from_memory(&t).expect("thumbnail decodes");
        assert!(img.width() <= max && img.height() <= max, "{}x{} within {max}", img.width(), img.height());
        assert_eq!(gps_of(&t), None);
    }
    let small =
        image::load_from_memory(&bytes_of(&app, m["thumbnail_url"].as_str().expect("url")).await).expect("small");
    assert_eq!((small.width(), small.height()), (320, 240));
}

#[actix_web::test]
async fn sniffing_decides_the_type_and_hostile_files_are_refused() {
    let app = spawn_app().await;
    let a = app.user("sniffer").await;
    // A PNG named .pdf is a PNG.
    let r = multipart(&app, &a.token, "report.pdf", &png(300, 200)).await;
    r.expect(201, None);
    assert_eq!(
        (r.json["kind"].as_str(), r.json["content_type"].as_str()),
        (Some("image"), Some("image/png")),
        "{}",
        r.text
    );
    assert_eq!((r.json["width"].as_u64(), r.json["height"].as_u64()), (Some(300), Some(200)));
    // A PDF's pages are counted, whatever its name says.
    let r = multipart(&app, &a.token, "photo.jpg", &pdf()).await;
    r.expect(201, None);
    assert_eq!((r.json["kind"].as_str(), r.json["pages"].as_u64()), (Some("document"), Some(2)), "{}", r.text);
    // Plain text is a document.
    let r = multipart(&app, &a.token, "notes.txt", b"Bring the ladder.\nAnd the blue paint.\n").await;
    r.expect(201, None);
    assert_eq!(r.json["content_type"], "text/plain; charset=utf-8");
    let refusals: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "page.jpg",
            b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>".to_vec(),
            415,
            "unsupported_file_type",
        ),
        ("bomb.zip", zip_bomb(), 415, "unsupported_file_type"),
        (
            "app.exe",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec(),
            415,
            "unsupported_file_type",
        ),
        ("huge.png", png_bomb(), 422, "hostile_file"),
        ("cut.jpg", jpeg(400, 300)[..3000].to_vec(), 422, "unreadable_file"),
        ("both.jpg", polyglot(), 422, "hostile_file"),
        ("notes.txt", b"hello <script>steal()</script>".to_vec(), 422, "hostile_file"),
        ("cut.pdf", pdf()[..120].to_vec(), 422, "unreadable_file"),
    ];
    for (name, bytes, status, code) in refusals {
        let r = multipart(&app, &a.token, name, &bytes).await;
        assert_eq!((r.status, r.code()), (status, code), "{name}: {}", r.text);
        // The same through tus: the last PATCH answers the refusal.
        let t = tus_upload(&app, &a, name, &bytes).await;
        assert_eq!((t.status, t.code()), (status, code), "tus {name}: {}", t.text);
    }
    // The server is still up and well.
    app.get("/api/health", None).await.expect(200, None);
}

#[actix_web::test]
async fn voice_notes_get_duration_and_peaks() {
    let app = spawn_app().await;
    let a = app.user("talker").await;
    let r = multipart(&app, &a.token, "note.wav", &wav(1500)).await;
    r.expect(201, None);
    assert_eq!(r.json["kind"], "audio", "{}", r.text);
    assert_eq!(r.json["duration_ms"].as_u64(), Some(1500), "{}", r.text);
    let peaks: Vec<u64> = r.json["peaks"].as_array().expect("peaks").iter().filter_map(Value::as_u64).collect();
    assert_eq!(peaks.len(), 64);
    let (first, middle, last) = (peaks[0], peaks[32], peaks[63]);
    assert!(middle > 200 && first < middle && last < middle, "the envelope rises then falls: {peaks:?}");
    // Ogg/Opus (the browsers' and phones' voice note format): the duration from the container.
    let opus = ogg_opus(150);
    let r = multipart(&app, &a.token, "note.opus", &opus).await;
    r.expect(201, None);
    assert_eq!(r.json["kind"], "audio", "{}", r.text);
    assert_eq!(r.json["duration_ms"].as_u64(), Some(3000), "{}", r.text);
}

#[actix_web::test]
async fn caps_durations_and_quota_are_enforced() {
    let app = spawn_app_with(|s| {
        s.attachment_image_max_bytes = 20_000;
        s.attachment_audio_max_secs = 1;
        s.attachment_quota_bytes = 120_000;
        s.attachment_document_max_bytes = 200_000;
    })
    .await;
    let a = app.user("capped").await;
    let big = png(400, 400);
    assert!(big.len() > 20_000);
    let r = multipart(&app, &a.token, "big.png", &big).await;
    r.expect(413, Some("file_too_large"));
    let r = multipart(&app, &a.token, "long.wav", &wav(1500)).await;
    r.expect(413, Some("media_too_long"));
    multipart(&app, &a.token, "short.wav", &wav(900)).await.expect(201, None);
    // A tus upload declaring more than the largest cap is refused before any byte.
    tus_create(&app, &a.token, "huge.bin", 100 * 1024 * 1024 + 1).await.expect(413, Some("file_too_large"));
    // The quota: 120 kB. A 28.8 kB WAV is in, then one 60 kB file; the next does not fit.
    let mut refused = None;
    for i in 0..4 {
        let mut doc = b"Quota filler ".to_vec();
        doc.extend(std::iter::repeat_n(b'a' + i as u8, 60_000));
        let r = multipart(&app, &a.token, "filler.txt", &doc).await;
        if r.status != 201 {
            refused = Some((i, r.status, r.code().to_string()));
            break;
        }
    }
    assert_eq!(refused, Some((1, 413, "quota_exceeded".into())));
    // Another user has a quota of their own.
    let b = app.user("fresh").await;
    multipart(&app, &b.token, "ok.txt", &vec![b'z'; 60_000]).await.expect(201, None);
}

#[actix_web::test]
async fn tus_resumes_from_its_offset_with_checksums() {
    let app = spawn_app().await;
    let a = app.user("resumer").await;
    let data = wav(4000);
    let half = data.len() / 2;
    let created = tus_create(&app, &a.token, "voice.wav", data.len()).await;
    created.expect(201, None);
    let location = header(&created, "location");
    assert!(location.starts_with("/api/uploads/"), "{location}");
    assert!(!header(&created, "upload-expires").is_empty());
    assert_eq!(tus_offset(&app, &a.token, &location).await, 0);
    // The first half, then the connection "drops".
    tus_patch(&app, &a.token, &location, 0, &data[..half], Some(&data[..half])).await.expect(204, None);
    assert_eq!(tus_offset(&app, &a.token, &location).await, half as u64);
    // A client that lost track: the wrong offset is a conflict and changes nothing.
    tus_patch(&app, &a.token, &location, 10, &data[10..half], None).await.expect(409, Some("upload_offset_mismatch"));
    // A corrupted chunk: 460, dropped whole.
    let mut bad = data[half..].to_vec();
    bad[100] ^= 0xff;
    let r = tus_patch(&app, &a.token, &location, half, &bad, Some(&data[half..])).await;
    assert_eq!((r.status, r.code()), (460, "checksum_mismatch"), "{}", r.text);
    assert_eq!(tus_offset(&app, &a.token, &location).await, half as u64);
    // Wrong content type: 415; somebody else's upload: 404.
    let r = app
        .send(
            app.client
                .patch(app.url(&location))
                .bearer_auth(&a.token)
                .header("Upload-Offset", half.to_string())
                .body(vec![1, 2]),
        )
        .await;
    r.expect(415, Some("unsupported_media_type"));
    let other = app.user("snoop").await;
    tus_patch(&app, &other.token, &location, half, &data[half..], None).await.expect(404, Some("not_found"));
    // Resume with the rest.
    let done = tus_patch(&app, &a.token, &location, half, &data[half..], Some(&data[half..])).await;
    done.expect(204, None);
    assert_eq!(header(&done, "upload-offset"), data.len().to_string());
    let id = header(&done, "agora-attachment-id");
    let meta = app.get(&format!("/api/attachments/{id}"), Some(&a.token)).await;
    meta.expect(200, None);
    assert_eq!(meta.json["sha256"], sha256_hex(&data));
    assert_eq!(meta.json["duration_ms"].as_u64(), Some(4000));
    let back = bytes_of(&app, meta.json["url"].as_str().expect("url")).await;
    assert_eq!(sha256_hex(&back), sha256_hex(&data), "the stored file is the uploaded one");
    let state = app.get(&location, Some(&a.token)).await;
    state.expect(200, None);
    assert_eq!(state.json["attachment"]["id"], id.as_str());
}

#[actix_web::test]
async fn tus_resumes_across_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = test_settings(dir.path());
    let (first, handle) = start_stoppable(settings.clone()).await;
    let a = first.user("restarter").await;
    // A 300 kB PDF: two pages, padding, and the end marker last.
    let mut data = pdf();
    data.extend(std::iter::repeat_n(b' ', 300_000));
    data.extend_from_slice(b"\n%%EOF\n");
    let half = data.len() / 2;
    let created = tus_create(&first, &a.token, "contract.pdf", data.len()).await;
    created.expect(201, None);
    let location = header(&created, "location");
    tus_patch(&first, &a.token, &location, 0, &data[..half], None).await.expect(204, None);
    handle.stop(false).await;
    // The first server is gone (a fresh client each try: no pooled connection survives).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reqwest::Client::new().get(first.url("/api/health")).send().await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the first server still answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (second, _handle) = start_stoppable(settings).await;
    assert_eq!(tus_offset(&second, &a.token, &location).await, half as u64, "the offset survived the restart");
    let done = tus_patch(&second, &a.token, &location, half, &data[half..], Some(&data[half..])).await;
    done.expect(204, None);
    let id = header(&done, "agora-attachment-id");
    let meta = second.get(&format!("/api/attachments/{id}"), Some(&a.token)).await;
    meta.expect(200, None);
    assert_eq!(meta.json["pages"].as_u64(), Some(2));
    let back = bytes_of(&second, meta.json["url"].as_str().expect("url")).await;
    assert_eq!(sha256_hex(&back), sha256_hex(&data));
}

#[actix_web::test]
async fn messages_carry_attachments_and_only_members_download() {
    let app = spawn_app_with(|s| s.attachment_link_ttl_secs = 2).await;
    let (a, b, c) = (app.user("sender").await, app.user("member").await, app.user("outsider").await);
    let conv = app.conversation(&a, &[&b]).await;
    let photo = multipart(&app, &a.token, "site.jpg", &jpeg_with_gps()).await;
    photo.expect(201, None);
    let note = multipart(&app, &a.token, "voice.wav", &wav(1200)).await;
    note.expect(201, None);
    let doc = multipart(&app, &a.token, "brief.pdf", &pdf()).await;
    doc.expect(201, None);
    let (photo_id, note_id, doc_id) = (
        photo.json["id"].as_str().expect("id").to_string(),
        note.json["id"].as_str().expect("id").to_string(),
        doc.json["id"].as_str().expect("id").to_string(),
    );
    // Before it is attached, only the uploader sees it.
    app.get(&format!("/api/attachments/{photo_id}"), Some(&b.token)).await.expect(404, Some("not_found"));

    let mut wb = app.ws(&b.token, Encoding::Json).await;
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "p1", "body": "", "attachment_ids": [photo_id, note_id]})).await;
    let ack = wa.expect("ack").await;
    assert_eq!(ack["client_msg_id"], "p1");
    let frame = wb.expect("message").await;
    assert_eq!(frame["body"], "");
    let files = frame["attachments"].as_array().expect("attachments in the frame");
    assert_eq!(files.len(), 2, "{frame}");
    assert_eq!((files[0]["id"].as_str(), files[0]["kind"].as_str()), (Some(photo_id.as_str()), Some("image")));
    assert_eq!((files[0]["width"].as_u64(), files[0]["height"].as_u64()), (Some(640), Some(480)));
    assert_eq!(files[0]["name"], "site.jpg");
    assert_eq!(files[0]["type"], "image/jpeg");
    assert!(files[0]["size"].as_u64().is_some_and(|s| s > 0));
    let thumb = files[0]["thumbnail_url"].as_str().expect("thumbnail_url").to_string();
    assert_eq!((files[1]["kind"].as_str(), files[1]["duration_ms"].as_u64()), (Some("audio"), Some(1200)));
    assert!(files[1]["thumbnail_url"].is_null());
    // An attachment goes to one message only.
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "p2", "body": "again", "attachment_ids": [photo_id]})).await;
    let err = wa.expect("error").await;
    assert_eq!(err["code"], "attachment_in_use", "{err}");
    // REST: history carries them; REST send takes attachment_ids with an empty body.
    let sent = app
        .post(&format!("/api/conversations/{conv}/messages"), json!({"attachment_ids": [doc_id]}), Some(&a.token))
        .await;
    sent.expect(201, None);
    assert_eq!(sent.json["attachments"][0]["pages"].as_u64(), Some(2));
    let history = app.get(&format!("/api/conversations/{conv}/messages"), Some(&b.token)).await;
    history.expect(200, None);
    let listed: Vec<&Value> = history.json["results"].as_array().expect("results").iter().collect();
    assert!(listed.iter().any(|m| m["attachments"].as_array().is_some_and(|a| a.len() == 2)), "{}", history.text);
    // Eleven attachments are too many; an unknown id is refused.
    let ids: Vec<String> = (0..11).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    app.post(&format!("/api/conversations/{conv}/messages"), json!({"attachment_ids": ids}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post(&format!("/api/conversations/{conv}/messages"), json!({"attachment_ids": [ids[0]]}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));

    // The member sees and downloads; the outsider gets 404 everywhere.
    let meta = app.get(&format!("/api/attachments/{doc_id}"), Some(&b.token)).await;
    meta.expect(200, None);
    app.get(&format!("/api/attachments/{doc_id}"), Some(&c.token)).await.expect(404, Some("not_found"));
    app.get(&thumb, Some(&c.token)).await.expect(404, Some("not_found"));
    let redirect = app.get(&thumb, Some(&b.token)).await;
    assert_eq!(redirect.status, 302);
    let small = bytes_of(&app, &header(&redirect, "location")).await;
    assert!(image::load_from_memory(&small).is_ok());
    assert_eq!(gps_of(&small), None);

    // A document downloads as an attachment that never runs in the app's origin.
    let url = meta.json["url"].as_str().expect("url").to_string();
    let res = download(&app, &url).await;
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    assert!(h["content-disposition"].to_str().expect("cd").starts_with("attachment; filename=\"brief.pdf\""));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(res.bytes().await.expect("pdf").to_vec(), pdf());
    // Range: seeking works (206 with exactly those bytes); an impossible range is 416.
    let part = app.client.get(app.url(&url)).header("range", "bytes=9-23").send().await.expect("range");
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 9-23/{}", pdf().len()).as_str());
    assert_eq!(part.bytes().await.expect("part").to_vec(), pdf()[9..24].to_vec());
    let beyond = app.client.get(app.url(&url)).header("range", "bytes=100000-").send().await.expect("range");
    assert_eq!(beyond.status().as_u16(), 416);
    // Images are shown inline.
    let pmeta = app.get(&format!("/api/attachments/{photo_id}"), Some(&b.token)).await;
    let pres = download(&app, pmeta.json["url"].as_str().expect("url")).await;
    assert!(pres.headers()["content-disposition"].to_str().expect("cd").starts_with("inline"));
    // A tampered link is refused; an expired one is 403 link_expired.
    let tampered = url.replace("v=original", "v=small");
    let r = app.get(&tampered, None).await;
    r.expect(403, Some("invalid_signature"));
    let forged = format!("{}0", url);
    app.get(&forged, None).await.expect(403, Some("invalid_signature"));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    app.get(&url, None).await.expect(403, Some("link_expired"));
}

#[actix_web::test]
async fn unattached_uploads_are_swept_and_shared_blobs_stay_while_referenced() {
    let app = spawn_app_with(|s| {
        s.attachment_unattached_secs = 3;
        s.attachment_sweep_interval_secs = 1;
        s.upload_expiry_secs = 2;
    })
    .await;
    let (a, b) = (app.user("keeper").await, app.user("friend").await);
    let conv = app.conversation(&a, &[&b]).await;
    let file = pdf();
    let kept = multipart(&app, &a.token, "kept.pdf", &file).await;
    kept.expect(201, None);
    let dropped = multipart(&app, &a.token, "dropped.pdf", &file).await;
    dropped.expect(201, None);
    let lonely = multipart(&app, &a.token, "lonely.wav", &wav(500)).await;
    lonely.expect(201, None);
    // Both PDFs are one blob.
    let blob_dir = app.data_dir.join("blobs");
    let key = sha256_hex(&file);
    let blob_path = blob_dir.join(&key[0..2]).join(&key[2..4]).join(&key);
    assert!(blob_path.is_file(), "blob at {}", blob_path.display());
    let wav_key = sha256_hex(&wav(500));
    let wav_path = blob_dir.join(&wav_key[0..2]).join(&wav_key[2..4]).join(&wav_key);
    assert!(wav_path.is_file());
    let kept_id = kept.json["id"].as_str().expect("id");
    app.post(
        &format!("/api/conversations/{conv}/messages"),
        json!({"body": "the contract", "attachment_ids": [kept_id]}),
        Some(&a.token),
    )
    .await
    .expect(201, None);
    // A deleted message lets its files go: members lose them at once, the sweeper
    // removes them after the grace period.
    let sent = multipart(&app, &a.token, "retracted.txt", b"sent by mistake\n").await;
    sent.expect(201, None);
    let retracted = sent.json["id"].as_str().expect("id").to_string();
    let msg = app
        .post(&format!("/api/conversations/{conv}/messages"), json!({"attachment_ids": [retracted]}), Some(&a.token))
        .await;
    msg.expect(201, None);
    app.get(&format!("/api/attachments/{retracted}"), Some(&b.token)).await.expect(200, None);
    app.delete(&format!("/api/messages/{}", msg.json["id"].as_str().expect("id")), Some(&a.token)).await;
    app.get(&format!("/api/attachments/{retracted}"), Some(&b.token)).await.expect(404, Some("not_found"));
    // An abandoned tus upload, too: its partial file goes once it expires.
    let created = tus_create(&app, &a.token, "abandoned.pdf", 5000).await;
    created.expect(201, None);
    let upload_id = header(&created, "location").rsplit('/').next().expect("id").to_string();
    let part = app.data_dir.join("uploads").join(format!("{upload_id}.part"));
    tus_patch(&app, &a.token, &header(&created, "location"), 0, &file[..50], None).await.expect(204, None);
    assert!(part.is_file(), "partial upload at {}", part.display());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let gone =
            app.get(&format!("/api/attachments/{}", dropped.json["id"].as_str().expect("id")), Some(&a.token)).await;
        let wav_gone = !wav_path.exists();
        let retracted_gone = app.get(&format!("/api/attachments/{retracted}"), Some(&a.token)).await.status == 404;
        if gone.status == 404 && wav_gone && !part.exists() && retracted_gone {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the sweeper removes unattached attachments");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The shared blob stays: the attached PDF still refers to it.
    assert!(blob_path.is_file(), "a blob still referenced is kept");
    let meta = app.get(&format!("/api/attachments/{kept_id}"), Some(&b.token)).await;
    meta.expect(200, None);
    assert_eq!(bytes_of(&app, meta.json["url"].as_str().expect("url")).await, file);
    let metrics = app.get("/metrics", None).await;
    assert!(metrics.text.contains("agora_uploads_total"), "uploads counted");
    assert!(metrics.text.contains("agora_blob_bytes"), "blob bytes published");
}

#[actix_web::test]
async fn refusals_are_counted_by_reason() {
    let app = spawn_app().await;
    let a = app.user("counted").await;
    multipart(&app, &a.token, "x.jpg", b"<html><script>1</script></html>")
        .await
        .expect(415, Some("unsupported_file_type"));
    let metrics = app.get("/metrics", None).await;
    assert!(
        metrics.text.lines().any(|l| l.starts_with("agora_upload_refusals_total{reason=\"unsupported_file_type\"}")),
        "{}",
        metrics.text.lines().filter(|l| l.contains("upload")).collect::<Vec<_>>().join("\n")
    );
}

#[actix_web::test]
async fn a_service_gallery_is_ordered_public_and_images_only() {
    let app = spawn_app().await;
    let (provider, _) = app.provider("gallery").await;
    let created = app
        .post(
            "/api/services",
            json!({"title": "Garden design", "description": "Plans and planting", "price": {"amount": 9000, "currency": "USD"}}),
            Some(&provider.token),
        )
        .await;
    created.expect(201, None);
    let service = created.json["id"].as_str().expect("service id").to_string();
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let (app, token) = (&app, provider.token.clone());
        async move {
            let r = multipart(app, &token, name, &bytes).await;
            r.expect(201, None);
            r.json["id"].as_str().expect("id").to_string()
        }
    };
    let first = upload("before.jpg", jpeg_with_gps()).await;
    let second = upload("after.png", png(200, 100)).await;
    let brief = upload("brief.pdf", pdf()).await;
    let path = format!("/api/services/{service}/gallery");
    // Images only; the owner only.
    app.put(&path, json!({"attachment_ids": [first, brief]}), Some(&provider.token))
        .await
        .expect(415, Some("file_type_not_allowed"));
    let stranger = app.user("stranger").await;
    let theirs = multipart(&app, &stranger.token, "mine.png", &png(20, 20)).await;
    app.put(&path, json!({"attachment_ids": [theirs.json["id"]]}), Some(&stranger.token))
        .await
        .expect(403, Some("forbidden"));
    app.put(&path, json!({"attachment_ids": [theirs.json["id"]]}), Some(&provider.token))
        .await
        .expect(400, Some("validation_failed"));
    // Ordered as given, and public: anyone reads the service and its thumbnails.
    let set = app.put(&path, json!({"attachment_ids": [second, first]}), Some(&provider.token)).await;
    set.expect(200, None);
    let shown = app.get(&format!("/api/services/{service}"), None).await;
    shown.expect(200, None);
    let gallery = shown.json["gallery"].as_array().expect("gallery").clone();
    assert_eq!(
        gallery.iter().map(|g| g["id"].as_str().unwrap_or("")).collect::<Vec<_>>(),
        vec![second.as_str(), first.as_str()]
    );
    assert_eq!((gallery[0]["width"].as_u64(), gallery[0]["height"].as_u64()), (Some(200), Some(100)));
    let redirect = app.get(gallery[1]["thumbnail_url"].as_str().expect("thumbnail_url"), None).await;
    assert_eq!(redirect.status, 302, "{}", redirect.text);
    let thumb = bytes_of(&app, &header(&redirect, "location")).await;
    assert!(image::load_from_memory(&thumb).is_ok());
    assert_eq!(gps_of(&thumb), None, "a public gallery never shows where the photo was taken");
    // An image already in another gallery or message cannot be taken; one left out is let go.
    let again = app.put(&path, json!({"attachment_ids": [first]}), Some(&provider.token)).await;
    again.expect(200, None);
    assert_eq!(again.json["gallery"].as_array().map(Vec::len), Some(1));
    app.get(&format!("/api/attachments/{second}/thumbnail"), None).await.expect(404, Some("not_found"));
    assert_eq!(app.get(&format!("/api/attachments/{first}/thumbnail"), None).await.status, 302);
    // A deleted service's gallery is no longer public.
    app.delete(&format!("/api/services/{service}"), Some(&provider.token)).await.expect(204, None);
    app.get(&format!("/api/attachments/{first}/thumbnail"), None).await.expect(404, Some("not_found"));
}
