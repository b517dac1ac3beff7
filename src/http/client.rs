//! Who is asking when no token says so: the client's address, from the connection or, when the
//! connection comes from a proxy the operator trusts, from `X-Forwarded-For`.

use super::AppState;
use crate::error::{Error, Result};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{ready, Ready};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};

/// A client within its per-client budget, on an endpoint that needs no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub IpAddr);

impl FromRequest for Client {
    type Error = Error;
    type Future = Ready<Result<Client>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(admit(request))
    }
}

fn admit(request: &HttpRequest) -> Result<Client> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .expect("the application state is registered");
    let address = client_address(request, &state.services.config.trusted_proxies)
        .ok_or_else(|| Error::internal("a request without a peer address"))?;
    state.clients.check(&budget_key(address))?;
    Ok(Client(address))
}

/// The peer, or, when the peer is a trusted proxy, the right-most address of `X-Forwarded-For`
/// that is not one: every hop to the left of a stranger is the stranger's to invent.
pub fn client_address(request: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in forwarded.iter().rev() {
        let Ok(address) = hop.parse::<IpAddr>() else {
            // A hop no proxy would write: the last address vouched for is the client.
            return Some(nearest);
        };
        if !is_trusted(address, trusted) {
            return Some(address);
        }
        nearest = address;
    }
    Some(nearest)
}

pub fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    let address = canonical(address);
    trusted.iter().any(|net| net.contains(&address))
}

/// An IPv4 peer on a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The key a client's budget is kept under: its IPv4 address, or its IPv6 /64, since one
/// subscriber is handed a whole /64 and could otherwise take a fresh address per request.
pub fn budget_key(address: IpAddr) -> IpAddr {
    match canonical(address) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Parses `--trusted-proxies`: addresses or CIDRs, comma-separated.
pub fn parse_trusted_proxy(text: &str) -> std::result::Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a CIDR"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| parse_trusted_proxy(net).unwrap()).collect()
    }

    fn address_of(peer: &str, forwarded: &[&str], trusted: &[&str]) -> IpAddr {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        for value in forwarded {
            request = request.append_header(("X-Forwarded-For", *value));
        }
        client_address(&request.to_http_request(), &nets(trusted)).unwrap()
    }

    #[test]
    fn a_stranger_is_its_peer_whatever_it_forwards() {
        let address = address_of("203.0.113.9:5000", &["198.51.100.1"], &[]);
        assert_eq!(address, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_stranger_is_the_client() {
        let trusted = ["10.0.0.0/8", "192.0.2.7"];
        let spoofed_then_real = ["1.1.1.1, 203.0.113.9", "10.1.2.3"];
        let address = address_of("192.0.2.7:443", &spoofed_then_real, &trusted);
        assert_eq!(address, "203.0.113.9".parse::<IpAddr>().unwrap());
        let garbage = address_of("192.0.2.7:443", &["not-an-ip, 10.1.2.3"], &trusted);
        assert_eq!(garbage, "10.1.2.3".parse::<IpAddr>().unwrap());
        let nothing = address_of("192.0.2.7:443", &[], &trusted);
        assert_eq!(nothing, "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_ipv6_client_is_budgeted_by_its_slash_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_subscriber: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(budget_key(one), budget_key(same_subscriber));
        assert_ne!(budget_key(one), budget_key(other));
        let mapped: IpAddr = "::ffff:198.51.100.4".parse().unwrap();
        assert_eq!(budget_key(mapped), "198.51.100.4".parse::<IpAddr>().unwrap());
    }
}
