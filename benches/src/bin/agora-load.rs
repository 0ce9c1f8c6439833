//! `agora-load`: end-to-end load generator for a running Agora server.
//!
//! `agora-load rest --url http://127.0.0.1:8080 --concurrency 32 --duration 20s --scenario auth-me`
//! registers the accounts the scenario needs, then runs `--concurrency` workers, each sending
//! one request after another, for `--duration`, and prints requests done, errors by status,
//! req/s and latency percentiles (`--json`: one JSON object on stdout).
//!
//! The catalog scenarios (`services-list`, `services-search`, `jobs-search`,
//! `providers-search`) read a catalog that is already there (e.g. `agora seed`): each worker
//! walks the list of distinct request URLs built from `--words`, `--cities`, `--ordering`
//! and `--limit`, one after the other. Before the run every distinct URL is fetched once
//! (the probe): a non-2xx answer stops the run, and the number of results per page is
//! reported, so an empty catalog or words that match nothing show up.
//!
//! The `fund` scenario measures durable milestone fundings. Before the run (not timed) it
//! registers one client and one provider per worker; each client saves the sandbox test
//! card and makes ceil(`--fundings-per-worker` / 50) contracts with its provider (job,
//! proposal, accept, split into 50 milestones of 100 cents). Each worker then funds its
//! contracts' milestones one after another (`POST /api/contracts/{id}/fund`), moving to its
//! next contract every 50 fundings, and stops early, with a warning, when it has used them
//! all.
//!
//! `agora-load ws --connections 1000 --senders 100 --rate 2000 --duration 20s` registers
//! accounts, pairs them into direct conversations, holds `--connections` WebSockets on
//! `/ws` and has `--senders` of them send chat messages; it prints connections opened and
//! held, messages sent, acked and delivered, ack and delivery latency percentiles and, with
//! `--server-pid`, the server's memory per connection. See `agora_benches::ws`.
//!
//! It talks only to the given URL. Run the server with `AGORA_RATE_LIMITS=off`, or the limits
//! are what you measure.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_benches::api::{self, Account, PASSWORD};
use agora_benches::parse_duration;
use agora_benches::stats::{fmt_us, Recorder, Summary};
use agora_benches::ws::{self, WsArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Pause after a transport error, so a dead server is not hammered in a tight loop.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(10);

#[derive(Parser)]
#[command(name = "agora-load", version, about = "Load generator for a running Agora server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive one REST scenario with concurrent workers for a fixed time.
    Rest(RestArgs),
    /// Hold many WebSocket connections on /ws and drive chat messages through some of them.
    Ws(WsArgs),
}

#[derive(Args)]
struct RestArgs {
    /// Base URL of the server under test (plain http).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent workers, each with one request in flight.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,
    /// How long the workers run: 20s, 500ms, 2m.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Accounts to register before the run (default: one per worker); workers use them round-robin.
    /// fund ignores it: it registers one client and one provider per worker.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    users: Option<u32>,
    /// Per-request timeout; a request that takes longer counts as a transport error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object on stdout; the text summary then goes to stderr.
    #[arg(long)]
    json: bool,
    /// Catalog scenarios: the `q` words, used in turn (comma-separated; services-list ignores them).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_WORDS)]
    words: Vec<String>,
    /// providers-search: the `city` values, combined with every word (comma-separated; empty: no city filter).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_CITIES)]
    cities: Vec<String>,
    /// Catalog scenarios: the `ordering` parameter (services: price, -price, created_at, -created_at,
    /// rating, popularity; default: relevance with `q`, newest without).
    #[arg(long)]
    ordering: Option<String>,
    /// Catalog scenarios: page size (`limit`).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// fund: milestone fundings each worker has room for, rounded up to whole contracts: the
    /// set-up makes ceil(N/50) contracts of 50 milestones per worker, and a worker that has
    /// funded them all stops early (with a warning).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    fundings_per_worker: u32,
    /// analytics-dashboard: the access token sent as `Authorization: Bearer` (an admin's).
    #[arg(long)]
    bearer: Option<String>,
}

