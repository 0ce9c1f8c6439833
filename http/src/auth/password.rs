//! argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), run on the
//! blocking pool, never on an actix worker thread, and at most one hash per core at a time:
//! the work is CPU-bound, so more at once only adds 19 MiB buffers (which the allocator
//! keeps per thread: 500 concurrent registrations used to leave 1.3 GiB resident) and no
//! throughput. Callers past the limit wait their turn in order.

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
    /// One permit per core.
    permits: Arc<tokio::sync::Semaphore>,
}

impl PasswordHasher {
    pub fn new() -> anyhow::Result<Self> {
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"agora-dummy-password-for-timing")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(PasswordHasher {
            argon: Arc::new(argon),
            dummy_hash: Arc::new(dummy_hash),
            permits: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// Runs one hash or verification on the blocking pool once a core's permit is free.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        actix_web::web::block(f).await.map_err(ApiError::internal)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let argon = Arc::clone(&self.argon);
        let clear = password.expose().to_string();
        self.run(move || argon.hash_password(clear.as_bytes()).map(|h| h.to_string()))
            .await?
            .map_err(ApiError::internal)
    }

    /// Whether `candidate` matches `hash`; with `hash = None` it burns the same time and fails.
    pub async fn verify(&self, candidate: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let argon = Arc::clone(&self.argon);
        let exists = hash.is_some();
        let hash = hash.map(str::to_string).unwrap_or_else(|| self.dummy_hash.as_str().to_string());
        let candidate = candidate.to_string();
        let ok = self
            .run(move || {
                PasswordHash::new(&hash).map(|parsed| argon.verify_password(candidate.as_bytes(), &parsed).is_ok())
            })
            .await?
            .map_err(ApiError::internal)?;
        Ok(ok && exists)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[actix_web::test]
    async fn at_most_one_hash_per_core_runs_at_once() {
        let hasher = PasswordHasher::new().expect("hasher");
        let cores = hasher.permits.available_permits();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..cores * 4).map(|_| {
            let (now, most) = (Arc::clone(&now), Arc::clone(&most));
            let hasher = hasher.clone();
            async move {
                hasher
                    .run(move || {
                        let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(running, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            }
        });
        for done in futures_util::future::join_all(jobs).await {
            done.expect("ran");
        }
        assert_eq!(most.load(Ordering::SeqCst), cores, "as many as the cores, never more");
    }

    #[actix_web::test]
    async fn hashes_verify() {
        let hasher = PasswordHasher::new().expect("hasher");
        let password = Password::parse("correct horse battery 9").expect("password");
        let hash = hasher.hash(&password).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(hasher.verify("correct horse battery 9", Some(&hash)).await.expect("verify"));
        assert!(!hasher.verify("wrong horse battery 9", Some(&hash)).await.expect("verify"));
        assert!(!hasher.verify("correct horse battery 9", None).await.expect("verify"), "no account: refused");
    }
}
