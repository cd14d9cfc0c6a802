//! The tree copier behind COPY and ADD: `cp -a` semantics between two roots.
//!
//! Everything happens through directory descriptors: a child is reached with
//! `openat`/`statat` on its parent's descriptor and never through a symlink,
//! so a walk can neither leave the source root nor write outside the
//! destination. Symlinks are copied as symlinks, hardlinks inside one copy
//! stay hardlinks, and mode (setuid included), owner, xattrs and times are
//! carried over unless `--chown`, `--chmod` or a fixed timestamp say otherwise.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, XattrFlags, openat, statat};
use rustix::io::Errno;

use super::FileOpError;
use super::chmod::Chmod;
use super::root::{RootDir, is_dir, set_meta, show};
use super::wildcard::{Excluder, read_names};

/// Who owns what a copy creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerRule {
    /// Everything gets these ids (`--chown`, or a context source: root).
    Fixed(u32, u32),
    /// Each entry keeps its source owner (`COPY --from` without `--chown`).
    Preserve,
}

/// One copy action's state: options and the hardlinks seen so far.
pub(crate) struct Copier<'a> {
    pub src: &'a RootDir,
    pub dest: &'a RootDir,
    pub owner: OwnerRule,
    pub chmod: Option<&'a Chmod>,
    pub timestamp: Option<i64>,
    pub exclude: &'a Excluder,
    /// Source (dev, inode) of multiply linked files -> their first copy.
    inodes: HashMap<(u64, u64), PathBuf>,
}

/// One entry being copied: where it is in the source, where it goes.
struct Pair<'f> {
    src_dir: BorrowedFd<'f>,
    src_name: &'f OsStr,
    /// Root-relative source path, for hidden (`.dockerignore`) checks.
    src_rel: &'f Path,
    /// Path below the copied source, for `--exclude` and messages (empty at the top).
    below: &'f str,
    dst_dir: BorrowedFd<'f>,
    dst_name: &'f OsStr,
    /// Root-relative destination path.
    dst_rel: &'f Path,
}

impl Pair<'_> {
    /// The source as named in messages.
    fn src_shown(&self) -> String {
        if self.below.is_empty() {
            self.src_name.to_string_lossy().into_owned()
        } else {
            self.below.to_owned()
        }
    }
}

impl<'a> Copier<'a> {
    /// A copier reading from `src` and writing into `dest`.
    pub fn new(
        src: &'a RootDir,
        dest: &'a RootDir,
        owner: OwnerRule,
        chmod: Option<&'a Chmod>,
        timestamp: Option<i64>,
        exclude: &'a Excluder,
    ) -> Self {
        Self {
            src,
            dest,
            owner,
            chmod,
            timestamp,
            exclude,
            inodes: HashMap::new(),
        }
    }

    /// Copies the resolved source `src_rel` to the resolved destination
    /// `target`. A directory is merged into an existing one, whose own
    /// metadata is kept.
    pub fn copy_top(&mut self, src_rel: &Path, target: &Path) -> Result<(), FileOpError> {
        let (sdir, sname) = self.src.parent_of(src_rel)?;
        let st = statat(&sdir, &sname, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| FileOpError::io("stat", show(src_rel), e))?;
        let (dfd, dname) = self.dest.parent_of(target)?;
        let pair = Pair {
            src_dir: sdir.as_fd(),
            src_name: &sname,
            src_rel,
            below: "",
            dst_dir: dfd.as_fd(),
            dst_name: &dname,
            dst_rel: target,
        };
        self.copy_entry(&pair, &st, true)
    }