/// Words of the demo catalog (`agora seed`) for the `q` of the search scenarios: each one
/// matches some services, open jobs and providers there.
const DEFAULT_WORDS: &str = "cleaning,garden,logo,design,translation,lessons,installation,developer,app,music";
/// Cities of the demo catalog for providers-search: the five with the most demo providers.
const DEFAULT_CITIES: &str = "Lyon,Milan,Munich,Warsaw,Vienna";
/// Distinct URLs the probe fetches at most (the rest are used in the run all the same).
const PROBE_MAX: usize = 500;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Scenario {
    /// GET /api/auth/me with a bearer access token (JWT check, session and user reads).
    AuthMe,
    /// GET /api/health (no storage).
    Health,
    /// POST /api/auth/login (argon2id verify + a session write; slow on purpose).
    Login,
    /// GET /api/services?limit=N[&ordering=..]: catalog list (index, then N storage reads).
    ServicesList,
    /// GET /api/services?q=<word>&limit=N: ranked full-text search, words in turn.
    ServicesSearch,
    /// GET /api/jobs?q=<word>&limit=N as a provider (registered per worker): open jobs search.
    JobsSearch,
    /// GET /api/providers?q=<word>&city=<city>&limit=N: provider search with a city filter.
    ProvidersSearch,
    /// POST /api/contracts/{id}/fund as the client: one durable milestone funding (charge,
    /// ledger transaction, milestone compare-and-set) per request.
    Fund,
    /// POST /api/analytics/events: a batch of 100 page views per request (anonymous, one
    /// visitor id per worker); facts per second are 100 times the request rate.
    AnalyticsEvents,
    /// GET /api/analytics/dashboard?from=<89 days ago> with `--bearer` (an admin's access
    /// token): the admin dashboard over 90 days, read from the rollups.
    AnalyticsDashboard,
}

/// Page views in one `analytics-events` request.
const EVENTS_PER_REQUEST: usize = 100;

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::AuthMe => "auth-me",
            Scenario::Health => "health",
            Scenario::Login => "login",
            Scenario::ServicesList => "services-list",
            Scenario::ServicesSearch => "services-search",
            Scenario::JobsSearch => "jobs-search",
            Scenario::ProvidersSearch => "providers-search",
            Scenario::Fund => "fund",
            Scenario::AnalyticsEvents => "analytics-events",
            Scenario::AnalyticsDashboard => "analytics-dashboard",
        }
    }

    /// The role of the accounts the scenario registers, if it needs any (`fund` registers
    /// its clients and providers in its own set-up, [`fund_setup`]).
    fn account_role(self) -> Option<&'static str> {
        match self {
            Scenario::AuthMe | Scenario::Login => Some("client"),
            // Open jobs are listed to providers and workers only.
            Scenario::JobsSearch => Some("provider"),
            Scenario::Health
            | Scenario::ServicesList
            | Scenario::ServicesSearch
            | Scenario::ProvidersSearch
            | Scenario::Fund
            | Scenario::AnalyticsEvents
            | Scenario::AnalyticsDashboard => None,
        }
    }

    fn is_catalog(self) -> bool {
        matches!(
            self,
            Scenario::ServicesList | Scenario::ServicesSearch | Scenario::JobsSearch | Scenario::ProvidersSearch
        )
    }
}

/// What one worker sends, over and over: a GET walks its URLs in turn.
#[derive(Clone)]
enum Request {
    Get { urls: Arc<[String]>, bearer: Option<String> },
    PostJson { url: String, body: serde_json::Value },
}

impl Request {
    /// The request for the worker's `turn`-th send.
    fn build(&self, client: &reqwest::Client, turn: usize) -> reqwest::RequestBuilder {
        match self {
            Request::Get { urls, bearer } => {
                let get = client.get(&urls[turn % urls.len()]);
                match bearer {
                    Some(token) => get.bearer_auth(token),
                    None => get,
                }
            }
            Request::PostJson { url, body } => client.post(url).json(body),
        }
    }
}

/// What one `fund` worker sends: `POST` to the fund URL of its contracts in turn, each
/// [`api::MILESTONES_PER_CONTRACT`] times, as its client, paying with its card.
#[derive(Debug, Clone)]
struct FundPlan {
    /// `{base}/api/contracts/{id}/fund` of each of the worker's contracts, in order.
    urls: Vec<String>,
    bearer: String,
    body: serde_json::Value,
}

impl FundPlan {
    /// The plan of a worker set up as `funder`.
    fn new(base: &str, funder: &api::Funder) -> FundPlan {
        FundPlan {
            urls: funder.contracts.iter().map(|c| format!("{base}/api/contracts/{c}/fund")).collect(),
            bearer: funder.client.access.clone(),
            body: api::fund_body(&funder.card_id),
        }
    }

    /// The URL of the worker's `k`-th funding (from 0), or `None` when its contracts have no
    /// milestone left for it.
    fn url(&self, k: usize) -> Option<&str> {
        self.urls.get(contract_of_funding(k)).map(String::as_str)
    }

