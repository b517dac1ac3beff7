//! Raw connections to the server: its address, resolved from the base URL, for what a client
//! library hides (the source address budgets are kept by).

use std::net::{IpAddr, SocketAddr};
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
