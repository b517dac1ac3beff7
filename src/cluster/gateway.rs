//! A node's public face in a cluster: every request of the API goes to the node that serves the
//! partitions (this one or another), over HTTP to its engine's private listener, with the client's
//! address in `X-Forwarded-For` and the cluster's peer key, so that it answers exactly as a
//! single process would. While no node serves them (a failover under way) the answer is 503
//! UNAVAILABLE with `Retry-After`, never a guess. `/healthz` and the cluster's own view are
//! answered here.

use super::node::Node;
use crate::error::{Error, ErrorCode, Language};
use crate::http::problem::language_of;
use actix_web::http::header::{self, HeaderName};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

use crate::http::{PEER_KEY_HEADER, TERM_HEADER};

/// How long the gateway waits to connect to a node's engine.
const CONNECT_WITHIN: Duration = Duration::from_secs(2);

/// How long the gateway waits for an engine's answer to begin, past the lease: longer than an
/// engine keeps retrying a write to JetStream (10 s), so that a write it completes is not
/// answered 503 here (and done again by a retry without a key). An event stream's life after
/// its first bytes is the engine's to bound.
const ANSWER_WITHIN_PAST_LEASE: Duration = Duration::from_secs(12);

/// The key engines believe gateways by: derived from the admin key every node shares, never the
/// admin key itself.
pub fn peer_key(admin_key: &str) -> String {
    let digest = Sha256::digest(format!("concert-peer-key:{admin_key}").as_bytes());
    crate::domain::ids::hex(&digest)
}

/// What the gateway's handlers share.
pub struct Gateway {
    pub node: Arc<Node>,
    pub admin_key: String,
    peer_key: String,
    /// The operator's `--trusted-proxies`: whose `X-Forwarded-For` the gateway believes.
    trusted_proxies: Vec<ipnet::IpNet>,
    client: reqwest::Client,
}

impl Gateway {
    pub fn new(node: Arc<Node>, admin_key: String, trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_WITHIN)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client builds");
        Self {
            node,
            peer_key: peer_key(&admin_key),
            admin_key,
            trusted_proxies,
            client,
        }
    }
}

/// The gateway's routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/healthz", web::head().to(healthz))
        .route("/api/v1/admin/cluster", web::get().to(cluster_view))
        .route("/api/v1/admin/cluster", web::head().to(cluster_view))
        .default_service(web::to(forward));
}

/// Headers that belong to one connection, not to the request.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    ) || name.as_str() == PEER_KEY_HEADER
        || name.as_str() == TERM_HEADER
}

async fn forward(request: HttpRequest, body: web::Bytes, gateway: web::Data<Gateway>) -> HttpResponse {
    // A node that has not seen the holder yet (it started, or its last look found none) reads
    // the lease once before answering that nobody serves.
    let known = match gateway.node.leader() {
        Some(leader) => Some(leader),
        None => gateway.node.look_again().await,
    };
    let Some(leader) = known else {
        return no_engine(language_of(&request));
    };
    let answer = forward_to(&leader.peer_url, &leader.term, request.clone(), body.clone(), &gateway).await;
    if answer.status() != actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        return answer;
    }
    // The holder last seen may have changed since this node's last look: one look now, and one
    // more try if another holds the lease.
    match gateway.node.look_again().await {
        Some(now) if now.term != leader.term => forward_to(&now.peer_url, &now.term, request, body, &gateway).await,
        _ => answer,
    }
}

