//! Identifiers: UUID newtypes for users, concerts, reservations, payments and transactions, the
//! opaque queue token, and the lowercase hex that digests and keys are shown in.

use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher24;
use std::fmt;
use std::hash::Hasher;
use std::str::FromStr;
use std::sync::OnceLock;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id whose UUID is `uuid`, as stored.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// Its UUID, to be stored.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        /// Reads the id only as the API writes it, hyphenated.
        impl FromStr for $name {
            type Err = MalformedId;

            fn from_str(text: &str) -> Result<Self, MalformedId> {
                parse_hyphenated_uuid(text).map(Self).ok_or(MalformedId)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = MalformedId;

            fn try_from(text: &str) -> Result<Self, MalformedId> {
                text.parse()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserialize_uuid(deserializer).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

/// Text that is no id: an id is read only hyphenated (8-4-4-4-12), the one way the API writes
/// it, since other spellings of one id would otherwise be other keys to whatever compares the
/// text (logs, idempotency fingerprints, caches in front of the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a hyphenated UUID")]
pub struct MalformedId;

fn parse_hyphenated_uuid(text: &str) -> Option<Uuid> {
    (text.len() == 36).then(|| Uuid::try_parse(text).ok()).flatten()
}

/// Text in JSON, bytes in binary encodings.
fn deserialize_uuid<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
    if !deserializer.is_human_readable() {
        return Uuid::deserialize(deserializer);
    }
    let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
    parse_hyphenated_uuid(&text).ok_or_else(|| serde::de::Error::custom(MalformedId))
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

/// A ticket's code: the capability that shows the ticket to whoever holds it, with no token.
/// It is a keyed PRF of the payment's id under the service's secret key (the one tokens are
/// printed with, kept in the data dir or, in a cluster, in JetStream): 128 bits nobody without
/// the key can compute or guess, the same on every node and after every restart, so nothing
/// more is stored. It prints as 22 characters of URL-safe base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketCode([u8; 16]);

impl TicketCode {
    /// The code of the ticket that `payment` bought.
    pub fn of(payment: PaymentId) -> Self {
        let half = |domain: &[u8]| {
            let mut hasher = SipHasher24::new_with_key(token_key());
            hasher.write(domain);
            hasher.write(payment.as_uuid().as_bytes());
            hasher.finish().to_be_bytes()
        };
        let mut code = [0u8; 16];
        code[..8].copy_from_slice(&half(b"ticket-code/high"));
        code[8..].copy_from_slice(&half(b"ticket-code/low"));
        Self(code)
    }

    /// Reads a code a client sent; anything that is not 22 characters of URL-safe base64 of
    /// 16 bytes is no code.
    pub fn from_client(text: &str) -> Option<Self> {
        code_from_client(text).map(Self)
    }
}

impl fmt::Display for TicketCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&code_to_text(&self.0))
    }
}

/// A 16-byte capability (a ticket's or a waiting-list entry's code) as printed: 22 characters of
/// URL-safe base64.
pub fn code_to_text(code: &[u8; 16]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(code)
}

/// A 16-byte capability as a client sent it; anything that is not 22 characters of URL-safe
/// base64 of 16 bytes, spelled the one way it is printed, is none.
pub fn code_from_client(text: &str) -> Option<[u8; 16]> {
    use base64::Engine;
    if text.len() != 22 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
    let code: [u8; 16] = bytes.try_into().ok()?;
    // One spelling per code: the last character carries 2 bits that must be zero.
    (code_to_text(&code) == text).then_some(code)
}

impl Serialize for TicketCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A queue token: opaque to clients, unguessable, bound to one user. It carries its sequence
/// number, so the waiting room finds its record by position instead of through a token-keyed map
/// (a million waiting tokens cost a third less memory), and 192 random bits from a CSPRNG seeded
/// by the operating system, which are what make it unguessable. It prints as 64 hex digits: 16 for
/// the number, hidden under a mask only the server can make (else any fan could read how many
/// tokens were issued before theirs: the sale's volume), and 48 for the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    seq: u64,
    secret: TokenSecret,
}

/// The random part of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenSecret([u8; 24]);