    /// The worker's `k`-th funding, if it has a milestone left for it.
    fn build(&self, client: &reqwest::Client, k: usize) -> Option<reqwest::RequestBuilder> {
        self.url(k).map(|url| client.post(url).bearer_auth(&self.bearer).json(&self.body))
    }
}

/// Contracts a `fund` worker needs for `fundings` fundings: one per
/// [`api::MILESTONES_PER_CONTRACT`], rounded up.
fn contracts_needed(fundings: usize) -> usize {
    fundings.div_ceil(api::MILESTONES_PER_CONTRACT)
}

/// Which of a worker's contracts its `k`-th funding (from 0) goes to. Every attempt takes a
/// milestone, answered or not, so the mapping never depends on the server.
fn contract_of_funding(k: usize) -> usize {
    k / api::MILESTONES_PER_CONTRACT
}

/// How a `fund` run went beyond the summary: its size, and the workers that used all their
/// milestones before the deadline.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct FundReport {
    fundings_per_worker: usize,
    contracts_per_worker: usize,
    milestones_per_contract: usize,
    /// Set-up time (registration, cards, contracts), not part of the measured run.
    setup_secs: f64,
    /// Workers that stopped before the deadline because they had funded every milestone.
    workers_out_of_milestones: usize,
    /// When the first of them stopped, in seconds since the start of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_out_of_milestones_secs: Option<f64>,
}

/// What one `fund` worker did: its answers, and when it ran out of milestones, if it did.
struct FundRun {
    recorder: Recorder,
    ran_out_at: Option<Duration>,
}

/// What the probe saw: results per page over every distinct catalog URL, fetched once.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Probe {
    urls: usize,
    /// URLs whose page had no result.
    empty: usize,
    results_min: usize,
    results_mean: f64,
    results_max: usize,
}

