//! A directory treated as `/`: every path is resolved the way a chroot would.
//!
//! Paths from a Dockerfile name things inside an image or a build context, and
//! those trees are untrusted: an image may hold `/usr/local -> /opt`, a context
//! may hold `link -> ../../..`. [`RootDir::resolve`] walks a path one component
//! at a time from the root's file descriptor, reads each symlink it meets and
//! restarts absolute targets at the root, and clamps `..` at the root, so the
//! result is a symlink-free path that names something beneath the root. Files
//! are then opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so a
//! tree that changes between resolution and use makes the operation fail
//! instead of escaping.
//!
//! A root may also *hide* paths ([`RootDir::hiding`]): a build context seen
//! through its `.dockerignore`. A hidden path does not exist for resolution,
//! `lstat`, wildcard listings and tree walks, so a COPY that names an ignored
//! file fails as "not found" without the file ever being opened.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat, Timestamps, openat2, statat,
};
use rustix::io::Errno;

use super::FileOpError;
use super::wildcard::Excluder;

/// How many symlinks one resolution may follow, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// A directory that paths are resolved inside, as if it were `/`.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    display: PathBuf,
    /// Patterns (root-relative, `.dockerignore` rules) of paths that do not exist.
    hidden: Option<Excluder>,
}

/// Owner, permission and time given to directories that an operation creates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirMeta {
    pub mode: u32,
    pub owner: Option<(u32, u32)>,
    pub time: Option<i64>,
}

