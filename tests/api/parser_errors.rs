//! Requests the HTTP parser refuses before any route sees them (a head too large, a request
//! target too long, bytes that are not HTTP, a head that never finishes) are answered with
//! problem documents like every other error. Raw sockets on loopback, since no HTTP client sends
//! such requests.

use crate::helpers::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer off the wire: status, lower-cased headers, body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn problem(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let length: usize = self.header("content-length").unwrap().parse().unwrap();
        assert_eq!(length, self.body.len(), "content-length states the body");
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Sends `request` as it is and reads every answer until the server closes the connection.
async fn exchange(app: &TestApp, request: &[u8]) -> Vec<RawAnswer> {
    let address: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The server may answer and close before all of an oversized request is sent.
    let _ = stream.write_all(request).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 8192];
        while let Ok(n @ 1..) = stream.read(&mut buffer).await {
            received.extend_from_slice(&buffer[..n]);
        }
    });
    read.await
        .expect("the server closes the connection after a parser error");
    parse_answers(&received)
}

fn parse_answers(mut bytes: &[u8]) -> Vec<RawAnswer> {
    let mut answers = Vec::new();
    while !bytes.is_empty() {
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
        let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
        let mut lines = head.trim_end().split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, value)| value.parse().unwrap());
        answers.push(RawAnswer {
            status,
            headers,
            body: bytes[head_end..head_end + length].to_vec(),
        });
        bytes = &bytes[head_end + length..];
    }
    answers
}

fn only(mut answers: Vec<RawAnswer>) -> RawAnswer {
    assert_eq!(answers.len(), 1, "one answer");
    answers.pop().unwrap()
}

#[tokio::test]
async fn two_hundred_headers_are_headers_too_large_as_a_problem() {
    let app = spawn_app();
    let mut request = String::from("GET /api/v1/concerts HTTP/1.1\r\nHost: test\r\n");
    for n in 0..200 {
        request.push_str(&format!("X-Filler-{n}: {n}\r\n"));
    }
    request.push_str("\r\n");
    let answer = only(exchange(&app, request.as_bytes()).await);
    assert_eq!(answer.status, 431);
    let problem = answer.problem();
    assert_eq!(problem["code"], "HEADERS_TOO_LARGE");
    assert_eq!(problem["status"], 431);
    assert_eq!(problem["type"], "/problems/headers-too-large");
}

#[tokio::test]
async fn a_head_over_128_kib_is_headers_too_large_as_a_problem() {
    let app = spawn_app();
    let filler = "a".repeat(200 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Filler: {filler}\r\n\r\n");
    let answer = only(exchange(&app, request.as_bytes()).await);
    assert_eq!(answer.status, 431);
    assert_eq!(answer.problem()["code"], "HEADERS_TOO_LARGE");
}

#[tokio::test]
async fn a_100_kib_request_target_is_uri_too_long_as_a_problem() {
    let app = spawn_app();
    let request = format!(
        "GET /api/v1/concerts/{} HTTP/1.1\r\nHost: test\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let answer = only(exchange(&app, request.as_bytes()).await);
    assert_eq!(answer.status, 414);
    assert_eq!(answer.problem()["code"], "URI_TOO_LONG");
}

#[tokio::test]
async fn bytes_that_are_not_http_are_an_invalid_request_as_a_problem() {
    let app = spawn_app();
    for garbage in [
        &b"HELLO THERE\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nBad Header Name: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Control: a\x01b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    ] {
        let answer = only(exchange(&app, garbage).await);
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(garbage));
        let problem = answer.problem();
        assert_eq!(problem["code"], "INVALID_REQUEST");
        assert_eq!(problem["status"], 400);
    }
}

#[tokio::test]
async fn a_head_that_never_finishes_is_request_timeout_as_a_problem() {
    let app = spawn_app_with(|config| config.client_timeout = Duration::from_millis(300));
    let answer = only(exchange(&app, b"GET /healthz HTTP/1.1\r\nHost:").await);
    assert_eq!(answer.status, 408);
    assert_eq!(answer.problem()["code"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn answers_before_a_malformed_request_on_one_connection_are_untouched() {
    let app = spawn_app();
    let mut request = Vec::new();
    let body = json!({"name": "Pipelined"}).to_string();
    request.extend_from_slice(
        format!(
            "POST /api/v1/users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
    request.extend_from_slice(b"NOT HTTP AT ALL\r\n\r\n");
    let answers = exchange(&app, &request).await;
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(statuses, [201, 200, 400]);
    let created: Value = serde_json::from_slice(&answers[0].body).unwrap();
    assert_eq!(created["name"], "Pipelined");
    assert_eq!(answers[2].problem()["code"], "INVALID_REQUEST");
    assert_eq!(app.stats().await["users"], 1);
}

#[tokio::test]
async fn the_server_serves_on_after_parser_errors() {
    let app = spawn_app();
    for _ in 0..20 {
        let answer = only(exchange(&app, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").await);
        assert_eq!(answer.status, 400);
        assert_eq!(answer.problem()["code"], "INVALID_REQUEST");
    }
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_document_names_what_the_parser_refuses() {
    let app = spawn_app();
    let document = body(app.get("/openapi.json").await).await;
    let refused = &document["components"]["responses"]["ParserRefused"];
    let description = refused["description"].as_str().unwrap();
    for code in [
        "INVALID_REQUEST",
        "REQUEST_TIMEOUT",
        "URI_TOO_LONG",
        "HEADERS_TOO_LARGE",
    ] {
        assert!(description.contains(code), "{code} is not named");
    }
    assert_eq!(
        refused["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}
