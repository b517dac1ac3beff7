//! Builds the whole application: the actors, the HTTP server on its own listener (port 0 picks a
//! free one), used alike by the server binary and the tests.

use crate::clock::{SharedClock, SystemClock};
use crate::cluster;
use crate::cluster::gateway::{peer_key, Gateway};
use crate::cluster::node::{EngineServer, Node, StartEngine};
use crate::config::{Config, LogFormat};
use crate::error::Error;
use crate::http::connections::{admit_connection, BodyTime, Occupancy};
use crate::http::metrics::{self, Metrics};
use crate::http::rate_limit::{ClientRateLimiter, UserRateLimiter};
use crate::http::seat_maps::SeatMaps;
use crate::http::wire::ProblemStream;
use crate::http::{self, envelope, AppState};
use crate::services::Services;
use actix_http::{HttpService, Protocol};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpServer};
use std::io::IsTerminal;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// How often users whose rate budget is full again are forgotten.
const RATE_LIMIT_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Event streams one token may have open: a page and a spare for a reconnect.
const EVENT_STREAMS_PER_TOKEN: u32 = 2;

/// Time the server gives requests in flight to finish once told to stop.
const SHUTDOWN_GRACE_SECONDS: u64 = 10;

pub struct Application {
    address: SocketAddr,
    server: Server,
    /// `/metrics` without the key, on `--metrics-addr`.
    metrics_server: Option<(SocketAddr, Server)>,
    role: Role,
    stop_signals: Option<StopSignals>,
}

/// What the process serves.
enum Role {
    /// Everything, from the data dir.
    Single(Arc<Services>),
    /// A node of a cluster: its gateway, and the engine while it holds the lease.
    Cluster(Arc<Node>),
}

/// SIGINT and SIGTERM, listened for from the moment they are registered.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn received(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received; stopping"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received; stopping"),
        }
    }
}

impl Application {
    /// Binds the listener and starts the actors. Must run inside an actix system.
    pub fn build(config: Config) -> std::io::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock))
    }

    pub fn build_with_clock(config: Config, clock: SharedClock) -> std::io::Result<Self> {
        let listener = listen(config.addr)?;
        let address = listener.local_addr()?;
        let services = Services::recover(config.clone(), clock)?;
        spawn_snapshots(services.clone());
        let state = app_state(services.clone(), None);
        let _background = spawn_upkeep(&state);
        let metrics_server = match config.metrics_addr {
            Some(address) => Some(metrics_server(address, state.clone())?),
            None => None,
        };
        let body_limit = config.body_limit;
        let server = serve(listener, &config, move || application(state.clone(), body_limit))?;
        Ok(Self {
            address,
            server,
            metrics_server,
            role: Role::Single(services),
            stop_signals: None,
        })
    }

    /// A node of a cluster (`--nats`): joins it, serves every request through its gateway, and
    /// serves the partitions itself whenever it holds the engine's lease. Must run inside an
    /// actix system.
    pub async fn build_cluster(mut config: Config, clock: SharedClock) -> std::io::Result<Self> {
        config.check().map_err(std::io::Error::other)?;
        let admin_key = config.admin_key.clone().expect("checked: a cluster has an admin key");
        let listener = listen(config.addr)?;
        let address = listener.local_addr()?;
        // With a port of 0, only the bound listener knows the port the others must use.
        config.advertise_url.get_or_insert_with(|| format!("http://{address}"));
        let peer_listener = listen(config.peer_addr)?;
        let peer_url = format!("http://{}", peer_listener.local_addr()?);
        let start_engine = engine_starter(&config, peer_listener, peer_key(&admin_key));
        let node = Node::join(engine_config(&config), clock, peer_url, start_engine)
            .await
            .map_err(std::io::Error::other)?;
        actix_web::rt::spawn(node.clone().run());
        let trusted = config.trusted_proxies.clone();
        let gateway = web::Data::new(Gateway::new(node.clone(), admin_key, trusted));
        let body_limit = config.body_limit;
        let server = serve(listener, &config, move || {
            gateway_application(gateway.clone(), body_limit)
        })?;
        Ok(Self {
            address,
            server,
            metrics_server: None,
            role: Role::Cluster(node),
            stop_signals: None,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Where `/metrics` is served without the key, if `--metrics-addr` was given.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|(address, _)| *address)
    }

    /// From now on SIGINT and SIGTERM stop the application gracefully: no new connections,
    /// requests in flight finish. Call it before telling anyone the address, so a signal sent as
    /// soon as the address is known is not lost.
    pub fn stop_on_signals(&mut self) -> std::io::Result<()> {
        self.stop_signals = Some(StopSignals::register()?);
        Ok(())
    }

    /// Serves until stopped (by a signal, if `stop_on_signals` was called), then stops the actors.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        if let Some(signals) = self.stop_signals {
            let server = self.server.handle();
            let stopping = match &self.role {
                Role::Single(services) => Some(services.stopping.clone()),
                Role::Cluster(_) => None,
            };
            actix_web::rt::spawn(async move {
                signals.received().await;
                if let Some(stopping) = stopping {
                    stopping.send_replace(true);
                }
                server.stop(true).await;
            });
        }
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let outcome = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        match &self.role {
            Role::Single(services) => finish(services).await,
            Role::Cluster(node) => node.stop().await,
        }
        outcome
    }
}

