//! The framework's own error answers, made problem documents on the wire. actix-http answers a
//! request it cannot parse (a malformed head, a head over its limits, a head that did not arrive
//! in time) by itself, with an empty body, before any of the service's code runs. Each
//! connection's stream is wrapped so that such an answer leaves as `application/problem+json`
//! like every other error.
//!
//! The parser's answer is always the last thing written on its connection, and the only answer
//! with an error status and no `content-type` (the service's own errors all carry one), so it is
//! recognised as the head that ends the bytes being written.

use crate::error::{Error, ErrorCode, Language};
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request target the `http` crate parses: a request line longer than this is why
/// the parser said 400, and the answer is 414 instead.
const TARGET_LENGTH_MAX: usize = u16::MAX as usize - 1;

/// Statuses actix-http's h1 dispatcher answers by itself.
const PARSER_STATUSES: [u16; 4] = [400, 408, 431, 500];

/// A connection's stream whose parser errors leave as problem documents.
pub struct ProblemStream<T = TcpStream> {
    inner: T,
    /// The problem document replacing the parser's answer, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
    /// Length of the input line being read, and the longest read since the last answer went out
    /// (a body read before an answer is not the head of a request that follows it).
    line_length: usize,
    longest_line: usize,
}

impl<T> ProblemStream<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            replacement: None,
            line_length: 0,
            longest_line: 0,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    fn note_input(&mut self, bytes: &[u8]) {
        let mut line_start = 0;
        for newline in memchr::memchr_iter(b'\n', bytes) {
            self.longest_line = self.longest_line.max(self.line_length + newline - line_start);
            self.line_length = 0;
            line_start = newline + 1;
        }
        self.line_length += bytes.len() - line_start;
        self.longest_line = self.longest_line.max(self.line_length);
    }

    /// The problem the parser's `status` means on this connection.
    fn problem_for(&self, status: u16) -> Error {
        match status {
            400 if self.longest_line > TARGET_LENGTH_MAX => Error::new(
                ErrorCode::UriTooLong,
                format!("The request target is longer than {TARGET_LENGTH_MAX} bytes."),
            ),
            400 => Error::invalid_request("The request could not be parsed as HTTP/1.1."),
            408 => Error::new(
                ErrorCode::RequestTimeout,
                "The request's headers did not arrive within the client timeout.",
            ),
            431 => Error::new(
                ErrorCode::HeadersTooLarge,
                "The request's head is over 128 KiB or has more than 96 headers.",
            ),
            _ => Error::internal(format!("the HTTP parser answered {status}")),
        }
    }
}

