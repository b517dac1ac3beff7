//! Bounds on what a client holds open: connections per client, event streams per token. A script
//! with a thousand sockets must find the door shut long before the process runs out of file
//! descriptors.

use super::client::{budget_key, is_trusted};
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use ipnet::IpNet;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Shutdown};
use std::sync::Arc;

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
