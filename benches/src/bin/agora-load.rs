//! `agora-load`: end-to-end load generator for a running Agora server.
//!
//! `agora-load rest --url http://127.0.0.1:8080 --concurrency 32 --duration 20s --scenario auth-me`
//! registers the accounts the scenario needs, then runs `--concurrency` workers, each sending
//! one request after another, for `--duration`, and prints requests done, errors by status,
//! req/s and latency percentiles (`--json`: one JSON object on stdout).
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
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    users: Option<u32>,
    /// Per-request timeout; a request that takes longer counts as a transport error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object on stdout; the text summary then goes to stderr.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Scenario {
    /// GET /api/auth/me with a bearer access token (JWT check, session and user reads).
    AuthMe,
    /// GET /api/health (no storage).
    Health,
    /// POST /api/auth/login (argon2id verify + a session write; slow on purpose).
    Login,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::AuthMe => "auth-me",
            Scenario::Health => "health",
            Scenario::Login => "login",
        }
    }

    fn needs_accounts(self) -> bool {
        !matches!(self, Scenario::Health)
    }
}

/// What one worker sends, over and over.
#[derive(Clone)]
enum Request {
    Get { url: String, bearer: Option<String> },
    PostJson { url: String, body: serde_json::Value },
}

impl Request {
    fn build(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        match self {
            Request::Get { url, bearer: Some(token) } => client.get(url).bearer_auth(token),
            Request::Get { url, bearer: None } => client.get(url),
            Request::PostJson { url, body } => client.post(url).json(body),
        }
    }
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

    let accounts = if args.scenario.needs_accounts() {
        let n = args.users.map_or(concurrency, |u| u as usize);
        eprintln!("registering {n} accounts at {base} ...");
        let started = Instant::now();
        let accounts = api::register_accounts(&client, &base, n).await?;
        eprintln!("registered {n} accounts in {:.1}s", started.elapsed().as_secs_f64());
        accounts
    } else {
        Vec::new()
    };

    let requests: Vec<Request> = (0..concurrency).map(|w| request_for(args.scenario, &base, &accounts, w)).collect();
    eprintln!(
        "running scenario {} with {concurrency} workers for {:.1}s ...",
        args.scenario.name(),
        args.duration.as_secs_f64()
    );
    let started = Instant::now();
    let deadline = started + args.duration;
    let workers: Vec<_> =
        requests.into_iter().map(|request| tokio::spawn(worker(client.clone(), request, deadline))).collect();
    let mut recorder = Recorder::new();
    for w in workers {
        recorder.merge(w.await.context("a worker panicked")?);
    }
    let elapsed = started.elapsed();
    let saw_429 = recorder.count(429) > 0;
    let summary = recorder.summary(elapsed);

    let text = text_summary(&args, &base, accounts.len(), &summary);
    if args.json {
        eprint!("{text}");
        let report = Report {
            tool: "agora-load",
            subcommand: "rest",
            scenario: args.scenario,
            url: &base,
            concurrency: args.concurrency,
            duration_secs: args.duration.as_secs_f64(),
            users: accounts.len(),
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

fn request_for(scenario: Scenario, base: &str, accounts: &[Account], worker: usize) -> Request {
    let account = (!accounts.is_empty()).then(|| &accounts[worker % accounts.len()]);
    match (scenario, account) {
        (Scenario::AuthMe, Some(a)) => {
            Request::Get { url: format!("{base}/api/auth/me"), bearer: Some(a.access.clone()) }
        }
        (Scenario::Login, Some(a)) => Request::PostJson {
            url: format!("{base}/api/auth/login"),
            body: serde_json::json!({ "email": a.email, "password": PASSWORD }),
        },
        // Health, or (never: accounts are registered first) a scenario without accounts.
        _ => Request::Get { url: format!("{base}/api/health"), bearer: None },
    }
}

/// Sends `request` back to back until `deadline`; the request in flight at the deadline
/// still completes and counts.
async fn worker(client: reqwest::Client, request: Request, deadline: Instant) -> Recorder {
    let mut recorder = Recorder::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        match request.build(&client).send().await {
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
    recorder
}

fn text_summary(args: &RestArgs, base: &str, users: usize, s: &Summary) -> String {
    let errors = if s.errors.is_empty() {
        "none".to_string()
    } else {
        s.errors.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" ")
    };
    let l = &s.latency_us;
    format!(
        "agora-load rest  scenario={}  url={base}  concurrency={}  duration={:.1}s  users={users}\n\
         \x20 requests  {} in {:.2}s (ok {})\n\
         \x20 req/s     {:.1}\n\
         \x20 latency   p50 {}  p90 {}  p99 {}  max {}  (mean {})\n\
         \x20 errors    {errors}\n",
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

    #[test]
    fn scenarios_pick_their_request() {
        let accounts = vec![
            Account { email: "a@x.test".into(), user_id: "ua".into(), access: "ta".into() },
            Account { email: "b@x.test".into(), user_id: "ub".into(), access: "tb".into() },
        ];
        match request_for(Scenario::AuthMe, "http://h", &accounts, 3) {
            Request::Get { url, bearer } => {
                assert_eq!(url, "http://h/api/auth/me");
                assert_eq!(bearer.as_deref(), Some("tb"));
            }
            Request::PostJson { .. } => panic!("auth-me is a GET"),
        }
        match request_for(Scenario::Login, "http://h", &accounts, 0) {
            Request::PostJson { url, body } => {
                assert_eq!(url, "http://h/api/auth/login");
                assert_eq!(body["email"], "a@x.test");
                assert_eq!(body["password"], PASSWORD);
            }
            Request::Get { .. } => panic!("login is a POST"),
        }
        assert!(matches!(
            request_for(Scenario::Health, "http://h", &[], 0),
            Request::Get { ref url, bearer: None } if url == "http://h/api/health"
        ));
    }
}
