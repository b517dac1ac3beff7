//! Identifiers: UUID newtypes for users, concerts, reservations, payments and transactions, and
//! the opaque queue token.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A fan.
    UserId
);
uuid_id!(
    /// A concert, which has one or more dates.
    ConcertId
);
uuid_id!(
    /// A seat hold, and later the confirmed ticket.
    ReservationId
);
uuid_id!(
    /// A completed payment.
    PaymentId
);
uuid_id!(
    /// A wallet transaction (a charge or a payment).
    TransactionId
);

/// A queue token: opaque to clients, unguessable, bound to one user. Two version-4 UUIDs give
/// 244 random bits from the operating system's CSPRNG (`getrandom`); it prints as 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(Uuid, Uuid);

impl Token {
    pub fn random() -> Self {
        Self(Uuid::new_v4(), Uuid::new_v4())
    }

    /// Reads what a client sent back; anything that is not 64 hex digits is no token.
    pub fn from_client(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let first = Uuid::try_parse(&text[..32]).ok()?;
        let second = Uuid::try_parse(&text[32..]).ok()?;
        Some(Self(first, second))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0.simple(), self.1.simple())
    }
}

/// 64 hex digits for people (JSON), the 32 bytes themselves for the journal and snapshots,
/// which hold millions of tokens.
impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.0, self.1).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            let (first, second) = <(Uuid, Uuid)>::deserialize(deserializer)?;
            return Ok(Self(first, second));
        }
        let text = String::deserialize(deserializer)?;
        Self::from_client(&text).ok_or_else(|| serde::de::Error::custom("not a queue token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_accepted_back() {
        let first = Token::random();
        let second = Token::random();
        assert_ne!(first, second);
        let text = first.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(Token::from_client(&text), Some(first));
        assert_eq!(
            serde_json::from_str::<Token>(&serde_json::to_string(&first).unwrap()).unwrap(),
            first
        );
        let bytes = postcard::to_allocvec(&first).unwrap();
        assert_eq!(bytes.len(), 34, "two 16-byte UUIDs, each with its length");
        assert_eq!(postcard::from_bytes::<Token>(&bytes).unwrap(), first);
        assert_eq!(Token::from_client("not a token!"), None);
        assert_eq!(Token::from_client(""), None);
    }
}
