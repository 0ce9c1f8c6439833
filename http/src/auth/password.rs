//! argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), run on the
//! blocking pool, never on an actix worker thread.

use std::sync::Arc;

use agora_engine::Password;
use argon2::password_hash::{phc::PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

#[derive(Clone)]
pub struct PasswordHasher {
    argon: Arc<Argon2<'static>>,
    /// A real hash to verify against when the account does not exist, so that the answer
    /// takes the same time either way.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    pub fn new() -> anyhow::Result<Self> {
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"agora-dummy-password-for-timing")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        Ok(PasswordHasher { argon: Arc::new(argon), dummy_hash: Arc::new(dummy_hash) })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let argon = Arc::clone(&self.argon);
        let clear = password.expose().to_string();
        actix_web::web::block(move || argon.hash_password(clear.as_bytes()).map(|h| h.to_string()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }

    /// Whether `candidate` matches `hash`; with `hash = None` it burns the same time and fails.
    pub async fn verify(&self, candidate: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let argon = Arc::clone(&self.argon);
        let exists = hash.is_some();
        let hash = hash.map(str::to_string).unwrap_or_else(|| self.dummy_hash.as_str().to_string());
        let candidate = candidate.to_string();
        let ok = actix_web::web::block(move || {
            PasswordHash::new(&hash).map(|parsed| argon.verify_password(candidate.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        Ok(ok && exists)
    }
}