impl RootDir {
    /// Opens `path` as a root; `path` itself is trusted (it is ours: a snapshot,
    /// a context directory).
    pub fn open(path: &Path) -> Result<Self, FileOpError> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FileOpError::io("open root", path.display(), e))?;
        Ok(Self {
            fd,
            display: path.to_path_buf(),
            hidden: None,
        })
    }

    /// The same root with every path that `hidden` excludes (root-relative,
    /// `.dockerignore` rules, `!` re-includes) treated as absent: how a build
    /// context is seen through its `.dockerignore`, so that neither a named
    /// source, a wildcard nor a directory walk can reach an ignored file.
    pub fn hiding(mut self, hidden: Excluder) -> Self {
        self.hidden = (!hidden.is_empty()).then_some(hidden);
        self
    }

    /// A root made from an already opened directory (an archive's extraction
    /// directory is its own root).
    pub(crate) fn from_fd(fd: OwnedFd, display: PathBuf) -> Self {
        Self {
            fd,
            display,
            hidden: None,
        }
    }

    /// Whether the entry at the root-relative `rel` (already `lstat`ed as
    /// `st`) is hidden. An excluded directory stays visible when a `!`
    /// pattern re-includes something below it; its excluded children are
    /// then hidden one by one.
    pub(crate) fn hides(&self, rel: &Path, st: &Stat) -> bool {
        let Some(hidden) = &self.hidden else {
            return false;
        };
        let text = rel.to_string_lossy();
        hidden.is_excluded(&text) && !(is_dir(st) && hidden.reincludes_below(&text))
    }

    /// Whether this root hides anything at all.
    pub(crate) fn hides_any(&self) -> bool {
        self.hidden.is_some()
    }

    /// The host path this root was opened from, for messages.
    pub fn path(&self) -> &Path {
        &self.display
    }

    /// The root's directory descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Resolves `path` (absolute or relative, both taken from the root) to a
    /// symlink-free path relative to the root (empty for the root itself).
    ///
    /// Symlinks are followed inside the root; the last component is followed
    /// only when `follow_final`. Components that do not exist are kept as
    /// written, so the result also names paths that are about to be created.
    pub fn resolve(&self, path: &str, follow_final: bool) -> Result<PathBuf, FileOpError> {
        let mut pending: VecDeque<OsString> = split(path.as_bytes()).collect();
        let mut out = PathBuf::new();
        let mut links = 0;
        let mut missing = false;
        while let Some(comp) = pending.pop_front() {
            if comp == ".." {
                out.pop();
                continue;
            }
            let candidate = out.join(&comp);
            if missing {
                out = candidate;
                continue;
            }
            let is_final = pending.is_empty();
            match statat(self.fd(), &candidate, AtFlags::SYMLINK_NOFOLLOW) {
                // A hidden entry (and a link through it) does not exist.
                Ok(st) if self.hides(&candidate, &st) => {
                    missing = true;
                    out = candidate;
                }
                Ok(st) if is_symlink(&st) && (!is_final || follow_final) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(FileOpError::SymlinkLoop {
                            path: path.to_owned(),
                        });
                    }
                    let target = rustix::fs::readlinkat(self.fd(), &candidate, Vec::new())
                        .map_err(|e| FileOpError::io("read link", show(&candidate), e))?;
                    let target = target.as_bytes();
                    if target.first() == Some(&b'/') {
                        out = PathBuf::new();
                    }
                    for (i, c) in split(target).enumerate() {
                        pending.insert(i, c);
                    }
                }
                Ok(_) => out = candidate,
                Err(Errno::NOENT | Errno::NOTDIR) => {
                    missing = true;
                    out = candidate;
                }
                Err(e) => return Err(FileOpError::io("stat", show(&candidate), e)),
            }
        }
        Ok(out)
    }

    /// The topmost hidden entries at or below the resolved `rel`, root-relative
    /// and sorted: what a view of this root must mask (a context bind mount
    /// puts a whiteout on each). Hidden directories are not entered, nor are
    /// symlinks followed.
    pub fn hidden_below(&self, rel: &Path) -> Result<Vec<PathBuf>, FileOpError> {
        let mut out = Vec::new();
        if self.hidden.is_none() {
            return Ok(out);
        }
        let mut dirs = match statat(self.fd(), dot(rel), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if self.hides(rel, &st) => return Ok(vec![rel.to_path_buf()]),
            Ok(st) if is_dir(&st) => vec![rel.to_path_buf()],
            Ok(_) | Err(Errno::NOENT | Errno::NOTDIR) => return Ok(out),
            Err(e) => return Err(FileOpError::io("stat", show(rel), e)),
        };
        while let Some(dir) = dirs.pop() {
            let fd = self.open_dir(&dir)?;
            let names = super::wildcard::read_names(&fd)
                .map_err(|e| FileOpError::io("read directory", show(&dir), e))?;
            for name in names {
                let child = dir.join(&name);
                let st = statat(&fd, &name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| FileOpError::io("stat", show(&child), e))?;
                if self.hides(&child, &st) {
                    out.push(child);
                } else if is_dir(&st) {
                    dirs.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// `lstat` of a resolved path; `None` when it does not exist or is hidden.
    pub(crate) fn lstat(&self, rel: &Path) -> Result<Option<Stat>, FileOpError> {
        match statat(self.fd(), dot(rel), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if self.hides(rel, &st) => Ok(None),
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(FileOpError::io("stat", show(rel), e)),
        }
    }

    /// Opens a resolved directory for reading and `*at` calls; never follows a
    /// symlink, so a tree swapped since resolution fails instead of escaping.
    pub(crate) fn open_dir(&self, rel: &Path) -> Result<OwnedFd, FileOpError> {
        openat2(
            self.fd(),
            dot(rel),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| FileOpError::io("open directory", show(rel), e))
    }

    /// Opens the parent of a resolved path and returns it with the last
    /// component; the root itself is returned as (root, `.`).
    pub(crate) fn parent_of(&self, rel: &Path) -> Result<(OwnedFd, OsString), FileOpError> {
        match (rel.parent(), rel.file_name()) {
            (Some(parent), Some(name)) => Ok((self.open_dir(parent)?, name.to_os_string())),
            _ => Ok((self.open_dir(Path::new(""))?, OsString::from("."))),
        }
    }

    /// Creates every missing directory of a resolved path (`mkdir -p`), giving
    /// the ones it creates `meta`, and returns them. Fails when a component is
    /// not a directory.
    pub(crate) fn mkdir_all(&self, rel: &Path, meta: DirMeta) -> Result<Vec<PathBuf>, FileOpError> {
        let mut created = Vec::new();
        let mut prefix = PathBuf::new();
        for comp in rel.iter() {
            let parent = prefix.clone();
            prefix.push(comp);
            match self.lstat(&prefix)? {
                Some(st) if is_dir(&st) => continue,
                Some(_) => {
                    return Err(FileOpError::NotADirectory {
                        path: show(&prefix),
                    });
                }
                None => {}
            }
            let pfd = self.open_dir(&parent)?;
            match rustix::fs::mkdirat(&pfd, comp, Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(FileOpError::io("create directory", show(&prefix), e)),
            }
            let dfd = self.open_dir(&prefix)?;
            set_meta(
                dfd.as_fd(),
                None,
                &show(&prefix),
                meta.owner,
                Some(meta.mode),
                meta.time.map(|t| (t, 0, t, 0)),
            )?;
            created.push(prefix.clone());
        }
        Ok(created)
    }
}

/// Applies owner, then mode (chown clears setuid), then times to `name` in
/// `dir` (or to `dir` itself when `name` is `None`). Symlinks get no mode.
pub(crate) fn set_meta(
    dir: BorrowedFd<'_>,
    name: Option<&OsStr>,
    shown: &str,
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
    times: Option<(i64, i64, i64, i64)>,
) -> Result<(), FileOpError> {
    let target: &OsStr = name.unwrap_or(OsStr::new(""));
    let flags = if name.is_some() {
        AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::EMPTY_PATH
    };
    if let Some((uid, gid)) = owner {
        let (u, g) = (
            rustix::fs::Uid::from_raw(uid),
            rustix::fs::Gid::from_raw(gid),
        );
        rustix::fs::chownat(dir, target, Some(u), Some(g), flags)
            .map_err(|e| FileOpError::io("chown", shown, e))?;
    }
    if let Some(mode) = mode {
        let m = Mode::from_raw_mode(mode & 0o7777);
        match name {
            Some(n) => rustix::fs::chmodat(dir, n, m, AtFlags::empty()),
            None => rustix::fs::fchmod(dir, m),
        }
        .map_err(|e| FileOpError::io("chmod", shown, e))?;
    }
    if let Some((a, an, m, mn)) = times {
        let ts = Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: a,
                tv_nsec: an,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: m,
                tv_nsec: mn,
            },
        };
        match name {
            Some(n) => rustix::fs::utimensat(dir, n, &ts, AtFlags::SYMLINK_NOFOLLOW),
            None => rustix::fs::futimens(dir, &ts),
        }
        .map_err(|e| FileOpError::io("set times of", shown, e))?;
    }
    Ok(())
}

/// Splits a path into its meaningful components (no empty ones, no `.`).
fn split(path: &[u8]) -> impl Iterator<Item = OsString> + '_ {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
}

/// The path to pass to `*at` calls: `.` for the root.
pub(crate) fn dot(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// A resolved path as the image sees it (`/usr/bin`), for messages.
pub(crate) fn show(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// Whether a stat is a directory.
pub(crate) fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// Whether a stat is a symlink.
pub(crate) fn is_symlink(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Symlink
}

/// Whether a stat is a regular file.
pub(crate) fn is_file(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
}