    fn copy_entry(&mut self, p: &Pair<'_>, st: &Stat, top: bool) -> Result<(), FileOpError> {
        let shown = show(p.dst_rel);
        let ftype = FileType::from_raw_mode(st.st_mode);
        if ftype == FileType::Directory {
            return self.copy_dir(p, st, top);
        }
        if ftype == FileType::Socket {
            tracing::debug!(path = %shown, "skipping socket");
            return Ok(());
        }
        let (dst_dir, dst_name) = (p.dst_dir, p.dst_name);
        clear_target(dst_dir, dst_name, &shown)?;
        let owner = self.owner_of(st);
        let times = Some(self.times_of(st));
        match ftype {
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.inodes.get(&key) {
                        return rustix::fs::linkat(
                            self.dest.fd(),
                            first,
                            dst_dir,
                            dst_name,
                            AtFlags::empty(),
                        )
                        .map_err(|e| FileOpError::io("hardlink", &shown, e));
                    }
                    self.inodes.insert(key, p.dst_rel.to_path_buf());
                }
                let sfd = openat(
                    p.src_dir,
                    p.src_name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                )
                .map_err(|e| FileOpError::io("open", p.src_shown(), e))?;
                let dfd = openat(
                    dst_dir,
                    dst_name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| FileOpError::io("create", &shown, e))?;
                let (mut sf, mut df) = (File::from(sfd), File::from(dfd));
                std::io::copy(&mut sf, &mut df)
                    .map_err(|e| FileOpError::io("copy to", &shown, e))?;
                self.carry_meta(sf.as_fd(), df.as_fd(), &shown, st)
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(p.src_dir, p.src_name, Vec::new())
                    .map_err(|e| FileOpError::io("read link", p.src_shown(), e))?;
                rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst_name)
                    .map_err(|e| FileOpError::io("create symlink", &shown, e))?;
                set_meta(dst_dir, Some(dst_name), &shown, owner, None, times)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let perm = Mode::from_raw_mode(st.st_mode & 0o777);
                rustix::fs::mknodat(dst_dir, dst_name, ftype, perm, st.st_rdev)
                    .map_err(|e| FileOpError::io("create device", &shown, e))?;
                let mode = Some(self.mode_of(st));
                set_meta(dst_dir, Some(dst_name), &shown, owner, mode, times)
            }
            _ => Err(FileOpError::Unsupported { path: shown }),
        }
    }

    fn copy_dir(&mut self, p: &Pair<'_>, st: &Stat, top: bool) -> Result<(), FileOpError> {
        let shown = show(p.dst_rel);
        let created = match statat(p.dst_dir, p.dst_name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(existing) if is_dir(&existing) => false,
            Ok(_) => return Err(FileOpError::NotADirectory { path: shown }),
            Err(Errno::NOENT) => {
                rustix::fs::mkdirat(p.dst_dir, p.dst_name, Mode::from_raw_mode(0o700))
                    .map_err(|e| FileOpError::io("create directory", &shown, e))?;
                true
            }
            Err(e) => return Err(FileOpError::io("stat", &shown, e)),
        };
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let sfd = openat(p.src_dir, p.src_name, dir_flags, Mode::empty())
            .map_err(|e| FileOpError::io("open directory", p.src_shown(), e))?;
        let dfd = openat(p.dst_dir, p.dst_name, dir_flags, Mode::empty())
            .map_err(|e| FileOpError::io("open directory", &shown, e))?;
        let names =
            read_names(&sfd).map_err(|e| FileOpError::io("read directory", p.src_shown(), e))?;
        for name in names {
            let below = if p.below.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{}/{}", p.below, name.to_string_lossy())
            };
            let cst = statat(&sfd, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| FileOpError::io("stat", &below, e))?;
            let src_rel = p.src_rel.join(&name);
            if self.src.hides(&src_rel, &cst) {
                continue;
            }
            if self.exclude.is_excluded(&below)
                && !(is_dir(&cst) && self.exclude.reincludes_below(&below))
            {
                continue;
            }
            let child = Pair {
                src_dir: sfd.as_fd(),
                src_name: name.as_os_str(),
                src_rel: &src_rel,
                below: &below,
                dst_dir: dfd.as_fd(),
                dst_name: name.as_os_str(),
                dst_rel: &p.dst_rel.join(&name),
            };
            self.copy_entry(&child, &cst, false)?;
        }
        if created || !top {
            self.carry_meta(sfd.as_fd(), dfd.as_fd(), &shown, st)?;
        }
        Ok(())
    }

    /// Gives the open copy `dst` its source's owner, mode, xattrs and times,
    /// in that order: chown clears setuid and file capabilities, so mode and
    /// xattrs come after it; times come last so that nothing moves them again.
    fn carry_meta(
        &self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        shown: &str,
        st: &Stat,
    ) -> Result<(), FileOpError> {
        set_meta(
            dst,
            None,
            shown,
            self.owner_of(st),
            Some(self.mode_of(st)),
            None,
        )?;
        copy_xattrs(src, dst, shown);
        set_meta(dst, None, shown, None, None, Some(self.times_of(st)))
    }

    /// The owner an entry gets, `None` to leave it as created.
    pub fn owner_of(&self, st: &Stat) -> Option<(u32, u32)> {
        match self.owner {
            OwnerRule::Fixed(u, g) => Some((u, g)),
            OwnerRule::Preserve => Some((st.st_uid, st.st_gid)),
        }
    }

    /// The mode an entry gets: its own, or `--chmod` applied to it.
    pub fn mode_of(&self, st: &Stat) -> u32 {
        let own = st.st_mode & 0o7777;
        match self.chmod {
            Some(c) => c.apply(own, is_dir(st)),
            None => own,
        }
    }

    /// (atime, atime_ns, mtime, mtime_ns) an entry gets.
    pub fn times_of(&self, st: &Stat) -> (i64, i64, i64, i64) {
        match self.timestamp {
            Some(t) => (t, 0, t, 0),
            None => (
                st.st_atime,
                st.st_atime_nsec as i64,
                st.st_mtime,
                st.st_mtime_nsec as i64,
            ),
        }
    }
}