#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    subcommand: &'static str,
    scenario: Scenario,
    url: &'a str,
    concurrency: u32,
    duration_secs: f64,
    users: usize,
    /// Catalog scenarios: the `ordering` parameter sent, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    ordering: Option<&'a str>,
    /// Distinct request URLs the workers walk through.
    distinct_requests: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<&'a Probe>,
    /// fund: its size and the workers that ran out of milestones.
    #[serde(skip_serializing_if = "Option::is_none")]
    fund: Option<&'a FundReport>,
    #[serde(flatten)]
    summary: &'a Summary,
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Rest(args) => rest(args).await,
        Command::Ws(args) => ws::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agora-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn rest(args: RestArgs) -> Result<()> {
    let base = api::base_url(&args.url)?;
    let concurrency = args.concurrency as usize;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(args.timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("building the HTTP client")?;

    api::check_health(&client, &base).await?;

    let funders = if args.scenario == Scenario::Fund {
        if args.users.is_some() {
            eprintln!("note: the fund scenario ignores --users: it registers one client and one provider per worker");
        }
        let started = Instant::now();
        let funders = fund_setup(&client, &base, concurrency, args.fundings_per_worker as usize).await?;
        Some((funders, started.elapsed()))
    } else {
        None
    };

    let accounts = if let Some(role) = args.scenario.account_role() {
        let n = args.users.map_or(concurrency, |u| u as usize);
        eprintln!("registering {n} {role} accounts at {base} ...");
        let started = Instant::now();
        let accounts = api::register_accounts_as(&client, &base, n, role).await?;
        eprintln!("registered {n} accounts in {:.1}s", started.elapsed().as_secs_f64());
        accounts
    } else {
        Vec::new()
    };

    let urls: Arc<[String]> = scenario_urls(args.scenario, &base, &args)?.into();
    let probe = if args.scenario.is_catalog() {
        let bearer = accounts.first().map(|a| a.access.as_str());
        let probe = probe(&client, &urls, bearer).await?;
        eprintln!(
            "probe: {} distinct requests, results per page min {} / mean {:.1} / max {}, {} empty",
            probe.urls, probe.results_min, probe.results_mean, probe.results_max, probe.empty
        );
        if probe.results_max == 0 {
            eprintln!("warning: no request returned any result: is the catalog seeded (agora seed)?");
        }
        Some(probe)
    } else {
        None
    };

    let requests: Vec<Request> = if funders.is_some() {
        Vec::new()
    } else {
        (0..concurrency).map(|w| request_for(args.scenario, &urls, &accounts, args.bearer.as_deref(), w)).collect()
    };
    let plans: Vec<FundPlan> =
        funders.iter().flat_map(|(f, _)| f.iter()).map(|funder| FundPlan::new(&base, funder)).collect();
    eprintln!(
        "running scenario {} with {concurrency} workers for {:.1}s ...",
        args.scenario.name(),
        args.duration.as_secs_f64()
    );
    let started = Instant::now();
    let deadline = started + args.duration;
    let workers: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(w, request)| tokio::spawn(worker(client.clone(), request, w, deadline)))
        .collect();
    let fund_workers: Vec<_> =
        plans.into_iter().map(|plan| tokio::spawn(fund_worker(client.clone(), plan, started, deadline))).collect();
    let mut recorder = Recorder::new();
    for w in workers {
        recorder.merge(w.await.context("a worker panicked")?);
    }
    let mut ran_out = Vec::new();
    for w in fund_workers {
        let run = w.await.context("a fund worker panicked")?;
        recorder.merge(run.recorder);
        ran_out.extend(run.ran_out_at);
    }
    let elapsed = started.elapsed();
    let saw_429 = recorder.count(429) > 0;
    let summary = recorder.summary(elapsed);

    let fund = funders.as_ref().map(|(_, setup)| {
        let fundings = args.fundings_per_worker as usize;
        FundReport {
            fundings_per_worker: fundings,
            contracts_per_worker: contracts_needed(fundings),
            milestones_per_contract: api::MILESTONES_PER_CONTRACT,
            setup_secs: setup.as_secs_f64(),
            workers_out_of_milestones: ran_out.len(),
            first_out_of_milestones_secs: ran_out.iter().min().map(Duration::as_secs_f64),
        }
    });
    if let Some(f) = fund.as_ref().filter(|f| f.workers_out_of_milestones > 0) {
        eprintln!(
            "warning: {} of {concurrency} workers ran out of milestones before the deadline (the first after {:.1}s, \
             each after {} fundings): the run measured less than --duration; raise --fundings-per-worker",
            f.workers_out_of_milestones,
            f.first_out_of_milestones_secs.unwrap_or_default(),
            f.contracts_per_worker * f.milestones_per_contract,
        );
    }
    let users = match &funders {
        // A client and a provider per worker.
        Some((f, _)) => 2 * f.len(),
        None => accounts.len(),
    };
    let distinct_requests = match &funders {
        Some((f, _)) => f.iter().map(|funder| funder.contracts.len()).sum(),
        None => urls.len(),
    };

    let text = text_summary(&args, &base, users, probe.as_ref(), fund.as_ref(), &summary);
    if args.json {
        eprint!("{text}");
        let report = Report {
            tool: "agora-load",
            subcommand: "rest",
            scenario: args.scenario,
            url: &base,
            concurrency: args.concurrency,
            duration_secs: args.duration.as_secs_f64(),
            users,
            ordering: args.ordering.as_deref().filter(|_| args.scenario.is_catalog()),
            distinct_requests,
            probe: probe.as_ref(),
            fund: fund.as_ref(),
            summary: &summary,
        };
        println!("{}", serde_json::to_string(&report).context("serializing the report")?);
    } else {
        print!("{text}");
    }
    if saw_429 {
        api::rate_limit_hint();
    }
    if summary.ok == 0 {
        bail!("no request succeeded");
    }
    Ok(())
}

/// Registers one client and one provider per worker, then sets each worker up (a card and
/// `contracts_needed(fundings)` split contracts, see [`api::funders`]), printing how long
/// each part took on stderr. Nothing here is timed into the results.
async fn fund_setup(client: &reqwest::Client, base: &str, workers: usize, fundings: usize) -> Result<Vec<api::Funder>> {
    eprintln!("registering {workers} client and {workers} provider accounts at {base} ...");
    let started = Instant::now();
    let clients = api::register_accounts_as(client, base, workers, "client").await?;
    let providers = api::register_accounts_as(client, base, workers, "provider").await?;
    eprintln!("registered {} accounts in {:.1}s", clients.len() + providers.len(), started.elapsed().as_secs_f64());
    let each = contracts_needed(fundings);
    eprintln!(
        "setting up a card and {each} contracts per worker ({} in all, {} milestones of {} cents each) ...",
        each * workers,
        api::MILESTONES_PER_CONTRACT,
        api::MILESTONE_AMOUNT,
    );
    let started = Instant::now();
    let funders = api::funders(client, base, &clients, &providers, each).await.context("fund set-up")?;
    eprintln!("set up {} contracts in {:.1}s", each * workers, started.elapsed().as_secs_f64());
    Ok(funders)
}

