//! One open handle on the cache index per process.
//!
//! Opening a redb file is not cheap: the open marks the file in use and the
//! close marks it clean, each with a few fsyncs (about 5 per open-close pair,
//! 3 to 15 ms on a busy disk). Opening it per lookup made a fully cached
//! build of 10 steps spend most of its time there, and threads of the same
//! build waited on each other's handle with backoff. So every [`Records`]
//! of one path in a process shares one handle, opened on first use and
//! closed when the last of them is dropped.
//!
//! Other strata processes on the same root open their own handle at the same
//! time: the database is opened in redb's multi-writer mode (byte-range
//! locks, one write transaction at a time across processes), so no process
//! waits for another to close. A strata older than this one locks the whole
//! file instead; an open that finds it so is retried with backoff.
//!
//! [`Records`]: super::Records

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use redb::{ConcurrencyMode, Database};

/// The handle shared by the [`Records`](super::Records) of one path.
pub(super) struct Shared {
    path: PathBuf,
    db: Mutex<Option<Arc<Database>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("path", &self.path).finish()
    }
}

/// The live handles of this process, by index path.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Shared>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// The shared handle of `path`, made (not opened) if no live one exists.
pub(super) fn shared(path: &Path) -> Arc<Shared> {
    let Ok(mut open) = registry().lock() else {
        // A thread panicked while holding the registry: do without sharing.
        return Arc::new(Shared::new(path));
    };
    if let Some(live) = open.get(path).and_then(Weak::upgrade) {
        return live;
    }
    open.retain(|_, w| w.strong_count() > 0);
    let made = Arc::new(Shared::new(path));
    open.insert(path.to_path_buf(), Arc::downgrade(&made));
    made
}

impl Shared {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            db: Mutex::new(None),
        }
    }

    /// The open database, opening (and creating) it on first use.
    pub(super) fn get(&self) -> Result<Arc<Database>, redb::DatabaseError> {
        let mut slot = match self.db.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        let db = Arc::new(open_with_backoff(&self.path)?);
        *slot = Some(db.clone());
        Ok(db)
    }
}

fn open_with_backoff(path: &Path) -> Result<Database, redb::DatabaseError> {
    let mut delay = Duration::from_millis(2);
    let mut waited = Duration::ZERO;
    loop {
        match Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(path)
        {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if waited < Duration::from_secs(60) => {
                std::thread::sleep(delay);
                waited += delay;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}