/// Makes room for a non-directory at `name`: an old file or symlink is
/// removed, a directory is an error (as in BuildKit).
pub(crate) fn clear_target(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &str,
) -> Result<(), FileOpError> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if is_dir(&st) => Err(FileOpError::IsADirectory {
            path: shown.to_owned(),
        }),
        Ok(_) => rustix::fs::unlinkat(dir, name, AtFlags::empty())
            .map_err(|e| FileOpError::io("remove", shown, e)),
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(FileOpError::io("stat", shown, e)),
    }
}

/// Removes `name` in `dir` and everything below it, never following a symlink.
pub(crate) fn remove_all(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &str,
) -> Result<(), FileOpError> {
    let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(FileOpError::io("stat", shown, e)),
    };
    if !is_dir(&st) {
        return rustix::fs::unlinkat(dir, name, AtFlags::empty())
            .map_err(|e| FileOpError::io("remove", shown, e));
    }
    let fd = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FileOpError::io("open directory", shown, e))?;
    let names = read_names(&fd).map_err(|e| FileOpError::io("read directory", shown, e))?;
    for child in names {
        let child_shown = format!("{}/{}", shown.trim_end_matches('/'), child.display());
        remove_all(fd.as_fd(), child.as_os_str(), &child_shown)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
        .map_err(|e| FileOpError::io("remove", shown, e))
}

/// Copies every xattr of `src` to `dst`. Failures are logged, not fatal: a
/// destination filesystem may refuse a namespace (BuildKit does the same).
pub(crate) fn copy_xattrs(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, shown: &str) {
    for (name, value) in read_xattrs(src) {
        if let Err(e) = rustix::fs::fsetxattr(dst, name.as_os_str(), &value, XattrFlags::empty()) {
            tracing::warn!(path = %shown, xattr = %name.to_string_lossy(), error = %e, "cannot copy xattr");
        }
    }
}

/// All xattrs of an open file, sorted by name; unreadable ones are skipped.
pub(crate) fn read_xattrs(fd: BorrowedFd<'_>) -> Vec<(OsString, Vec<u8>)> {
    let mut list = vec![0u8; 64 * 1024];
    let n = match rustix::fs::flistxattr(fd, &mut list[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for name in list[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name).to_os_string();
        let mut value = vec![0u8; 64 * 1024];
        if let Ok(len) = rustix::fs::fgetxattr(fd, name.as_os_str(), &mut value[..]) {
            value.truncate(len);
            out.push((name, value));
        }
    }
    out.sort();
    out
}