/// Time a connection gets to close once its answer is written, as actix-web's server gives.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The HTTP server, assembled as actix-web's `HttpServer` would, but over a stream that turns the
/// parser's own empty error answers into problem documents ([`ProblemStream`]).
fn serve<F, T, B>(listener: TcpListener, config: &Config, app: F) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Clone + Send + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let address = listener.local_addr()?;
    let client_timeout = config.client_timeout;
    let per_client = Occupancy::new(config.max_connections_per_client);
    let trusted_proxies = config.trusted_proxies.clone();
    let workers = worker_count(config);
    let max_connections = connections_within_descriptors(config.max_connections);
    let builder = actix_server::Server::build();
    let shutting_down = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers)
        // The bound is kept per worker; together they hold the configured total.
        .max_concurrent_connections(max_connections.div_ceil(workers))
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE_SECONDS)
        .listen("http", listener, move || {
            let shutting_down = shutting_down.clone();
            let per_client = per_client.clone();
            let trusted_proxies = trusted_proxies.clone();
            let app = app.clone();
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = shutting_down.clone();
                    async move { signal.notified().await }
                })
                .client_request_timeout(client_timeout)
                .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
                .local_addr(address)
                .on_connect_ext(move |stream: &ProblemStream, extensions| {
                    admit_connection(&per_client, &trusted_proxies, stream.get_ref(), extensions)
                })
                .finish(map_config(
                    app()
                        .app_data(BodyTime(client_timeout))
                        .into_factory()
                        .map_err(|error| error.error_response()),
                    move |_| AppConfig::__priv_test_new(false, address.to_string(), address),
                ));
            fn_service(|stream: TcpStream| async move {
                let peer = stream.peer_addr().ok();
                Ok((ProblemStream::new(stream), Protocol::Http1, peer))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// The service's routes inside the middleware every request passes.
fn application(
    state: web::Data<AppState>,
    body_limit: usize,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(
            web::QueryConfig::default().error_handler(|e, _| Error::invalid_request(format!("Bad query: {e}.")).into()),
        )
        .app_data(
            web::PathConfig::default().error_handler(|e, _| Error::invalid_request(format!("Bad path: {e}.")).into()),
        )
        .wrap(from_fn(envelope::engine))
        .configure(http::configure)
}

/// A cluster node's public routes: every request goes to the node serving the partitions.
fn gateway_application(
    gateway: web::Data<Gateway>,
    body_limit: usize,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // The engine enforces the body limit and answers 413 itself; the gateway only bounds what
    // it holds.
    let held_at_most = body_limit.saturating_mul(2).max(GATEWAY_BODY_MIN);
    App::new()
        .app_data(gateway)
        .app_data(web::PayloadConfig::new(held_at_most))
        .wrap(from_fn(envelope::gateway))
        .configure(cluster::gateway::configure)
}

/// The most a gateway holds of a body, whatever `--body-limit` says: more than any route takes
/// (a concert of 366 dates, 256 KiB), so that the engine answers as one process would.
const GATEWAY_BODY_MIN: usize = 512 * 1024;

/// The application state of the engine on `services`; with `peer_key`, it serves only gateways
/// that prove themselves with it.
fn app_state(services: Arc<Services>, peer_key: Option<(String, String)>) -> web::Data<AppState> {
    let config = &services.config;
    web::Data::new(AppState {
        limiter: UserRateLimiter::new(config.user_rate_limit, services.clock.clone()),
        clients: ClientRateLimiter::new(config.client_rate_limit, services.clock.clone()),
        streams: Occupancy::new(EVENT_STREAMS_PER_TOKEN),
        metrics: Metrics::default(),
        seat_maps: SeatMaps::default(),
        sale_reads: Default::default(),
        peer_key,
        services,
    })
}

/// The engine's background upkeep: rate limiters pruned, live figures gathered.
fn spawn_upkeep(state: &web::Data<AppState>) -> [actix_web::rt::task::JoinHandle<()>; 2] {
    [
        spawn_rate_limit_pruning(state.clone()),
        actix_web::rt::spawn(metrics::refresh_figures_periodically(state.clone())),
    ]
}

/// How a cluster node starts its engine when it takes the lease: on the peer listener, believing
/// `X-Forwarded-For` from any gateway that shows the peer key.
fn engine_starter(config: &Config, peer_listener: TcpListener, peer_key: String) -> StartEngine {
    let engine_config = engine_config(config);
    Box::new(move |services: Arc<Services>, term: String| {
        let state = app_state(services, Some((peer_key.clone(), term)));
        let upkeep = spawn_upkeep(&state);
        let body_limit = engine_config.body_limit;
        let server = serve(peer_listener.try_clone()?, &engine_config, move || {
            application(state.clone(), body_limit)
        })?;
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(Box::new(Engine { handle, upkeep }) as Box<dyn EngineServer>)
    })
}

/// The configuration of a cluster node's engine: it believes the `X-Forwarded-For` of every
/// gateway, which passes only the client's address as it found it.
fn engine_config(config: &Config) -> Config {
    let mut engine = config.clone();
    engine.trusted_proxies = vec!["0.0.0.0/0".parse().expect("a net"), "::/0".parse().expect("a net")];
    engine
}

/// A running engine server and its upkeep.
struct Engine {
    handle: actix_web::dev::ServerHandle,
    upkeep: [actix_web::rt::task::JoinHandle<()>; 2],
}

impl EngineServer for Engine {
    fn stop(&self) -> futures_util::future::BoxFuture<'static, ()> {
        for task in &self.upkeep {
            task.abort();
        }
        let handle = self.handle.clone();
        Box::pin(async move { handle.stop(true).await })
    }
}

/// A listener with `/metrics` alone, needing no key: for a scraper on a private network.
fn metrics_server(address: SocketAddr, state: web::Data<AppState>) -> std::io::Result<(SocketAddr, Server)> {
    let listener = listen(address)?;
    let address = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics::prometheus_unguarded))
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(1)
    .run();
    Ok((address, server))
}

