//! The proof of work asked before a queue token (ALTCHA): challenges signed with a key made at
//! start, and the solutions spent, so that one solved challenge buys one token request.
//!
//! The key is made afresh at every start and never written down. Solutions spent are kept in
//! memory only, so a key that outlived a restart would let every solution spent in the five
//! minutes before it be spent again after it; a new key voids them all at once. The price is
//! that a challenge being solved across a restart is refused once, and the fan page then solves
//! a fresh one.

use crate::clock::SharedClock;
use crate::domain::spent_proofs::{ProofId, Refusal, SpentProofs};
use crate::error::{Error, ErrorCode, Result};
use altcha_lib_rs::algorithm::AltchaAlgorithm;
use altcha_lib_rs::{Challenge, ChallengeOptions, Payload};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

/// How long a challenge may be solved and its solution spent.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// The longest `X-Altcha` looked at: a solution of this server is under 400 characters.
pub const SOLUTION_CHARS_MAX: usize = 1024;
/// Solutions kept at once: a million spent within five minutes, some 100 MB. Past it new ones
/// are refused (503) rather than old ones forgotten, which would let those be spent again.
pub const SPENT_MAX: usize = 1_000_000;
/// Random bytes in a challenge's salt, so no two challenges are alike.
const SALT_BYTES: usize = 16;

pub struct ProofOfWork {
    /// The challenges' `maxnumber`; 0 when proof of work is off.
    difficulty: u64,
    /// Signs challenges; hex of 32 random bytes.
    key: String,
    clock: SharedClock,
    spent: Mutex<SpentProofs>,
}

impl ProofOfWork {
    pub fn new(difficulty: u64, clock: SharedClock) -> Self {
        let key: [u8; 32] = rand::random();
        Self {
            difficulty,
            key: crate::domain::ids::hex(&key),
            clock,
            spent: Mutex::new(SpentProofs::new(SPENT_MAX)),
        }
    }

    pub fn is_on(&self) -> bool {
        self.difficulty > 0
    }

    /// A fresh challenge, good for `CHALLENGE_TTL`; NOT_FOUND when proof of work is off.
    pub fn challenge(&self) -> Result<Challenge> {
        if !self.is_on() {
            return Err(Error::new(
                ErrorCode::NotFound,
                "Proof of work is off: take a token without X-Altcha.",
            ));
        }
        altcha_lib_rs::create_challenge(ChallengeOptions {
            algorithm: Some(AltchaAlgorithm::Sha256),
            max_number: Some(self.difficulty),
            salt_length: Some(SALT_BYTES),
            hmac_key: &self.key,
            expires: Some(self.clock.now() + CHALLENGE_TTL),
            ..ChallengeOptions::default()
        })
        .map_err(Error::internal)
    }

    /// Spends the solution in `X-Altcha`: it must answer a challenge of this server, unexpired
    /// and never spent. Anything goes when proof of work is off.
    pub fn redeem(&self, header: Option<&[u8]>) -> Result<()> {
        if !self.is_on() {
            return Ok(());
        }
        let header =
            header.ok_or_else(|| refused("Solve GET /api/v1/queue/challenge and send the solution in X-Altcha."))?;
        let payload = decode(header)?;
        let expires = self.check(&payload)?;
        let proof = proof_id(&payload.challenge).ok_or_else(|| refused("The solution names no challenge."))?;
        let now = self.clock.now();
        match self.spent.lock().spend(proof, expires, now) {
            Ok(()) => Ok(()),
            Err(Refusal::Spent) => Err(refused("This solution was used already; solve a new challenge.")),
            Err(Refusal::Full { until }) => {
                let seconds = (until - now).num_seconds().max(0) as u64 + 1;
                Err(Error::unavailable().with_retry_after(seconds))
            }
        }
    }

    /// Checks everything but whether it was spent; returns the challenge's expiry.
    fn check(&self, payload: &Payload) -> Result<DateTime<Utc>> {
        if !matches!(payload.algorithm, AltchaAlgorithm::Sha256) || payload.number > self.difficulty {
            return Err(refused("The solution does not answer a challenge of this server."));
        }
        let expires =
            expiry_of(&payload.salt).ok_or_else(|| refused("The solution's salt is not one of this server's."))?;
        if expires < self.clock.now() {
            return Err(refused("The challenge has expired; solve a new one."));
        }
        // Expiry is checked above, by the injected clock: the crate would read the system's.
        altcha_lib_rs::verify_solution(payload, &self.key, false)
            .map_err(|_| refused("The solution does not match its challenge or its signature."))?;
        Ok(expires)
    }
}

fn refused(detail: &str) -> Error {
    Error::new(ErrorCode::ChallengeRequired, detail)
}

