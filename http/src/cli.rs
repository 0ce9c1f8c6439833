//! The `agora` command line: `serve` (default), `admin create`, `seed` and `ledger verify`.

use std::path::PathBuf;

use agora_engine::{Email, Password, Role, UserId, Username};
use agora_storage::NewUser;
use clap::{Parser, Subcommand};

use crate::auth::PasswordHasher;
use crate::config::Settings;
use crate::startup::{open_store, Application};
use crate::telemetry;

#[derive(Parser)]
#[command(name = "agora", version, about = "Agora realtime marketplace engine")]
pub struct Cli {
    /// TOML file with settings (environment variables AGORA_* override it).
    #[arg(long, global = true, env = "AGORA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Fill an empty data dir with a demo marketplace (refuses if it has any account).
    #[command(long_about = crate::seed::ABOUT)]
    Seed(crate::seed::SeedArgs),
    /// The payments ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Recompute every balance from the entries; exit non-zero on any difference, negative
    /// protected balance, unbalanced transaction or currency that does not sum to zero.
    /// Reads only: it may run next to a live server.
    Verify,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin account (registration cannot).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        username: Option<String>,
    },
}

/// A domain error as one line: the validation problems themselves, not "invalid input".
fn problem(e: &agora_engine::DomainError) -> String {
    match e {
        agora_engine::DomainError::Invalid(f) => f.fields().values().flatten().cloned().collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let (settings, warnings) = Settings::load(cli.config.as_deref())?;
    telemetry::init_logging(&settings);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::info!(settings = ?settings, "starting agora");
            Application::build(settings).await?.run_until_stopped().await?;
        }
        Command::Admin { command: AdminCommand::Create { email, password, username } } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {}", problem(&e)))?;
            let password = Password::parse(&password).map_err(|e| anyhow::anyhow!("--password: {}", problem(&e)))?;
            let username = username
                .map(|u| Username::parse(&u))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--username: {}", problem(&e)))?;
            let store = open_store(&settings).await?;
            let hash = PasswordHasher::new()?.hash(&password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let now = time::OffsetDateTime::now_utc();
            let user = store
                .users()
                .create(NewUser {
                    id: UserId::from_uuid(uuid::Uuid::now_v7()),
                    email,
                    username,
                    role: Role::Admin,
                    first_name: String::new(),
                    last_name: String::new(),
                    password_hash: hash,
                    at: now,
                })
                .await?;
            store.users().update(user.id, |u| u.email_verified = true).await?;
            println!("created admin {} ({})", user.id, user.email);
        }
        Command::Seed(args) => {
            let summary = crate::seed::run(&settings, &args).await?;
            print!("{summary}");
        }
        Command::Ledger { command: LedgerCommand::Verify } => {
            let store = open_store(&settings).await?;
            let report = store.ledger().verify().await?;
            println!(
                "ledger: {} accounts, {} entries, {} transactions, {} still being applied",
                report.accounts, report.entries, report.transactions, report.open
            );
            for p in &report.problems {
                println!("problem: {p}");
            }
            if !report.is_clean() {
                anyhow::bail!("ledger verify found {} problem(s)", report.problems.len());
            }
            println!("ledger: ok");
        }
    }
    Ok(())
}

/// An error and its causes on one line (`what: why: root cause`), duplicates dropped.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
