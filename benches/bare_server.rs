//! The ceiling the server's HTTP is measured against: a bare actix-web on the same machine,
//! with the same number of workers, answering every request with the same JSON the server
//! answers it with, and nothing else (no middleware, no state, no routing).
//! `benches/http-ceiling.sh` drives it with `wrk` beside the server, each endpoint's requests
//! sent to both alike.
//!
//! Run: `cargo bench --bench bare_server -- 127.0.0.1:18091 [workers] [bodies dir]` (serves until
//! killed). The body for a path is the file in the bodies dir named by the path with each `/`
//! made `_` (the benchmark script writes the server's own answers there); any other path is
//! answered with `/healthz`'s body.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use dashmap::DashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The bodies, read from the dir once per path (a path without a file is remembered as such).
struct Bodies {
    dir: Option<PathBuf>,
    read: DashMap<String, Option<web::Bytes>>,
}

impl Bodies {
    fn of(&self, path: &str) -> Option<web::Bytes> {
        if let Some(known) = self.read.get(path) {
            return known.clone();
        }
        let file = self.dir.as_ref().map(|dir| dir.join(path.replace('/', "_")));
        let body = file.and_then(|file| std::fs::read(file).ok()).map(web::Bytes::from);
        self.read.insert(path.to_string(), body.clone());
        body
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // Cargo adds `--bench`; the address, the workers and the dir are the arguments that are not flags.
    let mut args = std::env::args().skip(1).filter(|arg| !arg.starts_with("--"));
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18091".to_string());
    let workers = args.next().and_then(|workers| workers.parse().ok()).unwrap_or(2);
    let bodies = web::Data::from(Arc::new(Bodies {
        dir: args.next().map(PathBuf::from),
        read: DashMap::new(),
    }));
    println!("bare actix-web listening on http://{addr} with {workers} workers");
    HttpServer::new(move || App::new().app_data(bodies.clone()).default_service(web::to(answer)))
        .workers(workers)
        .bind(addr)?
        .run()
        .await
}

/// The body is read, as the server reads every body it is sent (an unread one would close the
/// connection rather than keep it alive).
async fn answer(request: HttpRequest, bodies: web::Data<Bodies>, _body: web::Bytes) -> HttpResponse {
    match bodies.of(request.path()) {
        Some(body) => HttpResponse::Ok().content_type("application/json").body(body),
        None => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok"}"#),
    }
}
