//! Attachment rules: which file types Agora accepts, for which use, how large, how long,
//! within which per-user quota, and why a file is refused.
//!
//! The type always comes from the bytes: the caller sniffs them (magic numbers) and hands
//! the sniffed media type to [`FileType::from_sniffed`]; the name and the `Content-Type` a
//! client sends are never consulted. Every refusal is a [`FileRefusal`] whose code is
//! stable (see [`crate::codes`]); the HTTP layer answers 415 for a type, 413 for a size,
//! a duration or the quota, and 422 for a file that cannot be read or looks hostile.

use std::fmt;

use crate::error::DomainError;

/// The most attachments one message (or proposal, delivery, gallery) may carry.
pub const MAX_PER_OBJECT: usize = 10;
/// The longest kept file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// What a file is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Image,
    Document,
    Audio,
    Video,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Image, Kind::Document, Kind::Audio, Kind::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Document => "document",
            Kind::Audio => "audio",
            Kind::Video => "video",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an attachment goes: each use has its own allow-list of kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Use {
    /// A chat message: photos, documents, voice notes, short videos.
    Message,
    /// A proposal: briefs and portfolio images.
    Proposal,
    /// A contract delivery or a milestone submission: any kind of deliverable.
    Delivery,
    /// A service gallery: images only (shown publicly, in order).
    Gallery,
}

impl Use {
    pub const ALL: [Use; 4] = [Use::Message, Use::Proposal, Use::Delivery, Use::Gallery];

    pub fn as_str(self) -> &'static str {
        match self {
            Use::Message => "message",
            Use::Proposal => "proposal",
            Use::Delivery => "delivery",
            Use::Gallery => "gallery",
        }
    }

    /// Whether files of `kind` may be attached here.
    pub fn allows(self, kind: Kind) -> bool {
        match self {
            Use::Message | Use::Delivery => true,
            Use::Proposal => matches!(kind, Kind::Image | Kind::Document),
            Use::Gallery => kind == Kind::Image,
        }
    }
}

/// Every accepted file type. Anything else is refused with `unsupported_file_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    Jpeg,
    Png,
    Webp,
    Pdf,
    /// UTF-8 text without control characters or markup that a browser would run.
    Text,
    Docx,
    Xlsx,
    Pptx,
    Odt,
    Ods,
    Odp,
    /// Legacy Word / Excel / PowerPoint (OLE compound files).
    Doc,
    Xls,
    Ppt,
    /// Ogg (Opus or Vorbis) audio.
    Ogg,
    Opus,
    WebmAudio,
    M4a,
    Aac,
    Mp3,
    Wav,
    Mp4,
    WebmVideo,
}

impl FileType {
    /// The type for a media type found by sniffing the bytes (`infer`'s names), or `None`
    /// when the type is not accepted. `webm` is taken as video: a WebM without a video
    /// track is told apart by the caller with [`FileType::WebmAudio`].
    pub fn from_sniffed(mime: &str) -> Option<FileType> {
        Some(match mime {
            "image/jpeg" => FileType::Jpeg,
            "image/png" => FileType::Png,
            "image/webp" => FileType::Webp,
            "application/pdf" => FileType::Pdf,
            "text/plain" => FileType::Text,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => FileType::Docx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => FileType::Xlsx,
            "application/vnd.openxmlformats-officedocument.presentationml.presentation" => FileType::Pptx,
            "application/vnd.oasis.opendocument.text" => FileType::Odt,
            "application/vnd.oasis.opendocument.spreadsheet" => FileType::Ods,
            "application/vnd.oasis.opendocument.presentation" => FileType::Odp,
            "application/msword" => FileType::Doc,
            "application/vnd.ms-excel" => FileType::Xls,
            "application/vnd.ms-powerpoint" => FileType::Ppt,
            "audio/ogg" => FileType::Ogg,
            "audio/opus" => FileType::Opus,
            "audio/webm" => FileType::WebmAudio,
            "audio/m4a" | "audio/mp4" => FileType::M4a,
            "audio/aac" => FileType::Aac,
            "audio/mpeg" => FileType::Mp3,
            "audio/x-wav" | "audio/wav" => FileType::Wav,
            "video/mp4" => FileType::Mp4,
            "video/webm" => FileType::WebmVideo,
            _ => return None,
        })
    }

