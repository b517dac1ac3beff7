//! Joining and leaving the line, as the attack scenarios' fans, hoarders and fillers do:
//! register a user, take a token, wait for ACTIVE, leave. A refusal is reported, never panicked on.

use super::client::{Api, Reply};
use super::journey::Joined;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// How often a waiting member asks for its status: well within a default per-user budget.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Someone with a live token.
#[derive(Debug, Clone)]
pub struct Member {
    pub token: String,
    pub active: bool,
    pub joined: Joined,
    /// From asking to be registered to the token's answer.
    pub latency: Duration,
}

/// Registers `name` and takes a token, trying again after a RATE_LIMITED as asked; why not, in
/// words, when it could not.
pub async fn join(api: &Api, name: &str) -> Result<Member, String> {
    let started = Instant::now();
    let body = json!({ "name": name });
    let user = api
        .call_within_limits("POST /users", Method::POST, "/api/v1/users", None, Some(&body))
        .await
        .map_err(|e| format!("unreachable: {}", e.0))?;
    let user_id = user.body["userId"].as_str().ok_or_else(|| refusal("register", &user))?;
    let issued = api
        .take_token(user_id)
        .await
        .map_err(|e| format!("unreachable: {}", e.0))?;
    let token = issued.body["token"]
        .as_str()
        .ok_or_else(|| refusal("take a token", &issued))?;
    let joined = Joined::from_status(&issued.body).ok_or_else(|| refusal("read the token's place", &issued))?;
    Ok(Member {
        token: token.to_string(),
        active: issued.body["status"] == "ACTIVE",
        joined,
        latency: started.elapsed(),
    })
}

/// Waits until the member is ACTIVE; false when `patience` passed first or the token died.
pub async fn wait_until_active(api: &Api, member: &mut Member, patience: Instant) -> bool {
    while !member.active {
        if Instant::now() >= patience {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        let Ok(status) = api
            .call_within_limits(
                "GET /queue/tokens/me",
                Method::GET,
                "/api/v1/queue/tokens/me",
                Some(&member.token),
                None,
            )
            .await
        else {
            continue;
        };
        match status.body["status"].as_str() {
            Some("ACTIVE") => member.active = true,
            Some("WAITING") => {}
            _ => return false,
        }
    }
    true
}

/// Leaves the line; true when the server said 204.
pub async fn leave(api: &Api, token: &str) -> bool {
    api.call_within_limits(
        "DELETE /queue/tokens/me",
        Method::DELETE,
        "/api/v1/queue/tokens/me",
        Some(token),
        None,
    )
    .await
    .is_ok_and(|reply| reply.status.as_u16() == 204)
}

/// Leaves with every token, a few at a time.
pub async fn leave_all(api: &Api, tokens: &[String]) {
    use futures_util::StreamExt;
    futures_util::stream::iter(tokens)
        .for_each_concurrent(16, |token| async move {
            leave(api, token).await;
        })
        .await;
}

/// The queue's WAITING count, as the admin sees it.
pub async fn waiting_now(api: &Api) -> Result<u64, String> {
    let queue = api
        .call("GET /admin/queue", Method::GET, "/api/v1/admin/queue", None, None)
        .await
        .map_err(|e| format!("the server is unreachable: {}", e.0))?;
    queue.body["waiting"]
        .as_u64()
        .ok_or_else(|| format!("{} (is --admin-key right?)", refusal("read the queue", &queue)))
}

/// A refused step, in words: `take a token: 429 RATE_LIMITED`.
pub fn refusal(step: &str, reply: &Reply) -> String {
    format!("{step}: {} {}", reply.status.as_u16(), reply.code().unwrap_or(""))
}
