//! The memo that lets an unchanged file go unread.
//!
//! A file's digest is remembered under everything `stat` says about it that
//! changes when its bytes, owner, mode or xattrs may have changed: device,
//! inode, size, mtime and ctime in nanoseconds, and the mode word. ctime is
//! what makes this safe where size+mtime alone is not (moby/buildkit#4817): a
//! write, `touch -m` back to the old time, a chown or an xattr change all move
//! ctime, and userspace cannot set it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::Stat;

/// What a file's digest is remembered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatKey {
    /// Device of the filesystem.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// The whole `st_mode` (type and permission bits).
    pub mode: u32,
}

impl StatKey {
    /// Bytes in [`StatKey::to_bytes`].
    pub const LEN: usize = 44;

    /// The key of a stat result.
    pub fn from_stat(st: &Stat) -> Self {
        Self {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime_ns: (st.st_mtime).saturating_mul(1_000_000_000) + st.st_mtime_nsec as i64,
            ctime_ns: (st.st_ctime).saturating_mul(1_000_000_000) + st.st_ctime_nsec as i64,
            mode: st.st_mode,
        }
    }

    /// A fixed-width big-endian encoding, for a persistent table's key.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..8].copy_from_slice(&self.dev.to_be_bytes());
        out[8..16].copy_from_slice(&self.ino.to_be_bytes());
        out[16..24].copy_from_slice(&self.size.to_be_bytes());
        out[24..32].copy_from_slice(&self.mtime_ns.to_be_bytes());
        out[32..40].copy_from_slice(&self.ctime_ns.to_be_bytes());
        out[40..44].copy_from_slice(&self.mode.to_be_bytes());
        out
    }
}

/// A store of file digests by [`StatKey`]. The cache crate backs it with a
/// table of its index so that memos survive between builds.
pub trait HashMemo: Send + Sync {
    /// The digest remembered for `key`, if any.
    fn get(&self, key: &StatKey) -> Option<[u8; 32]>;
    /// Remembers `digest` for `key`.
    fn put(&self, key: StatKey, digest: [u8; 32]);
}

/// A memo that forgets everything: every file is read.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMemo;

impl HashMemo for NoMemo {
    fn get(&self, _: &StatKey) -> Option<[u8; 32]> {
        None
    }
    fn put(&self, _: StatKey, _: [u8; 32]) {}
}

/// An in-memory memo, for tests and one-shot builds; counts its lookups.
#[derive(Debug, Default)]
pub struct MemoryMemo {
    map: Mutex<HashMap<StatKey, [u8; 32]>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl MemoryMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lookups that found a digest.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that found nothing.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl HashMemo for MemoryMemo {
    fn get(&self, key: &StatKey) -> Option<[u8; 32]> {
        let found = self.map.lock().ok().and_then(|m| m.get(key).copied());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put(&self, key: StatKey, digest: [u8; 32]) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(key, digest);
        }
    }
}