/// After the last request: a final snapshot, the journal's last records on disk, then the actors
/// stop.
async fn finish(services: &Services) {
    if let Err(error) = services.snapshot().await {
        tracing::error!(%error, "the final snapshot failed; the journal still holds everything");
    }
    services.log.stop().await;
    services.threads.stop();
}

/// File descriptors kept for everything but client connections: journal segments, snapshots,
/// the data dir, the listener, the runtime's own.
pub const DESCRIPTORS_RESERVED: u64 = 128;

/// The connection bound, lowered when the process may not open that many files: connections
/// past the descriptor limit would fail the journal's next file instead of being refused at the
/// door. The soft limit is raised to the hard one first, as far as the system allows.
fn connections_within_descriptors(configured: u32) -> usize {
    let Some(limit) = raise_descriptor_limit() else {
        return configured as usize;
    };
    let room = limit.saturating_sub(DESCRIPTORS_RESERVED).max(1);
    if u64::from(configured) > room {
        tracing::warn!(
            configured,
            descriptors = limit,
            lowered_to = room,
            "--max-connections is more than the descriptor limit allows; raise `ulimit -n` to serve more"
        );
        return room as usize;
    }
    configured as usize
}

/// The soft descriptor limit after raising it to the hard one; None when unknown or unlimited.
/// The load harness raises its own with it too.
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Connections the kernel completes and holds for the server to accept: when an on-sale opens,
/// thousands arrive in the same second, and the usual 128 would turn most of them away.
const LISTEN_BACKLOG: i32 = 4096;

fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(address), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// HTTP workers: as configured, or one per core.
fn worker_count(config: &Config) -> usize {
    if config.workers > 0 {
        return config.workers;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn spawn_snapshots(services: Arc<Services>) {
    actix_web::rt::spawn(async move { services.snapshot_periodically().await });
}

/// Keeps the rate limiters' memory to the users and clients active in the last minute.
fn spawn_rate_limit_pruning(state: web::Data<AppState>) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(RATE_LIMIT_PRUNE_INTERVAL);
        loop {
            interval.tick().await;
            state.limiter.forget_idle();
            state.clients.forget_idle();
        }
    })
}

/// Logs go to stderr, filtered by `RUST_LOG` or else by `default_filter`; stdout is kept for the
/// lines the binaries print for people and scripts. Colour codes only reach a terminal: in a file
/// they are noise a log collector would have to strip.
pub fn init_logging(default_filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}
