//! The demo: the whole server in this process with a seeded catalog, fans with money and, with
//! `--crowd N`, simulated fans competing for seats. Every server flag passes through.

use concert_reservation::demo::{self, DemoOptions};
use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    let options = DemoOptions::parse_with_demo_defaults();
    concert_reservation::startup::init_logging("warn", options.server.log_format);
    match demo::run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
