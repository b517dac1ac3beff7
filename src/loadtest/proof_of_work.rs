//! The harness's side of the proof of work: solving a server's ALTCHA challenge by brute force,
//! as a bot would, so the harness and the demo's crowd can take tokens from a server that asks.

use altcha_lib_rs::Payload;
use base64::Engine;
use serde_json::Value;

/// The `X-Altcha` header answering `challenge` (the JSON of `GET /queue/challenge`), or None
/// when it is no challenge or has no solution within its `maxnumber`. Takes up to `maxnumber`
/// hashes: call it off the async threads.
pub fn solve(challenge: &Value) -> Option<String> {
    let challenge: altcha_lib_rs::Challenge = serde_json::from_value(challenge.clone()).ok()?;
    let number = altcha_lib_rs::solve_challenge(
        &challenge.challenge,
        &challenge.salt,
        Some(challenge.algorithm),
        Some(challenge.maxnumber),
        0,
    )
    .ok()?;
    let payload = Payload {
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number,
        salt: challenge.salt,
        signature: challenge.signature,
        took: None,
    };
    let json = serde_json::to_vec(&payload).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::services::proof_of_work::ProofOfWork;
    use std::sync::Arc;

    #[test]
    fn a_solution_the_server_accepts() {
        let server = ProofOfWork::new(5_000, Arc::new(SystemClock));
        let challenge = serde_json::to_value(server.challenge().unwrap()).unwrap();
        let solution = solve(&challenge).unwrap();
        assert!(server.redeem(Some(solution.as_bytes())).is_ok());
        assert_eq!(solve(&serde_json::json!({"challenge": "nothing"})), None);
    }
}
