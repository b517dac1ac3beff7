//! What a client holds open: connections per client, slow bodies and idle sockets under the client
//! timeout, event streams per token. Real sockets on loopback; 127.0.0.2 is another client.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn server_address(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `local` (a loopback address of its own makes another client).
async fn connect_from(app: &TestApp, local: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(server_address(app)).await.unwrap()
}

/// True when the server ends the connection within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A plain request over `stream`; the status line's code.
async fn status_over(stream: &mut TcpStream, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
    let text = String::from_utf8_lossy(&buffer[..read.unwrap().unwrap()]).to_string();
    text[9..12].parse().unwrap_or_else(|_| panic!("{text}"))
}

#[tokio::test]
async fn a_client_past_its_share_of_connections_is_shut_out_and_others_are_not() {
    let app = spawn_app_with(|config| config.max_connections_per_client = 5);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        assert_eq!(status_over(&mut stream, "/healthz").await, 200);
        held.push(stream);
    }
    for _ in 0..20 {
        let mut refused = connect_from(&app, "127.0.0.1").await;
        assert!(
            closed_within(&mut refused, Duration::from_secs(2)).await,
            "a sixth connection stays open"
        );
    }
    let mut other = connect_from(&app, "127.0.0.2").await;
    assert_eq!(
        status_over(&mut other, "/healthz").await,
        200,
        "another client is served"
    );

    drop(held.pop());
    // The server notices the closed connection, then has a place again.
    let mut admitted = false;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let mut again = connect_from(&app, "127.0.0.1").await;
        let request = again.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await;
        let mut buffer = [0u8; 512];
        if request.is_ok() && matches!(again.read(&mut buffer).await, Ok(read) if read > 0) {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "a closed connection gives its place back");
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_at_the_client_timeout_while_writes_go_on() {
    let app = spawn_app_with(|config| config.client_timeout = Duration::from_millis(800));
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        let head = "POST /api/v1/users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 16000\r\n\r\n{";
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let drip = async {
        for _ in 0..30 {
            for stream in slow.iter_mut() {
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let write = async {
        let response = app
            .request(Method::POST, "/api/v1/users")
            .json(&json!({"name": "Honest"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "a write succeeds while slow bodies drip");
    };
    tokio::join!(drip, write);
    for stream in slow.iter_mut() {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "a slow body keeps its connection"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(app.stats().await["users"], 1);
}

#[tokio::test]
async fn a_connection_that_never_sends_its_headers_is_closed_at_the_client_timeout() {
    let app = spawn_app_with(|config| config.client_timeout = Duration::from_millis(500));
    let mut silent = connect_from(&app, "127.0.0.1").await;
    silent.write_all(b"GET /healthz HTTP/1.1\r\nHost:").await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn a_token_has_at_most_two_event_streams() {
    let app = spawn_app_with(|config| config.active_max = 1);
    app.fan("Active").await;
    let fan = app.fan("Waiting").await;
    let first = app.events(&fan).await;
    let second = app.events(&fan).await;
    let third = app
        .get(&format!("/api/v1/queue/tokens/me/events?token={}", fan.token))
        .await;
    assert_eq!(
        third.headers()["retry-after"],
        "5",
        "a stream gone away gives its place back at its next keep-alive"
    );
    assert_problem(third, 429, "RATE_LIMITED").await;
    drop(first);
    drop(second);
    let mut reopened = false;
    for _ in 0..100 {
        let again = app
            .get(&format!("/api/v1/queue/tokens/me/events?token={}", fan.token))
            .await;
        if again.status() == 200 {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened, "a closed stream gives its place back");
}

#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_one_clients_share_of_connections() {
    let app = spawn_app_with(|config| {
        config.max_connections_per_client = 5;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    });
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        assert_eq!(
            status_over(&mut stream, "/healthz").await,
            200,
            "the proxy's clients are many"
        );
        held.push(stream);
    }
    for _ in 0..5 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        assert_eq!(status_over(&mut stream, "/healthz").await, 200);
        held.push(stream);
    }
    let mut sixth = connect_from(&app, "127.0.0.2").await;
    assert!(
        closed_within(&mut sixth, Duration::from_secs(2)).await,
        "an untrusted peer keeps its share"
    );
}
