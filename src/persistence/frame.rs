//! The record framing shared by the journal and the snapshots; what a payload holds is for
//! [`super::format`] to say.
//!
//! ```text
//! record  = length: u32 LE | crc32(payload): u32 LE | payload
//! ```
//!
//! A reader stops at the first record that is cut short, fails its checksum or does not decode:
//! everything before it is a clean prefix of what was written. Whether anything written later
//! survives past that point is for [`next_whole_record`] to find.

use serde::Serialize;

const HEADER_BYTES: usize = 8;

/// No single record is this large (the most a `u32` length can say); a length past it is
/// corruption, not a record.
pub const RECORD_BYTES_MAX: usize = u32::MAX as usize;

/// A value too large for one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a record of {0} bytes is past the limit of {RECORD_BYTES_MAX}")]
pub struct TooLarge(pub usize);

/// Appends one framed record holding `value` to `out`. Journal records are small: one past the
/// limit is a bug.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    try_encode_into(value, out).expect("a journal record fits the length limit");
}

/// Appends one framed record holding the postcard encoding of `value` to `out`, or leaves `out`
/// as it was if the record would be too large.
pub fn try_encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), TooLarge> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    let body = postcard::to_extend(value, std::mem::take(out)).expect("in-memory encoding cannot fail");
    *out = body;
    let payload_len = out.len() - start - HEADER_BYTES;
    if payload_len > RECORD_BYTES_MAX {
        out.truncate(start);
        return Err(TooLarge(payload_len));
    }
    let crc = crc32fast::hash(&out[start + HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[start + 4..start + HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// One framed record holding `value`.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Why reading stopped before the end of the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// The last record is cut short: a write the process did not finish.
    #[error("a record cut short")]
    Torn,
    /// A record's checksum does not match.
    #[error("a checksum mismatch")]
    Checksum,
    /// A record's payload is of a format this build does not know: written by another version.
    #[error("a record of format version {0}, which this build does not know")]
    UnknownVersion(u32),
    /// A record's payload does not decode.
    #[error("a record that does not decode: {0}")]
    Undecodable(String),
}

/// What a reader found in a run of records.
#[derive(Debug)]
pub struct Decoded<T> {
    pub records: Vec<T>,
    /// Bytes holding whole, valid records.
    pub valid_len: usize,
    /// Why reading stopped early, if it did.
    pub damage: Option<Damage>,
}

/// Reads records until the end of `bytes` or the first damaged one, each payload through
/// `decode`.
pub fn decode_all<T>(bytes: &[u8], mut decode: impl FnMut(&[u8]) -> Result<T, Damage>) -> Decoded<T> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match decode_one(&bytes[offset..], &mut decode) {
            Ok((record, used)) => {
                records.push(record);
                offset += used;
            }
            Err(damage) => {
                return Decoded {
                    records,
                    valid_len: offset,
                    damage: Some(damage),
                }
            }
        }
    }
    Decoded {
        records,
        valid_len: offset,
        damage: None,
    }
}

/// Reads exactly one record spanning all of `bytes`, its payload through `decode`.
pub fn decode_exact<T>(bytes: &[u8], decode: impl FnOnce(&[u8]) -> Result<T, Damage>) -> Result<T, Damage> {
    let (record, used) = decode_one(bytes, decode)?;
    if used != bytes.len() {
        return Err(Damage::Undecodable(format!(
            "{} bytes after the record",
            bytes.len() - used
        )));
    }
    Ok(record)
}

/// The offset of the first whole record with a matching checksum that starts after `from`,
/// whatever its payload: what a reader that stopped at damaged bytes asks to tell bytes a write
/// never finished (nothing whole after them) from damage to bytes written before others.
///
/// Every offset is tried, because a damaged length says nothing about where the next record
/// starts. Most offsets cost a comparison: only a length that fits in the rest of the bytes is
/// checksummed, and zeroes (a preallocated tail) never are.
pub fn next_whole_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from + 1..bytes.len()).find(|&start| checked_payload(&bytes[start..]).is_ok())
}