    /// The media type Agora serves the file with.
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Webp => "image/webp",
            FileType::Pdf => "application/pdf",
            FileType::Text => "text/plain; charset=utf-8",
            FileType::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            FileType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            FileType::Pptx => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            FileType::Odt => "application/vnd.oasis.opendocument.text",
            FileType::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            FileType::Odp => "application/vnd.oasis.opendocument.presentation",
            FileType::Doc => "application/msword",
            FileType::Xls => "application/vnd.ms-excel",
            FileType::Ppt => "application/vnd.ms-powerpoint",
            FileType::Ogg => "audio/ogg",
            FileType::Opus => "audio/ogg; codecs=opus",
            FileType::WebmAudio => "audio/webm",
            FileType::M4a => "audio/mp4",
            FileType::Aac => "audio/aac",
            FileType::Mp3 => "audio/mpeg",
            FileType::Wav => "audio/wav",
            FileType::Mp4 => "video/mp4",
            FileType::WebmVideo => "video/webm",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            FileType::Jpeg | FileType::Png | FileType::Webp => Kind::Image,
            FileType::Pdf
            | FileType::Text
            | FileType::Docx
            | FileType::Xlsx
            | FileType::Pptx
            | FileType::Odt
            | FileType::Ods
            | FileType::Odp
            | FileType::Doc
            | FileType::Xls
            | FileType::Ppt => Kind::Document,
            FileType::Ogg
            | FileType::Opus
            | FileType::WebmAudio
            | FileType::M4a
            | FileType::Aac
            | FileType::Mp3
            | FileType::Wav => Kind::Audio,
            FileType::Mp4 | FileType::WebmVideo => Kind::Video,
        }
    }
}

/// Why a file is refused. Each has a stable code; see the module doc for the statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    /// The bytes are of no accepted type (`found` is what sniffing said, if anything).
    UnsupportedType {
        found: Option<String>,
    },
    /// An accepted type, but not for this use (a PDF in a service gallery).
    NotAllowedHere {
        kind: Kind,
        used_for: Use,
    },
    TooLarge {
        kind: Kind,
        size: u64,
        max: u64,
    },
    TooLong {
        kind: Kind,
        duration_ms: u64,
        max_ms: u64,
    },
    QuotaExceeded {
        used: u64,
        size: u64,
        quota: u64,
    },
    /// Truncated or corrupt: the decoder for its type could not read it.
    Unreadable(String),
    /// A file built to hurt: a decompression bomb, a polyglot, active content.
    Hostile(String),
}

impl FileRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            FileRefusal::UnsupportedType { .. } => crate::codes::UNSUPPORTED_FILE_TYPE,
            FileRefusal::NotAllowedHere { .. } => crate::codes::FILE_TYPE_NOT_ALLOWED,
            FileRefusal::TooLarge { .. } => crate::codes::FILE_TOO_LARGE,
            FileRefusal::TooLong { .. } => crate::codes::MEDIA_TOO_LONG,
            FileRefusal::QuotaExceeded { .. } => crate::codes::QUOTA_EXCEEDED,
            FileRefusal::Unreadable(_) => crate::codes::UNREADABLE_FILE,
            FileRefusal::Hostile(_) => crate::codes::HOSTILE_FILE,
        }
    }

    /// The HTTP status class the refusal belongs to: 415, 413 or 422.
    pub fn status(&self) -> u16 {
        match self {
            FileRefusal::UnsupportedType { .. } | FileRefusal::NotAllowedHere { .. } => 415,
            FileRefusal::TooLarge { .. } | FileRefusal::TooLong { .. } | FileRefusal::QuotaExceeded { .. } => 413,
            FileRefusal::Unreadable(_) | FileRefusal::Hostile(_) => 422,
        }
    }

    /// A static label for metrics (`agora_upload_refusals_total{reason}`).
    pub fn reason(&self) -> &'static str {
        self.code()
    }
}

