//! The one compare-and-set retry loop. Every read-decide-write over a versioned row runs
//! through [`cas_retry`]: an attempt answers `Ok(Some(v))` when its compare-and-set was
//! applied, `Ok(None)` when it lost a race (so it is read and decided again), or an error.
//! After [`CAS_RETRIES`] lost races the caller gets [`StoreError::Conflict`].

use std::future::Future;

use crate::error::StoreError;

/// How many times a compare-and-set loop retries before reporting a conflict.
pub const CAS_RETRIES: usize = 16;

pub async fn cas_retry<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    for _ in 0..CAS_RETRIES {
        if let Some(v) = attempt().await? {
            return Ok(v);
        }
    }
    metrics::counter!("agora_cas_exhausted_total").increment(1);
    Err(StoreError::Conflict.into())
}

/// `Ok(None)` for a lost compare-and-set, so an attempt can end with `lost(save(..).await)`.
pub fn lost<T>(r: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::Conflict) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_lost_races_then_gives_up() {
        let mut n = 0;
        let v: Result<u32, StoreError> = cas_retry(|| {
            n += 1;
            let done = n == 3;
            async move { Ok(done.then_some(7)) }
        })
        .await;
        assert_eq!(v.expect("third attempt"), 7);
        assert_eq!(n, 3);
        let mut m = 0;
        let v: Result<u32, StoreError> = cas_retry(|| {
            m += 1;
            async { Ok(None) }
        })
        .await;
        assert!(matches!(v, Err(StoreError::Conflict)));
        assert_eq!(m, CAS_RETRIES);
        assert!(matches!(lost::<u8>(Err(StoreError::Conflict)), Ok(None)));
    }
}