/// The distinct URLs of a scenario (the login URL for `login`). Catalog queries are built
/// from `--words` (and `--cities` for providers), `--ordering` and `--limit`. `fund` has
/// none here: its URLs, one per contract, come from its set-up.
fn scenario_urls(scenario: Scenario, base: &str, args: &RestArgs) -> Result<Vec<String>> {
    let words: Vec<&str> = args.words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()).collect();
    let cities: Vec<&str> = args.cities.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    let limit = args.limit.to_string();
    let common = |params: &mut Vec<(&str, String)>| {
        params.push(("limit", limit.clone()));
        if let Some(o) = &args.ordering {
            params.push(("ordering", o.clone()));
        }
    };
    let url = |path: &str, params: &[(&str, String)]| -> Result<String> {
        let u = reqwest::Url::parse_with_params(&format!("{base}{path}"), params)
            .with_context(|| format!("building the URL of {path}"))?;
        Ok(u.to_string())
    };
    let search = |path: &str| -> Result<Vec<String>> {
        if words.is_empty() {
            bail!("--words is empty: the {} scenario needs words for q", scenario.name());
        }
        words
            .iter()
            .map(|w| {
                let mut params = vec![("q", (*w).to_string())];
                common(&mut params);
                url(path, &params)
            })
            .collect()
    };
    match scenario {
        Scenario::Health => Ok(vec![format!("{base}/api/health")]),
        Scenario::AuthMe => Ok(vec![format!("{base}/api/auth/me")]),
        Scenario::Login => Ok(vec![format!("{base}/api/auth/login")]),
        Scenario::ServicesList => {
            let mut params = Vec::new();
            common(&mut params);
            Ok(vec![url("/api/services", &params)?])
        }
        Scenario::ServicesSearch => search("/api/services"),
        Scenario::JobsSearch => search("/api/jobs"),
        Scenario::ProvidersSearch if cities.is_empty() => search("/api/providers"),
        Scenario::ProvidersSearch => {
            if words.is_empty() {
                bail!("--words is empty: the providers-search scenario needs words for q");
            }
            // Every word with every city, the city changing fastest.
            let mut urls = Vec::with_capacity(words.len() * cities.len());
            for w in &words {
                for c in &cities {
                    let mut params = vec![("q", (*w).to_string()), ("city", (*c).to_string())];
                    common(&mut params);
                    urls.push(url("/api/providers", &params)?);
                }
            }
            Ok(urls)
        }
        Scenario::Fund => Ok(Vec::new()),
        Scenario::AnalyticsEvents => Ok(vec![format!("{base}/api/analytics/events")]),
        Scenario::AnalyticsDashboard => {
            if args.bearer.is_none() {
                bail!("the analytics-dashboard scenario needs --bearer <an admin's access token>");
            }
            let from = time::OffsetDateTime::now_utc().date() - time::Duration::days(89);
            let from = format!("{:04}-{:02}-{:02}", from.year(), from.month() as u8, from.day());
            Ok(vec![url("/api/analytics/dashboard", &[("from", from)])?])
        }
    }
}

/// Fetches each distinct catalog URL once (at most [`PROBE_MAX`]) and counts the results on
/// the page; fails on the first non-2xx answer, naming it.
async fn probe(client: &reqwest::Client, urls: &[String], bearer: Option<&str>) -> Result<Probe> {
    #[derive(serde::Deserialize)]
    struct Page {
        results: Vec<serde::de::IgnoredAny>,
    }
    let mut counts = Vec::with_capacity(urls.len().min(PROBE_MAX));
    for url in urls.iter().take(PROBE_MAX) {
        let get = client.get(url);
        let get = match bearer {
            Some(token) => get.bearer_auth(token),
            None => get,
        };
        let resp = get.send().await.with_context(|| format!("probe GET {url}"))?;
        let status = resp.status();
        if status.as_u16() == 429 {
            api::rate_limit_hint();
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            bail!("probe GET {url}: {status}: {body}");
        }
        let page: Page = resp.json().await.with_context(|| format!("probe GET {url}: not a page of results"))?;
        counts.push(page.results.len());
    }
    let n = counts.len();
    Ok(Probe {
        urls: n,
        empty: counts.iter().filter(|&&c| c == 0).count(),
        results_min: counts.iter().copied().min().unwrap_or(0),
        results_mean: if n == 0 { 0.0 } else { counts.iter().sum::<usize>() as f64 / n as f64 },
        results_max: counts.iter().copied().max().unwrap_or(0),
    })
}

