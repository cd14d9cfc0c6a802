//! Unpacking an OCI layer tar into a snapshot directory.
//!
//! Lifecycle of one [`apply_layer`] call: the blob is decompressed on the fly (gzip,
//! zstd or plain, from the magic bytes unless the caller knows the media type), each
//! tar entry is resolved beneath the target with [`safe_path`](super::safe_path) and
//! created with `*at` calls that never follow symlinks, whiteouts are handled per
//! [`ApplyMode`], and directory times are set last (creating children changes them).
//! The input is read to its end so a digest-verifying reader sees every byte.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::compress::{Compression, decompressed};
use super::error::LayerError;
use super::metadata::{Meta, Skipped, Target, apply_meta, apply_times};
use super::safe_path::{
    file_type_at, normalize, open_root, open_subdir, remove_all_at, resolve_dir, split,
};
use super::whiteout::{OPAQUE_MARKER, WHITEOUT_PREFIX, is_overlay_private_xattr};

/// How whiteouts and opaque directories of a layer are materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplyMode {
    /// Apply onto the previous layers' contents: whiteouts delete, opaque markers empty
    /// the directory's older contents. Used to flatten a base image into one snapshot.
    #[default]
    Flatten,
    /// Apply into an empty per-layer directory meant as an overlayfs lowerdir:
    /// whiteouts become character devices 0/0 and opaque directories get
    /// `trusted.overlay.opaque=y`, which is how overlayfs itself records them.
    Overlay,
}

/// What to do with character and block device entries (FIFOs are always created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePolicy {
    /// Create them (needs `CAP_MKNOD`; skipped with a warning when we lack it).
    #[default]
    Create,
    /// Leave them out and count them in [`ApplyStats::skipped_devices`].
    Skip,
    /// Fail the apply: for layers from untrusted sources that have no business with devices.
    Reject,
}

/// Options of [`apply_layer`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The blob's compression if known from its media type; `None` detects it.
    pub compression: Option<Compression>,
    /// Flatten onto earlier layers or write an overlay lowerdir.
    pub mode: ApplyMode,
    /// Treatment of device nodes.
    pub devices: DevicePolicy,
    /// Set numeric owners from the tar (needs root; defaults to "am I root").
    pub chown: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            compression: None,
            mode: ApplyMode::default(),
            devices: DevicePolicy::default(),
            chown: rustix::process::geteuid().is_root(),
        }
    }
}

/// Counts of what an apply did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Tar entries read (including whiteouts and skipped ones).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Directories created or updated.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hardlinks created.
    pub hardlinks: u64,
    /// Device nodes and FIFOs created.
    pub devices: u64,
    /// Whiteout entries handled.
    pub whiteouts: u64,
    /// Opaque directory markers handled.
    pub opaque_dirs: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Device entries not created (policy or missing privilege).
    pub skipped_devices: u64,
    /// Xattrs the filesystem refused (e.g. `user.*` on a symlink).
    pub skipped_xattrs: u64,
}

