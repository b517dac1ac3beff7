//! The real `server` binary: flags and their environment variables, the `listening on` line, and
//! a graceful stop on SIGTERM and SIGINT.

mod common;

use common::client::Client;
use common::process::{Binary, Log, SERVER};
use reqwest::Method;

/// The binary on a free port and a data dir of its own, with `args` and `env`.
fn server(args: &[&str], env: &[(&str, &str)]) -> Binary {
    Binary::server_on_a_fresh_dir().args(args).env(env)
}

#[tokio::test]
async fn the_server_listens_where_it_says_and_stops_cleanly_on_sigterm() {
    let mut server = server(&["--admin-key", "server-binary-admin-key"], &[]).start();
    let health = server.api.get_plain("/healthz").await;
    assert_eq!(health["status"], "ok");
    let status = server.process.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_server_stops_cleanly_on_sigint() {
    let mut server = server(&[], &[]).start();
    let status = server.process.signal(libc::SIGINT);
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn every_flag_reads_its_environment_variable_and_a_flag_wins() {
    let server = server(
        &["--active-max", "7"],
        &[
            ("CONCERT_ADMIN_KEY", "key-from-the-environment"),
            ("CONCERT_ACTIVE_MAX", "3"),
        ],
    )
    .start();
    let api = server.api.with_admin_key("key-from-the-environment");
    let queue = api.get_plain("/api/v1/admin/queue").await;
    assert_eq!(queue["activeMax"], 7);
}

#[test]
fn a_nonsense_flag_value_is_refused_before_serving() {
    let output = Binary::new(SERVER).args(["--hold-ttl", "soon"]).output();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--hold-ttl"), "{message}");
}

/// Runs the binary with `args` and `env` and expects it to refuse to start.
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = server(args, env).output();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_empty_or_short_admin_key_is_refused_at_start() {
    for (args, env) in [
        (&["--admin-key", ""][..], &[][..]),
        (&["--admin-key", "short-key"][..], &[][..]),
        (&[][..], &[("CONCERT_ADMIN_KEY", "")][..]),
        (&[][..], &[("CONCERT_ADMIN_KEY", "fifteen-chars!!")][..]),
    ] {
        let (code, message) = refused_start(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {message}");
        assert!(message.contains("at least 16 characters"), "{message}");
    }
}

/// A fan's token in a server with one ACTIVE slot already taken: WAITING.
async fn waiting_token(api: &Client) -> String {
    for name in ["first", "second"] {
        let user = api.post("/api/v1/users", None, serde_json::json!({"name": name})).await;
        let body = serde_json::json!({"userId": user["userId"]});
        let queue = api.post("/api/v1/queue/tokens", None, body).await;
        if queue["status"] == "WAITING" {
            return queue["token"].as_str().unwrap().to_string();
        }
    }
    panic!("the second fan should wait behind the first");
}

#[tokio::test]
async fn a_stop_ends_open_event_streams_cleanly_instead_of_cutting_them() {
    use futures_util::StreamExt;
    let mut server = server(&["--active-max", "1"], &[]).start();
    let token = waiting_token(&server.api).await;
    let path = format!("/api/v1/queue/tokens/me/events?token={token}");
    let events = server.api.request(Method::GET, &path).send().await.unwrap();
    let mut stream = events.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"WAITING\""));

    let status = server.process.terminate();
    assert!(status.success(), "{status:?}");
    // A cut connection would surface as an error from an unfinished chunked body.
    while let Some(chunk) = stream.next().await {
        chunk.expect("the stream ends cleanly");
    }
}

/// What the server writes to stderr between its start and a SIGTERM, run with `args`.
fn stderr_of_a_run(args: &[&str]) -> String {
    let mut server = server(args, &[]).log(Log::Capture).start();
    assert!(server.process.terminate().success());
    server.process.captured_log()
}

#[test]
fn logs_to_a_file_carry_no_colour_codes_and_json_logs_are_json() {
    let text = stderr_of_a_run(&[]);
    assert!(text.contains("state recovered"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log that is no terminal: {text:?}"
    );

    let json = stderr_of_a_run(&["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["fields"]["message"] == "state recovered"),
        "{json}"
    );
}

/// Lets this test process open as many sockets as the system allows.
fn raise_own_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// Slow-body connections from `client` (a loopback address): headers that promise 16,000 bytes,
/// then one.
async fn slow_bodies(address: std::net::SocketAddr, client: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut streams = Vec::new();
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{client}:0").parse().unwrap()).unwrap();
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), socket.connect(address)).await
        else {
            continue;
        };
        let head = "POST /api/v1/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 16000\r\n\r\n{";
        if stream.write_all(head.as_bytes()).await.is_ok() {
            streams.push(stream);
        }
    }
    streams
}

#[tokio::test]
async fn a_flood_of_slow_connections_under_a_low_descriptor_limit_never_stops_writes() {
    raise_own_descriptor_limit();
    let server = server(&["--snapshot-interval", "200ms"], &[("CONCERT_CLIENT_TIMEOUT", "2s")])
        .after_shell("ulimit -n 1024")
        .start();
    let address: std::net::SocketAddr = server.api.base().trim_start_matches("http://").parse().unwrap();

    let mut flood = Vec::new();
    for client in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"] {
        flood.extend(slow_bodies(address, client, 220).await);
    }
    // Snapshot ticks come and go while the flood holds every connection it can.
    assert!(
        flood.len() > 1_024,
        "the flood holds more connections than the server has descriptors"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    drop(flood);

    let mut registered = None;
    for _ in 0..50 {
        let response = server
            .api
            .request(Method::POST, "/api/v1/users")
            .json(&serde_json::json!({"name": "After the flood"}))
            .send()
            .await;
        if let Ok(response) = response {
            registered = Some(response.status());
            if response.status() == 201 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        registered.map(|status| status.as_u16()),
        Some(201),
        "writes work again on their own"
    );
    server.api.get_plain("/healthz").await;
}

#[tokio::test]
async fn a_body_that_comes_too_slowly_is_given_up_after_the_client_timeout() {
    use tokio::io::AsyncReadExt;
    let server = server(&[], &[("CONCERT_CLIENT_TIMEOUT", "1s")]).start();
    let address: std::net::SocketAddr = server.api.base().trim_start_matches("http://").parse().unwrap();
    let mut slow = slow_bodies(address, "127.0.0.2", 1).await;
    let mut stream = slow.pop().expect("a connection");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server still waits for the body after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
}
