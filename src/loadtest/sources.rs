//! The addresses the harness's clients send from. The server budgets the requests that carry no
//! token per client address, so honest fans, a flood and slow connections each need addresses of
//! their own to be told apart, as they would be on the internet.

use ipnet::Ipv4Net;
use parking_lot::Mutex;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address the harness's own calls (the admin's, the checks') come from on loopback; the
/// pool leaves it to them.
const HARNESS_OWN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// A pool of local IPv4 addresses handed out one after another, or none: then every client
/// sends from the machine's default address.
pub struct Sources {
    net: Option<Ipv4Net>,
    /// The next host of `net` to hand out, counted from its first.
    cursor: Mutex<u32>,
}

impl Sources {
    /// `net` if given; else all of 127.0.0.0/8 when the server is on IPv4 loopback, where every
    /// address is this machine's; else none.
    pub fn for_target(target: SocketAddr, net: Option<Ipv4Net>) -> Self {
        let loopback = match target.ip() {
            IpAddr::V4(v4) if v4.is_loopback() => Some(Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("a /8")),
            _ => None,
        };
        Self {
            net: net.or(loopback),
            cursor: Mutex::new(0),
        }
    }

    /// Whether clients can be given addresses of their own.
    pub fn distinct(&self) -> bool {
        self.net.is_some_and(|net| host_count(net) >= 2)
    }

    /// The next address of the pool, never the harness's own; after the last it starts again
    /// from the first, so a small pool is shared rather than refused.
    pub fn take(&self) -> Option<IpAddr> {
        let net = self.net?;
        let hosts = host_count(net);
        let mut cursor = self.cursor.lock();
        loop {
            let address = Ipv4Addr::from(u32::from(first_host(net)) + *cursor % hosts);
            *cursor = cursor.wrapping_add(1);
            if address != HARNESS_OWN || hosts == 1 {
                return Some(IpAddr::V4(address));
            }
        }
    }
}

/// The first address of `net` a host may have: past the network's own, when it has one.
fn first_host(net: Ipv4Net) -> Ipv4Addr {
    match net.prefix_len() {
        31 | 32 => net.network(),
        _ => Ipv4Addr::from(u32::from(net.network()) + 1),
    }
}

/// Hosts in `net`: all but the network and broadcast addresses, for nets that have them.
fn host_count(net: Ipv4Net) -> u32 {
    match net.prefix_len() {
        32 => 1,
        31 => 2,
        prefix => (1u32 << (32 - prefix)) - 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 8080)
    }

    #[test]
    fn a_loopback_server_gets_loopback_sources_that_skip_the_harness_own() {
        let sources = Sources::for_target(target("127.0.0.1"), None);
        assert!(sources.distinct());
        assert_eq!(sources.take(), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(sources.take(), Some("127.0.0.3".parse().unwrap()));
    }

    #[test]
    fn a_remote_server_gets_no_sources_unless_given_a_net() {
        let sources = Sources::for_target(target("192.0.2.10"), None);
        assert!(!sources.distinct());
        assert_eq!(sources.take(), None);
        let sources = Sources::for_target(target("192.0.2.10"), Some("10.9.0.0/30".parse().unwrap()));
        let taken: Vec<_> = (0..3).map(|_| sources.take().unwrap().to_string()).collect();
        assert_eq!(
            taken,
            ["10.9.0.1", "10.9.0.2", "10.9.0.1"],
            "a small pool is shared in turn"
        );
    }
}