/// Unpacks the layer read from `reader` into the directory `target`.
///
/// Nothing outside `target` is created, modified or followed, whatever the layer
/// contains: entries with `..` are refused, absolute names are taken relative to
/// `target`, and entries reached through a symlink (e.g. `a -> /etc` then `a/passwd`)
/// are refused with [`LayerError::ThroughSymlink`]. On error the target is left
/// partially applied; callers apply into a `tmp/` snapshot and discard it.
///
/// ```no_run
/// # fn main() -> Result<(), cache::layer::LayerError> {
/// let blob = std::fs::File::open("layer.tar.gz").map_err(|e| cache::layer::LayerError::Output(e))?;
/// let stats = cache::layer::apply_layer(blob, "/tmp/snap".as_ref(), &Default::default())?;
/// assert!(stats.entries > 0);
/// # Ok(()) }
/// ```
pub fn apply_layer(
    reader: impl Read,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats, LayerError> {
    let root = open_root(target)?;
    let stream = decompressed(reader, opts.compression)?;
    let mut archive = tar::Archive::new(stream);
    let mut applier = Applier {
        root,
        opts: opts.clone(),
        stats: ApplyStats::default(),
        skipped: Skipped::default(),
        created: HashSet::new(),
        dir_times: HashMap::new(),
    };
    let mut last: Option<PathBuf> = None;
    let stream_err = |last: &Option<PathBuf>, source| LayerError::TarStream {
        after: last.clone(),
        source,
    };
    for entry in archive.entries().map_err(|e| stream_err(&last, e))? {
        let mut entry = entry.map_err(|e| stream_err(&last, e))?;
        let shown = PathBuf::from(OsStr::from_bytes(&entry.path_bytes()));
        applier.stats.entries += 1;
        applier.entry(&mut entry, &shown)?;
        last = Some(shown);
    }
    // Read what follows the end-of-archive blocks so a hashing reader sees it all.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| stream_err(&last, e))?;
    applier.finish_dir_times()?;
    applier.stats.skipped_xattrs = applier.skipped.xattrs;
    tracing::debug!(dir = %target.display(), stats = ?applier.stats, "layer applied");
    Ok(applier.stats)
}

/// The state of one apply.
pub(crate) struct Applier {
    pub(crate) root: OwnedFd,
    pub(crate) opts: ApplyOptions,
    pub(crate) stats: ApplyStats,
    skipped: Skipped,
    /// Paths created by this layer: whiteouts and opaque markers only hide older content.
    pub(crate) created: HashSet<PathBuf>,
    /// Directory mtimes, set once every entry is in place.
    dir_times: HashMap<PathBuf, (i64, u32)>,
}

impl Applier {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &Path,
    ) -> Result<(), LayerError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let rel = normalize(shown.as_os_str().as_bytes(), shown)?;
        let meta = read_meta(entry, shown)?;
        if rel.as_os_str().is_empty() {
            // The layer's own root (`./`): the target keeps its metadata.
            if kind == EntryType::Directory {
                return Ok(());
            }
            return Err(LayerError::UnsafePath {
                entry: shown.to_path_buf(),
                reason: "a non-directory entry would replace the target itself",
            });
        }
        let (parent_rel, name) = split(&rel);
        let name_bytes = name.as_bytes();
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if name_bytes == OPAQUE_MARKER.as_bytes() {
                return self.opaque(parent_rel, shown);
            }
            if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
                tracing::debug!(entry = %shown.display(), "aufs metadata entry ignored");
                return Ok(());
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(LayerError::UnsafePath {
                    entry: shown.to_path_buf(),
                    reason: "it is a whiteout of nothing, `.` or `..`",
                });
            }
            return self.whiteout(parent_rel, OsStr::from_bytes(hidden), shown);
        }
        let parent = resolve_dir(self.root.as_fd(), parent_rel, shown, true)?;
        match kind {
            EntryType::Directory => self.dir(&parent, name, &rel, &meta, shown)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, &parent, name, &meta, shown)?
            }
            EntryType::Symlink => {
                let target = link_target(entry, shown)?;
                self.replace(&parent, name, shown, false)?;
                rustix::fs::symlinkat(target.as_os_str(), &parent, name)
                    .map_err(|e| LayerError::errno("create symlink", shown, e))?;
                self.special_meta(&parent, name, &meta, true, shown)?;
                self.stats.symlinks += 1;
            }
            EntryType::Link => self.hardlink(entry, &parent, name, &rel, shown)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if !self.device(entry, kind, &parent, name, shown)? {
                    return Ok(());
                }
                self.special_meta(&parent, name, &meta, false, shown)?;
                self.stats.devices += 1;
            }
            other => {
                return Err(LayerError::Unsupported {
                    entry: shown.to_path_buf(),
                    what: format!("tar entry type {:?}", other),
                });
            }
        }
        if kind != EntryType::Directory {
            self.dir_times.remove(&rel);
        }
        self.created.insert(rel);
        Ok(())
    }

    /// Removes whatever is at `name` unless it is a directory and `keep_dir` is set.
    fn replace(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        shown: &Path,
        keep_dir: bool,
    ) -> Result<bool, LayerError> {
        match file_type_at(parent.as_fd(), name, shown)? {
            None => Ok(false),
            Some(FileType::Directory) if keep_dir => Ok(true),
            Some(_) => remove_all_at(parent.as_fd(), name, shown).map(|()| false),
        }
    }

    fn dir(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
        shown: &Path,
    ) -> Result<(), LayerError> {
        if !self.replace(parent, name, shown, true)? {
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                .map_err(|e| LayerError::errno("create directory", shown, e))?;
        }
        let fd = open_subdir(parent.as_fd(), name, shown)?;
        apply_meta(
            Target::Fd(fd.as_fd()),
            meta,
            false,
            self.opts.chown,
            shown,
            &mut self.skipped,
        )?;
        self.dir_times.insert(rel.to_path_buf(), meta.mtime);
        self.stats.dirs += 1;
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        shown: &Path,
    ) -> Result<(), LayerError> {
        self.replace(parent, name, shown, false)?;
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| LayerError::errno("create file", shown, e))?;
        let mut file = std::fs::File::from(fd);
        let n = io::copy(entry, &mut file).map_err(|e| LayerError::io("write file", shown, e))?;
        apply_meta(
            Target::Fd(file.as_fd()),
            meta,
            false,
            self.opts.chown,
            shown,
            &mut self.skipped,
        )?;
        apply_times(Target::Fd(file.as_fd()), meta.mtime, shown)?;
        self.stats.files += 1;
        self.stats.bytes += n;
        Ok(())
    }

    /// Owner, xattrs and times of a symlink, device or FIFO named `name` in `parent`.
    fn special_meta(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        symlink: bool,
        shown: &Path,
    ) -> Result<(), LayerError> {
        let t = Target::At(parent.as_fd(), name);
        apply_meta(t, meta, symlink, self.opts.chown, shown, &mut self.skipped)?;
        apply_times(t, meta.mtime, shown)
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        shown: &Path,
    ) -> Result<(), LayerError> {
        let raw = link_target(entry, shown)?;
        let bad = |reason| LayerError::BadHardlink {
            entry: shown.to_path_buf(),
            target: raw.clone(),
            reason,
        };
        let target_rel =
            normalize(raw.as_os_str().as_bytes(), shown).map_err(|_| bad("it contains `..`"))?;
        if target_rel.as_os_str().is_empty() {
            return Err(bad("it names the layer root"));
        }
        if target_rel == rel {
            return Ok(());
        }
        let (t_parent_rel, t_name) = split(&target_rel);
        let t_parent = match resolve_dir(self.root.as_fd(), t_parent_rel, shown, false) {
            Ok(fd) => fd,
            Err(LayerError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(bad("it does not exist (in this layer or below)"));
            }
            Err(e) => return Err(e),
        };
        match file_type_at(t_parent.as_fd(), t_name, shown)? {
            None => return Err(bad("it does not exist (in this layer or below)")),
            Some(FileType::Directory) => return Err(bad("it is a directory")),
            Some(_) => {}
        }
        self.replace(parent, name, shown, false)?;
        rustix::fs::linkat(
            &t_parent,
            t_name,
            parent,
            name,
            rustix::fs::AtFlags::empty(),
        )
        .map_err(|e| LayerError::errno("create hardlink", shown, e))?;
        self.stats.hardlinks += 1;
        Ok(())
    }

    /// Creates a device or FIFO; returns false if it was skipped.
    fn device<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        kind: EntryType,
        parent: &OwnedFd,
        name: &OsStr,
        shown: &Path,
    ) -> Result<bool, LayerError> {
        let h = entry.header();
        let (ftype, is_dev) = match kind {
            EntryType::Char => (FileType::CharacterDevice, true),
            EntryType::Block => (FileType::BlockDevice, true),
            _ => (FileType::Fifo, false),
        };
        if is_dev {
            match self.opts.devices {
                DevicePolicy::Reject => {
                    return Err(LayerError::DeviceRefused {
                        entry: shown.to_path_buf(),
                    });
                }
                DevicePolicy::Skip => {
                    self.stats.skipped_devices += 1;
                    return Ok(false);
                }
                DevicePolicy::Create => {}
            }
        }
        let major = h.device_major().ok().flatten().unwrap_or(0);
        let minor = h.device_minor().ok().flatten().unwrap_or(0);
        self.replace(parent, name, shown, false)?;
        let dev = rustix::fs::makedev(major, minor);
        match rustix::fs::mknodat(parent, name, ftype, Mode::from_raw_mode(0o600), dev) {
            Ok(()) => Ok(true),
            Err(Errno::PERM) if is_dev && !rustix::process::geteuid().is_root() => {
                tracing::warn!(entry = %shown.display(), "device node skipped: not root");
                self.stats.skipped_devices += 1;
                Ok(false)
            }
            Err(e) => Err(LayerError::errno("create device node", shown, e)),
        }
    }

    fn finish_dir_times(&mut self) -> Result<(), LayerError> {
        let mut dirs: Vec<_> = self.dir_times.drain().collect();
        dirs.sort();
        for (rel, mtime) in dirs.into_iter().rev() {
            let (parent_rel, name) = split(&rel);
            // A directory replaced later by a symlink, or whited out, is simply gone.
            let Ok(parent) = resolve_dir(self.root.as_fd(), parent_rel, &rel, false) else {
                continue;
            };
            if file_type_at(parent.as_fd(), name, &rel)? == Some(FileType::Directory) {
                apply_times(Target::At(parent.as_fd(), name), mtime, &rel)?;
            }
        }
        Ok(())
    }

    /// Forgets directory times under a directory whose content was removed.
    pub(crate) fn forget_dir_time(&mut self, rel: &Path) {
        self.dir_times.remove(rel);
    }
}

