//! Bounds on what a client holds open: connections per client, event streams per token, the time
//! a body may take. A script with a thousand sockets must find the door shut long before the
//! process runs out of file descriptors.

use super::client::{budget_key, is_trusted};
use super::problem;
use crate::error::{Error, ErrorCode};
use actix_web::body::EitherBody;
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::rt::net::TcpStream;
use actix_web::HttpMessage;
use futures_util::StreamExt;
use ipnet::IpNet;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Shutdown};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many of something each key holds open now, up to a maximum.
pub struct Occupancy<K: Hash + Eq + Clone> {
    counts: Mutex<HashMap<K, u32>>,
    max: u32,
}

/// One place taken in an [`Occupancy`], given back when dropped.
pub struct Place<K: Hash + Eq + Clone> {
    occupancy: Arc<Occupancy<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Occupancy<K> {
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            counts: Mutex::default(),
            max,
        })
    }

    /// Takes a place for `key`, or None when it holds `max` already.
    pub fn enter(self: &Arc<Self>, key: K) -> Option<Place<K>> {
        let mut counts = self.counts.lock();
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Place {
            occupancy: self.clone(),
            key,
        })
    }

    /// Places `key` holds now.
    pub fn held_by(&self, key: &K) -> u32 {
        self.counts.lock().get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq + Clone> Drop for Place<K> {
    fn drop(&mut self) {
        let mut counts = self.occupancy.counts.lock();
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// For the server's `on_connect`: counts the connection against its client, and shuts a
/// connection past the client's share at once, before it can hold a worker's attention. The
/// place lives in the connection's extensions, so it is given back when the connection closes.
/// A trusted proxy carries many clients, whose own shares it cannot tell apart at connect time:
/// its connections are not counted.
pub fn admit_connection(
    per_client: &Arc<Occupancy<IpAddr>>,
    trusted_proxies: &[IpNet],
    stream: &TcpStream,
    extensions: &mut Extensions,
) {
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    if is_trusted(peer.ip(), trusted_proxies) {
        return;
    }
    match per_client.enter(budget_key(peer.ip())) {
        Some(place) => {
            extensions.insert(place);
        }
        None => {
            tracing::debug!(client = %peer.ip(), "a connection past the client's share is shut");
            // Shutting both directions makes the server see the end of the stream at once.
            let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Both);
        }
    }
}

/// The time a request's body has to arrive, counted from the end of its head.
#[derive(Debug, Clone, Copy)]
pub struct BodyTime(pub Duration);

/// Whether a request's body came too slowly: set by the body [`bound_body`] gave it.
pub struct Late(Option<Arc<AtomicBool>>);

/// Gives the request's body its [`BodyTime`] to arrive. The server times the head out on its
/// own (`--client-timeout`), but not the body: a client sending one slower than that (a byte a
/// minute) would hold its connection, and the handler waiting for it, for ever. Only a request
/// with a body pays for the watch: most (reads, `/healthz`) have none.
pub fn bound_body(request: &mut ServiceRequest) -> Late {
    let within = request.app_data::<BodyTime>().map(|&BodyTime(within)| within);
    Late(within.filter(|_| declares_body(request.headers())).map(|within| {
        let late = Arc::new(AtomicBool::new(false));
        let payload = request.take_payload();
        request.set_payload(bounded(payload, within, late.clone()));
        late
    }))
}

/// The handler's answer, or 408 REQUEST_TIMEOUT if the body came too slowly, whatever the
/// handler made of the cut-short body.
pub fn unless_late<B>(response: ServiceResponse<B>, late: Late) -> ServiceResponse<EitherBody<B>> {
    if !late.0.is_some_and(|late| late.load(Ordering::Relaxed)) {
        return response.map_into_left_body();
    }
    let (request, _) = response.into_parts();
    let timed_out = Error::new(ErrorCode::RequestTimeout, "The request's body came too slowly.");
    let answer = timed_out.to_response(problem::language_of(&request));
    ServiceResponse::new(request, answer).map_into_right_body()
}

/// Whether a request's head says a body follows.
pub fn declares_body(headers: &HeaderMap) -> bool {
    let length = headers.get(CONTENT_LENGTH);
    headers.contains_key(TRANSFER_ENCODING) || length.is_some_and(|length| length.as_bytes() != b"0")
}

/// `payload`, ending in an error (and `late` set) if it is not all there `within` from now.
fn bounded(payload: Payload, within: Duration, late: Arc<AtomicBool>) -> Payload {
    let deadline = tokio::time::Instant::now() + within;
    let chunks = futures_util::stream::unfold(Some(payload), move |payload| {
        let late = late.clone();
        async move {
            let mut payload = payload?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    late.store(true, Ordering::Relaxed);
                    let cut = std::io::Error::new(std::io::ErrorKind::TimedOut, "the body came too slowly");
                    Some((Err(PayloadError::Io(cut)), None))
                }
            }
        }
    });
    let chunks: actix_http::BoxedPayloadStream = Box::pin(chunks);
    Payload::from(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_key_and_given_back_on_drop() {
        let occupancy = Occupancy::new(2);
        let first = occupancy.enter("a").unwrap();
        let _second = occupancy.enter("a").unwrap();
        assert!(occupancy.enter("a").is_none());
        let _other = occupancy.enter("b").unwrap();
        drop(first);
        assert_eq!(occupancy.held_by(&"a"), 1);
        assert!(occupancy.enter("a").is_some());
    }
}