/// The payload of the record at the start of `bytes`, its checksum verified.
fn checked_payload(bytes: &[u8]) -> Result<&[u8], Damage> {
    if bytes.len() < HEADER_BYTES {
        return Err(Damage::Torn);
    }
    let payload_len = u32::from_le_bytes(bytes[0..4].try_into().expect("four bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("four bytes"));
    if payload_len == 0 || payload_len > RECORD_BYTES_MAX {
        return Err(Damage::Checksum);
    }
    let Some(payload) = bytes.get(HEADER_BYTES..HEADER_BYTES + payload_len) else {
        return Err(Damage::Torn);
    };
    if crc32fast::hash(payload) != crc {
        return Err(Damage::Checksum);
    }
    Ok(payload)
}

fn decode_one<T>(bytes: &[u8], decode: impl FnOnce(&[u8]) -> Result<T, Damage>) -> Result<(T, usize), Damage> {
    let payload = checked_payload(bytes)?;
    Ok((decode(payload)?, HEADER_BYTES + payload.len()))
}

/// One framed record holding `payload` as it is.
#[cfg(test)]
pub(crate) fn frame_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The value a whole payload encodes with postcard.
pub fn postcard_value<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, Damage> {
    let (value, rest) = postcard::take_from_bytes(payload).map_err(|e| Damage::Undecodable(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Damage::Undecodable(format!("{} bytes after the value", rest.len())));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Sample {
        id: u64,
        text: String,
    }

    fn samples(count: u64) -> Vec<Sample> {
        (0..count)
            .map(|id| Sample {
                id,
                text: "초대권".repeat(id as usize % 4),
            })
            .collect()
    }

    fn encode_all(records: &[Sample]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for record in records {
            encode_into(record, &mut bytes);
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    #[test]
    fn records_round_trip() {
        let records = samples(20);
        let (bytes, _) = encode_all(&records);
        let decoded = decode_all(&bytes, postcard_value::<Sample>);
        assert_eq!(decoded.records, records);
        assert_eq!(decoded.valid_len, bytes.len());
        assert_eq!(decoded.damage, None);
        assert_eq!(
            decode_exact(&encode(&records[3]), postcard_value::<Sample>).unwrap(),
            records[3]
        );
    }

    #[test]
    fn a_cut_at_any_byte_leaves_exactly_the_whole_records_before_it() {
        let records = samples(12);
        let (bytes, ends) = encode_all(&records);
        for cut in 0..=bytes.len() {
            let decoded = decode_all(&bytes[..cut], postcard_value::<Sample>);
            let whole = ends.iter().filter(|end| **end <= cut).count();
            assert_eq!(decoded.records, records[..whole], "cut at {cut}");
            assert_eq!(decoded.valid_len, if whole == 0 { 0 } else { ends[whole - 1] });
            let torn = decoded.valid_len < cut;
            assert_eq!(decoded.damage.is_some(), torn, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_stops_reading_at_that_record() {
        let records = samples(6);
        let (bytes, ends) = encode_all(&records);
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            let decoded = decode_all(&damaged, postcard_value::<Sample>);
            let intact = ends.iter().filter(|end| **end <= position).count();
            assert_eq!(decoded.records, records[..intact], "bit flipped at {position}");
            assert!(decoded.damage.is_some());
        }
    }

    #[test]
    fn after_damage_to_any_record_the_next_whole_one_is_found() {
        let records = samples(6);
        let (bytes, ends) = encode_all(&records);
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            let decoded = decode_all(&damaged, postcard_value::<Sample>);
            let next = ends.iter().copied().find(|end| *end > position && *end < bytes.len());
            assert_eq!(
                next_whole_record(&damaged, decoded.valid_len),
                next,
                "bit flipped at {position}"
            );
        }
    }

    #[test]
    fn zeroes_and_a_length_past_the_end_hold_no_whole_record() {
        let (mut bytes, _) = encode_all(&samples(3));
        let end = bytes.len();
        bytes.extend_from_slice(&[0; 4096]);
        assert_eq!(next_whole_record(&bytes, end), None);
        let mut huge = encode(&samples(2)[1]);
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(next_whole_record(&huge, 0), None);
    }

    #[test]
    fn a_payload_with_bytes_after_its_value_does_not_decode() {
        let mut payload = postcard::to_allocvec(&samples(2)[1]).unwrap();
        payload.push(0);
        let bytes = frame_payload(&payload);
        assert!(matches!(
            decode_exact(&bytes, postcard_value::<Sample>),
            Err(Damage::Undecodable(_))
        ));
    }
}
