use clap::Parser as _;

/// Start-up failures print one line, `error: <what>: <cause>`, and exit 1.
#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match agora_http::cli::run(agora_http::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", agora_http::cli::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
