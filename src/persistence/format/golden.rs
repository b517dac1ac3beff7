//! Golden bytes. `tests/golden/v5/` holds what this build writes: one journal segment per kind
//! of record (every change, every event, a remembered error and a remembered success, alone
//! and with the change they answer), one small snapshot, and that snapshot's parts as the
//! snapshots of their partitions (`part-<partition>`, a date's as `part-date-<n>`). Each file must read to exactly the
//! value in `golden_values.rs`, and that value must write exactly the file's bytes, so any
//! change to the encoding fails here.
//!
//! Regenerating the files means that bytes already on disk would be read differently: that is
//! a new format version, never a fix to a test. So: raise `FORMAT_VERSION`, keep reading the
//! version before (or refuse it, and say so in the README), keep its files as they are under
//! `tests/golden/v<N>/` with a test that they still read, and only then write the new ones:
//!
//! ```text
//! GOLDEN_REGENERATE=1 cargo test --lib persistence::format::golden
//! ```
//!
//! `tests/golden/v4/` holds the records, snapshot and partition snapshots of version 4, the
//! build before orders of several seats, `tests/golden/v3/` those of version 3, the build before
//! the sales, and `tests/golden/v2/` those of the build before the header. Nothing writes any of
//! them any more, so those files are never regenerated.

use super::golden_values as values;
use super::{
    decode_part_snapshot, decode_snapshot, encode_entry, encode_part_snapshot, encode_snapshot, header, read_segment,
    snapshot, FileKind,
};
use crate::persistence::frame::Decoded;
use crate::persistence::log::Partition;
use crate::persistence::{Entry, Image};
use std::path::{Path, PathBuf};

const REGENERATE: &str = "GOLDEN_REGENERATE";

fn golden_path(version: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(version)
        .join(format!("{name}.bin"))
}

/// The committed bytes of `name`, which must be `written`; under `GOLDEN_REGENERATE=1`, first
/// writes them.
fn golden(name: &str, written: &[u8]) -> Vec<u8> {
    let path = golden_path("v5", name);
    if std::env::var_os(REGENERATE).is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().expect("a parent dir")).expect("the golden dir is made");
        std::fs::write(&path, written).expect("the golden file is written");
    }
    let committed = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    if committed != written {
        let differs_at = (committed.iter().zip(written)).position(|(a, b)| a != b);
        panic!(
            "{name}: the bytes written differ from {} (first at byte {}; {} bytes then, {} now); a change to the encoding is a new format version (see golden.rs)",
            path.display(),
            differs_at.unwrap_or(committed.len().min(written.len())),
            committed.len(),
            written.len(),
        );
    }
    committed
}

/// A segment of this version holding `entry` alone.
fn segment_of(entry: &Entry) -> Vec<u8> {
    let mut bytes = header(FileKind::Journal).to_vec();
    encode_entry(entry.clone(), &mut bytes);
    bytes
}

fn the_only_entry(name: &str, decoded: Decoded<Entry>, bytes: &[u8]) -> Entry {
    assert_eq!(decoded.damage, None, "{name}");
    assert_eq!(decoded.valid_len, bytes.len(), "{name}");
    let [entry] = <[Entry; 1]>::try_from(decoded.records).unwrap_or_else(|records| panic!("{name}: {records:?}"));
    entry
}

/// The image as the format writes it, which compares whole.
fn written_form(image: &Image) -> snapshot::Snapshot {
    snapshot::Snapshot::from(image)
}

#[test]
fn a_record_of_every_kind_reads_from_and_writes_to_its_golden_bytes() {
    for (name, expected) in values::records() {
        let committed = golden(name, &segment_of(&expected));
        let read = read_segment(&committed).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(the_only_entry(name, read, &committed), expected, "{name}");
    }
}

#[test]
fn the_golden_snapshot_reads_to_its_state_and_writes_to_its_bytes() {
    let image = values::state().image();
    let committed = golden("snapshot", &encode_snapshot(&image).expect("a small snapshot"));
    let read = decode_snapshot(&committed).expect("the golden snapshot reads");
    assert_eq!(written_form(&read), written_form(&image));
    let paying = read.dates.iter().flat_map(|(_, part)| part.state.live_holds());
    let paying = paying.filter(|(_, _, until)| *until == chrono::DateTime::<chrono::Utc>::MAX_UTC);
    assert_eq!(paying.count(), 1, "the snapshot holds a payment under way");
    assert_eq!(read.room.state.paid.len(), 1, "and a token a payment was made with");
    assert_eq!(
        read.room.state.active_max_chosen,
        Some(2),
        "and the operator's active max"
    );
}

#[test]
fn the_golden_snapshots_of_each_partition_read_to_their_parts_and_write_to_their_bytes() {
    let mut parts = values::state().image().into_parts();
    parts.sort_by_key(|(partition, _)| *partition);
    let mut dates = 0;
    for (partition, part) in parts {
        let name = match partition {
            Partition::Date(_) => {
                dates += 1;
                format!("part-date-{dates}")
            }
            fixed => format!("part-{fixed}"),
        };
        let written = encode_part_snapshot(partition, &part).expect("a small part");
        let committed = golden(&name, &written);
        let (read_partition, read) = decode_part_snapshot(&committed).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(read_partition, partition, "{name}");
        assert_eq!(read.seq, part.seq, "{name}");
        let again = encode_part_snapshot(read_partition, &read).expect("a small part");
        assert_eq!(again, committed, "{name}: what it reads to writes the same bytes");
    }
    assert_eq!(dates, 2, "the golden state has two dates");
}

