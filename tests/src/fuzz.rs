//! The properties the cargo-fuzz targets in `fuzz/` check, one function per target. The
//! same functions run over the kept corpora (`fuzz/corpus/<target>/`) and every input that
//! once crashed (`fuzz/regressions/<target>/`) in `tests/tests/fuzz_corpus.rs`, so the
//! findings stay fixed under `cargo test` on stable Rust.
//!
//! Each property: the function never panics on any input, and what it accepts is
//! consistent (a decoded cursor encodes back to itself, a signature made with the secret
//! verifies exactly inside the tolerance window).

use agora_actors::protocol::{decode, Encoding};
use agora_engine::availability::WorkingHoursInput;
use agora_engine::card::{CardNumber, Iban};
use agora_engine::search::{SearchText, MAX_QUERY_CHARS, MAX_QUERY_TERMS};
use agora_engine::webhook;
use agora_engine::WorkingHours;
use agora_storage::search::{decode_offset, encode_offset, MAX_OFFSET};

/// A property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// Every target, by name (the file names in `fuzz/fuzz_targets/`).
pub const TARGETS: &[(&str, Property)] = &[
    ("frame_json", frame_json),
    ("frame_msgpack", frame_msgpack),
    ("search_query", search_query),
    ("cursor", cursor),
    ("webhook_signature", webhook_signature),
    ("card_iban", card_iban),
    ("working_hours", working_hours),
];

/// An inbound WebSocket text frame: decoded or refused with a code, never a panic.
pub fn frame_json(data: &[u8]) {
    if let Err(e) = decode(data, Encoding::Json) {
        assert!(!e.code.is_empty() && !e.message.is_empty());
    }
}

/// An inbound MessagePack frame.
pub fn frame_msgpack(data: &[u8]) {
    if let Err(e) = decode(data, Encoding::Msgpack) {
        assert!(!e.code.is_empty() && !e.message.is_empty());
    }
}

/// `?q=`: parsed within its caps or refused.
pub fn search_query(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(Some(q)) = SearchText::parse(raw) {
        assert!(q.as_str().chars().count() <= MAX_QUERY_CHARS);
        let terms: usize = q
            .clauses()
            .iter()
            .map(|c| match c {
                agora_engine::SearchClause::Word(_) => 1,
                agora_engine::SearchClause::Phrase(ws) => ws.len(),
            })
            .sum();
        assert!((1..=MAX_QUERY_TERMS).contains(&terms), "{raw:?}: {terms} terms");
    }
}

/// Page cursors: list cursors and search offsets, decoded or refused; an accepted search
/// offset encodes back to the same offset.
pub fn cursor(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let _ = agora_storage::check_cursor(Some(raw));
    if let Ok(n) = decode_offset(raw) {
        assert!(n <= MAX_OFFSET);
        assert_eq!(decode_offset(&encode_offset(n)).ok(), Some(n));
    }
}

/// Webhook signatures: any header is refused or verified without a panic, and a
/// signature made with the secret at any time `t` verifies exactly when `t` is within the
/// tolerance of now.
pub fn webhook_signature(data: &[u8]) {
    const SECRET: &[u8] = b"fuzz-webhook-secret";
    const NOW: i64 = 1_800_000_000;
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    if let Ok(header) = std::str::from_utf8(header) {
        let _ = webhook::verify(SECRET, header, body, NOW, webhook::TOLERANCE_SECS);
    }
    if data.len() >= 8 {
        let t = i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let signed = webhook::sign(SECRET, t, body);
        let fresh = NOW.abs_diff(t) <= webhook::TOLERANCE_SECS.unsigned_abs();
        let verified = webhook::verify(SECRET, &signed, body, NOW, webhook::TOLERANCE_SECS);
        assert_eq!(verified.is_ok(), fresh, "t={t}: {verified:?}");
        assert!(webhook::verify(b"another-secret", &signed, body, NOW, webhook::TOLERANCE_SECS).is_err());
    }
}

/// Card numbers and IBANs: accepted or refused, never a panic; an accepted card keeps
/// only its digits.
pub fn card_iban(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(card) = CardNumber::parse(raw) {
        assert_eq!(card.last4().len(), 4);
    }
    let _ = Iban::parse(raw);
}

/// Working hours as a client sends them (JSON), validated with field errors.
pub fn working_hours(data: &[u8]) {
    if let Ok(input) = serde_json::from_slice::<WorkingHoursInput>(data) {
        let _ = WorkingHours::parse(&input);
    }
}
