//! Authentication: JWTs, password hashing, and the `AuthUser` extractor.

pub mod cookie;
mod extract;
mod jwt;
mod password;

pub(crate) use extract::authenticate;
pub use extract::{bearer_token, AuthUser, MaybeAuthUser};
pub use jwt::{load_or_generate_secret, Claims, JwtKeys, TokenKind, TokenPair};
pub use password::PasswordHasher;

/// A random URL-safe token (for password reset and email verification) and its SHA-256 hash,
/// which is all that is stored.
pub fn one_time_token() -> (String, String) {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn hash_token(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