impl fmt::Display for FileRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRefusal::UnsupportedType { found: Some(t) } => write!(f, "files of type {t} are not accepted"),
            FileRefusal::UnsupportedType { found: None } => {
                f.write_str("the file's type is not recognised or not accepted")
            }
            FileRefusal::NotAllowedHere { kind, used_for } => {
                write!(f, "{kind} files cannot be attached to a {}", used_for.as_str())
            }
            FileRefusal::TooLarge { kind, size, max } => {
                write!(f, "the {kind} is {size} bytes; at most {max} bytes are accepted")
            }
            FileRefusal::TooLong { kind, duration_ms, max_ms } => {
                write!(f, "the {kind} lasts {} s; at most {} s are accepted", duration_ms.div_ceil(1000), max_ms / 1000)
            }
            FileRefusal::QuotaExceeded { used, size, quota } => {
                write!(f, "storing {size} more bytes would exceed your quota ({used} of {quota} bytes used)")
            }
            FileRefusal::Unreadable(why) => write!(f, "the file cannot be read: {why}"),
            FileRefusal::Hostile(why) => write!(f, "the file is refused: {why}"),
        }
    }
}

/// Size, duration and quota caps. Configurable; [`Limits::default`] holds the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub image_max_bytes: u64,
    pub audio_max_bytes: u64,
    pub audio_max_ms: u64,
    pub document_max_bytes: u64,
    pub video_max_bytes: u64,
    pub video_max_ms: u64,
    /// Bytes of attachments one user may keep (uploads in progress count too).
    pub quota_bytes: u64,
    /// The largest image accepted, in pixels (width x height): beyond is a decompression bomb.
    pub image_max_pixels: u64,
    /// The widest or tallest image accepted, in pixels.
    pub image_max_side: u32,
}

const MB: u64 = 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            image_max_bytes: 10 * MB,
            audio_max_bytes: 20 * MB,
            audio_max_ms: 10 * 60 * 1000,
            document_max_bytes: 25 * MB,
            video_max_bytes: 100 * MB,
            video_max_ms: 10 * 60 * 1000,
            quota_bytes: 1024 * MB,
            image_max_pixels: 40_000_000,
            image_max_side: 12_000,
        }
    }
}

impl Limits {
    pub fn max_bytes(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Image => self.image_max_bytes,
            Kind::Document => self.document_max_bytes,
            Kind::Audio => self.audio_max_bytes,
            Kind::Video => self.video_max_bytes,
        }
    }

    /// The largest file of any kind: an upload declaring more is refused at creation.
    pub fn largest(&self) -> u64 {
        Kind::ALL.iter().map(|k| self.max_bytes(*k)).max().unwrap_or(0)
    }

    pub fn max_ms(&self, kind: Kind) -> Option<u64> {
        match kind {
            Kind::Audio => Some(self.audio_max_ms),
            Kind::Video => Some(self.video_max_ms),
            Kind::Image | Kind::Document => None,
        }
    }

    /// The size cap of the file's kind.
    pub fn check_size(&self, file: FileType, size: u64) -> Result<(), FileRefusal> {
        let kind = file.kind();
        let max = self.max_bytes(kind);
        if size > max {
            return Err(FileRefusal::TooLarge { kind, size, max });
        }
        Ok(())
    }

    /// A declared upload length before any byte arrives: no file may exceed the largest cap.
    pub fn check_declared(&self, length: u64) -> Result<(), FileRefusal> {
        let max = self.largest();
        if length > max {
            // The kind is not known yet: report against the most generous one.
            return Err(FileRefusal::TooLarge { kind: Kind::Video, size: length, max });
        }
        Ok(())
    }

    pub fn check_duration(&self, kind: Kind, duration_ms: u64) -> Result<(), FileRefusal> {
        match self.max_ms(kind) {
            Some(max_ms) if duration_ms > max_ms => Err(FileRefusal::TooLong { kind, duration_ms, max_ms }),
            _ => Ok(()),
        }
    }

    /// `used` bytes kept plus `size` more must stay within the quota.
    pub fn check_quota(&self, used: u64, size: u64) -> Result<(), FileRefusal> {
        if used.saturating_add(size) > self.quota_bytes {
            return Err(FileRefusal::QuotaExceeded { used, size, quota: self.quota_bytes });
        }
        Ok(())
    }

    /// Image dimensions, read from the header before decoding anything.
    pub fn check_dimensions(&self, width: u32, height: u32) -> Result<(), FileRefusal> {
        if width == 0 || height == 0 {
            return Err(FileRefusal::Unreadable("the image has no pixels".into()));
        }
        if width > self.image_max_side
            || height > self.image_max_side
            || u64::from(width) * u64::from(height) > self.image_max_pixels
        {
            return Err(FileRefusal::Hostile(format!(
                "a {width}x{height} image exceeds the {} pixel limit (decompression bomb)",
                self.image_max_pixels
            )));
        }
        Ok(())
    }
}

