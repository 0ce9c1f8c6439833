use clap::Parser as _;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    agora_http::cli::run(agora_http::cli::Cli::parse()).await
}
