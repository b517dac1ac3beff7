//! The server: parses flags (and their `CONCERT_*` variables), serves until SIGINT or SIGTERM.
//! Logs go to stderr (`RUST_LOG` filters them); stdout carries only the `listening on` line.

use clap::Parser;
use concert_reservation::{Application, Config};
use std::io::Write;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let mut application = Application::build(config)?;
    application.stop_on_signals()?;
    println!("listening on http://{}", application.address());
    std::io::stdout().flush()?;
    application.run_until_stopped().await
}
