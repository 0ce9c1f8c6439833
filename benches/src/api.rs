//! The REST calls `agora-load` makes to set a run up: URL checks, account registration,
//! conversations, and the cards and milestone-split contracts of the `fund` scenario. Every
//! failure names the call; a 429 prints a hint about `AGORA_RATE_LIMITS=off`.

use anyhow::{bail, Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

/// The password of every account the load generator registers (meets the password policy).
pub const PASSWORD: &str = "correct horse battery 9";
/// Registrations in flight at once: each costs the server one argon2 hash.
pub const REGISTER_PARALLELISM: usize = 4;
/// Conversation creations in flight at once.
pub const CONVERSATION_PARALLELISM: usize = 16;
/// `fund` set-ups in flight at once: each worker's card and contracts are made one call
/// after another, this many workers at a time.
pub const FUND_SETUP_PARALLELISM: usize = 4;
/// Milestones of every `fund` contract: the most a contract may be split into.
pub const MILESTONES_PER_CONTRACT: usize = 50;
/// Minor units (USD cents) of each `fund` milestone.
pub const MILESTONE_AMOUNT: i64 = 100;
/// The sandbox gateway's card that always succeeds.
pub const TEST_CARD_NUMBER: &str = "4242424242424242";

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

/// Sends `request`, the call `what` (e.g. `POST /api/jobs as a@x.test`), and returns its
/// answer if it is 2xx; otherwise fails naming the call, with the status and the body (a
/// 429 also prints the rate limit hint).
async fn expect_success(request: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response> {
    let resp = request.send().await.with_context(|| what.to_string())?;
    let status = resp.status();
    if status.as_u16() == 429 {
        rate_limit_hint();
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("{what}: {status}: {body}");
    }
    Ok(resp)
}

/// Sends the JSON `body` to `{base}{path}` with `method` as `who` and returns the `id` of
/// the 2xx answer; a failure names the call.
async fn created_id(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    who: &Account,
    body: &serde_json::Value,
) -> Result<String> {
    let what = format!("{method} {path} as {}", who.email);
    let request = client.request(method, format!("{base}{path}")).bearer_auth(&who.access).json(body);
    let created: IdOnly =
        expect_success(request, &what).await?.json().await.with_context(|| format!("{what}: unexpected answer"))?;
    Ok(created.id)
}

/// The body of `POST /api/payment-methods` that saves [`TEST_CARD_NUMBER`].
pub fn test_card_body() -> serde_json::Value {
    serde_json::json!({
        "kind": "card",
        "number": TEST_CARD_NUMBER,
        "exp_month": 12,
        "exp_year": 2099,
        "cvc": "123",
    })
}

/// The body of `POST /api/contracts/{id}/fund` that pays from the saved card `card_id`.
pub fn fund_body(card_id: &str) -> serde_json::Value {
    serde_json::json!({ "payment_method_id": card_id })
}

/// The agreed rate of every `fund` contract, in minor units: all its milestones.
pub fn funding_rate() -> i64 {
    MILESTONE_AMOUNT * MILESTONES_PER_CONTRACT as i64
}

/// The body of `PUT /api/contracts/{id}/milestones` that splits a [`funding_rate`] contract
/// into [`MILESTONES_PER_CONTRACT`] milestones of [`MILESTONE_AMOUNT`].
pub fn milestone_split_body() -> serde_json::Value {
    let milestones: Vec<serde_json::Value> = (1..=MILESTONES_PER_CONTRACT)
        .map(|i| {
            serde_json::json!({
                "title": format!("Part {i}"),
                "amount": { "amount": MILESTONE_AMOUNT, "currency": "USD" },
            })
        })
        .collect();
    serde_json::json!({ "milestones": milestones })
}

/// Saves [`TEST_CARD_NUMBER`] as `owner`'s card and returns its id.
pub async fn save_test_card(client: &reqwest::Client, base: &str, owner: &Account) -> Result<String> {
    created_id(client, base, reqwest::Method::POST, "/api/payment-methods", owner, &test_card_body()).await
}

/// Makes one pending contract between `owner` (a client) and `provider` and splits it for
/// funding: `owner` posts a job (`Load job {n}`), `provider` proposes [`funding_rate`] USD
/// minor units on it, `owner` accepts, then splits the contract into
/// [`MILESTONES_PER_CONTRACT`] milestones. Returns the contract id.
pub async fn funding_contract(
    client: &reqwest::Client,
    base: &str,
    owner: &Account,
    provider: &Account,
    n: usize,
) -> Result<String> {
    use reqwest::Method;
    let job = serde_json::json!({ "title": format!("Load job {n}"), "description": "A job to fund in milestones" });
    let job_id = created_id(client, base, Method::POST, "/api/jobs", owner, &job).await?;
    let proposal = serde_json::json!({ "job_id": job_id, "rate": { "amount": funding_rate(), "currency": "USD" } });
    let proposal_id = created_id(client, base, Method::POST, "/api/proposals", provider, &proposal).await?;
    let accept = format!("/api/proposals/{proposal_id}/accept");
    let contract_id = created_id(client, base, Method::POST, &accept, owner, &serde_json::json!({})).await?;
    let split = format!("/api/contracts/{contract_id}/milestones");
    let what = format!("PUT {split} as {}", owner.email);
    let request = client.put(format!("{base}{split}")).bearer_auth(&owner.access).json(&milestone_split_body());
    expect_success(request, &what).await?;
    Ok(contract_id)
}

/// What one `fund` worker funds with: its client account, the client's saved card, and its
/// contracts, each split into [`MILESTONES_PER_CONTRACT`] unfunded milestones.
#[derive(Debug, Clone)]
pub struct Funder {
    pub client: Account,
    pub card_id: String,
    pub contracts: Vec<String>,
}

/// Sets one `fund` worker up: `owner` saves a card, then makes `contracts` contracts with
/// `provider`, one after another.
pub async fn funder(
    client: &reqwest::Client,
    base: &str,
    owner: &Account,
    provider: &Account,
    contracts: usize,
) -> Result<Funder> {
    let card_id = save_test_card(client, base, owner).await?;
    let mut ids = Vec::with_capacity(contracts);
    for n in 1..=contracts {
        let id = funding_contract(client, base, owner, provider, n)
            .await
            .with_context(|| format!("setting up contract {n} of {contracts} of {}", owner.email))?;
        ids.push(id);
    }
    Ok(Funder { client: owner.clone(), card_id, contracts: ids })
}

/// Sets up one [`Funder`] per (client, provider) pair, [`FUND_SETUP_PARALLELISM`] at a
/// time, each with `contracts` contracts; in the order of the pairs.
pub async fn funders(
    client: &reqwest::Client,
    base: &str,
    clients: &[Account],
    providers: &[Account],
    contracts: usize,
) -> Result<Vec<Funder>> {
    if clients.len() != providers.len() {
        bail!("fund set-up: {} clients but {} providers", clients.len(), providers.len());
    }
    futures_util::stream::iter(clients.iter().zip(providers))
        .map(|(owner, provider)| funder(client, base, owner, provider, contracts))
        .buffered(FUND_SETUP_PARALLELISM)
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

    #[test]
    fn the_milestone_split_sums_to_the_rate() {
        let body = milestone_split_body();
        let milestones = body["milestones"].as_array().expect("an array");
        assert_eq!(milestones.len(), MILESTONES_PER_CONTRACT);
        let sum: i64 = milestones.iter().map(|m| m["amount"]["amount"].as_i64().expect("an amount")).sum();
        assert_eq!(sum, funding_rate());
        assert_eq!(funding_rate(), 5000);
        assert_eq!(milestones[0]["title"], "Part 1");
        assert_eq!(milestones[49]["amount"]["currency"], "USD");
    }
}
