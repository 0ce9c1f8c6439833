//! Access and refresh JWTs (HS256). Every token names its session (`sid`); revoking the
//! session (logout, refresh-token reuse, password change) stops its access tokens too.

use std::path::Path;

use agora_engine::{Role, SessionId, UserId};
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;

/// Clock difference tolerated on `exp` and `nbf`, in seconds.
const CLOCK_LEEWAY_SECS: u64 = 5;
/// How far in the future an `iat` (issued-at) may be, in seconds: a token "issued" later
/// than that was not minted by a server with a sane clock, so it is refused.
pub const MAX_IAT_SKEW_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub sid: SessionId,
    pub role: Role,
    pub typ: TokenKind,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], access_ttl_secs: u64, refresh_ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_LEEWAY_SECS;
        // `nbf`, when present, must not be in the future (beyond the leeway).
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX),
            refresh_ttl_secs: i64::try_from(refresh_ttl_secs).unwrap_or(i64::MAX),
        }
    }

    /// The configured secret, or the one kept in `<data_dir>/jwt_secret` (generated on first
    /// start, file mode 0600) so that tokens survive restarts. The secret is never logged.
    pub fn load_or_generate_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
        load_or_generate_secret(configured, data_dir, "jwt_secret", "JWT")
    }

    /// Signs a token of `kind` for the session, valid from `now` for that kind's lifetime.
    fn mint(
        &self,
        kind: TokenKind,
        user: UserId,
        role: Role,
        session: SessionId,
        jti: String,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        let iat = now.unix_timestamp();
        let ttl = match kind {
            TokenKind::Access => self.access_ttl_secs,
            TokenKind::Refresh => self.refresh_ttl_secs,
        };
        let claims = Claims { sub: user, sid: session, role, typ: kind, jti, iat, exp: iat.saturating_add(ttl) };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    pub fn access_token(
        &self,
        user: UserId,
        role: Role,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        self.mint(TokenKind::Access, user, role, session, Uuid::now_v7().simple().to_string(), now)
    }

    /// A refresh token carrying `jti`, the id the session expects next.
    pub fn refresh_token(
        &self,
        user: UserId,
        role: Role,
        session: SessionId,
        jti: &str,
        now: OffsetDateTime,
    ) -> Result<String, ApiError> {
        self.mint(TokenKind::Refresh, user, role, session, jti.to_string(), now)
    }

    /// Checks signature, expiry and kind. Revocation is checked by the caller (one read).
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, ApiError> {
        let claims = self.verify_any(token)?;
        if claims.typ != kind {
            return Err(ApiError::Unauthorized {
                code: "wrong_token_type",
                message: match kind {
                    TokenKind::Access => "an access token is required",
                    TokenKind::Refresh => "a refresh token is required",
                },
            });
        }
        Ok(claims)
    }

    /// Checks signature, expiry, `nbf` and `iat`, for either kind (one decode).
    pub fn verify_any(&self, token: &str) -> Result<Claims, ApiError> {
        self.verify_at(token, OffsetDateTime::now_utc())
    }

    fn verify_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, ApiError> {
        let not_yet = ApiError::Unauthorized { code: "token_not_yet_valid", message: "the token is not valid yet" };
        let claims =
            decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::Unauthorized { code: "token_expired", message: "the token has expired" }
                    }
                    ErrorKind::ImmatureSignature => {
                        ApiError::Unauthorized { code: "token_not_yet_valid", message: "the token is not valid yet" }
                    }
                    _ => ApiError::Unauthorized { code: "invalid_token", message: "the token is invalid" },
                }
            })?;
        if claims.iat > now.unix_timestamp().saturating_add(MAX_IAT_SKEW_SECS) {
            return Err(not_yet);
        }
        Ok(claims)
    }
}

