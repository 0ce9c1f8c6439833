//! Signed gateway callbacks. A webhook carries `Agora-Signature: t=<unix seconds>,v1=<hex>`
//! where the hex is HMAC-SHA256, keyed with the gateway's webhook secret, over
//! `"<t>." + body`. A receiver accepts it when one `v1` matches (several may be given while
//! a secret rotates) and `t` is within the tolerance of its clock, which stops replays of
//! old captures; duplicates inside the window are stopped by the event id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The default tolerance between the signature's time and the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is missing parts or is not in the `t=..,v1=..` shape.
    Malformed,
    /// No `v1` matches the body.
    Mismatch,
    /// `t` is outside the tolerance window.
    Stale,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value for `body` signed at `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Checks `header` against `body` at `now` (unix seconds); answers the signed time.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance: i64) -> Result<i64, SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => sigs.push(unhex(v).ok_or(SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Constant-time comparison of each candidate (verify_slice).
    if !sigs.iter().any(|s| mac(secret, t, body).verify_slice(s).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    // `abs_diff`: a signed `t` far from now (i64::MIN) must not overflow.
    if now.abs_diff(t) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    /// Found by the `webhook_signature` fuzz target: a signed time at the ends of i64
    /// overflowed the staleness check.
    #[test]
    fn signed_times_at_the_ends_of_the_range_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let header = sign(SECRET, t, b"{}");
            assert_eq!(verify(SECRET, &header, b"{}", 1_800_000_000, TOLERANCE_SECS), Err(SignatureError::Stale));
        }
    }

    #[test]
    fn a_signed_body_verifies_within_the_window() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(SECRET, 1_000, body);
        assert!(h.starts_with("t=1000,v1="));
        assert_eq!(verify(SECRET, &h, body, 1_000, TOLERANCE_SECS), Ok(1_000));
        assert_eq!(verify(SECRET, &h, body, 1_300, TOLERANCE_SECS), Ok(1_000));
        assert_eq!(verify(SECRET, &h, body, 1_301, TOLERANCE_SECS), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, &h, body, 699, TOLERANCE_SECS), Err(SignatureError::Stale));
    }

    #[test]
    fn a_known_vector_matches() {
        // HMAC-SHA256(key "key", "1.x") from `printf '1.x' | openssl dgst -sha256 -hmac key`.
        let h = sign(b"key", 1, b"x");
        assert_eq!(h, "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec");
    }

    #[test]
    fn tampering_and_bad_headers_are_refused() {
        let body = b"{}";
        let h = sign(SECRET, 10, body);
        assert_eq!(verify(SECRET, &h, b"{ }", 10, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &h, body, 10, 300), Err(SignatureError::Mismatch));
        let moved = h.replace("t=10", "t=11");
        assert_eq!(verify(SECRET, &moved, body, 10, 300), Err(SignatureError::Mismatch));
        for bad in ["", "t=10", "v1=00", "t=x,v1=00", "t=10,v1=zz", "garbage"] {
            assert_eq!(verify(SECRET, bad, body, 10, 300), Err(SignatureError::Malformed), "{bad}");
        }
        // While a secret rotates, a header may carry several v1 values; one must match.
        let rotated = format!("{},v1={}", sign(b"old", 10, body), &h[h.find("v1=").map_or(0, |i| i + 3)..]);
        assert_eq!(verify(SECRET, &rotated, body, 10, 300), Ok(10));
    }
}
