//! Inter-process locks: `flock(2)` on files under `<root>/locks/` and on the directories
//! under `<root>/tmp/`.
//!
//! `flock` locks belong to an open file description, so they are released by the kernel
//! when the holder exits or is killed: a crashed strata never leaves a stale lock behind.
//! Two handles in one process conflict like two processes do.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoResultExt, Result, io_at};

/// How a lock is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Any number of shared holders at once, and no exclusive holder.
    Shared,
    /// One holder, and no shared holders.
    Exclusive,
}

/// Whether to wait for a conflicting holder or fail with [`Error::Locked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Block until the lock is free.
    Block,
    /// Fail at once with [`Error::Locked`].
    Fail,
}

/// A held `flock` on a file, released on drop.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Opens (creating if needed) the lock file at `path` and locks it.
    pub(crate) fn acquire(path: &Path, mode: Mode, wait: Wait) -> Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        FileLock::lock(file, path, mode, wait)
    }

    /// Locks an already open file or directory (for `tmp/` entries, which are directories).
    pub(crate) fn lock(file: File, path: &Path, mode: Mode, wait: Wait) -> Result<FileLock> {
        let result = match (mode, wait) {
            (Mode::Exclusive, Wait::Block) => file.lock().map_err(TryLockError::Error),
            (Mode::Shared, Wait::Block) => file.lock_shared().map_err(TryLockError::Error),
            (Mode::Exclusive, Wait::Fail) => file.try_lock(),
            (Mode::Shared, Wait::Fail) => file.try_lock_shared(),
        };
        match result {
            Ok(()) => Ok(FileLock {
                file,
                path: path.to_path_buf(),
            }),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                path: path.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(io_at(path, e)),
        }
    }

    /// The locked file, e.g. to `fstat` it.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The path the lock was taken at.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A shared hold on the store's garbage-collection lock (`locks/gc.lock`).
///
/// Garbage collection removes blobs that `index.json` does not reach. A blob that is
/// committed but not yet tagged (a pull writes layers, then the config, then the manifest,
/// and tags last) is unreachable for a while; the lease keeps every collector away for
/// that while. So: take a lease, write blobs, tag, drop the lease. The content store asks
/// for a lease to create a writer or to tag, so it cannot be forgotten.
///
/// Leases are shared: any number of builds and pulls hold them at once. Collection takes
/// the lock exclusively and so waits for every lease to end. A lease is released when it
/// is dropped or when its process dies.
///
/// Do not ask for a collection ([`crate::Store::lock_gc`]) while holding a lease in the
/// same thread: the collector would wait for that lease forever.
#[derive(Debug)]
pub struct Lease {
    _lock: FileLock,
}

impl Lease {
    /// Takes a shared hold on the lock file at `path`.
    pub(crate) fn acquire(path: &Path) -> Result<Lease> {
        Ok(Lease {
            _lock: FileLock::acquire(path, Mode::Shared, Wait::Block)?,
        })
    }
}

/// A hold on the build lock (`locks/build.lock`), released on drop or when the process dies.
///
/// A build reads snapshots and step records during its whole solve without other leases,
/// so every build holds this lock shared from start to end, and `strata prune` holds it
/// exclusive while it deletes records and snapshots: prune waits for running builds, and
/// builds started meanwhile wait for prune.
#[derive(Debug)]
pub struct BuildLock {
    _lock: FileLock,
}

impl BuildLock {
    /// Takes the lock at `path`, shared or exclusive; when it cannot be taken at once,
    /// `on_wait` runs (to tell the user) before blocking.
    pub(crate) fn acquire(path: &Path, exclusive: bool, on_wait: impl FnOnce()) -> Result<Self> {
        let mode = if exclusive {
            Mode::Exclusive
        } else {
            Mode::Shared
        };
        let lock = match FileLock::acquire(path, mode, Wait::Fail) {
            Ok(lock) => lock,
            Err(Error::Locked { .. }) => {
                on_wait();
                FileLock::acquire(path, mode, Wait::Block)?
            }
            Err(e) => return Err(e),
        };
        Ok(BuildLock { _lock: lock })
    }
}
