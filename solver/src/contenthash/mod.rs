//! Content digests of the paths a COPY reads (DESIGN.md section 4).
//!
//! A File step's cache key includes the digest of what it copies, not of the
//! whole context, so this module hashes a [`Selection`] (the step's source
//! patterns and excludes) and touches nothing else: a 100k-file context whose
//! step copies one file costs one `stat` and, when the memo already knows the
//! file, no read at all.
//!
//! Vocabulary:
//! - entry digest: covers type, mode, uid, gid, size, symlink target, device
//!   number, `security.capability` and `user.*` xattrs and bytes, never mtime
//!   nor the entry's own name; a directory's covers its children's names and
//!   digests in byte order.
//! - selection digest: covers each source pattern in order, the paths it
//!   matched and their entry digests, and the options that change what is read,
//!   so `COPY a b /d/` and `COPY b a /d/` differ.
//! - memo: a [`HashMemo`] from a file's [`StatKey`] to its digest; the cache
//!   crate persists it.
//!
//! ```no_run
//! use solver::contenthash::{ContentHasher, MemoryMemo, Selection};
//! use std::path::Path;
//!
//! let memo = MemoryMemo::new();
//! let sel = Selection { sources: vec!["go.mod".into(), "go.sum".into()], ..Default::default() };
//! let first = ContentHasher::new(&memo).hash(Path::new("/tmp/ctx"), &sel)?;
//! let again = ContentHasher::new(&memo).hash(Path::new("/tmp/ctx"), &sel)?;
//! assert_eq!(first.digest, again.digest);
//! assert!(first.diff(&again).is_empty());
//! # Ok::<(), solver::contenthash::ContentHashError>(())
//! ```

mod memo;
mod walk;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use crate::fileop::{Excluder, FileOpError, RootDir, has_wildcard, wildcard};
use crate::graph::CopyOptions;
use walk::{Counters, Record, Walker};

pub use memo::{HashMemo, MemoryMemo, NoMemo, StatKey};

/// Why a selection could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum ContentHashError {
    /// A system call failed.
    #[error("failed to {op} `{path}`: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path inside the hashed root.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A source path does not exist (or `.dockerignore` hides it): worded as docker
    /// users know it, with the path relative to the context as they wrote it.
    #[error(
        "file not found in build context or excluded by .dockerignore: stat {}: file does not exist\nhint: source paths are relative to the build context, and `..` cannot leave it",
        .path.trim_start_matches('/')
    )]
    NotFound {
        /// The path as written.
        path: String,
    },
    /// Resolving a path inside the root failed.
    #[error(transparent)]
    Resolve(#[from] FileOpError),
}

impl ContentHashError {
    fn io(op: &'static str, path: impl Display, err: impl Into<std::io::Error>) -> Self {
        Self::Io {
            op,
            path: path.to_string(),
            source: err.into(),
        }
    }
}

/// The paths a copy reads, as the copy would read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Source paths or patterns, in order.
    pub sources: Vec<String>,
    /// Exclude patterns (`--exclude`), relative to each selected source.
    pub exclude: Vec<String>,
    /// The root's `.dockerignore` patterns (root-relative): what they exclude
    /// does not exist, so it is never read, matched or hashed, and naming it
    /// is [`ContentHashError::NotFound`].
    pub hidden: Vec<String>,
    /// Sources may hold wildcards.
    pub allow_wildcard: bool,
    /// A source that is a symlink is hashed as what it points to.
    pub follow_symlinks: bool,
}

impl Selection {
    /// The selection of a copy action.
    pub fn from_copy(src: &[String], options: &CopyOptions) -> Self {
        Self {
            sources: src.to_vec(),
            exclude: options.exclude.clone(),
            hidden: Vec::new(),
            allow_wildcard: options.allow_wildcard,
            follow_symlinks: options.follow_symlinks,
        }
    }
}

/// How much work one run did; lets tests and `--explain-cache` show that
/// only the selected paths were looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Directory entries stat'ed or listed.
    pub entries_visited: u64,
    /// Files whose bytes were read.
    pub files_read: u64,
    /// Files whose digest came from the memo.
    pub memo_hits: u64,
}

