//! Hashing one entry and everything below it, through directory descriptors.
//!
//! Each entry's digest is sha256 of an explicit, length-prefixed record:
//! a version tag, the type, permission and special bits, uid, gid, then per
//! type the size and content digest (files), the target (symlinks), the
//! device number (devices), or each child's name and digest in byte order
//! (directories), and last the xattrs that reach the image (`security.capability`,
//! `user.*`). Names appear only in the parent's record, so a file's digest does
//! not depend on where it is, and mtime appears nowhere.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, openat, statat};
use sha2::{Digest as _, Sha256};

use super::ContentHashError;
use super::memo::{HashMemo, StatKey};
use crate::fileop::read_xattrs;
use crate::fileop::wildcard::read_names;
use crate::fileop::{Excluder, RootDir};

/// Directories with at least this many entries hash their children in parallel.
const PARALLEL_FANOUT: usize = 16;

/// A length-prefixed record writer over sha256: every field is its tag and
/// its value, each preceded by its length, so no two records collide.
pub(crate) struct Record(Sha256);

impl Record {
    pub(crate) fn new(kind: &str) -> Self {
        let mut r = Self(Sha256::new());
        r.bytes("v", kind.as_bytes());
        r
    }
    pub(crate) fn bytes(&mut self, tag: &str, value: &[u8]) -> &mut Self {
        self.0.update((tag.len() as u64).to_be_bytes());
        self.0.update(tag.as_bytes());
        self.0.update((value.len() as u64).to_be_bytes());
        self.0.update(value);
        self
    }
    pub(crate) fn u64(&mut self, tag: &str, v: u64) -> &mut Self {
        self.bytes(tag, &v.to_be_bytes())
    }
    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// A directory child's name and digest.
type Child = (Vec<u8>, [u8; 32]);

/// Counters of one hashing run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub visited: AtomicU64,
    pub read: AtomicU64,
    pub memo_hits: AtomicU64,
}

/// Shared state of one run.
pub(crate) struct Walker<'a> {
    /// The hashed root; its hidden (`.dockerignore`d) entries are skipped.
    pub root: &'a RootDir,
    pub memo: &'a dyn HashMemo,
    pub exclude: &'a Excluder,
    pub counters: Counters,
    pub paths: Mutex<BTreeMap<String, [u8; 32]>>,
}

impl Walker<'_> {
    /// The digest of `name` in `dir` (already `lstat`ed as `st`). `key` is its
    /// path in the report, `rel` its path below the selected source (for
    /// exclude patterns; empty for the source itself).
    pub(crate) fn entry(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        key: &str,
        rel: &str,
    ) -> Result<[u8; 32], ContentHashError> {
        let ftype = FileType::from_raw_mode(st.st_mode);
        let digest = match ftype {
            FileType::RegularFile => self.file(dir, name, st, key)?,
            FileType::Directory => self.dir(dir, name, st, key, rel)?,
            _ => {
                let mut r = header(st, ftype);
                match ftype {
                    FileType::Symlink => {
                        let target = rustix::fs::readlinkat(dir, name, Vec::new())
                            .map_err(|e| ContentHashError::io("read link", key, e))?;
                        r.bytes("target", target.as_bytes());
                    }
                    _ => {
                        r.u64("rdev", st.st_rdev);
                    }
                }
                r.finish()
            }
        };
        if let Ok(mut p) = self.paths.lock() {
            p.insert(key.to_owned(), digest);
        }
        Ok(digest)
    }

    fn file(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        key: &str,
    ) -> Result<[u8; 32], ContentHashError> {
        let memo_key = StatKey::from_stat(st);
        if let Some(d) = self.memo.get(&memo_key) {
            self.counters.memo_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(d);
        }
        self.counters.read.fetch_add(1, Ordering::Relaxed);
        let fd = openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| ContentHashError::io("open", key, e))?;
        let mut file = std::fs::File::from(fd);
        let mut content = Sha256::new();
        let mut buf = vec![0u8; 128 * 1024];
        let mut size = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| ContentHashError::io("read", key, e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            content.update(&buf[..n]);
        }
        let mut r = header(st, FileType::RegularFile);
        r.u64("size", size);
        r.bytes("content", &content.finalize());
        xattrs(&mut r, file.as_fd());
        let digest = r.finish();
        // Only remember what was read from an unchanged file.
        let after = rustix::fs::fstat(&file).map_err(|e| ContentHashError::io("stat", key, e))?;
        if StatKey::from_stat(&after) == memo_key && size == memo_key.size {
            self.memo.put(memo_key, digest);
        }
        Ok(digest)
    }

    fn dir(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        key: &str,
        rel: &str,
    ) -> Result<[u8; 32], ContentHashError> {
        let fd = openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ContentHashError::io("open directory", key, e))?;
        let names = read_names(&fd).map_err(|e| ContentHashError::io("read directory", key, e))?;
        let child = |n: &std::path::PathBuf| -> Result<Option<Child>, ContentHashError> {
            let name_str = n.to_string_lossy();
            let child_rel = if rel.is_empty() {
                name_str.to_string()
            } else {
                format!("{rel}/{name_str}")
            };
            let child_key = format!("{}/{name_str}", key.trim_end_matches('/'));
            self.counters.visited.fetch_add(1, Ordering::Relaxed);
            let cst = statat(&fd, n, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| ContentHashError::io("stat", &child_key, e))?;
            let is_dir = FileType::from_raw_mode(cst.st_mode) == FileType::Directory;
            // `key` is root-relative, except that the root's children read `./name`.
            let root_rel = child_key.strip_prefix("./").unwrap_or(&child_key);
            if self.root.hides(std::path::Path::new(root_rel), &cst) {
                return Ok(None);
            }
            if self.exclude.is_excluded(&child_rel)
                && !(is_dir && self.exclude.reincludes_below(&child_rel))
            {
                return Ok(None);
            }
            let d = self.entry(fd.as_fd(), n.as_os_str(), &cst, &child_key, &child_rel)?;
            Ok(Some((n.as_os_str().as_bytes().to_vec(), d)))
        };
        let children: Vec<Option<Child>> = if names.len() >= PARALLEL_FANOUT {
            names.par_iter().map(child).collect::<Result<_, _>>()?
        } else {
            names.iter().map(child).collect::<Result<_, _>>()?
        };
        let mut r = header(st, FileType::Directory);
        for (n, d) in children.into_iter().flatten() {
            r.bytes("name", &n);
            r.bytes("digest", &d);
        }
        xattrs(&mut r, fd.as_fd());
        Ok(r.finish())
    }
}

/// The fields every entry's record starts with.
fn header(st: &Stat, ftype: FileType) -> Record {
    let mut r = Record::new("strata.contenthash.entry/v1");
    r.u64("type", u64::from(ftype.as_raw_mode()))
        .u64("mode", u64::from(st.st_mode & 0o7777))
        .u64("uid", u64::from(st.st_uid))
        .u64("gid", u64::from(st.st_gid));
    r
}

/// Adds the xattrs that an image carries and that change behaviour.
fn xattrs(r: &mut Record, fd: BorrowedFd<'_>) {
    for (name, value) in read_xattrs(fd) {
        let n = name.as_bytes();
        if n == b"security.capability" || n.starts_with(b"user.") {
            r.bytes("xattr", n);
            r.bytes("value", &value);
        }
    }
}
