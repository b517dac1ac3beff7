//! The ceiling the server's HTTP is measured against: a bare actix-web on the same machine,
//! with the same number of workers, answering every request with `/healthz`'s JSON body and
//! nothing else (no middleware, no state). `benches/http-ceiling.sh` drives it
//! with `wrk` beside the server, each endpoint's requests sent to both alike.
//!
//! Run: `cargo bench --bench bare_server -- 127.0.0.1:18091 [workers]` (serves until killed).

use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // Cargo adds `--bench`; the address and the workers are the arguments that are not flags.
    let mut args = std::env::args().skip(1).filter(|arg| !arg.starts_with("--"));
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18091".to_string());
    let workers = args.next().and_then(|workers| workers.parse().ok()).unwrap_or(2);
    println!("bare actix-web listening on http://{addr} with {workers} workers");
    HttpServer::new(|| App::new().default_service(web::to(healthz)))
        .workers(workers)
        .bind(addr)?
        .run()
        .await
}

/// The body is read, as the server reads every body it is sent (an unread one would close the
/// connection rather than keep it alive).
async fn healthz(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