/// The result of hashing a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashReport {
    /// The selection digest, for the step's cache key.
    pub digest: [u8; 32],
    /// Every visited path (root-relative, `/`-separated) and its entry
    /// digest: diff two reports to say which path changed.
    pub paths: BTreeMap<String, [u8; 32]>,
    /// Work done.
    pub stats: WalkStats,
}

/// How a path differs between two reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Only in the newer report.
    Added,
    /// Only in the older report.
    Removed,
    /// In both, with different digests.
    Modified,
}

impl HashReport {
    /// Paths that differ from `older` to `self`, sorted; directories whose
    /// digest changed only because of a child are included too.
    pub fn diff(&self, older: &HashReport) -> Vec<(String, Change)> {
        let mut out = Vec::new();
        for (p, d) in &self.paths {
            match older.paths.get(p) {
                None => out.push((p.clone(), Change::Added)),
                Some(o) if o != d => out.push((p.clone(), Change::Modified)),
                Some(_) => {}
            }
        }
        for p in older.paths.keys() {
            if !self.paths.contains_key(p) {
                out.push((p.clone(), Change::Removed));
            }
        }
        out.sort();
        out
    }

    /// The digest as `sha256:<hex>`.
    pub fn digest_string(&self) -> String {
        let mut s = String::from("sha256:");
        for b in self.digest {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

/// Hashes selections of directories, remembering file digests in a memo.
pub struct ContentHasher<'m> {
    memo: &'m dyn HashMemo,
}

impl<'m> ContentHasher<'m> {
    /// A hasher using `memo` (use [`NoMemo`] to always read).
    pub fn new(memo: &'m dyn HashMemo) -> Self {
        Self { memo }
    }

    /// The digest of `selection` read from `root`.
    pub fn hash(&self, root: &Path, selection: &Selection) -> Result<HashReport, ContentHashError> {
        let root = RootDir::open(root)?.hiding(Excluder::new(&selection.hidden));
        let exclude = Excluder::new(&selection.exclude);
        let walker = Walker {
            root: &root,
            memo: self.memo,
            exclude: &exclude,
            counters: Counters::default(),
            paths: Mutex::new(BTreeMap::new()),
        };
        let mut rec = Record::new("strata.contenthash.selection/v1");
        rec.u64("follow_symlinks", u64::from(selection.follow_symlinks));
        rec.u64("allow_wildcard", u64::from(selection.allow_wildcard));
        for p in &selection.exclude {
            rec.bytes("exclude", p.as_bytes());
        }
        for p in &selection.hidden {
            rec.bytes("hidden", p.as_bytes());
        }
        for src in &selection.sources {
            rec.bytes("source", src.as_bytes());
            let wild = selection.allow_wildcard && src.split('/').any(has_wildcard);
            let matches = if wild {
                let mut visited = 0u64;
                let m = wildcard::expand(&root, src, &mut || visited += 1)?;
                walker
                    .counters
                    .visited
                    .fetch_add(visited, Ordering::Relaxed);
                m.into_iter().filter(|p| !exclude.is_excluded(p)).collect()
            } else {
                vec![src.clone()]
            };
            rec.u64("matches", matches.len() as u64);
            for m in matches {
                let rel = root.resolve(&m, selection.follow_symlinks)?;
                walker.counters.visited.fetch_add(1, Ordering::Relaxed);
                let Some(st) = crate::fileop::lstat_in(&root, &rel)? else {
                    return Err(ContentHashError::NotFound { path: m });
                };
                let (dir, name) = crate::fileop::parent_in(&root, &rel)?;
                let key = rel.to_string_lossy().into_owned();
                let key = if key.is_empty() { ".".to_owned() } else { key };
                let d = walker.entry(std::os::fd::AsFd::as_fd(&dir), &name, &st, &key, "")?;
                rec.bytes("match", m.as_bytes());
                rec.bytes("digest", &d);
            }
        }
        let stats = WalkStats {
            entries_visited: walker.counters.visited.load(Ordering::Relaxed),
            files_read: walker.counters.read.load(Ordering::Relaxed),
            memo_hits: walker.counters.memo_hits.load(Ordering::Relaxed),
        };
        let paths = walker.paths.into_inner().unwrap_or_default();
        Ok(HashReport {
            digest: rec.finish(),
            paths,
            stats,
        })
    }
}
