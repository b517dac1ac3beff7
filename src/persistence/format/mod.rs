//! The disk format: the only types ever written to the data dir, and the one place where the
//! engine's values become bytes and bytes become values again. The engine's types (the domain's,
//! and [`Entry`], [`Image`]) may change as they like; what a file means may not, so they are
//! converted to and from the types here, which change only with a new format version.
//!
//! ```text
//! file     = header | record*                  a snapshot holds exactly one record
//! header   = magic: 8 bytes | format version: u32 LE
//! magic    = "CRJOURNL" in a journal segment, "CRSNAPSH" in a snapshot, "CRPARTSN" in the
//!            snapshot of one partition (kept by a replicated log, one per partition)
//! record   = length: u32 LE | crc32(payload): u32 LE | payload     (see `frame`)
//! payload  = postcard encoding of a `records::Record` (journal), a `snapshot::Snapshot` or a
//!            `snapshot::PartSnapshot`
//! ```
//!
//! Postcard writes no names: struct fields in order, an enum as its variant's number (a varint)
//! and then the variant's fields, integers as varints, strings and sequences with their length
//! first. So:
//!
//! - each variant of a format enum states the number it is written as; new variants go last,
//!   and `tests.rs` fails if a number changes;
//! - error codes and idempotency endpoints are written as numbers fixed in [`numbers`], never by
//!   their place in the engine's enums; a number this build does not know does not decode;
//! - ids are 16 bytes, times RFC 3339 text (the tokens in a snapshot, which may be millions,
//!   nanoseconds since the Unix epoch), dates `YYYY-MM-DD` text;
//! - what the engine keeps in hash maps is written sorted by key, so one state always gives the
//!   same bytes.
//!
//! The golden files under `tests/golden/` pin the bytes of a record of every kind and of a small
//! snapshot (`golden.rs`). A change to any of it is a new format version.
//!
//! Versions:
//!
//! - 2: no file header; every payload begins with the byte 2, then the postcard body. Journal
//!   records are as in version 3, whose event enums only added variants at their ends; a
//!   snapshot lacks the operator's `active_max` and the tokens of payments
//!   ([`snapshot::v2`]). Read, never written: data dirs from before the header keep working.
//! - 3: the header; a payload is the body alone. Journal records and partition snapshots are as
//!   in version 4, whose enums only added variants at their ends; a whole snapshot lacks the
//!   sales ([`snapshot::v3`]). Read, never written.
//! - 4: the sales: their records, their rooms, and the pre-queued token. Journal records and
//!   snapshots are as in version 5, whose wallet events only added a variant at their end.
//!   Read, never written.
//! - 5: orders of several seats, paid in one record. Written now.
//!
//! A file with the header of any other version is refused, whole: recovery stops the start
//! rather than guess (see [`UnknownVersion`]).

mod convert;
pub mod numbers;
pub mod records;
pub mod snapshot;

#[cfg(test)]
mod golden;
#[cfg(test)]
pub(crate) mod golden_values;
#[cfg(test)]
mod tests;

pub use convert::Invalid;

use super::frame::{self, Damage, Decoded, TooLarge};
use super::log::{PartState, Partition};
use super::{Entry, Image, Part};

/// The version this build writes, and reads along with the ones below.
pub const FORMAT_VERSION: u32 = 5;

/// The version before this one: the same snapshots, journal records of fewer kinds.
pub const SALES_VERSION: u32 = 4;

/// The version before the sales, read with the same layout; its whole snapshots lack the sales.
pub const PREVIOUS_VERSION: u32 = 3;

/// The version of files written before they had a header.
pub const HEADERLESS_VERSION: u32 = 2;

/// The magic and the version.
pub const HEADER_BYTES: usize = 12;

/// The magic, which the version follows.
pub const MAGIC_BYTES: usize = 8;
const JOURNAL_MAGIC: [u8; MAGIC_BYTES] = *b"CRJOURNL";
const SNAPSHOT_MAGIC: [u8; MAGIC_BYTES] = *b"CRSNAPSH";
const PART_SNAPSHOT_MAGIC: [u8; MAGIC_BYTES] = *b"CRPARTSN";

/// What a file holds, which its magic tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Journal,
    Snapshot,
    PartSnapshot,
}

impl FileKind {
    fn magic(self) -> [u8; MAGIC_BYTES] {
        match self {
            Self::Journal => JOURNAL_MAGIC,
            Self::Snapshot => SNAPSHOT_MAGIC,
            Self::PartSnapshot => PART_SNAPSHOT_MAGIC,
        }
    }
}

/// The header a new file of `kind` begins with.
pub fn header(kind: FileKind) -> [u8; HEADER_BYTES] {
    let mut header = [0; HEADER_BYTES];
    header[..MAGIC_BYTES].copy_from_slice(&kind.magic());
    header[MAGIC_BYTES..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// A file whose header names a version this build does not read: another build wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "format version {found}, and this build reads only versions {PREVIOUS_VERSION} to {FORMAT_VERSION} (and {HEADERLESS_VERSION}, written without a header)"
)]
pub struct UnknownVersion {
    pub found: u32,
}

/// How the records of a file are laid out, as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Version 3, 4 or 5: records from this offset, payloads bare.
    Current { records_from: usize, version: u32 },
    /// Version 2: no header, and every payload begins with the version byte.
    Headerless,
    /// The file ends inside its header: a write the process never finished.
    TornHeader,
}