fn request_for(
    scenario: Scenario,
    urls: &Arc<[String]>,
    accounts: &[Account],
    bearer: Option<&str>,
    worker: usize,
) -> Request {
    let account = (!accounts.is_empty()).then(|| &accounts[worker % accounts.len()]);
    match (scenario, account) {
        (Scenario::AnalyticsEvents, _) => {
            let events: Vec<serde_json::Value> = (0..EVENTS_PER_REQUEST)
                .map(|i| serde_json::json!({"kind": "page_view", "path": format!("/services/{}", i % 20)}))
                .collect();
            let body = serde_json::json!({"visitor_id": format!("load-visitor-{worker:06}"), "events": events});
            Request::PostJson { url: urls[0].clone(), body }
        }
        (Scenario::AnalyticsDashboard, _) => Request::Get { urls: Arc::clone(urls), bearer: bearer.map(str::to_owned) },
        (Scenario::Login, Some(a)) => Request::PostJson {
            url: urls[0].clone(),
            body: serde_json::json!({ "email": a.email, "password": PASSWORD }),
        },
        _ => Request::Get { urls: Arc::clone(urls), bearer: account.map(|a| a.access.clone()) },
    }
}

/// Sends `request` back to back until `deadline`; the request in flight at the deadline
/// still completes and counts. Worker `w` starts at URL `w`, so the workers spread over the
/// distinct URLs.
async fn worker(client: reqwest::Client, request: Request, w: usize, deadline: Instant) -> Recorder {
    let mut recorder = Recorder::new();
    let mut turn = w;
    while Instant::now() < deadline {
        send_and_record(&mut recorder, || request.build(&client, turn)).await;
        turn = turn.wrapping_add(1);
    }
    recorder
}

/// Funds the plan's milestones back to back until `deadline` (the funding in flight then
/// still completes and counts), or until the plan has no milestone left: then it stops and
/// says when, measured from `started`.
async fn fund_worker(client: reqwest::Client, plan: FundPlan, started: Instant, deadline: Instant) -> FundRun {
    let mut recorder = Recorder::new();
    let mut k = 0;
    while Instant::now() < deadline {
        let Some(request) = plan.build(&client, k) else {
            return FundRun { recorder, ran_out_at: Some(started.elapsed()) };
        };
        send_and_record(&mut recorder, || request).await;
        k += 1;
    }
    FundRun { recorder, ran_out_at: None }
}

/// Sends the request `build` makes and records its status and latency (from before the
/// build to the end of the body), or a transport error, after which it pauses.
async fn send_and_record(recorder: &mut Recorder, build: impl FnOnce() -> reqwest::RequestBuilder) {
    let started = Instant::now();
    match build().send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            // Read the whole body, so the connection goes back to the pool.
            match resp.bytes().await {
                Ok(_) => recorder.record(status, started.elapsed()),
                Err(_) => recorder.record_transport_error(),
            }
        }
        Err(_) => {
            recorder.record_transport_error();
            tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
        }
    }
}