impl<T: AsyncWrite + Unpin> ProblemStream<T> {
    /// Writes what is left of the replacement; Ready once all of it is written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemStream<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let filled_before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let this = &mut *self;
        this.note_input(&buf.filled()[filled_before..]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemStream<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_replacement(cx))?;
        match parser_answer_at_end(buf) {
            // What comes before the parser's answer goes first, as it is.
            Some((start, _)) if start > 0 => Pin::new(&mut this.inner).poll_write(cx, &buf[..start]),
            Some((_, status)) => {
                let problem = this.problem_for(status);
                this.replacement = Some((replace_answer(buf, &problem), 0));
                // The answer is taken whole; flush and shutdown write what is left of it.
                let _ = this.poll_replacement(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => {
                // An answer goes out once its request was read whole: what comes next is a new
                // request's head.
                this.line_length = 0;
                this.longest_line = 0;
                Pin::new(&mut this.inner).poll_write(cx, buf)
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Where the parser's own answer starts in `buf`, and its status, when `buf` ends with one: a
/// whole response head with a parser status, `content-length: 0` and no `content-type`.
fn parser_answer_at_end(buf: &[u8]) -> Option<(usize, u16)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let start = memchr::memmem::rfind(buf, b"HTTP/1.")?;
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut head = httparse::Response::new(&mut headers);
    let parsed = head.parse(&buf[start..]).ok()?;
    if parsed != httparse::Status::Complete(buf.len() - start) {
        return None;
    }
    let status = head.code.filter(|code| PARSER_STATUSES.contains(code))?;
    let named = |name: &str| {
        head.headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
    };
    let empty = named("content-length").is_some_and(|header| header.value == b"0");
    (empty && named("content-type").is_none()).then_some((start, status))
}

/// The parser's answer `head` (status line and headers) with `problem` as its body and status.
fn replace_answer(head: &[u8], problem: &Error) -> Vec<u8> {
    let body = serde_json::to_vec(&problem.to_problem(Language::English)).expect("a problem serializes");
    let status = StatusCode::from_u16(problem.code.status()).expect("error statuses are valid");
    let version = &head[..b"HTTP/1.1".len()];
    let status_line_end = memchr::memmem::find(head, b"\r\n").expect("a parsed head has a status line");
    let mut answer = Vec::with_capacity(head.len() + body.len() + 64);
    answer.extend_from_slice(version);
    let reason = status.canonical_reason().unwrap_or("Error");
    answer.extend_from_slice(format!(" {} {reason}\r\n", status.as_u16()).as_bytes());
    for line in head[status_line_end + 2..head.len() - 2].split_inclusive(|&byte| byte == b'\n') {
        if !line.to_ascii_lowercase().starts_with(b"content-length:") {
            answer.extend_from_slice(line);
        }
    }
    answer.extend_from_slice(b"content-type: application/problem+json\r\n");
    answer.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    answer.extend_from_slice(&body);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARSER_431: &[u8] =
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: Sat, 28 Nov 2026 10:00:00 GMT\r\n\r\n";

    #[test]
    fn the_parsers_answer_is_found_at_the_end_after_earlier_answers() {
        let mut bytes = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}".to_vec();
        let start = bytes.len();
        bytes.extend_from_slice(PARSER_431);
        assert_eq!(parser_answer_at_end(&bytes), Some((start, 431)));
        assert_eq!(parser_answer_at_end(PARSER_431), Some((0, 431)));
    }

    #[test]
    fn the_services_own_answers_are_left_alone() {
        let problem =
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ncontent-type: application/problem+json\r\n\r\n";
        let created = b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
        let chunked_end = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let head_of_a_get = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n";
        for bytes in [&problem[..], created, chunked_end, head_of_a_get] {
            assert_eq!(parser_answer_at_end(bytes), None, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn the_replacement_is_a_problem_document_with_the_original_headers() {
        let stream = ProblemStream::new(());
        let answer = replace_answer(PARSER_431, &stream.problem_for(431));
        let text = String::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("connection: close\r\n") && head.contains("date: Sat"));
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(!head.contains("content-length: 0"));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "HEADERS_TOO_LARGE");
        assert_eq!(problem["status"], 431);
    }

    #[test]
    fn a_414_replacement_says_414_in_its_status_line() {
        let parser_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let problem = Error::new(ErrorCode::UriTooLong, "long");
        let answer = String::from_utf8(replace_answer(parser_400, &problem)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{answer}");
    }

    #[test]
    fn a_line_longer_than_the_parser_takes_makes_its_400_a_414() {
        let mut stream = ProblemStream::new(());
        stream.note_input(b"GET /");
        assert_eq!(stream.problem_for(400).code, ErrorCode::InvalidRequest);
        stream.note_input(&vec![b'a'; TARGET_LENGTH_MAX]);
        stream.note_input(b" HTTP/1.1\r\nhost: x\r\n");
        assert_eq!(stream.problem_for(400).code, ErrorCode::UriTooLong);
    }

    #[tokio::test]
    async fn a_long_body_answered_before_a_bad_request_does_not_make_its_400_a_414() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(256 * 1024);
        let (mut client, mut stream) = (client, ProblemStream::new(server));
        let body = vec![b'a'; TARGET_LENGTH_MAX + 10];
        client.write_all(&body).await.unwrap();
        let mut read = vec![0; body.len()];
        stream.read_exact(&mut read).await.unwrap();
        assert_eq!(stream.problem_for(400).code, ErrorCode::UriTooLong, "a long line read");
        let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}";
        stream.write_all(answer).await.unwrap();
        assert_eq!(
            stream.problem_for(400).code,
            ErrorCode::InvalidRequest,
            "the answer went out since"
        );
    }
}
