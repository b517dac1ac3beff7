//! Raw HTTP/1.1 connections for what a well-behaved client library will not do: a body sent a
//! byte at a time, an event stream held open and never read for meaning.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The server as a socket address and the `Host` it is called by.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: SocketAddr,
    pub host: String,
}

impl Target {
    /// Resolves the base URL's host and port.
    pub async fn resolve(base: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        let host = url.host_str().ok_or_else(|| format!("{base} names no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{base} names no port"))?;
        let address = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(Self { address, host })
    }

    /// A connection to the server sent from `source`, or from the default address.
    pub async fn connect(&self, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
        let socket = match self.address {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(source) = source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        socket.connect(self.address).await
    }
}

/// Bytes a slow body says it has: well under the server's default body limit (16 KiB), so the
/// server must wait for it rather than refuse it as too large.
pub const SLOW_BODY_BYTES: usize = 8 * 1024;

/// How a slow body's connection ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlowEnd {
    /// The connection could not be made or its headers sent.
    NotOpened,
    /// The server closed the connection this long after the headers were sent, having answered
    /// first, if it did, with this status so long after them.
    Cut {
        after: Duration,
        answer: Option<(u16, Duration)>,
    },
    /// Still open when the harness gave up on it.
    Uncut,
}

/// Sends `POST /api/v1/users` headers that promise [`SLOW_BODY_BYTES`], then a byte every `pace`
/// (never the last one), until the server closes the connection or `give_up` has passed.
/// `opened` counts the connections whose headers are sent.
pub async fn slow_body(
    target: &Target,
    source: Option<IpAddr>,
    pace: Duration,
    give_up: Duration,
    opened: &AtomicUsize,
) -> SlowEnd {
    let Ok(mut stream) = target.connect(source).await else {
        return SlowEnd::NotOpened;
    };
    let headers = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {SLOW_BODY_BYTES}\r\n\r\n",
        target.host
    );
    if stream.write_all(headers.as_bytes()).await.is_err() {
        return SlowEnd::NotOpened;
    }
    let sent = Instant::now();
    opened.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = stream.into_split();
    let mut answer = None;
    let mut buffer = [0u8; 1024];
    let mut ticks = tokio::time::interval(pace);
    // Whitespace: however much of it arrives, the body is not yet a JSON document.
    for _ in 0..SLOW_BODY_BYTES - 1 {
        tokio::select! {
            read = reader.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return SlowEnd::Cut { after: sent.elapsed(), answer },
                Ok(n) => answer = answer.or_else(|| Some((status_code(&buffer[..n])?, sent.elapsed()))),
            },
            _ = ticks.tick() => {
                if writer.write_all(b" ").await.is_err() {
                    return SlowEnd::Cut { after: sent.elapsed(), answer };
                }
            }
            _ = tokio::time::sleep_until((sent + give_up).into()) => return SlowEnd::Uncut,
        }
    }
    SlowEnd::Uncut
}

/// An open event stream: the status it was answered with and the connection, to hold.
pub struct EventStream {
    pub status: Option<u16>,
    pub connection: TcpStream,
}

/// Opens `GET /api/v1/queue/tokens/me/events?token=…` and reads the answer's first bytes.
pub async fn open_event_stream(target: &Target, source: Option<IpAddr>, token: &str) -> std::io::Result<EventStream> {
    // The token goes into the request line as it is; one that would need escaping is not one
    // the server issued.
    if !token.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err(std::io::Error::other(
            "a token with characters a query would need escaped",
        ));
    }
    let mut connection = target.connect(source).await?;
    let request = format!(
        "GET /api/v1/queue/tokens/me/events?token={token} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        target.host
    );
    connection.write_all(request.as_bytes()).await?;
    let mut buffer = [0u8; 1024];
    let read = connection.read(&mut buffer).await?;
    Ok(EventStream {
        status: status_code(&buffer[..read]),
        connection,
    })
}

/// Reads and forgets what the server sends until `until`; true when the server closed the
/// stream first.
pub async fn hold_event_stream(mut stream: EventStream, until: tokio::sync::watch::Receiver<bool>) -> bool {
    let mut until = until;
    let mut buffer = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.connection.read(&mut buffer) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return true;
                }
            }
            _ = until.wait_for(|stop| *stop) => return false,
        }
    }
}

/// The status of an HTTP/1.1 answer that starts in `bytes`.
fn status_code(bytes: &[u8]) -> Option<u16> {
    let line = bytes
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| bytes.strip_prefix(b"HTTP/1.0 "))?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_the_status_line_only() {
        assert_eq!(status_code(b"HTTP/1.1 400 Bad Request\r\n"), Some(400));
        assert_eq!(status_code(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"garbage"), None);
        assert_eq!(status_code(b"HTTP/1.1 4"), None);
    }
}
