//! The server: parses flags (and their `CONCERT_*` variables), recovers the data dir, serves until
//! SIGINT or SIGTERM. Logs go to stderr (`RUST_LOG` filters them); stdout carries only the
//! `listening on` line.

use clap::Parser;
use concert_reservation::{Application, Config};
use std::io::Write;
use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    concert_reservation::startup::init_logging("info", config.log_format);
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> std::io::Result<()> {
    let mut application = if config.is_cluster() {
        let clock = std::sync::Arc::new(concert_reservation::clock::SystemClock);
        Application::build_cluster(config, clock).await?
    } else {
        Application::build(config)?
    };
    application.stop_on_signals()?;
    println!("listening on http://{}", application.address());
    std::io::stdout().flush()?;
    application.run_until_stopped().await
}