/// The rules for one sniffed file bound for `used_for`: accepted type, allowed here, and
/// within the size cap. The quota and the duration are checked by their own functions
/// once the caller knows them.
pub fn admit(sniffed: Option<&str>, used_for: Use, size: u64, limits: &Limits) -> Result<FileType, FileRefusal> {
    let file = sniffed
        .and_then(FileType::from_sniffed)
        .ok_or_else(|| FileRefusal::UnsupportedType { found: sniffed.map(str::to_string) })?;
    if !used_for.allows(file.kind()) {
        return Err(FileRefusal::NotAllowedHere { kind: file.kind(), used_for });
    }
    limits.check_size(file, size)?;
    Ok(file)
}

/// Markup a browser would render and run, looked for (case-insensitively) near the start
/// of a file: a text file or a binary carrying it is a polyglot or active content.
const ACTIVE_MARKERS: [&[u8]; 7] = [b"<html", b"<script", b"<svg", b"<!doctype", b"<iframe", b"<body", b"<?xml"];

/// Whether the head of a file holds markup that a browser would run.
pub fn has_active_markup(head: &[u8]) -> bool {
    let window = &head[..head.len().min(4096)];
    let lower: Vec<u8> = window.iter().map(u8::to_ascii_lowercase).collect();
    ACTIVE_MARKERS.iter().any(|m| lower.windows(m.len()).any(|w| w == *m))
}

/// Whether bytes that sniffing did not recognise are plain text: valid UTF-8 (a possibly
/// cut last character is allowed), no NUL or other control characters but tab, newline,
/// carriage return and form feed.
pub fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
}

/// A file name as shown and offered for download: the last path component, control
/// characters and quotes removed, at most [`MAX_NAME_CHARS`]; `file` when nothing is left.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileName(String);

