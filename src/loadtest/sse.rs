//! An event stream read for its meaning: the bytes of an HTTP/1.1 answer as they arrive, its
//! status, its body freed of chunked framing, and the server-sent events cut out of that body.

/// What a read gave: the answer's status once its head is in, and every event it completed.
#[derive(Debug, Default, PartialEq)]
pub struct Read {
    pub status: Option<u16>,
    pub events: Vec<Event>,
}

/// One server-sent event: its `event:` name (`message` when it has none) and its `data:` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// Where the reader is in the answer.
#[derive(Debug, PartialEq)]
enum Part {
    Head,
    /// A body sent as it is, to the connection's end.
    Plain,
    /// A chunked body: the next chunk's size line, so many bytes of a chunk, or the line end
    /// after one.
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    /// The last chunk came: nothing more is read.
    Done,
}

/// Reads one answer incrementally; its buffers hold only what has not made a whole event yet.
#[derive(Debug)]
pub struct EventReader {
    part: Part,
    /// Bytes received and not yet taken apart.
    raw: Vec<u8>,
    /// The body's bytes not yet cut into events.
    body: Vec<u8>,
}

/// The longest head or undelivered event the reader keeps: a server that sends more without
/// completing one is not sending events.
const PENDING_MAX: usize = 64 * 1024;

impl Default for EventReader {
    fn default() -> Self {
        Self::new()
    }
}

impl EventReader {
    pub fn new() -> Self {
        Self {
            part: Part::Head,
            raw: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Takes the bytes just received; an error when they cannot be an event stream's answer.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Read, String> {
        self.raw.extend_from_slice(bytes);
        let mut read = Read::default();
        if self.part == Part::Head {
            read.status = self.head()?;
        }
        self.unframe()?;
        read.events = self.events();
        if self.raw.len() + self.body.len() > PENDING_MAX {
            return Err(format!("{PENDING_MAX} bytes without a whole event"));
        }
        Ok(read)
    }

    /// Whether the answer's last chunk came.
    pub fn done(&self) -> bool {
        self.part == Part::Done
    }

    /// The status, once the whole head is in; the body's framing is chosen by its headers.
    fn head(&mut self) -> Result<Option<u16>, String> {
        let Some(end) = find(&self.raw, b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
        let status = head
            .strip_prefix("http/1.1 ")
            .or_else(|| head.strip_prefix("http/1.0 "))
            .and_then(|rest| rest.get(..3)?.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {:?}", head.lines().next().unwrap_or("")))?;
        let chunked = head
            .lines()
            .any(|line| line.starts_with("transfer-encoding:") && line.contains("chunked"));
        self.part = if chunked { Part::ChunkSize } else { Part::Plain };
        self.raw.drain(..end + 4);
        Ok(Some(status))
    }

    /// Moves what the framing lets through from `raw` into `body`.
    fn unframe(&mut self) -> Result<(), String> {
        loop {
            match self.part {
                Part::Head | Part::Done => return Ok(()),
                Part::Plain => {
                    self.body.append(&mut self.raw);
                    return Ok(());
                }
                Part::ChunkSize => {
                    let Some(end) = find(&self.raw, b"\r\n") else {
                        return Ok(());
                    };
                    let size = chunk_size(&self.raw[..end])?;
                    self.raw.drain(..end + 2);
                    self.part = if size == 0 { Part::Done } else { Part::ChunkData(size) };
                }
                Part::ChunkData(left) => {
                    let taken = left.min(self.raw.len());
                    self.body.extend(self.raw.drain(..taken));
                    self.part = match left - taken {
                        0 => Part::ChunkEnd,
                        more => Part::ChunkData(more),
                    };
                    if taken == 0 {
                        return Ok(());
                    }
                }
                Part::ChunkEnd => {
                    if self.raw.len() < 2 {
                        return Ok(());
                    }
                    if &self.raw[..2] != b"\r\n" {
                        return Err("a chunk not followed by its line end".into());
                    }
                    self.raw.drain(..2);
                    self.part = Part::ChunkSize;
                }
            }
        }
    }

    /// Every whole event in `body`, in order; a block of comments alone is no event.
    fn events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(end) = find(&self.body, b"\n\n") {
            let block = String::from_utf8_lossy(&self.body[..end]).into_owned();
            self.body.drain(..end + 2);
            events.extend(event(&block));
        }
        events
    }
}

/// The event of one block of lines, if it has a field other than comments.
fn event(block: &str) -> Option<Event> {
    let (mut name, mut data, mut any) = (None, Vec::new(), false);
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => continue,
            "event" => name = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
        any = true;
    }
    any.then(|| Event {
        name: name.unwrap_or_else(|| "message".into()),
        data: data.join("\n"),
    })
}

/// A chunk's size line: hex digits, then perhaps extensions after `;`.
fn chunk_size(line: &[u8]) -> Result<usize, String> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or("").trim();
    usize::from_str_radix(digits, 16).map_err(|_| format!("a chunk size line {text:?}"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

    fn chunk(text: &str) -> String {
        format!("{:x}\r\n{text}\r\n", text.len())
    }

    /// Feeds `bytes` a piece of `step` bytes at a time, as a slow network would cut them.
    fn feed_in_pieces(bytes: &[u8], step: usize) -> (Option<u16>, Vec<Event>, bool) {
        let mut reader = EventReader::new();
        let (mut status, mut events) = (None, Vec::new());
        for piece in bytes.chunks(step) {
            let read = reader.feed(piece).unwrap();
            status = status.or(read.status);
            events.extend(read.events);
        }
        (status, events, reader.done())
    }

    #[test]
    fn a_chunked_stream_gives_its_events_however_the_bytes_are_cut() {
        let first = "event: status\ndata: {\"status\":\"WAITING\",\"position\":3}\n\n";
        let answer = format!(
            "{HEAD}{}{}{}{}0\r\n\r\n",
            chunk(first),
            chunk(": keep-alive\n\n"),
            chunk("event: status\ndata: {\"status\":\"ACT"),
            chunk("IVE\"}\n\nevent: expired\ndata: {}\n\n"),
        );
        for step in [1, 2, 7, 64, answer.len()] {
            let (status, events, done) = feed_in_pieces(answer.as_bytes(), step);
            assert_eq!(status, Some(200), "in pieces of {step}");
            let names: Vec<&str> = events.iter().map(|event| event.name.as_str()).collect();
            assert_eq!(names, ["status", "status", "expired"], "in pieces of {step}");
            assert_eq!(events[1].data, "{\"status\":\"ACTIVE\"}");
            assert!(done, "the last chunk ends the answer");
        }
    }

    #[test]
    fn a_plain_body_and_a_refusal_are_read_too() {
        let plain = "HTTP/1.1 200 OK\r\n\r\ndata: one\ndata: two\n\n";
        let (status, events, done) = feed_in_pieces(plain.as_bytes(), 5);
        assert_eq!(status, Some(200));
        assert_eq!(
            events,
            [Event {
                name: "message".into(),
                data: "one\ntwo".into()
            }]
        );
        assert!(!done, "a plain body lasts until the connection ends");
        let refused = "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(feed_in_pieces(refused.as_bytes(), 3).0, Some(429));
    }

    #[test]
    fn what_is_no_event_stream_is_an_error() {
        assert!(EventReader::new().feed(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        let bad_size = format!("{HEAD}zz\r\n");
        assert!(EventReader::new().feed(bad_size.as_bytes()).is_err());
        let endless = format!("{HEAD}{}", chunk(&"x".repeat(PENDING_MAX + 1)));
        assert!(EventReader::new().feed(endless.as_bytes()).is_err());
    }
}
