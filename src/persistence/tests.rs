//! Snapshot tests that need no engine: a state made here, written and read by the persistence
//! layer alone. Recovery against crashes and damage runs on what the engine itself wrote, in
//! `services::disk_damage`.

use super::data_dir::DataDir;
use super::recovery::{Limits, State};
use super::snapshot;
use crate::domain::waiting_room::WaitingRoomLimits;
use crate::domain::wallet::WalletLimits;
use chrono::Duration;
use std::path::Path;

fn limits() -> Limits {
    Limits {
        room: WaitingRoomLimits {
            active_max: 2,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        },
        wallet: WalletLimits {
            charge_max: 10_000,
            balance_max: 50_000,
        },
        answer_retention: Duration::hours(24),
    }
}

/// Names in the dir that a snapshot write uses only while it is under way.
fn temporaries(path: &Path) -> Vec<String> {
    let names = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|name| name.ends_with(".tmp")).collect()
}

#[test]
fn a_failed_snapshot_write_leaves_no_temporary_file() {
    let live = tempfile::tempdir().unwrap();
    let dir = DataDir::open(live.path()).unwrap();
    // A dir where the snapshot belongs: the temporary file is written, but cannot be renamed.
    std::fs::create_dir(dir.snapshot_path(3)).unwrap();
    let image = State::empty(&limits()).image();
    assert!(snapshot::write(&dir, 3, &image).is_err());
    assert_eq!(temporaries(live.path()), Vec::<String>::new());
    snapshot::write(&dir, 4, &image).unwrap();
    assert!(snapshot::read(&dir, 4).is_ok(), "the next write is whole");
}
