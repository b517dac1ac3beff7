//! The real `server` binary: flags and their environment variables, the `listening on` line, and
//! a graceful stop on SIGTERM and SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    base: String,
    _data_dir: tempfile::TempDir,
}

/// The binary on a free port and `data_dir`, with `args` and `env`.
fn server_command(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command.args(["--addr", ":0", "--data-dir"]).arg(data_dir).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Starts the binary with `args` and `env`, and waits for the line that says where it listens.
fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = server_command(data_dir.path(), args, env);
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the server prints a line").unwrap();
    let base = first
        .strip_prefix("listening on ")
        .expect("the line says where it listens")
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{first}"
    );
    Server {
        child,
        base,
        _data_dir: data_dir,
    }
}

impl Server {
    fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn get(url: String, admin_key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .header("X-Admin-Key", admin_key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_server_listens_where_it_says_and_stops_cleanly_on_sigterm() {
    let mut server = start(&["--admin-key", "server-binary-admin-key"], &[]);
    let health = get(format!("{}/healthz", server.base), "k").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    let status = server.signal("-TERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_server_stops_cleanly_on_sigint() {
    let mut server = start(&[], &[]);
    let status = server.signal("-INT");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn every_flag_reads_its_environment_variable_and_a_flag_wins() {
    let server = start(
        &["--active-max", "7"],
        &[
            ("CONCERT_ADMIN_KEY", "key-from-the-environment"),
            ("CONCERT_ACTIVE_MAX", "3"),
        ],
    );
    let queue = get(
        format!("{}/api/v1/admin/queue", server.base),
        "key-from-the-environment",
    )
    .await;
    assert_eq!(queue.status(), 200);
    assert_eq!(queue.json::<serde_json::Value>().await.unwrap()["activeMax"], 7);
}

#[test]
fn a_nonsense_flag_value_is_refused_before_serving() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--hold-ttl", "soon"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--hold-ttl"), "{message}");
}

/// Runs the binary with `args` and `env` and expects it to refuse to start.
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .args(["--addr", ":0", "--data-dir"])
        .arg(data_dir.path())
        .args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
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

async fn post(url: String, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A fan's token in a server with one ACTIVE slot already taken: WAITING.
async fn waiting_token(base: &str) -> String {
    for name in ["first", "second"] {
        let user = post(format!("{base}/api/v1/users"), serde_json::json!({"name": name})).await;
        let queue = post(
            format!("{base}/api/v1/queue/tokens"),
            serde_json::json!({"userId": user["userId"]}),
        )
        .await;
        if queue["status"] == "WAITING" {
            return queue["token"].as_str().unwrap().to_string();
        }
    }
    panic!("the second fan should wait behind the first");
}

#[tokio::test]
async fn a_stop_ends_open_event_streams_cleanly_instead_of_cutting_them() {
    use futures_util::StreamExt;
    let mut server = start(&["--active-max", "1"], &[]);
    let token = waiting_token(&server.base).await;
    let url = format!("{}/api/v1/queue/tokens/me/events?token={token}", server.base);
    let mut stream = reqwest::get(url).await.unwrap().bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"WAITING\""));

    let status = server.signal("-TERM");
    assert!(status.success(), "{status:?}");
    // A cut connection would surface as an error from an unfinished chunked body.
    while let Some(chunk) = stream.next().await {
        chunk.expect("the stream ends cleanly");
    }
}

/// What the server writes to stderr between its start and a SIGTERM, run with `args`.
fn stderr_of_a_run(args: &[&str]) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = server_command(data_dir.path(), args, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("listening on "));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(killed.unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stderr).unwrap()
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
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 1024 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_server"))
        .args(["--addr", ":0", "--snapshot-interval", "200ms", "--data-dir"])
        .arg(data_dir.path())
        .env("CONCERT_CLIENT_TIMEOUT", "2s")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines.next().unwrap().unwrap().replace("listening on ", "");
    let address: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();

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

    let client = reqwest::Client::new();
    let mut registered = None;
    for _ in 0..50 {
        let response = client
            .post(format!("{base}/api/v1/users"))
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
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