impl TokenSecret {
    /// Fresh randomness from the thread's CSPRNG (ChaCha, reseeded from the operating system).
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The secret a token was issued with, as a snapshot or the journal kept it.
    pub fn from_bytes(bytes: [u8; 24]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> [u8; 24] {
        self.0
    }
}

/// The key the number's mask is made with; one per process, read from the data dir at start.
static TOKEN_KEY: OnceLock<[u8; 16]> = OnceLock::new();

/// Sets the key tokens are printed and read with. The first key a process sets is the one it
/// keeps (a process serves one data dir); false if another key was set before.
pub fn install_token_key(key: [u8; 16]) -> bool {
    *TOKEN_KEY.get_or_init(|| key) == key
}

/// The key, or a random one for a process that never opened a data dir (tools, unit tests).
fn token_key() -> &'static [u8; 16] {
    TOKEN_KEY.get_or_init(rand::random)
}

/// What hides a token's number: a keyed PRF (SipHash) of its secret, so every token's mask is
/// unrelated to every other's and the masked numbers of consecutive tokens look random.
fn number_mask(secret: &TokenSecret) -> u64 {
    let mut hasher = SipHasher24::new_with_key(token_key());
    hasher.write(&secret.0);
    hasher.finish()
}

impl Token {
    pub fn new(seq: u64, secret: TokenSecret) -> Self {
        Self { seq, secret }
    }

    /// The sequence number the waiting room issued it under.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn secret(&self) -> TokenSecret {
        self.secret
    }

    /// True if `presented` is this token. The secrets are compared in constant time: the number
    /// is public, so an early exit would let a client find a secret byte by byte from timings.
    pub fn is(&self, presented: &Token) -> bool {
        let differing_bits = (self.secret.0.iter())
            .zip(presented.secret.0.iter())
            .fold(0u8, |bits, (mine, theirs)| bits | (mine ^ theirs));
        self.seq == presented.seq && std::hint::black_box(differing_bits) == 0
    }

    /// Reads what a client sent back; anything that is not 64 hex digits is no token.
    pub fn from_client(text: &str) -> Option<Self> {
        // Read on every request a fan makes: digit by digit, without parsing substrings.
        let text: &[u8; 64] = text.as_bytes().try_into().ok()?;
        let (number, secret_digits) = text.split_at(16);
        let masked = number
            .iter()
            .try_fold(0u64, |masked, &digit| Some(masked << 4 | u64::from(hex_value(digit)?)))?;
        let mut secret = [0u8; 24];
        for (byte, pair) in secret.iter_mut().zip(secret_digits.chunks_exact(2)) {
            *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
        }
        let secret = TokenSecret(secret);
        Some(Self::new(masked ^ number_mask(&secret), secret))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = (self.seq ^ number_mask(&self.secret)).to_be_bytes();
        let mut text = [0u8; 64];
        write_hex(masked.iter().chain(self.secret.0.iter()), &mut text);
        f.write_str(std::str::from_utf8(&text).expect("hex digits are ASCII"))
    }
}

