//! The per-process scratch directory under `<root>/tmp/`, and the start-up sweep that
//! removes what dead processes left there.
//!
//! Several strata processes may share one root, so "empty `tmp/` at start" cannot mean
//! `rm -rf tmp/*`: that would delete a running build's half-written blobs. Instead each
//! process works in its own `tmp/<pid>-<nanos>-<n>/` and holds an exclusive `flock` on
//! that directory for as long as it lives. The sweep locks each entry without waiting and
//! removes only those it could lock: their owner is gone (the kernel drops `flock`s of a
//! killed process), or the entry is not a scratch directory at all.
//!
//! The one race, a sweep locking a directory its creator has made but not yet locked, is
//! closed on the creator's side: after locking, it checks that the path still names the
//! inode it locked, and starts over with a new name otherwise.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, IoResultExt, Result, io_at};
use crate::lock::{FileLock, Mode, Wait};

/// Distinguishes scratch directories (and files inside them) made by one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How often to retry creating a scratch directory that a concurrent sweep removed.
const CREATE_ATTEMPTS: u32 = 16;

/// A locked directory `tmp/<unique>/` owned by this process; removed on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir {
    path: PathBuf,
    /// Held for the whole life of the directory; tells sweeps of other processes that it
    /// is in use.
    _lock: FileLock,
}

impl ScratchDir {
    /// Creates and locks a fresh scratch directory under `tmp_root`.
    pub(crate) fn create(tmp_root: &Path) -> Result<ScratchDir> {
        let pid = std::process::id();
        for _ in 0..CREATE_ATTEMPTS {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = tmp_root.join(format!("{pid}-{nanos}-{n}"));
            match fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_at(&path, e)),
            }
            let dir = match File::open(&path) {
                Ok(dir) => dir,
                // A sweep removed it between mkdir and open.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_at(&path, e)),
            };
            let lock = match FileLock::lock(dir, &path, Mode::Exclusive, Wait::Fail) {
                Ok(lock) => lock,
                // A sweep holds it and is removing it.
                Err(Error::Locked { .. }) => continue,
                Err(e) => return Err(e),
            };
            if same_inode(lock.file(), &path)? {
                tracing::debug!(path = %path.display(), "created scratch directory");
                return Ok(ScratchDir { path, _lock: lock });
            }
        }
        Err(io_at(
            tmp_root,
            io::Error::other("could not create a scratch directory: removed by concurrent sweeps"),
        ))
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh path inside the directory (nothing is created), named `<prefix>-<n>`.
    pub(crate) fn temp_path(&self, prefix: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.path.join(format!("{prefix}-{n}"))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Still locked here: fields drop after this body.
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove scratch directory");
        }
    }
}

/// Whether `path` still names the inode open as `file`.
fn same_inode(file: &File, path: &Path) -> Result<bool> {
    let open = file.metadata().at(path)?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_at(path, e)),
    }
}

/// Removes every entry of `tmp_root` that no live process holds locked (except `own`),
/// and returns how many were removed.
///
/// Only listing `tmp_root` can fail: an entry that cannot be inspected or removed is
/// reported with a warning and left for a later sweep, since leftovers cost disk space
/// but never correctness.
pub(crate) fn sweep(tmp_root: &Path, own: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(tmp_root).at(tmp_root)? {
        let entry = entry.at(tmp_root)?;
        let path = entry.path();
        if path == own {
            continue;
        }
        match sweep_entry(&entry) {
            Ok(true) => removed += 1,
            Ok(false) => {
                tracing::trace!(path = %path.display(), "scratch entry in use by a live process");
            }
            Err(e) => tracing::warn!(error = ?e, "cannot remove a stale scratch entry"),
        }
    }
    Ok(removed)
}

/// Removes one entry of `tmp/` if no live process holds it locked; `Ok(false)` if one
/// does.
fn sweep_entry(entry: &fs::DirEntry) -> Result<bool> {
    let path = entry.path();
    let file_type = entry.file_type().at(&path)?;
    if file_type.is_symlink() {
        remove(&path, false)?;
        return Ok(true);
    }
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_at(&path, e)),
    };
    match FileLock::lock(file, &path, Mode::Exclusive, Wait::Fail) {
        Ok(lock) => {
            tracing::debug!(path = %lock.path().display(), "removing stale scratch entry");
            remove(&path, file_type.is_dir())?;
            Ok(true)
        }
        Err(Error::Locked { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a file or a directory tree; a path already gone is fine.
fn remove(path: &Path, is_dir: bool) -> Result<()> {
    let result = if is_dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_at(path, e)),
        _ => Ok(()),
    }
}
