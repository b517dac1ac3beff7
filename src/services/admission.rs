//! Signed admission: an ACTIVE token's status carries an EdDSA (Ed25519) JWT that any other
//! service (a payment page, a venue's gate) verifies with the keys at `/.well-known/jwks.json`,
//! without asking this one. One key per data dir (or per cluster), kept across restarts.

use crate::domain::sale::entry_of;
use crate::domain::{ConcertId, Token, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

/// The prefix of an Ed25519 private key in PKCS#8 (RFC 8410): the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Admissions signed and not yet expired, kept so that a fan re-reading an ACTIVE status costs
/// a map lookup rather than a signature; past this many, the expired go first.
const SIGNED_KEPT_MAX: usize = 100_000;

/// What an admission says: who, for which sale, until when, and which token (by its published
/// entry, the hash of its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionClaims {
    pub sub: UserId,
    /// The concert whose sale's room admitted the token; null for the site-wide room.
    pub sale: Option<ConcertId>,
    /// `activeUntil`, in seconds since the Unix epoch.
    pub exp: i64,
    pub jti: String,
}

/// A signed admission, kept as the JSON string it is written as, quotes and all. A JWT is
/// base64url and dots, none of which JSON escapes, so it is written out as kept: serialized as
/// a plain string it would be scanned for escapes a byte at a time, some 350 of them, on every
/// read of an ACTIVE status.
#[derive(Debug, Clone)]
pub struct Admission(Arc<RawValue>);

impl Admission {
    fn of_jwt(jwt: &str) -> Self {
        let quoted = RawValue::from_string(format!("\"{jwt}\"")).expect("a JWT needs no escaping in JSON");
        Self(quoted.into())
    }

    /// The JWT itself.
    pub fn jwt(&self) -> &str {
        let quoted = self.0.get();
        &quoted[1..quoted.len() - 1]
    }
}

impl Serialize for Admission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The key admissions are signed with, and what the JWKS publishes of it.
pub struct Signer {
    key: EncodingKey,
    /// The JWK's RFC 7638 thumbprint.
    kid: String,
    /// The public key, base64url.
    x: String,
    signed: DashMap<u64, (i64, Admission)>,
}

static SIGNER: OnceLock<Signer> = OnceLock::new();

/// Sets the key admissions are signed with, from its 32-byte seed. The first key a process sets
/// is the one it keeps (a process serves one data dir or one cluster); false if one was set.
pub fn install_admission_key(seed: [u8; 32]) -> bool {
    SIGNER.set(Signer::from_seed(seed)).is_ok()
}

/// The process's signer: the installed key, or a fresh one for an engine without a data dir.
pub fn signer() -> &'static Signer {
    SIGNER.get_or_init(|| Signer::from_seed(rand::random()))
}

impl Signer {
    fn from_seed(seed: [u8; 32]) -> Self {
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let pkcs8: Vec<u8> = PKCS8_ED25519_PREFIX.iter().chain(&seed).copied().collect();
        let x = URL_SAFE_NO_PAD.encode(public);
        // RFC 7638: SHA-256 of the required members, in lexical order, without spaces.
        let members = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        Self {
            key: EncodingKey::from_ed_der(&pkcs8),
            kid: URL_SAFE_NO_PAD.encode(Sha256::digest(members.as_bytes())),
            x,
            signed: DashMap::new(),
        }
    }

    /// The admission of the ACTIVE `token` of `user`, admitted in `sale`'s room until
    /// `active_until`.
    pub fn admission(
        &self,
        token: &Token,
        user: UserId,
        sale: Option<ConcertId>,
        active_until: DateTime<Utc>,
    ) -> Admission {
        let exp = active_until.timestamp();
        if let Some(kept) = self.signed.get(&token.seq()).filter(|kept| kept.0 == exp) {
            return kept.1.clone();
        }
        let claims = AdmissionClaims {
            sub: user,
            sale,
            exp,
            jti: crate::domain::ids::hex(&entry_of(&token.secret())),
        };
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::EdDSA)
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).expect("an Ed25519 key made from 32 bytes signs");
        let signed = Admission::of_jwt(&jwt);
        self.keep(token.seq(), exp, signed.clone());
        signed
    }

    fn keep(&self, seq: u64, exp: i64, signed: Admission) {
        if self.signed.len() >= SIGNED_KEPT_MAX {
            let now = Utc::now().timestamp();
            self.signed.retain(|_, (until, _)| *until > now);
            if self.signed.len() >= SIGNED_KEPT_MAX {
                self.signed.clear();
            }
        }
        self.signed.insert(seq, (exp, signed));
    }

    /// The JSON Web Key Set other services verify admissions with.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation};

    fn verified(signer: &Signer, jwt: &str) -> jsonwebtoken::errors::Result<AdmissionClaims> {
        let set: JwkSet = serde_json::from_value(signer.jwks()).unwrap();
        let key = DecodingKey::from_jwk(&set.keys[0])?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
        Ok(jsonwebtoken::decode::<AdmissionClaims>(jwt, &key, &validation)?.claims)
    }

    #[test]
    fn an_admission_verifies_against_the_published_key_and_says_who_until_when() {
        let signer = Signer::from_seed([7; 32]);
        let token = Token::new(3, crate::domain::TokenSecret::from_bytes([9; 24]));
        let (user, sale) = (UserId::random(), Some(ConcertId::random()));
        let until = Utc::now() + chrono::Duration::minutes(10);
        let admission = signer.admission(&token, user, sale, until);
        let jwt = admission.jwt();
        assert_eq!(
            serde_json::to_string(&admission).unwrap(),
            serde_json::to_string(jwt).unwrap(),
            "written as the JWT's string"
        );
        assert_eq!(serde_json::to_value(&admission).unwrap(), jwt);
        let claims = verified(&signer, jwt).unwrap();
        assert_eq!((claims.sub, claims.sale, claims.exp), (user, sale, until.timestamp()));
        assert_eq!(claims.jti, crate::domain::ids::hex(&entry_of(&token.secret())));
        assert_eq!(
            signer.admission(&token, user, sale, until).jwt(),
            jwt,
            "kept, not signed again"
        );
        let other = Signer::from_seed([8; 32]);
        assert!(verified(&other, jwt).is_err(), "another key does not verify it");
        let forged = format!("{}x", &jwt[..jwt.len() - 1]);
        assert!(verified(&signer, &forged).is_err(), "nor a changed signature");
    }

    #[test]
    fn the_key_is_the_seeds_and_its_id_its_thumbprint() {
        // RFC 8037's example key: its public x and RFC 7638 thumbprint are published there.
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap()
            .try_into()
            .unwrap();
        let signer = Signer::from_seed(seed);
        assert_eq!(signer.x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(signer.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn an_expired_admission_does_not_verify() {
        let signer = Signer::from_seed([7; 32]);
        let token = Token::new(4, crate::domain::TokenSecret::from_bytes([1; 24]));
        let admission = signer.admission(
            &token,
            UserId::random(),
            None,
            Utc::now() - chrono::Duration::minutes(5),
        );
        let refused = verified(&signer, admission.jwt()).unwrap_err();
        assert_eq!(*refused.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature);
    }
}
