//! Resolving tar entry names inside a target directory without ever leaving it.
//!
//! Every file operation of the apply path goes through a directory file descriptor
//! obtained here, never through a joined path string: the parent directory of an
//! entry is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` relative to the target's descriptor, and the last
//! component is then handled with `*at` calls that do not follow symlinks. When
//! `openat2` is unavailable (old kernel, seccomp) or fails, a component-by-component
//! walk with `O_NOFOLLOW` gives the same guarantee and the precise error message.
//!
//! Vocabulary: the *target* (or root) is the snapshot directory being filled; a
//! *relative path* is a normalised entry name: no leading `/`, no `.`, no `..`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::error::LayerError;

/// Turns a raw tar entry name into a relative path inside the target.
///
/// Leading `/` and `.` components are dropped (absolute names are neutralised, as
/// Docker does); `..` anywhere is refused rather than clamped, because no honest
/// layer writer produces it. An empty result means the target itself.
pub(crate) fn normalize(raw: &[u8], entry: &Path) -> Result<PathBuf, LayerError> {
    let mut out = PathBuf::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                return Err(LayerError::UnsafePath {
                    entry: entry.to_path_buf(),
                    reason: "it contains a `..` component",
                });
            }
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// Splits a normalised relative path into its parent and final name.
pub(crate) fn split(rel: &Path) -> (&Path, &OsStr) {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().unwrap_or(OsStr::new("."));
    (parent, name)
}

/// Opens the target directory that all entries are resolved against.
pub(crate) fn open_root(target: &Path) -> Result<OwnedFd, LayerError> {
    rustix::fs::open(
        target,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::errno("open target directory", target, e))
}

/// Opens directory `rel` beneath `root` without following any symlink.
///
/// With `create`, missing directories are made (mode 0755, like Docker does for
/// parents a tar forgot to list). The returned descriptor is an `O_PATH` handle,
/// good as the `dirfd` of `*at` calls. `entry` only serves error messages.
pub(crate) fn resolve_dir(
    root: BorrowedFd<'_>,
    rel: &Path,
    entry: &Path,
    create: bool,
) -> Result<OwnedFd, LayerError> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if rel.as_os_str().is_empty() {
        return rustix::fs::openat(root, ".", flags, Mode::empty())
            .map_err(|e| LayerError::errno("open target directory", entry, e));
    }
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(fd),
        // Slow path: explains the failure precisely, creates what is missing, and
        // stands in for openat2 where the kernel lacks it.
        Err(_) => walk_dir(root, rel, entry, create),
    }
}

/// The component-by-component fallback of [`resolve_dir`].
pub(crate) fn walk_dir(
    root: BorrowedFd<'_>,
    rel: &Path,
    entry: &Path,
    create: bool,
) -> Result<OwnedFd, LayerError> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur = rustix::fs::openat(root, ".", flags, Mode::empty())
        .map_err(|e| LayerError::errno("open target directory", entry, e))?;
    let mut so_far = PathBuf::new();
    for comp in rel.components() {
        let name = comp.as_os_str();
        so_far.push(name);
        if name == ".." {
            return Err(LayerError::UnsafePath {
                entry: entry.to_path_buf(),
                reason: "it contains a `..` component",
            });
        }
        let next = match rustix::fs::openat(&cur, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(LayerError::errno("create parent directory of", entry, e));
                    }
                }
                rustix::fs::chmodat(&cur, name, Mode::from_raw_mode(0o755), AtFlags::empty())
                    .map_err(|e| LayerError::errno("chmod parent directory of", entry, e))?;
                rustix::fs::openat(&cur, name, flags, Mode::empty())
                    .map_err(|e| explain(&cur, name, entry, &so_far, e))?
            }
            Err(e) => return Err(explain(&cur, name, entry, &so_far, e)),
        };
        cur = next;
    }
    Ok(cur)
}

/// Maps a failed directory open to a symlink / not-a-directory / I/O error.
fn explain(dir: &OwnedFd, name: &OsStr, entry: &Path, so_far: &Path, e: Errno) -> LayerError {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            LayerError::ThroughSymlink {
                entry: entry.to_path_buf(),
                symlink: so_far.to_path_buf(),
            }
        }
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {
            LayerError::NotADirectory {
                entry: entry.to_path_buf(),
                component: so_far.to_path_buf(),
            }
        }
        _ => LayerError::errno("open parent directory of", entry, e),
    }
}

/// The type of `name` in `dir`, without following symlinks; `None` if absent.
pub(crate) fn file_type_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
) -> Result<Option<FileType>, LayerError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(LayerError::errno("stat", path, e)),
    }
}

/// Names in a directory (without `.` and `..`), sorted bytewise for reproducibility.
pub(crate) fn list_dir(dir: BorrowedFd<'_>, path: &Path) -> Result<Vec<OsString>, LayerError> {
    let reader = rustix::fs::Dir::read_from(dir)
        .map_err(|e| LayerError::errno("read directory", path, e))?;
    let mut names = Vec::new();
    for ent in reader {
        let ent = ent.map_err(|e| LayerError::errno("read directory", path, e))?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Opens subdirectory `name` of `dir` for reading, refusing symlinks.
pub(crate) fn open_subdir(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
) -> Result<OwnedFd, LayerError> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::errno("open directory", path, e))
}

/// Removes `name` from `dir`, recursively if it is a directory, never following symlinks.
///
/// A missing entry is not an error: whiteouts of absent files are normal.
pub(crate) fn remove_all_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
) -> Result<(), LayerError> {
    match file_type_at(dir, name, path)? {
        None => Ok(()),
        Some(FileType::Directory) => {
            let sub = open_subdir(dir, name, path)?;
            for child in list_dir(sub.as_fd(), path)? {
                remove_all_at(sub.as_fd(), &child, &path.join(&child))?;
            }
            unlink(dir, name, path, AtFlags::REMOVEDIR)
        }
        Some(_) => unlink(dir, name, path, AtFlags::empty()),
    }
}

fn unlink(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    flags: AtFlags,
) -> Result<(), LayerError> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(LayerError::errno("remove", path, e)),
    }
}

/// A `/proc/self/fd/N/name` path that reaches `name` in `dir` without resolving its
/// parents again, for the calls (xattrs on symlinks and devices) that have no `*at` form.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_absolute_and_dots() {
        let e = Path::new("x");
        assert_eq!(normalize(b"/a/./b//c/", e).unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(normalize(b"./", e).unwrap(), PathBuf::new());
        assert!(normalize(b"a/../../etc", e).is_err());
    }

    #[test]
    fn walk_refuses_symlinks_and_creates_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", tmp.path().join("link")).unwrap();
        let root = open_root(tmp.path()).unwrap();
        let err = walk_dir(
            root.as_fd(),
            Path::new("link/x"),
            Path::new("link/x/y"),
            true,
        )
        .unwrap_err();
        assert!(matches!(err, LayerError::ThroughSymlink { .. }), "{err}");
        walk_dir(root.as_fd(), Path::new("new/deep"), Path::new("e"), true).unwrap();
        assert!(tmp.path().join("new/deep").is_dir());
    }
}