impl FileName {
    pub fn parse(raw: &str) -> FileName {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String =
            last.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>')).take(MAX_NAME_CHARS).collect();
        let trimmed = cleaned.trim().trim_start_matches('.').trim();
        if trimmed.is_empty() {
            FileName("file".into())
        } else {
            FileName(trimmed.to_string())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to [`MAX_PER_OBJECT`] distinct ids, in the order given (a gallery's order).
pub fn check_count<T: PartialEq>(ids: &[T]) -> Result<(), DomainError> {
    if ids.len() > MAX_PER_OBJECT {
        return Err(DomainError::invalid(format!("at most {MAX_PER_OBJECT} attachments")));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(DomainError::invalid("the same attachment is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn sniffed_types_to_kinds() {
        let table: &[(&str, Option<Kind>)] = &[
            ("image/jpeg", Some(Kind::Image)),
            ("image/png", Some(Kind::Image)),
            ("image/webp", Some(Kind::Image)),
            ("image/heif", None),
            ("image/gif", None),
            ("image/svg+xml", None),
            ("text/html", None),
            ("text/xml", None),
            ("application/pdf", Some(Kind::Document)),
            ("text/plain", Some(Kind::Document)),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", Some(Kind::Document)),
            ("application/vnd.oasis.opendocument.spreadsheet", Some(Kind::Document)),
            ("application/msword", Some(Kind::Document)),
            ("application/zip", None),
            ("application/x-executable", None),
            ("application/vnd.microsoft.portable-executable", None),
            ("audio/ogg", Some(Kind::Audio)),
            ("audio/opus", Some(Kind::Audio)),
            ("audio/webm", Some(Kind::Audio)),
            ("audio/m4a", Some(Kind::Audio)),
            ("audio/mpeg", Some(Kind::Audio)),
            ("audio/x-wav", Some(Kind::Audio)),
            ("audio/midi", None),
            ("video/mp4", Some(Kind::Video)),
            ("video/webm", Some(Kind::Video)),
            ("video/x-msvideo", None),
        ];
        for (mime, kind) in table {
            assert_eq!(FileType::from_sniffed(mime).map(FileType::kind), *kind, "{mime}");
        }
    }

    #[test]
    fn allow_list_per_use() {
        use Kind::*;
        let table: &[(Use, [bool; 4])] = &[
            (Use::Message, [true, true, true, true]),
            (Use::Delivery, [true, true, true, true]),
            (Use::Proposal, [true, true, false, false]),
            (Use::Gallery, [true, false, false, false]),
        ];
        for (u, allowed) in table {
            for (k, a) in [Image, Document, Audio, Video].iter().zip(allowed) {
                assert_eq!(u.allows(*k), *a, "{u:?} {k:?}");
            }
        }
    }

    /// (sniffed type, use, size, the type admitted or the refusal's code).
    type AdmitCase<'a> = (Option<&'a str>, Use, u64, Result<FileType, &'a str>);

    #[test]
    fn admit_checks_type_use_and_size() {
        let l = Limits::default();
        let cases: &[AdmitCase] = &[
            (Some("image/jpeg"), Use::Message, 10 * MB, Ok(FileType::Jpeg)),
            (Some("image/jpeg"), Use::Message, 10 * MB + 1, Err("file_too_large")),
            (Some("audio/ogg"), Use::Message, 20 * MB, Ok(FileType::Ogg)),
            (Some("audio/ogg"), Use::Message, 20 * MB + 1, Err("file_too_large")),
            (Some("application/pdf"), Use::Proposal, 25 * MB, Ok(FileType::Pdf)),
            (Some("application/pdf"), Use::Proposal, 25 * MB + 1, Err("file_too_large")),
            (Some("video/mp4"), Use::Delivery, 100 * MB, Ok(FileType::Mp4)),
            (Some("video/mp4"), Use::Delivery, 100 * MB + 1, Err("file_too_large")),
            (Some("application/pdf"), Use::Gallery, 10, Err("file_type_not_allowed")),
            (Some("audio/mpeg"), Use::Proposal, 10, Err("file_type_not_allowed")),
            (Some("text/html"), Use::Message, 10, Err("unsupported_file_type")),
            (None, Use::Message, 10, Err("unsupported_file_type")),
        ];
        for (mime, u, size, want) in cases {
            let got = admit(*mime, *u, *size, &l);
            match (want, &got) {
                (Ok(t), Ok(g)) => assert_eq!(t, g),
                (Err(code), Err(r)) => assert_eq!(r.code(), *code, "{mime:?} {u:?} {size}"),
                _ => panic!("{mime:?} {u:?} {size}: {got:?}"),
            }
        }
    }

    #[test]
    fn statuses_by_refusal() {
        let table: &[(FileRefusal, u16)] = &[
            (FileRefusal::UnsupportedType { found: None }, 415),
            (FileRefusal::NotAllowedHere { kind: Kind::Audio, used_for: Use::Gallery }, 415),
            (FileRefusal::TooLarge { kind: Kind::Image, size: 2, max: 1 }, 413),
            (FileRefusal::TooLong { kind: Kind::Audio, duration_ms: 2, max_ms: 1 }, 413),
            (FileRefusal::QuotaExceeded { used: 1, size: 1, quota: 1 }, 413),
            (FileRefusal::Unreadable("x".into()), 422),
            (FileRefusal::Hostile("x".into()), 422),
        ];
        for (r, status) in table {
            assert_eq!(r.status(), *status, "{r:?}");
            assert!(crate::codes::is_known(r.code()), "{}", r.code());
            assert!(!r.to_string().is_empty());
        }
    }

    #[test]
    fn durations_and_quota() {
        let l = Limits::default();
        assert!(l.check_duration(Kind::Audio, 600_000).is_ok());
        assert_eq!(l.check_duration(Kind::Audio, 600_001).map_err(|e| e.code()), Err("media_too_long"));
        assert!(l.check_duration(Kind::Image, u64::MAX).is_ok());
        let small = Limits { quota_bytes: 100, ..l };
        assert!(small.check_quota(60, 40).is_ok());
        assert_eq!(small.check_quota(60, 41).map_err(|e| e.code()), Err("quota_exceeded"));
        assert_eq!(small.check_quota(u64::MAX, 1).map_err(|e| e.code()), Err("quota_exceeded"));
        assert!(l.check_declared(100 * MB).is_ok());
        assert!(l.check_declared(100 * MB + 1).is_err());
    }

    #[test]
    fn dimension_limits() {
        let l = Limits::default();
        let cases: &[(u32, u32, Option<&str>)] = &[
            (4000, 3000, None),
            (12_000, 3000, None),
            (12_001, 10, Some("hostile_file")),
            (10_000, 10_000, Some("hostile_file")),
            (0, 10, Some("unreadable_file")),
        ];
        for (w, h, want) in cases {
            assert_eq!(l.check_dimensions(*w, *h).err().map(|e| e.code()), *want, "{w}x{h}");
        }
    }

    #[test]
    fn text_and_markup() {
        assert!(looks_like_text(b"hello\nworld\t!"));
        assert!(looks_like_text("caf\u{e9}".as_bytes()));
        // A multi-byte character cut at the end of the sniffed head is fine.
        assert!(looks_like_text(&"ab\u{e9}".as_bytes()[..3]));
        assert!(!looks_like_text(b"bin\0ary"));
        assert!(!looks_like_text(b"\x1b[31mred"));
        assert!(!looks_like_text(&[0xff, 0xfe, 0x00]));
        assert!(!looks_like_text(b""));
        assert!(has_active_markup(b"  <!DOCTYPE html><p>x"));
        assert!(has_active_markup(b"\xff\xd8\xff junk <ScRiPt>alert(1)</script>"));
        assert!(has_active_markup(b"<svg xmlns='http://www.w3.org/2000/svg'/>"));
        assert!(!has_active_markup(b"a < b and c > d"));
    }

    #[test]
    fn file_names() {
        let table = [
            ("photo.jpg", "photo.jpg"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\me\\brief.pdf", "brief.pdf"),
            ("a\"b<c>.txt", "abc.txt"),
            ("  ", "file"),
            ("", "file"),
            (".hidden", "hidden"),
            ("line\nbreak.png", "linebreak.png"),
        ];
        for (raw, want) in table {
            assert_eq!(FileName::parse(raw).as_str(), want, "{raw:?}");
        }
        assert_eq!(FileName::parse(&"x".repeat(300)).as_str().chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn counts() {
        assert!(check_count(&[1, 2, 3]).is_ok());
        assert!(check_count::<u8>(&[]).is_ok());
        assert!(check_count(&(0..10).collect::<Vec<_>>()).is_ok());
        assert!(check_count(&(0..11).collect::<Vec<_>>()).is_err());
        assert!(check_count(&[1, 2, 1]).is_err());
    }
}