/// The configured secret, or the one kept in `data_dir/<file>`, generated (48 random bytes,
/// hex, file mode 0600) the first time. Several processes starting at once end up with one.
pub fn load_or_generate_secret(
    configured: Option<&str>,
    data_dir: &Path,
    file: &str,
    what: &str,
) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = configured {
        tracing::info!("using the configured {what} secret");
        return Ok(s.as_bytes().to_vec());
    }
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => {
            tracing::info!(path = %path.display(), "loaded the {what} secret kept in the data dir");
            return Ok(s.trim().as_bytes().to_vec());
        }
        Ok(_) => anyhow::bail!("{} holds a {what} secret shorter than 32 bytes", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
    use rand::RngCore as _;
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    agora_storage::private_fs::create_private_dir(data_dir)?;
    let tmp = data_dir.join(format!(".{file}.{}", std::process::id()));
    // Created 0600 from the start: never readable by others, not even for a moment.
    let _ = std::fs::remove_file(&tmp);
    agora_storage::private_fs::write_private_file(&tmp, secret.as_bytes())?;
    // Several processes may start at once on one data dir: the first rename wins and
    // everyone uses what ended up in the file.
    if path.exists() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        std::fs::rename(&tmp, &path)?;
        tracing::info!(path = %path.display(), "no {what} secret configured: generated one and kept it in the data dir");
    }
    Ok(std::fs::read_to_string(&path)?.trim().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef", 900, 3600)
    }

    #[test]
    fn tokens_verify_only_as_their_kind_and_not_when_tampered() {
        let k = keys();
        let now = OffsetDateTime::now_utc();
        let user = UserId::from_uuid(Uuid::now_v7());
        let sid = SessionId::from_uuid(Uuid::now_v7());
        let access = k.access_token(user, Role::Client, sid, now).expect("sign");
        let refresh = k.refresh_token(user, Role::Client, sid, "j1", now).expect("sign");
        assert_eq!(k.verify(&access, TokenKind::Access).expect("valid").sub, user);
        assert_eq!(k.verify(&refresh, TokenKind::Refresh).expect("valid").jti, "j1");
        assert_eq!(k.verify(&refresh, TokenKind::Access).expect_err("kind").code(), "wrong_token_type");
        let mut tampered = access.clone();
        tampered.pop();
        tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(k.verify(&tampered, TokenKind::Access).expect_err("tampered").code(), "invalid_token");
        let other = JwtKeys::new(b"another-secret-another-secret-0123", 900, 3600);
        assert_eq!(other.verify(&access, TokenKind::Access).expect_err("foreign key").code(), "invalid_token");
        let old = k.access_token(user, Role::Client, sid, now - time::Duration::hours(1)).expect("sign");
        assert_eq!(k.verify(&old, TokenKind::Access).expect_err("expired").code(), "token_expired");
    }

    /// Signs arbitrary claims with the test key (hand-minted tokens).
    fn mint_raw(claims: serde_json::Value) -> String {
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"))
            .expect("sign")
    }

    fn claims_at(iat: i64, nbf: Option<i64>) -> serde_json::Value {
        let mut c = serde_json::json!({
            "sub": UserId::from_uuid(Uuid::now_v7()),
            "sid": SessionId::from_uuid(Uuid::now_v7()),
            "role": "client",
            "typ": "access",
            "jti": "j",
            "iat": iat,
            "exp": iat.max(OffsetDateTime::now_utc().unix_timestamp()) + 900,
        });
        if let Some(nbf) = nbf {
            c["nbf"] = serde_json::json!(nbf);
        }
        c
    }

    #[test]
    fn tokens_not_valid_yet_are_refused() {
        let k = keys();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        // Control: a normal token, and small clock differences, pass.
        assert!(k.verify(&mint_raw(claims_at(now, None)), TokenKind::Access).is_ok());
        assert!(k.verify(&mint_raw(claims_at(now + 30, None)), TokenKind::Access).is_ok(), "iat within the leeway");
        assert!(k.verify(&mint_raw(claims_at(now, Some(now - 10))), TokenKind::Access).is_ok(), "nbf in the past");
        assert!(k.verify(&mint_raw(claims_at(now, Some(now + 2))), TokenKind::Access).is_ok(), "nbf within 5 s");
        // nbf in the future.
        let e = k.verify(&mint_raw(claims_at(now, Some(now + 3600))), TokenKind::Access).expect_err("future nbf");
        assert_eq!(e.code(), "token_not_yet_valid");
        // iat in the future beyond the leeway.
        let e = k.verify(&mint_raw(claims_at(now + 3600, None)), TokenKind::Access).expect_err("future iat");
        assert_eq!(e.code(), "token_not_yet_valid");
        let e = k.verify_any(&mint_raw(claims_at(now + MAX_IAT_SKEW_SECS + 30, None))).expect_err("future iat");
        assert_eq!(e.code(), "token_not_yet_valid");
    }

    #[test]
    fn secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = JwtKeys::load_or_generate_secret(None, dir.path()).expect("generated");
        let b = JwtKeys::load_or_generate_secret(None, dir.path()).expect("loaded");
        assert_eq!(a, b);
        assert!(a.len() >= 32);
        let c = JwtKeys::load_or_generate_secret(Some("configured-secret-configured-secret"), dir.path())
            .expect("configured");
        assert_eq!(c, b"configured-secret-configured-secret".to_vec());
    }
}