fn layout(kind: FileKind, bytes: &[u8]) -> Result<Layout, UnknownVersion> {
    let magic = kind.magic();
    let magic_seen = bytes.len().min(MAGIC_BYTES);
    if bytes.is_empty() || bytes[..magic_seen] != magic[..magic_seen] {
        return Ok(Layout::Headerless);
    }
    let Some(version) = bytes.get(MAGIC_BYTES..HEADER_BYTES) else {
        return Ok(Layout::TornHeader);
    };
    match u32::from_le_bytes(version.try_into().expect("four bytes")) {
        version @ (FORMAT_VERSION | SALES_VERSION | PREVIOUS_VERSION) => Ok(Layout::Current {
            records_from: HEADER_BYTES,
            version,
        }),
        found => Err(UnknownVersion { found }),
    }
}

/// Appends `entry` to `out` as one framed journal record.
pub fn encode_entry(entry: Entry, out: &mut Vec<u8>) {
    frame::encode_into(&records::Record::from(entry), out);
}

/// The entries of a journal segment, read until its end or the first damaged record. Offsets
/// are from the start of the file. A file of a version this build does not read is refused
/// whole.
pub fn read_segment(bytes: &[u8]) -> Result<Decoded<Entry>, UnknownVersion> {
    Ok(match layout(FileKind::Journal, bytes)? {
        Layout::Current { records_from, .. } => {
            let mut decoded = decode_records(&bytes[records_from..]);
            decoded.valid_len += records_from;
            decoded
        }
        Layout::Headerless => frame::decode_all(bytes, |payload| headerless_payload(payload).and_then(entry_of)),
        Layout::TornHeader => Decoded {
            records: Vec::new(),
            valid_len: 0,
            damage: Some(Damage::Torn),
        },
    })
}

/// Records of the current version, without the file header.
pub fn decode_records(bytes: &[u8]) -> Decoded<Entry> {
    frame::decode_all(bytes, entry_of)
}

fn entry_of(payload: &[u8]) -> Result<Entry, Damage> {
    let record: records::Record = frame::postcard_value(payload)?;
    Entry::try_from(record).map_err(undecodable)
}

/// The body of a version 2 payload.
fn headerless_payload(payload: &[u8]) -> Result<&[u8], Damage> {
    match payload.split_first() {
        Some((&version, body)) if u32::from(version) == HEADERLESS_VERSION => Ok(body),
        Some((&version, _)) => Err(Damage::UnknownVersion(version.into())),
        None => Err(Damage::Undecodable("an empty payload".into())),
    }
}

fn undecodable(invalid: Invalid) -> Damage {
    Damage::Undecodable(invalid.0)
}

/// Why a snapshot cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Damaged, or not a snapshot at all: recovery falls back to the one before.
    #[error(transparent)]
    Damaged(#[from] Damage),
    /// Written by another build: recovery refuses the start.
    #[error(transparent)]
    UnknownVersion(#[from] UnknownVersion),
}

/// A whole snapshot file holding `image`, or why it cannot be one record.
pub fn encode_snapshot(image: &Image) -> Result<Vec<u8>, TooLarge> {
    let mut bytes = header(FileKind::Snapshot).to_vec();
    frame::try_encode_into(&snapshot::Snapshot::from(image), &mut bytes)?;
    Ok(bytes)
}

/// The image a snapshot file holds.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Image, SnapshotError> {
    let image = match layout(FileKind::Snapshot, bytes)? {
        Layout::Current {
            records_from,
            version: FORMAT_VERSION | SALES_VERSION,
        } => frame::decode_exact(&bytes[records_from..], image_of),
        Layout::Current { records_from, .. } => frame::decode_exact(&bytes[records_from..], image_of_v3),
        Layout::Headerless => frame::decode_exact(bytes, |payload| headerless_payload(payload).and_then(image_of_v2)),
        Layout::TornHeader => Err(Damage::Torn),
    };
    Ok(image?)
}

/// The snapshot of one partition's `part`, or why it cannot be one record.
pub fn encode_part_snapshot(partition: Partition, part: &Part<PartState>) -> Result<Vec<u8>, TooLarge> {
    let mut bytes = header(FileKind::PartSnapshot).to_vec();
    frame::try_encode_into(&snapshot::PartSnapshot::from((partition, part)), &mut bytes)?;
    Ok(bytes)
}

/// The partition and its part that a partition's snapshot holds.
pub fn decode_part_snapshot(bytes: &[u8]) -> Result<(Partition, Part<PartState>), SnapshotError> {
    let part = match layout(FileKind::PartSnapshot, bytes)? {
        Layout::Current { records_from, .. } => frame::decode_exact(&bytes[records_from..], |payload| {
            let part: snapshot::PartSnapshot = frame::postcard_value(payload)?;
            part.try_into().map_err(undecodable)
        }),
        // Partitions were kept on their own only from version 3.
        Layout::Headerless | Layout::TornHeader => Err(Damage::Torn),
    };
    Ok(part?)
}

fn image_of(payload: &[u8]) -> Result<Image, Damage> {
    let snapshot: snapshot::Snapshot = frame::postcard_value(payload)?;
    Image::try_from(snapshot).map_err(undecodable)
}

fn image_of_v3(payload: &[u8]) -> Result<Image, Damage> {
    let snapshot: snapshot::v3::Snapshot = frame::postcard_value(payload)?;
    Image::try_from(snapshot::Snapshot::from(snapshot)).map_err(undecodable)
}

fn image_of_v2(payload: &[u8]) -> Result<Image, Damage> {
    let snapshot: snapshot::v2::Snapshot = frame::postcard_value(payload)?;
    let snapshot = snapshot::v3::Snapshot::from(snapshot);
    Image::try_from(snapshot::Snapshot::from(snapshot)).map_err(undecodable)
}
