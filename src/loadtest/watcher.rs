//! One watcher of the `watchers` scenario: a WAITING fan's event stream opened over a raw HTTP/1.1
//! connection and read as it arrives, recording when each thing it waits for came.

use super::raw::Target;
use super::sse::{Event, EventReader};
use std::net::IpAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Bytes read at once: an event is about 300, and most reads carry one.
const READ_BYTES: usize = 1024;

/// What one watcher saw, from its connection to its end.
#[derive(Debug, Clone, Default)]
pub struct WatchRecord {
    /// The answer's status; None when the stream could not be opened at all.
    pub status: Option<u16>,
    /// Why it could not be opened or read, in words.
    pub problem: Option<String>,
    /// The `status` field of the first event, `WAITING` for a fan in line.
    pub first_status: Option<String>,
    /// Events after the first.
    pub later_events: u32,
    /// When the event saying ACTIVE arrived.
    pub active_at: Option<Instant>,
    /// Whether the server said the token died.
    pub expired: bool,
    /// Whether the server ended the stream before the harness did, and neither ACTIVE nor
    /// `expired` explained it.
    pub cut: bool,
}

impl WatchRecord {
    /// Whether the stream was answered 200 and told the fan its place.
    pub fn opened(&self) -> bool {
        self.status == Some(200) && self.first_status.is_some()
    }
}

/// Opens the stream of `token` from `source` and reads it until the server ends it or `stop` is
/// set. `opened` is told once the first event came (or the stream failed), so that the caller
/// can time the opening of many.
pub async fn watch(
    target: Target,
    source: Option<IpAddr>,
    token: String,
    opened: tokio::sync::OwnedSemaphorePermit,
    stop: watch::Receiver<bool>,
) -> WatchRecord {
    let mut record = WatchRecord::default();
    let mut opened = Some(opened);
    let connection = match connect(&target, source, &token).await {
        Ok(connection) => connection,
        Err(problem) => {
            record.problem = Some(problem);
            return record;
        }
    };
    read_until_end(connection, &mut record, &mut opened, stop).await;
    record
}

async fn connect(target: &Target, source: Option<IpAddr>, token: &str) -> Result<TcpStream, String> {
    // The token goes into the request line as it is; one that would need escaping is not one
    // the server issued.
    if !token.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err("a token with characters a query would need escaped".into());
    }
    let mut connection = target.connect(source).await.map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "GET /api/v1/queue/tokens/me/events?token={token} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        target.host
    );
    connection
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    Ok(connection)
}

/// Reads events into `record` until the stream ends; gives back `opened` at the first event or
/// at the end, whichever comes first.
async fn read_until_end(
    mut connection: TcpStream,
    record: &mut WatchRecord,
    opened: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    mut stop: watch::Receiver<bool>,
) {
    let mut reader = EventReader::new();
    let mut buffer = [0u8; READ_BYTES];
    loop {
        let read = tokio::select! {
            read = connection.read(&mut buffer) => read,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let bytes = match read {
            Ok(0) => {
                record.cut = record.active_at.is_none() && !record.expired;
                break;
            }
            Ok(count) => &buffer[..count],
            Err(error) => {
                record.problem = Some(format!("read: {error}"));
                record.cut = true;
                break;
            }
        };
        match reader.feed(bytes) {
            Ok(read) => {
                record.status = record.status.or(read.status);
                read.events.iter().for_each(|event| note(record, event));
            }
            Err(problem) => {
                record.problem = Some(problem);
                break;
            }
        }
        let refused = record.status.is_some_and(|status| status != 200);
        if record.first_status.is_some() || refused {
            opened.take();
        }
        // A refusal's connection would be kept alive for the next request: it is given up.
        if refused || reader.done() {
            break;
        }
    }
}

/// Records one event's meaning, and when the one saying ACTIVE came.
fn note(record: &mut WatchRecord, event: &Event) {
    match event.name.as_str() {
        "status" => {
            let status = serde_json::from_str::<serde_json::Value>(&event.data)
                .ok()
                .and_then(|data| Some(data["status"].as_str()?.to_string()));
            if status.as_deref() == Some("ACTIVE") && record.active_at.is_none() {
                record.active_at = Some(Instant::now());
            }
            match record.first_status {
                None => record.first_status = status.or_else(|| Some("unreadable".into())),
                Some(_) => record.later_events += 1,
            }
        }
        "expired" => {
            record.expired = true;
            record.later_events += 1;
        }
        _ => record.later_events += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: &str) -> Event {
        Event {
            name: "status".into(),
            data: format!("{{\"status\":\"{status}\",\"position\":2}}"),
        }
    }

    #[test]
    fn the_first_status_the_later_events_and_the_admission_are_told_apart() {
        let mut record = WatchRecord {
            status: Some(200),
            ..WatchRecord::default()
        };
        assert!(!record.opened());
        note(&mut record, &status("WAITING"));
        assert!(record.opened());
        assert_eq!(record.first_status.as_deref(), Some("WAITING"));
        note(&mut record, &status("WAITING"));
        assert!(record.active_at.is_none());
        note(&mut record, &status("ACTIVE"));
        assert!(record.active_at.is_some());
        assert_eq!(record.later_events, 2);
        assert!(!record.expired);
        note(
            &mut record,
            &Event {
                name: "expired".into(),
                data: "{}".into(),
            },
        );
        assert!(record.expired);
    }
}