/// The ALTCHA payload: base64 of its JSON.
fn decode(header: &[u8]) -> Result<Payload> {
    if header.len() > SOLUTION_CHARS_MAX {
        return Err(refused("X-Altcha is too long to be a solution."));
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(header)
        .map_err(|_| refused("X-Altcha is not base64."))?;
    serde_json::from_slice(&json).map_err(|_| refused("X-Altcha is not an ALTCHA solution."))
}

/// The expiry in a salt of this server, which reads `<hex>?expires=<unix seconds>&` and nothing
/// more: anything else was not made here.
fn expiry_of(salt: &str) -> Option<DateTime<Utc>> {
    let (random, rest) = salt.split_once("?expires=")?;
    let seconds = rest.strip_suffix('&')?;
    let random_ok = random.len() == SALT_BYTES * 2 && random.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let seconds_ok = (1..=12).contains(&seconds.len()) && seconds.bytes().all(|b| b.is_ascii_digit());
    if !(random_ok && seconds_ok) {
        return None;
    }
    DateTime::from_timestamp(seconds.parse().ok()?, 0)
}

/// The 32 bytes a challenge's lowercase hex names.
fn proof_id(challenge: &str) -> Option<ProofId> {
    let hex = challenge.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut proof = [0u8; 32];
    for (byte, pair) in proof.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    const DIFFICULTY: u64 = 2_000;

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn service() -> (ProofOfWork, ManualClock) {
        let clock = ManualClock::starting_at(start());
        (ProofOfWork::new(DIFFICULTY, Arc::new(clock.clone())), clock)
    }

    fn solve(challenge: &Challenge) -> Payload {
        let number = altcha_lib_rs::solve_challenge(
            &challenge.challenge,
            &challenge.salt,
            Some(challenge.algorithm),
            Some(challenge.maxnumber),
            0,
        )
        .unwrap();
        Payload {
            algorithm: challenge.algorithm,
            challenge: challenge.challenge.clone(),
            number,
            salt: challenge.salt.clone(),
            signature: challenge.signature.clone(),
            took: None,
        }
    }

    fn header(payload: &Payload) -> Vec<u8> {
        let json = serde_json::to_vec(payload).unwrap();
        base64::engine::general_purpose::STANDARD.encode(json).into_bytes()
    }

    fn code_of(result: Result<()>) -> Option<ErrorCode> {
        result.err().map(|error| error.code)
    }

    #[test]
    fn a_solution_buys_one_request() {
        let (pow, _) = service();
        let solution = header(&solve(&pow.challenge().unwrap()));
        assert_eq!(pow.redeem(Some(&solution)).map_err(|e| e.code), Ok(()));
        assert_eq!(code_of(pow.redeem(Some(&solution))), Some(ErrorCode::ChallengeRequired));
        assert_eq!(code_of(pow.redeem(None)), Some(ErrorCode::ChallengeRequired));
    }

    #[test]
    fn a_challenge_lasts_five_minutes_by_the_injected_clock() {
        let (pow, clock) = service();
        let late = header(&solve(&pow.challenge().unwrap()));
        let in_time = header(&solve(&pow.challenge().unwrap()));
        clock.advance(CHALLENGE_TTL);
        assert_eq!(code_of(pow.redeem(Some(&in_time))), None);
        clock.advance(Duration::seconds(1));
        assert_eq!(code_of(pow.redeem(Some(&late))), Some(ErrorCode::ChallengeRequired));
    }

    #[test]
    fn digits_of_the_number_moved_into_the_salt_make_no_second_solution() {
        let (pow, _) = service();
        let mut payload = std::iter::repeat_with(|| solve(&pow.challenge().unwrap()))
            .find(|payload| payload.number >= 10)
            .unwrap();
        // salt + number is hashed as one string: "…&" + "123" reads the same as "…&1" + "23".
        let number = payload.number.to_string();
        payload.salt.push_str(&number[..1]);
        payload.number = number[1..].parse().unwrap();
        assert_eq!(
            code_of(pow.redeem(Some(&header(&payload)))),
            Some(ErrorCode::ChallengeRequired)
        );
    }

    #[test]
    fn a_solution_signed_elsewhere_or_for_another_difficulty_is_refused() {
        let (pow, _) = service();
        let (other, _) = service();
        let foreign = header(&solve(&other.challenge().unwrap()));
        assert_eq!(code_of(pow.redeem(Some(&foreign))), Some(ErrorCode::ChallengeRequired));
        let mut beyond = solve(&pow.challenge().unwrap());
        beyond.number = DIFFICULTY + 1;
        assert_eq!(
            code_of(pow.redeem(Some(&header(&beyond)))),
            Some(ErrorCode::ChallengeRequired)
        );
    }

    #[test]
    fn only_salts_this_server_writes_are_read() {
        let at = |s: i64| DateTime::from_timestamp(s, 0);
        let random = "0123456789abcdef0123456789abcdef";
        assert_eq!(expiry_of(&format!("{random}?expires=1800000300&")), at(1_800_000_300));
        for salt in [
            format!("{random}?expires=1800000300"),
            format!("{random}?expires=1800000300&1"),
            format!("{random}?expires=&"),
            format!("{random}?expires=-5&"),
            format!("{random}?other=1&expires=1800000300&"),
            format!("{}?expires=1800000300&", &random[1..]),
            format!("{}?expires=1800000300&", random.to_uppercase()),
            random.to_string(),
        ] {
            assert_eq!(expiry_of(&salt), None, "{salt}");
        }
    }

    #[test]
    fn off_there_is_no_challenge_and_nothing_to_check() {
        let pow = ProofOfWork::new(0, Arc::new(ManualClock::starting_at(start())));
        assert_eq!(pow.challenge().map_err(|e| e.code).err(), Some(ErrorCode::NotFound));
        assert!(pow.redeem(None).is_ok());
    }
}