/// `bytes` as lowercase hex digits, two a byte: how digests, keys and seeds are shown.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0u8; bytes.len() * 2];
    write_hex(bytes.iter(), &mut text);
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// Writes two hex digits a byte into `text`, which has room for them.
fn write_hex<'a>(bytes: impl Iterator<Item = &'a u8>, text: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// 64 hex digits for people (JSON), the number and the 24 bytes themselves in binary encodings.
impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.seq, self.secret).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            let (seq, secret) = <(u64, TokenSecret)>::deserialize(deserializer)?;
            return Ok(Self::new(seq, secret));
        }
        let text = String::deserialize(deserializer)?;
        Self::from_client(&text).ok_or_else(|| serde::de::Error::custom("not a queue token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_number_print_as_64_hex_digits_and_are_accepted_back() {
        let first = Token::new(41, TokenSecret::random());
        let second = Token::new(41, TokenSecret::random());
        assert_ne!(first, second);
        let text = first.to_string();
        assert_eq!(text.len(), 64);
        assert!(!text.starts_with("00000000000000"), "the number shows: {text}");
        assert_eq!(Token::from_client(&text), Some(first));
        assert_eq!(Token::from_client(&text.to_uppercase()), Some(first));
        assert_eq!(
            serde_json::from_str::<Token>(&serde_json::to_string(&first).unwrap()).unwrap(),
            first
        );
        let bytes = postcard::to_allocvec(&first).unwrap();
        assert_eq!(bytes.len(), 25, "the number as a varint and the 24 secret bytes");
        assert_eq!(postcard::from_bytes::<Token>(&bytes).unwrap(), first);
        assert_eq!(Token::from_client("not a token!"), None);
        assert_eq!(Token::from_client(""), None);
        assert_eq!(Token::from_client(&"+".repeat(64)), None);
        assert_eq!(
            Token::from_client(&"é".repeat(32)),
            None,
            "64 bytes that are not 64 digits"
        );
        for at in 0..64 {
            for wrong in ['g', 'G', ' ', '+', '\0'] {
                let mut spoilt = text.clone();
                spoilt.replace_range(at..=at, &wrong.to_string());
                assert_eq!(Token::from_client(&spoilt), None, "{wrong:?} at {at}");
            }
        }
    }

    #[test]
    fn bytes_show_as_two_lowercase_hex_digits_each() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
    }

    #[test]
    fn consecutive_tokens_do_not_tell_their_order() {
        let printed: Vec<u64> = (1..=1_000)
            .map(|seq| u64::from_str_radix(&Token::new(seq, TokenSecret::random()).to_string()[..16], 16).unwrap())
            .collect();
        let ascending = printed.windows(2).filter(|pair| pair[0] < pair[1]).count();
        assert!((350..=650).contains(&ascending), "{ascending} of 999 steps ascend");
        let small = printed.iter().filter(|number| **number < 1 << 32).count();
        assert!(small < 5, "{small} printed numbers are small");
    }

    #[test]
    fn ids_are_read_hyphenated_only() {
        let id = UserId::random();
        let uuid = id.as_uuid();
        let hyphenated = uuid.hyphenated().to_string();
        assert_eq!(hyphenated.parse::<UserId>(), Ok(id));
        assert_eq!(UserId::try_from(hyphenated.to_uppercase().as_str()), Ok(id));
        assert_eq!(
            serde_json::from_str::<UserId>(&format!("\"{hyphenated}\"")).unwrap(),
            id
        );
        for other in [
            uuid.simple().to_string(),
            uuid.braced().to_string(),
            uuid.urn().to_string(),
            format!(" {hyphenated}"),
            "not-a-uuid".to_string(),
            String::new(),
        ] {
            assert_eq!(other.parse::<UserId>(), Err(MalformedId), "{other} was read");
            let refused = serde_json::from_str::<UserId>(&format!("\"{other}\"")).unwrap_err();
            assert!(refused.to_string().starts_with("not a hyphenated UUID"), "{refused}");
        }
        let bytes = postcard::to_allocvec(&id).unwrap();
        assert_eq!(postcard::from_bytes::<UserId>(&bytes).unwrap(), id);
    }

    #[test]
    fn an_id_is_its_uuid_and_prints_as_it() {
        let uuid = Uuid::new_v4();
        let id = ReservationId::from_uuid(uuid);
        assert_eq!(id.as_uuid(), uuid);
        assert_eq!(id.to_string(), uuid.hyphenated().to_string());
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{uuid}\""));
        assert_ne!(ReservationId::random(), ReservationId::random());
    }

    #[test]
    fn a_token_is_only_itself() {
        let token = Token::new(7, TokenSecret::random());
        assert!(token.is(&token));
        assert!(!token.is(&Token::new(7, TokenSecret::random())), "another secret");
        assert!(!token.is(&Token::new(8, token.secret)), "another number");
        let mut one_bit_off = token.secret;
        one_bit_off.0[23] ^= 1;
        assert!(!token.is(&Token::new(7, one_bit_off)));
    }

    #[test]
    fn a_ticket_code_is_its_payments_own_and_reads_back_in_one_spelling_only() {
        let payment = PaymentId::random();
        let code = TicketCode::of(payment);
        assert_eq!(TicketCode::of(payment), code, "the same payment, the same code");
        assert_ne!(TicketCode::of(PaymentId::random()), code);
        let text = code.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(TicketCode::from_client(&text), Some(code));
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{text}\""));
        let payment_text = payment.to_string();
        for not_a_code in ["", "short", &text[..21], &format!("{text}A"), payment_text.as_str()] {
            assert_eq!(TicketCode::from_client(not_a_code), None, "{not_a_code:?}");
        }
        // The last character's two spare bits set: the same bytes, another spelling.
        let last = text.as_bytes()[21];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.iter().position(|c| *c == last).unwrap();
        let respelled = format!("{}{}", &text[..21], alphabet[index | 1] as char);
        if respelled != text {
            assert_eq!(TicketCode::from_client(&respelled), None);
        }
    }
}
