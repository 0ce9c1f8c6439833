//! The REST calls `agora-load` makes to set a run up: URL checks, account registration and
//! conversations. Every failure names the call; a 429 prints a hint about
//! `AGORA_RATE_LIMITS=off`.

use anyhow::{bail, Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

/// The password of every account the load generator registers (meets the password policy).
pub const PASSWORD: &str = "correct horse battery 9";
/// Registrations in flight at once: each costs the server one argon2 hash.
pub const REGISTER_PARALLELISM: usize = 4;
/// Conversation creations in flight at once.
pub const CONVERSATION_PARALLELISM: usize = 16;

/// One registered account and the access token its registration returned.
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub user_id: String,
    pub access: String,
}

#[derive(Deserialize)]
struct AuthResponse {
    access: String,
    user: UserRef,
}

#[derive(Deserialize)]
struct UserRef {
    id: String,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Checks the URL and returns it without a trailing slash.
pub fn base_url(raw: &str) -> Result<String> {
    let url = reqwest::Url::parse(raw).with_context(|| format!("--url {raw:?} is not a URL"))?;
    if url.scheme() != "http" {
        bail!("--url {raw:?}: only plain http is supported (put TLS in front in production, not in load runs)");
    }
    if url.host_str().is_none() {
        bail!("--url {raw:?} has no host");
    }
    Ok(raw.trim_end_matches('/').to_string())
}

pub fn rate_limit_hint() {
    eprintln!(
        "hint: the server answered 429 Too Many Requests: its rate limits are on. \
         Start it with AGORA_RATE_LIMITS=off for load runs."
    );
}

/// Fails unless `GET /api/health` answers 2xx.
pub async fn check_health(client: &reqwest::Client, base: &str) -> Result<()> {
    let health = client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .with_context(|| format!("cannot reach {base}/api/health: is the server running?"))?;
    if !health.status().is_success() {
        bail!("{base}/api/health answered {}", health.status());
    }
    Ok(())
}

/// Registers `n` fresh client accounts (unique emails per run) and returns their tokens, in
/// order.
pub async fn register_accounts(client: &reqwest::Client, base: &str, n: usize) -> Result<Vec<Account>> {
    register_accounts_as(client, base, n, "client").await
}

/// Registers `n` fresh accounts with a self-registrable `role` (`client`, `provider`,
/// `worker`) and returns their tokens, in order.
pub async fn register_accounts_as(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    role: &'static str,
) -> Result<Vec<Account>> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..12];
    futures_util::stream::iter(0..n)
        .map(|i| register_one(client, base, format!("load-{run}-{i}@agora-load.test"), i, role))
        .buffered(REGISTER_PARALLELISM)
        .try_collect()
        .await
}

async fn register_one(
    client: &reqwest::Client,
    base: &str,
    email: String,
    i: usize,
    role: &'static str,
) -> Result<Account> {
    let resp = client
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({
            "email": email,
            "password": PASSWORD,
            "role": role,
            "first_name": "Load",
            "last_name": format!("User {i}"),
        }))
        .send()
        .await
        .with_context(|| format!("registering {email}"))?;
    let status = resp.status();
    if status.as_u16() == 429 {
        rate_limit_hint();
        bail!("registering {email}: 429 Too Many Requests");
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("registering {email}: {status}: {body}");
    }
    let auth: AuthResponse = resp.json().await.with_context(|| format!("registering {email}: unexpected answer"))?;
    Ok(Account { email, user_id: auth.user.id, access: auth.access })
}

/// Starts (or finds: a direct pair is unique) the direct conversation between `a` and `b`,
/// as `a`, and returns its id.
pub async fn direct_conversation(client: &reqwest::Client, base: &str, a: &Account, b: &Account) -> Result<String> {
    let what = || format!("creating the conversation of {} and {}", a.email, b.email);
    let resp = client
        .post(format!("{base}/api/conversations"))
        .bearer_auth(&a.access)
        .json(&serde_json::json!({ "participant_ids": [b.user_id] }))
        .send()
        .await
        .with_context(what)?;
    let status = resp.status();
    if status.as_u16() == 429 {
        rate_limit_hint();
        bail!("{}: 429 Too Many Requests", what());
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("{}: {status}: {body}", what());
    }
    let conversation: IdOnly = resp.json().await.with_context(|| format!("{}: unexpected answer", what()))?;
    Ok(conversation.id)
}

/// Creates the direct conversations of the given account pairs (indexes into `accounts`),
/// returning their ids in the same order.
pub async fn direct_conversations(
    client: &reqwest::Client,
    base: &str,
    accounts: &[Account],
    pairs: &[(usize, usize)],
) -> Result<Vec<String>> {
    futures_util::stream::iter(pairs.iter())
        .map(|&(a, b)| direct_conversation(client, base, &accounts[a], &accounts[b]))
        .buffered(CONVERSATION_PARALLELISM)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_accepted() {
        assert_eq!(base_url("http://127.0.0.1:8080/").expect("valid"), "http://127.0.0.1:8080");
        assert!(base_url("https://example.com").is_err());
        assert!(base_url("127.0.0.1:8080").is_err());
    }
}