#[test]
fn files_written_before_the_header_read_as_version_2_to_the_same_values() {
    for (name, expected) in values::records() {
        let path = golden_path("v2", name);
        let later = [
            &values::SINCE_VERSION_3[..],
            &values::SINCE_VERSION_4,
            &values::SINCE_VERSION_5,
        ];
        if later.iter().any(|names| names.contains(&name)) {
            assert!(!path.exists(), "{name} is of a later version");
            continue;
        }
        let old = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let read = read_segment(&old).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(the_only_entry(name, read, &old), expected, "{name}");
        // The same body, after the version byte that version 3 moved into the header.
        let now = segment_of(&expected);
        assert_eq!(old[8], 2, "{name}");
        assert_eq!(old[9..], now[super::HEADER_BYTES + 8..], "{name}: the bodies agree");
    }
    let old = std::fs::read(golden_path("v2", "snapshot")).expect("the old snapshot");
    let read = decode_snapshot(&old).expect("the old snapshot reads");
    let expected = values::as_version_3_kept_it(written_form(&values::state().image()));
    let expected = values::as_version_2_kept_it(expected);
    assert_eq!(written_form(&read), expected);
}

#[test]
fn files_of_version_3_read_to_the_same_values() {
    for (name, expected) in values::records() {
        let path = golden_path("v3", name);
        if values::SINCE_VERSION_4.contains(&name) || values::SINCE_VERSION_5.contains(&name) {
            assert!(!path.exists(), "{name} is of version 4 on");
            continue;
        }
        let old = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let read = read_segment(&old).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(the_only_entry(name, read, &old), expected, "{name}");
        // The same record after a header that differs in its version alone.
        let now = segment_of(&expected);
        assert_eq!(
            old[super::MAGIC_BYTES..super::HEADER_BYTES],
            3u32.to_le_bytes(),
            "{name}"
        );
        assert_eq!(
            old[super::HEADER_BYTES..],
            now[super::HEADER_BYTES..],
            "{name}: the records agree"
        );
    }
    let old = std::fs::read(golden_path("v3", "snapshot")).expect("the old snapshot");
    let read = decode_snapshot(&old).expect("the old snapshot reads");
    assert_eq!(
        written_form(&read),
        values::as_version_3_kept_it(written_form(&values::state().image()))
    );
    for entry in std::fs::read_dir(golden_path("v3", "x").parent().expect("the dir")).expect("the v3 dir") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.starts_with("part-") {
            continue;
        }
        let old = std::fs::read(&path).expect("a part of version 3");
        let (partition, part) = decode_part_snapshot(&old).unwrap_or_else(|error| panic!("{name}: {error}"));
        let again = encode_part_snapshot(partition, &part).expect("a small part");
        assert_eq!(
            again[super::HEADER_BYTES..],
            old[super::HEADER_BYTES..],
            "{name}: the part reads as it was"
        );
    }
}

#[test]
fn files_of_version_4_read_to_the_same_values() {
    let dir = golden_path("v4", "x").parent().expect("the dir").to_path_buf();
    for (name, expected) in values::records() {
        let path = dir.join(format!("{name}.bin"));
        if values::SINCE_VERSION_5.contains(&name) {
            assert!(!path.exists(), "{name} is of version 5 on");
            continue;
        }
        let old = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let read = read_segment(&old).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(the_only_entry(name, read, &old), expected, "{name}");
        let now = segment_of(&expected);
        assert_eq!(
            old[super::MAGIC_BYTES..super::HEADER_BYTES],
            4u32.to_le_bytes(),
            "{name}"
        );
        assert_eq!(
            old[super::HEADER_BYTES..],
            now[super::HEADER_BYTES..],
            "{name}: the records agree"
        );
    }
    let old = std::fs::read(dir.join("snapshot.bin")).expect("the old snapshot");
    let read = decode_snapshot(&old).expect("the old snapshot reads");
    assert_eq!(
        written_form(&read),
        written_form(&values::state().image()),
        "the same layout"
    );
    for entry in std::fs::read_dir(&dir).expect("the v4 dir") {
        let path = entry.expect("an entry").path();
        let name = (path.file_stem().and_then(|stem| stem.to_str()))
            .unwrap_or_default()
            .to_string();
        if !name.starts_with("part-") {
            continue;
        }
        let old = std::fs::read(&path).expect("a part of version 4");
        let (partition, part) = decode_part_snapshot(&old).unwrap_or_else(|error| panic!("{name}: {error}"));
        let again = encode_part_snapshot(partition, &part).expect("a small part");
        assert_eq!(
            again[super::HEADER_BYTES..],
            old[super::HEADER_BYTES..],
            "{name}: the part reads as it was"
        );
    }
}
