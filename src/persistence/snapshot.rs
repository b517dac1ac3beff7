//! Snapshots: the whole [`Image`] as a file of one checksummed record after the format's header,
//! written to a temporary file, synced, renamed into place, and the dir synced, so a snapshot
//! file is either whole or absent. A temporary file never outlives its write: a failed write
//! removes it, and the start after a crash removes any the crash left.
//!
//! Snapshot `k` holds the state as of the start of journal segment `k` or later; recovery replays
//! segments `k..`. The two newest snapshots are kept, and the segments the older one needs, so a
//! damaged newest snapshot falls back to the one before.

use super::data_dir::DataDir;
use super::format::{self, SnapshotError};
use super::frame::Damage;
use super::Image;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Snapshots kept: the newest and one to fall back to.
pub const SNAPSHOTS_KEPT: usize = 2;

/// Writes snapshot `index` durably; returns its size in bytes.
pub fn write(dir: &DataDir, index: u64, image: &Image) -> io::Result<u64> {
    // Too large a state is refused as an error: the journal still holds everything.
    let bytes = format::encode_snapshot(image).map_err(io::Error::other)?;
    let temporary = dir.snapshot_temporary_path(index);
    let renamed = write_synced(&temporary, &bytes).and_then(|()| fs::rename(&temporary, dir.snapshot_path(index)));
    if let Err(error) = renamed {
        remove_temporary(&temporary);
        return Err(error);
    }
    dir.sync()?;
    Ok(bytes.len() as u64)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Removes a temporary file if it is there; a failure is only logged, as the next start that
/// recovers tries again.
fn remove_temporary(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, path = %path.display(), "a temporary snapshot file could not be removed"),
    }
}

/// Removes the temporary files of snapshot writes a crash cut short. Only the owner of the dir's
/// lock may: another process's write could be under way.
pub fn remove_temporaries(dir: &DataDir) -> io::Result<()> {
    for index in dir.snapshot_temporaries()? {
        let path = dir.snapshot_temporary_path(index);
        tracing::info!(path = %path.display(), "removing a snapshot a crash left half written");
        remove_temporary(&path);
    }
    Ok(())
}

/// Reads snapshot `index`, refusing one that is damaged or of a version this build does not
/// read.
pub fn read(dir: &DataDir, index: u64) -> Result<Image, SnapshotError> {
    let bytes = fs::read(dir.snapshot_path(index)).map_err(|error| Damage::Undecodable(error.to_string()))?;
    format::decode_snapshot(&bytes)
}

/// Deletes snapshots beyond the newest `SNAPSHOTS_KEPT`, and the journal segments that no kept
/// snapshot needs.
pub fn prune(dir: &DataDir) -> io::Result<()> {
    let snapshots = dir.snapshots()?;
    if snapshots.len() < SNAPSHOTS_KEPT {
        return Ok(());
    }
    let oldest_kept = snapshots[snapshots.len() - SNAPSHOTS_KEPT];
    for index in snapshots.into_iter().filter(|index| *index < oldest_kept) {
        fs::remove_file(dir.snapshot_path(index))?;
    }
    for index in dir.segments()?.into_iter().filter(|index| *index < oldest_kept) {
        fs::remove_file(dir.segment_path(index))?;
    }
    Ok(())
}