fn text_summary(
    args: &RestArgs,
    base: &str,
    users: usize,
    probe: Option<&Probe>,
    fund: Option<&FundReport>,
    s: &Summary,
) -> String {
    let errors = if s.errors.is_empty() {
        "none".to_string()
    } else {
        s.errors.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" ")
    };
    let l = &s.latency_us;
    let ordering = match &args.ordering {
        Some(o) if args.scenario.is_catalog() => format!("  ordering={o}"),
        _ => String::new(),
    };
    let probe = probe.map_or(String::new(), |p| {
        format!(
            "  probe     {} distinct requests; results per page min {} / mean {:.1} / max {}; {} empty\n",
            p.urls, p.results_min, p.results_mean, p.results_max, p.empty
        )
    });
    let fund = fund.map_or(String::new(), |f| {
        format!(
            "  fundings  room for {} per worker in {} contracts of {} milestones (set-up {:.1}s); \
             {} workers ran out of milestones\n",
            f.contracts_per_worker * f.milestones_per_contract,
            f.contracts_per_worker,
            f.milestones_per_contract,
            f.setup_secs,
            f.workers_out_of_milestones,
        )
    });
    format!(
        "agora-load rest  scenario={}{ordering}  url={base}  concurrency={}  duration={:.1}s  users={users}\n\
         \x20 requests  {} in {:.2}s (ok {})\n\
         \x20 req/s     {:.1}\n\
         \x20 latency   p50 {}  p90 {}  p99 {}  max {}  (mean {})\n\
         \x20 errors    {errors}\n{probe}{fund}",
        args.scenario.name(),
        args.concurrency,
        args.duration.as_secs_f64(),
        s.requests,
        s.elapsed_secs,
        s.ok,
        s.req_per_sec,
        fmt_us(u64::from(l.p50)),
        fmt_us(u64::from(l.p90)),
        fmt_us(u64::from(l.p99)),
        fmt_us(u64::from(l.max)),
        fmt_us(l.mean),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> RestArgs {
        let mut argv = vec!["agora-load", "rest", "--scenario", "health"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("valid arguments").command {
            Command::Rest(a) => a,
            Command::Ws(_) => panic!("parsed as ws"),
        }
    }

    fn urls(scenario: Scenario, a: &RestArgs) -> Vec<String> {
        scenario_urls(scenario, "http://h", a).expect("urls")
    }

    #[test]
    fn scenarios_pick_their_request() {
        let accounts = vec![
            Account { email: "a@x.test".into(), user_id: "ua".into(), access: "ta".into() },
            Account { email: "b@x.test".into(), user_id: "ub".into(), access: "tb".into() },
        ];
        let a = args(&[]);
        let me: Arc<[String]> = urls(Scenario::AuthMe, &a).into();
        match request_for(Scenario::AuthMe, &me, &accounts, None, 3) {
            Request::Get { urls, bearer } => {
                assert_eq!(&urls[..], ["http://h/api/auth/me".to_string()]);
                assert_eq!(bearer.as_deref(), Some("tb"));
            }
            Request::PostJson { .. } => panic!("auth-me is a GET"),
        }
        let login: Arc<[String]> = urls(Scenario::Login, &a).into();
        match request_for(Scenario::Login, &login, &accounts, None, 0) {
            Request::PostJson { url, body } => {
                assert_eq!(url, "http://h/api/auth/login");
                assert_eq!(body["email"], "a@x.test");
                assert_eq!(body["password"], PASSWORD);
            }
            Request::Get { .. } => panic!("login is a POST"),
        }
        let health: Arc<[String]> = urls(Scenario::Health, &a).into();
        assert!(matches!(
            request_for(Scenario::Health, &health, &[], None, 0),
            Request::Get { ref urls, bearer: None } if urls[0] == "http://h/api/health"
        ));
        let events: Arc<[String]> = urls(Scenario::AnalyticsEvents, &a).into();
        match request_for(Scenario::AnalyticsEvents, &events, &[], None, 7) {
            Request::PostJson { url, body } => {
                assert_eq!(url, "http://h/api/analytics/events");
                assert_eq!(body["events"].as_array().map(Vec::len), Some(EVENTS_PER_REQUEST));
                assert_eq!(body["visitor_id"], "load-visitor-000007");
            }
            Request::Get { .. } => panic!("analytics-events is a POST"),
        }
        let with = args(&["--bearer", "admin-token"]);
        let dash: Arc<[String]> = urls(Scenario::AnalyticsDashboard, &with).into();
        assert!(dash[0].starts_with("http://h/api/analytics/dashboard?from="), "{}", dash[0]);
        assert!(matches!(
            request_for(Scenario::AnalyticsDashboard, &dash, &[], with.bearer.as_deref(), 0),
            Request::Get { bearer: Some(ref t), .. } if t == "admin-token"
        ));
        assert!(scenario_urls(Scenario::AnalyticsDashboard, "http://h", &a).is_err(), "needs --bearer");
    }

    #[test]
    fn catalog_scenarios_build_their_queries() {
        let a = args(&["--words", "garden,home repair", "--cities", "Berlin,São Paulo"]);
        assert_eq!(urls(Scenario::ServicesList, &a), vec!["http://h/api/services?limit=20"]);
        assert_eq!(
            urls(Scenario::ServicesSearch, &a),
            vec!["http://h/api/services?q=garden&limit=20", "http://h/api/services?q=home+repair&limit=20"]
        );
        assert_eq!(urls(Scenario::JobsSearch, &a)[0], "http://h/api/jobs?q=garden&limit=20");
        let providers = urls(Scenario::ProvidersSearch, &a);
        assert_eq!(providers.len(), 4);
        assert_eq!(providers[0], "http://h/api/providers?q=garden&city=Berlin&limit=20");
        assert_eq!(providers[1], "http://h/api/providers?q=garden&city=S%C3%A3o+Paulo&limit=20");
        let a = args(&["--ordering", "price", "--limit", "5"]);
        assert_eq!(urls(Scenario::ServicesList, &a), vec!["http://h/api/services?limit=5&ordering=price"]);
        assert_eq!(urls(Scenario::ServicesSearch, &a).len(), DEFAULT_WORDS.split(',').count());
        assert_eq!(urls(Scenario::ProvidersSearch, &a).len(), 50, "every default word with every default city");
        let a = args(&["--cities", ""]);
        assert_eq!(urls(Scenario::ProvidersSearch, &a)[0], "http://h/api/providers?q=cleaning&limit=20");
        // Jobs are listed to providers only; workers send their own token.
        assert_eq!(Scenario::JobsSearch.account_role(), Some("provider"));
        assert_eq!(Scenario::ProvidersSearch.account_role(), None);
    }

    #[test]
    fn the_fund_scenario_parses_with_its_defaults() {
        let parse = |argv: &[&str]| match Cli::try_parse_from(argv).expect("valid arguments").command {
            Command::Rest(a) => a,
            Command::Ws(_) => panic!("parsed as ws"),
        };
        let a = parse(&["agora-load", "rest", "--scenario", "fund"]);
        assert!(a.scenario == Scenario::Fund);
        assert_eq!(a.scenario.name(), "fund");
        assert_eq!(a.fundings_per_worker, 500);
        assert_eq!(a.scenario.account_role(), None, "fund registers its accounts in its own set-up");
        assert!(!a.scenario.is_catalog());
        let a = parse(&["agora-load", "rest", "--scenario", "fund", "--fundings-per-worker", "120"]);
        assert_eq!(a.fundings_per_worker, 120);
        assert!(
            Cli::try_parse_from(["agora-load", "rest", "--scenario", "fund", "--fundings-per-worker", "0"]).is_err()
        );
        // The kebab name clap accepts is the one reports print.
        let value = Scenario::Fund.to_possible_value().expect("a value");
        assert_eq!(value.get_name(), Scenario::Fund.name());
        assert_eq!(serde_json::to_value(Scenario::Fund).expect("json"), "fund");
    }

    #[test]
    fn fund_workers_get_whole_contracts() {
        assert_eq!(contracts_needed(500), 10);
        assert_eq!(contracts_needed(1), 1);
        assert_eq!(contracts_needed(50), 1);
        assert_eq!(contracts_needed(51), 2);
        assert_eq!(contracts_needed(100), 2);
        assert_eq!(contract_of_funding(0), 0);
        assert_eq!(contract_of_funding(49), 0);
        assert_eq!(contract_of_funding(50), 1);
        assert_eq!(contract_of_funding(99), 1);
        assert_eq!(contract_of_funding(100), 2);
    }

    fn fund_plan(contracts: &[&str]) -> FundPlan {
        let funder = api::Funder {
            client: Account { email: "c@x.test".into(), user_id: "uc".into(), access: "tc".into() },
            card_id: "card-1".into(),
            contracts: contracts.iter().map(|c| (*c).to_string()).collect(),
        };
        FundPlan::new("http://h", &funder)
    }

    #[test]
    fn fundings_move_to_the_next_contract_every_50() {
        let plan = fund_plan(&["c1", "c2"]);
        assert_eq!(plan.url(0), Some("http://h/api/contracts/c1/fund"));
        assert_eq!(plan.url(49), Some("http://h/api/contracts/c1/fund"));
        assert_eq!(plan.url(50), Some("http://h/api/contracts/c2/fund"));
        assert_eq!(plan.url(99), Some("http://h/api/contracts/c2/fund"));
        assert_eq!(plan.url(100), None, "two contracts hold 100 milestones");
        let client = reqwest::Client::new();
        let request = plan.build(&client, 50).expect("a milestone left").build().expect("request");
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(request.url().as_str(), "http://h/api/contracts/c2/fund");
        assert_eq!(request.headers()["authorization"], "Bearer tc");
        let body: serde_json::Value =
            serde_json::from_slice(request.body().and_then(|b| b.as_bytes()).expect("a body")).expect("json");
        assert_eq!(body, serde_json::json!({ "payment_method_id": "card-1" }));
        assert!(plan.build(&client, 100).is_none());
    }

    #[tokio::test]
    async fn a_fund_worker_without_milestones_stops_and_says_so() {
        let started = Instant::now();
        let run = fund_worker(reqwest::Client::new(), fund_plan(&[]), started, started + Duration::from_secs(60)).await;
        assert!(run.ran_out_at.is_some());
        assert_eq!(run.recorder.summary(started.elapsed()).requests, 0);
        // Past its deadline a worker stops without running out.
        let run = fund_worker(reqwest::Client::new(), fund_plan(&["c1"]), started, started).await;
        assert!(run.ran_out_at.is_none());
        assert_eq!(run.recorder.summary(started.elapsed()).requests, 0);
    }

    #[test]
    fn workers_walk_their_urls_in_turn() {
        let client = reqwest::Client::new();
        let r = Request::Get { urls: vec!["http://h/a".to_string(), "http://h/b".to_string()].into(), bearer: None };
        let at = |turn| r.build(&client, turn).build().expect("request").url().path().to_string();
        assert_eq!((at(0), at(1), at(2), at(3)), ("/a".into(), "/b".into(), "/a".into(), "/b".into()));
    }
}
