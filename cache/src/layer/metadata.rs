//! Applying an entry's owner, mode, xattrs and times, in the order that keeps them:
//! owner first (chown clears setuid/setgid), then mode, then xattrs, then times.

use std::ffi::OsStr;
use std::path::Path;

use rustix::fd::BorrowedFd;
use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::error::LayerError;
use super::safe_path::proc_path;

/// Ownership, permissions, extended attributes and modification time of one entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub uid: u64,
    pub gid: u64,
    /// Permission bits including setuid/setgid/sticky (07777).
    pub mode: u32,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// `(name, value)` pairs, without overlay-private names.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// How the object being fixed up can be reached.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// An open file or directory descriptor (not `O_PATH`).
    Fd(BorrowedFd<'a>),
    /// `name` in the directory `dir`, which must not be followed (symlinks, devices).
    At(BorrowedFd<'a>, &'a OsStr),
}

/// Counts of metadata the filesystem refused but that do not fail the apply.
#[derive(Debug, Default)]
pub(crate) struct Skipped {
    pub xattrs: u64,
}

/// Applies owner (when `chown`), mode (unless a symlink), xattrs. Times are separate
/// because directories get theirs at the very end.
pub(crate) fn apply_meta(
    t: Target<'_>,
    meta: &Meta,
    is_symlink: bool,
    chown: bool,
    path: &Path,
    skipped: &mut Skipped,
) -> Result<(), LayerError> {
    if chown {
        let uid = u32::try_from(meta.uid).ok().map(Uid::from_raw);
        let gid = u32::try_from(meta.gid).ok().map(Gid::from_raw);
        let r = match t {
            Target::Fd(fd) => rustix::fs::fchown(fd, uid, gid),
            Target::At(dir, name) => {
                rustix::fs::chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
            }
        };
        r.map_err(|e| LayerError::errno("chown", path, e))?;
    }
    if !is_symlink {
        let mode = Mode::from_raw_mode(meta.mode & 0o7777);
        let r = match t {
            Target::Fd(fd) => rustix::fs::fchmod(fd, mode),
            // Only devices and FIFOs get here: we just created them with mknodat in a
            // directory reached without symlinks, so the name cannot be a symlink.
            Target::At(dir, name) => rustix::fs::chmodat(dir, name, mode, AtFlags::empty()),
        };
        r.map_err(|e| LayerError::errno("chmod", path, e))?;
    }
    for (name, value) in &meta.xattrs {
        let r = match t {
            Target::Fd(fd) => {
                rustix::fs::fsetxattr(fd, name.as_str(), value, rustix::fs::XattrFlags::empty())
            }
            Target::At(dir, n) => rustix::fs::lsetxattr(
                proc_path(dir, n),
                name.as_str(),
                value,
                rustix::fs::XattrFlags::empty(),
            ),
        };
        match r {
            Ok(()) => {}
            // user.* on symlinks, security.* without privilege, filesystems without xattrs.
            Err(Errno::PERM | Errno::NOTSUP | Errno::ACCESS) => {
                tracing::warn!(path = %path.display(), xattr = %name, "xattr not applied");
                skipped.xattrs += 1;
            }
            Err(e) => return Err(LayerError::errno("set xattr on", path, e)),
        }
    }
    Ok(())
}

/// Sets atime and mtime to the entry's mtime, without following symlinks.
pub(crate) fn apply_times(t: Target<'_>, mtime: (i64, u32), path: &Path) -> Result<(), LayerError> {
    let ts = Timespec {
        tv_sec: mtime.0,
        tv_nsec: i64::from(mtime.1),
    };
    let times = Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    let r = match t {
        Target::Fd(fd) => rustix::fs::futimens(fd, &times),
        Target::At(dir, name) => {
            rustix::fs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)
        }
    };
    r.map_err(|e| LayerError::errno("set times of", path, e))
}
