//! Builds the whole application: the actors, the HTTP server on its own listener (port 0 picks a
//! free one), used alike by the server binary and the tests.

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::http::metrics::{self, Metrics};
use crate::http::rate_limit::UserRateLimiter;
use crate::http::{self, problem, AppState};
use crate::services::Services;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

/// Time the server gives requests in flight to finish once told to stop.
const SHUTDOWN_GRACE_SECONDS: u64 = 10;

pub struct Application {
    address: SocketAddr,
    server: Server,
    services: Arc<Services>,
}

impl Application {
    /// Binds the listener and starts the actors. Must run inside an actix system.
    pub fn build(config: Config) -> std::io::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock))
    }

    pub fn build_with_clock(config: Config, clock: SharedClock) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        let listener = TcpListener::bind(config.addr)?;
        let address = listener.local_addr()?;
        let services = Services::start(config.clone(), clock);
        let state = web::Data::new(AppState {
            services: services.clone(),
            limiter: UserRateLimiter::new(config.user_rate_limit),
            metrics: Metrics::default(),
        });
        let body_limit = config.body_limit;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| Error::invalid_request(format!("Bad query: {e}.")).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| Error::invalid_request(format!("Bad path: {e}.")).into()),
                )
                .wrap(from_fn(problem::render_problems))
                .wrap(from_fn(metrics::record))
                .configure(http::configure)
        })
        .listen(listener)?
        .shutdown_timeout(SHUTDOWN_GRACE_SECONDS);
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        Ok(Self {
            address,
            server: server.run(),
            services,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Serves until SIGINT or SIGTERM (or the server handle's stop), then stops the actors.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let outcome = self.server.await;
        self.services.threads.stop();
        outcome
    }
}