/// Sends the request to the engine at `base`, serving `term`, and relays the answer.
async fn forward_to(base: &str, term: &str, request: HttpRequest, body: web::Bytes, gateway: &Gateway) -> HttpResponse {
    let language = language_of(&request);
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
    let url = format!("{base}{path}");
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut outgoing = gateway.client.request(method, url).body(body.to_vec());
    for (name, value) in request.headers() {
        if !is_hop_by_hop(name) && name != "x-forwarded-for" {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    outgoing = outgoing
        .header("x-forwarded-for", client_of(&request, &gateway.trusted_proxies))
        .header(PEER_KEY_HEADER, gateway.peer_key.as_str())
        .header(TERM_HEADER, term);
    // A node that does not answer within a lease (a paused process, say) has lost the
    // partitions to another by then, or will have by the client's retry.
    let within = gateway.node.lease_ttl() + ANSWER_WITHIN_PAST_LEASE;
    match tokio::time::timeout(within, outgoing.send()).await {
        Ok(Ok(answer)) => relay(answer),
        Ok(Err(error)) => {
            tracing::debug!(%error, %base, "the node could not be reached");
            no_engine(language)
        }
        Err(_) => {
            tracing::debug!(%base, "the node did not answer in time");
            no_engine(language)
        }
    }
}

/// The client's address, as a single process would tell it (the peer, or what the operator's
/// trusted proxies vouch for): the engine believes the gateway, so the gateway passes only that.
fn client_of(request: &HttpRequest, trusted_proxies: &[ipnet::IpNet]) -> String {
    let client = crate::http::client::client_address(request, trusted_proxies);
    client.map(|address| address.to_string()).unwrap_or_default()
}

/// The engine's answer, streamed back as it comes (an event stream never ends before the fan
/// leaves).
fn relay(answer: reqwest::Response) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(answer.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        let Ok(name) = HeaderName::from_bytes(name.as_str().as_bytes()) else {
            continue;
        };
        if !is_hop_by_hop(&name) {
            response.append_header((name, value.as_bytes()));
        }
    }
    let body = answer.bytes_stream().map_err(std::io::Error::other);
    response.streaming(body)
}

fn no_engine(language: Language) -> HttpResponse {
    Error::new(
        ErrorCode::Unavailable,
        "No node serves this now; another is taking over.",
    )
    .with_retry_after(1)
    .to_response(language)
}

async fn healthz(gateway: web::Data<Gateway>) -> HttpResponse {
    if gateway.node.is_reachable() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(serde_json::json!({ "status": "failing", "reason": "JetStream cannot be reached" }))
    }
}

#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterView {
    node_id: String,
    nodes: Vec<NodeView>,
    partitions: Vec<PartitionView>,
}

#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeView {
    node_id: String,
    url: String,
    partitions: usize,
}

#[derive(Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartitionView {
    name: String,
    owner: String,
    sequence: u64,
}

/// `GET /api/v1/admin/cluster`: the nodes and who serves which partition. Each node tells of the
/// partitions it serves itself (the engine's while it leads, and the dates it serves apart);
/// asked by a fan of the operator, a node gathers what every live node tells.
async fn cluster_view(request: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let language = language_of(&request);
    let given = request
        .headers()
        .get("x-admin-key")
        .and_then(|value| value.to_str().ok());
    if given != Some(gateway.admin_key.as_str()) {
        return Error::new(ErrorCode::AdminKeyInvalid, "The admin key is missing or wrong.").to_response(language);
    }
    let me = gateway.node.me().clone();
    let own = own_partitions(&gateway).await;
    let shown = request.headers().get(PEER_KEY_HEADER).map(|value| value.as_bytes());
    if shown == Some(gateway.peer_key.as_bytes()) {
        let nodes = Vec::new();
        return HttpResponse::Ok().json(ClusterView {
            node_id: me.node_id,
            nodes,
            partitions: own,
        });
    }
    let members = gateway.node.members().await;
    let told = futures_util::future::join_all(members.iter().map(|member| async {
        if member.node_id == me.node_id {
            return own.clone();
        }
        partitions_of(&member.url, &gateway).await
    }))
    .await;
    let nodes = (members.into_iter().zip(&told))
        .map(|(member, partitions)| NodeView {
            partitions: partitions.len(),
            node_id: member.node_id,
            url: member.url,
        })
        .collect();
    let mut partitions: Vec<PartitionView> = told.into_iter().flatten().collect();
    partitions.sort_by(|a, b| a.name.cmp(&b.name));
    HttpResponse::Ok().json(ClusterView {
        node_id: me.node_id,
        nodes,
        partitions,
    })
}

/// The partitions this node serves.
async fn own_partitions(gateway: &Gateway) -> Vec<PartitionView> {
    let me = &gateway.node.me().node_id;
    (gateway.node.partitions().await.into_iter())
        .map(|(name, sequence)| PartitionView {
            name,
            owner: me.clone(),
            sequence,
        })
        .collect()
}

/// The partitions the node at `url` says it serves; none if it does not answer in time.
async fn partitions_of(url: &str, gateway: &Gateway) -> Vec<PartitionView> {
    let asked = gateway
        .client
        .get(format!("{url}/api/v1/admin/cluster"))
        .header("x-admin-key", gateway.admin_key.as_str())
        .header(PEER_KEY_HEADER, gateway.peer_key.as_str())
        .timeout(gateway.node.lease_ttl())
        .send()
        .await;
    match asked {
        Ok(answer) if answer.status().is_success() => (answer.json::<ClusterView>().await)
            .map(|view| view.partitions)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
