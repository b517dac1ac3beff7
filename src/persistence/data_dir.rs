//! The data dir's layout: a lock file, journal segments and snapshots, named by a segment index
//! so that a plain listing sorts them.
//!
//! ```text
//! LOCK                        held by the one process that owns the dir
//! journal-00000007.log        journal segments, appended to in order
//! journal-00000007.log.torn-4096
//!                             bytes cut from the end of segment 7 at byte 4096 at a start: a
//!                             write the process never finished; kept for the operator
//! snapshot-00000007.snap      the state as of the start of segment 7
//! snapshot-00000008.snap.tmp  a snapshot being written; removed if its write fails, and any
//!                             left by a crash at the next start that recovers
//! token.key                   the key that hides the issue order in queue tokens; made once
//! admission.key               the Ed25519 seed that signs admissions; made once
//! ```

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = "LOCK";
const SEGMENT_PREFIX: &str = "journal-";
const SEGMENT_SUFFIX: &str = ".log";
const TORN_TAIL_INFIX: &str = ".torn-";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const SNAPSHOT_TEMPORARY_SUFFIX: &str = ".snap.tmp";
const TOKEN_KEY_FILE: &str = "token.key";
const ADMISSION_KEY_FILE: &str = "admission.key";

/// The key's length: a SipHash key.
pub const TOKEN_KEY_BYTES: usize = 16;

/// The data dir, locked for this process for as long as the value lives.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
    /// The dir itself, open for syncing: a sync then needs no new descriptor, so it works even
    /// when the process has none left.
    handle: File,
}

impl DataDir {
    /// Creates the dir if missing and takes its lock; a second process is refused.
    pub fn open(path: &Path) -> io::Result<Self> {
        fs::create_dir_all(path)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => Ok(Self {
                path: path.to_path_buf(),
                _lock: lock,
                handle: File::open(path)?,
            }),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "the data dir {} is in use by another server process; stop it or choose another --data-dir",
                    path.display()
                ),
            )),
            Err(fs::TryLockError::Error(error)) => Err(error),
        }
    }

    pub fn segment_path(&self, index: u64) -> PathBuf {
        self.path.join(format!("{SEGMENT_PREFIX}{index:08}{SEGMENT_SUFFIX}"))
    }

    /// Where the bytes cut from the end of segment `index` at byte `offset` are kept.
    pub fn torn_tail_path(&self, index: u64, offset: u64) -> PathBuf {
        self.path.join(format!(
            "{SEGMENT_PREFIX}{index:08}{SEGMENT_SUFFIX}{TORN_TAIL_INFIX}{offset}"
        ))
    }

    pub fn snapshot_path(&self, index: u64) -> PathBuf {
        self.path.join(format!("{SNAPSHOT_PREFIX}{index:08}{SNAPSHOT_SUFFIX}"))
    }

    /// Where snapshot `index` is written before it is renamed into place.
    pub fn snapshot_temporary_path(&self, index: u64) -> PathBuf {
        self.path
            .join(format!("{SNAPSHOT_PREFIX}{index:08}{SNAPSHOT_TEMPORARY_SUFFIX}"))
    }

    /// Indexes of the journal segments present, ascending.
    pub fn segments(&self) -> io::Result<Vec<u64>> {
        self.indexes(SEGMENT_PREFIX, SEGMENT_SUFFIX)
    }

    /// Indexes of the snapshots present, ascending.
    pub fn snapshots(&self) -> io::Result<Vec<u64>> {
        self.indexes(SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX)
    }

    /// Indexes of the snapshots whose temporary files are present, ascending.
    pub fn snapshot_temporaries(&self) -> io::Result<Vec<u64>> {
        self.indexes(SNAPSHOT_PREFIX, SNAPSHOT_TEMPORARY_SUFFIX)
    }

    fn indexes(&self, prefix: &str, suffix: &str) -> io::Result<Vec<u64>> {
        let mut indexes = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let name = entry?.file_name();
            let index = name
                .to_str()
                .and_then(|name| name.strip_prefix(prefix))
                .and_then(|rest| rest.strip_suffix(suffix))
                .and_then(|digits| digits.parse::<u64>().ok());
            indexes.extend(index);
        }
        indexes.sort_unstable();
        Ok(indexes)
    }

    /// The token key, made from the operating system's randomness the first time and kept:
    /// tokens outlive a restart, so the key that reads them must too. Written to a temporary
    /// file, synced and renamed, so a crash leaves either no key or the whole key.
    pub fn token_key(&self) -> io::Result<[u8; TOKEN_KEY_BYTES]> {
        self.key(TOKEN_KEY_FILE)
    }

    /// The seed of the Ed25519 key admissions are signed with, made on first use and kept, so
    /// that an admission signed before a restart still verifies after it.
    pub fn admission_key(&self) -> io::Result<[u8; 32]> {
        self.key(ADMISSION_KEY_FILE)
    }

    /// The `N`-byte key kept in the file `name`, made on first use.
    fn key<const N: usize>(&self, name: &str) -> io::Result<[u8; N]> {
        let path = self.path.join(name);
        match fs::read(&path) {
            Ok(bytes) => bytes.try_into().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a {N}-byte key", path.display()),
                )
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => self.make_key(&path),
            Err(error) => Err(error),
        }
    }

    fn make_key<const N: usize>(&self, path: &Path) -> io::Result<[u8; N]> {
        let key: [u8; N] = std::array::from_fn(|_| rand::random());
        let temporary = path.with_extension("key.tmp");
        let mut file = File::create(&temporary)?;
        io::Write::write_all(&mut file, &key)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        self.sync()?;
        Ok(key)
    }

    /// Makes renames and new files in the dir durable.
    pub fn sync(&self) -> io::Result<()> {
        self.handle.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_of_the_dir_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let refused = DataDir::open(dir.path()).unwrap_err();
        assert!(refused.to_string().contains("in use by another server process"));
        drop(first);
        DataDir::open(dir.path()).unwrap();
    }

    #[test]
    fn the_token_and_admission_keys_are_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let key = data.token_key().unwrap();
        assert_eq!(data.token_key().unwrap(), key);
        drop(data);
        assert_eq!(DataDir::open(dir.path()).unwrap().token_key().unwrap(), key);
        fs::write(dir.path().join(TOKEN_KEY_FILE), b"short").unwrap();
        assert!(DataDir::open(dir.path()).unwrap().token_key().is_err());
        let admission = DataDir::open(dir.path()).unwrap().admission_key().unwrap();
        assert_eq!(DataDir::open(dir.path()).unwrap().admission_key().unwrap(), admission);
    }

    #[test]
    fn files_are_listed_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        for index in [10, 2, 33] {
            File::create(data.segment_path(index)).unwrap();
        }
        File::create(data.snapshot_path(2)).unwrap();
        File::create(dir.path().join("journal-x.log")).unwrap();
        assert_eq!(data.segments().unwrap(), [2, 10, 33]);
        assert_eq!(data.snapshots().unwrap(), [2]);
    }
}