/// The link name of a symlink or hardlink entry.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, shown: &Path) -> Result<PathBuf, LayerError> {
    match entry.link_name_bytes() {
        Some(b) if !b.is_empty() => Ok(PathBuf::from(OsStr::from_bytes(&b))),
        _ => Err(LayerError::UnsafePath {
            entry: shown.to_path_buf(),
            reason: "its link target is empty",
        }),
    }
}

/// Owner, mode, mtime and xattrs of an entry, with PAX records overriding the header.
fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &Path) -> Result<Meta, LayerError> {
    let h = entry.header();
    let bad = |e: io::Error| LayerError::TarStream {
        after: Some(shown.to_path_buf()),
        source: e,
    };
    let mut meta = Meta {
        uid: h.uid().map_err(bad)?,
        gid: h.gid().map_err(bad)?,
        mode: h.mode().map_err(bad)?,
        mtime: (
            i64::try_from(h.mtime().map_err(bad)?).unwrap_or(i64::MAX),
            0,
        ),
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions().map_err(bad)? {
        for ext in pax {
            let ext = ext.map_err(bad)?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let text = std::str::from_utf8(value).unwrap_or("");
            match key {
                "uid" => meta.uid = text.parse().unwrap_or(meta.uid),
                "gid" => meta.gid = text.parse().unwrap_or(meta.gid),
                "mtime" => meta.mtime = parse_pax_time(text).unwrap_or(meta.mtime),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        if is_overlay_private_xattr(name) {
                            tracing::debug!(entry = %shown.display(), xattr = name, "overlay xattr dropped");
                        } else {
                            meta.xattrs.push((name.to_owned(), value.to_vec()));
                        }
                    }
                }
            }
        }
    }
    Ok(meta)
}

/// Parses a PAX time (`1700000000` or `1700000000.5`) into seconds and nanoseconds.
fn parse_pax_time(text: &str) -> Option<(i64, u32)> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    for (i, d) in frac.bytes().take(9).enumerate() {
        let digit = u32::from(d.checked_sub(b'0').filter(|d| *d <= 9)?);
        nanos += digit * 10u32.pow(8 - i as u32);
    }
    // A negative time with a fraction counts the fraction downwards.
    if secs < 0 && nanos > 0 {
        return Some((secs - 1, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::parse_pax_time;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("12"), Some((12, 0)));
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("x"), None);
    }
}
