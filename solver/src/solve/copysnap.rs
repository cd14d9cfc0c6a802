//! The copy-based snapshotter, for hosts without overlayfs.
//!
//! Snapshots keep the overlay format either way (whiteouts as char devices
//! 0/0, opaque directories marked with `trusted.overlay.opaque=y`), so the
//! cache, the exporter and a later overlay-capable run all read the same
//! directories. Without overlayfs a step's root is *materialised*: the layers
//! are copied into one directory, bottom first, applying whiteouts. After the
//! step, the root is compared with a second, pristine materialisation and the
//! differences are written as an upper directory in overlay format.
//!
//! Limits: hardlinks inside a layer become separate files, and a file whose
//! mode, owner, size and mtime (to the nanosecond) are unchanged is taken as
//! unchanged without comparing bytes.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};

use super::SolveError;

fn err(path: &Path, e: impl std::fmt::Display) -> SolveError {
    SolveError::Internal(format!("copy snapshotter: `{}`: {e}", path.display()))
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn xattr_names(path: &Path) -> Vec<OsString> {
    let Ok(size) = rustix::fs::llistxattr(path, &mut [0u8; 0][..]) else {
        return Vec::new();
    };
    if size == 0 {
        return Vec::new();
    }
    let mut buf = vec![0u8; size];
    let Ok(n) = rustix::fs::llistxattr(path, &mut buf[..]) else {
        return Vec::new();
    };
    buf[..n]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| std::ffi::OsStr::from_bytes(s).to_os_string())
        .collect()
}

fn xattr(path: &Path, name: &std::ffi::OsStr) -> Option<Vec<u8>> {
    let size = rustix::fs::lgetxattr(path, name, &mut [0u8; 0][..]).ok()?;
    let mut buf = vec![0u8; size];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn is_opaque(path: &Path) -> bool {
    xattr(path, std::ffi::OsStr::new("trusted.overlay.opaque")).as_deref() == Some(b"y")
}

fn remove_any(path: &Path) -> Result<(), SolveError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(|e| err(path, e)),
        Ok(_) => fs::remove_file(path).map_err(|e| err(path, e)),
        Err(_) => Ok(()),
    }
}

/// Copy one entry (not a directory's children) from `src` to `dst`, with its
/// mode, owner, xattrs (overlay's own excepted) and times.
fn copy_entry(src: &Path, dst: &Path, meta: &fs::Metadata) -> Result<(), SolveError> {
    let ft = meta.file_type();
    if ft.is_dir() {
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                remove_any(dst)?;
                fs::create_dir(dst).map_err(|e| err(dst, e))?;
            }
            Err(_) => fs::create_dir(dst).map_err(|e| err(dst, e))?,
        }
    } else {
        remove_any(dst)?;
        if ft.is_symlink() {
            let target = fs::read_link(src).map_err(|e| err(src, e))?;
            std::os::unix::fs::symlink(&target, dst).map_err(|e| err(dst, e))?;
        } else if ft.is_file() {
            fs::copy(src, dst).map_err(|e| err(dst, e))?;
        } else {
            let kind = FileType::from_raw_mode(meta.mode());
            rustix::fs::mknodat(
                CWD,
                dst,
                kind,
                Mode::from_raw_mode(meta.mode() & 0o7777),
                meta.rdev(),
            )
            .map_err(|e| err(dst, e))?;
        }
    }
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())).map_err(|e| err(dst, e))?;
    if !ft.is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| err(dst, e))?;
    }
    for name in xattr_names(src) {
        if name.as_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Some(value) = xattr(src, &name) {
            let _ = rustix::fs::lsetxattr(dst, &name, &value, rustix::fs::XattrFlags::empty());
        }
    }
    set_times(dst, meta)
}

fn set_times(dst: &Path, meta: &fs::Metadata) -> Result<(), SolveError> {
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, dst, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| err(dst, e))
}

fn sorted_children(dir: &Path) -> Result<Vec<(OsString, PathBuf, fs::Metadata)>, SolveError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| err(dir, e))? {
        let entry = entry.map_err(|e| err(dir, e))?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        out.push((entry.file_name(), path, meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Apply one overlay-format layer directory onto `dst`.
fn apply_layer(layer: &Path, dst: &Path) -> Result<(), SolveError> {
    for (name, src, meta) in sorted_children(layer)? {
        let target = dst.join(&name);
        if is_whiteout(&meta) {
            remove_any(&target)?;
            continue;
        }
        if meta.is_dir() {
            if is_opaque(&src) {
                remove_any(&target)?;
            }
            copy_entry(&src, &target, &meta)?;
            apply_layer(&src, &target)?;
            set_times(&target, &meta)?;
        } else {
            copy_entry(&src, &target, &meta)?;
        }
    }
    Ok(())
}

/// Materialise `layers` (bottom first) into the empty directory `dst`.
pub(crate) fn materialize(layers: &[PathBuf], dst: &Path) -> Result<(), SolveError> {
    fs::create_dir_all(dst).map_err(|e| err(dst, e))?;
    for layer in layers {
        apply_layer(layer, dst)?;
        if let Ok(meta) = fs::symlink_metadata(layer) {
            copy_entry(layer, dst, &meta)?;
        }
    }
    Ok(())
}

fn same(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.mode() == b.mode()
        && a.uid() == b.uid()
        && a.gid() == b.gid()
        && (a.is_dir()
            || (a.size() == b.size() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec()))
        && a.rdev() == b.rdev()
}

/// Ensure the parents of `rel` exist in `upper`, copied from `after`.
fn ensure_parents(after: &Path, upper: &Path, rel: &Path) -> Result<(), SolveError> {
    let mut built = PathBuf::new();
    if let Some(parent) = rel.parent() {
        for comp in parent.components() {
            built.push(comp);
            let dst = upper.join(&built);
            if !dst.exists() {
                let src = after.join(&built);
                let meta = fs::symlink_metadata(&src).map_err(|e| err(&src, e))?;
                copy_entry(&src, &dst, &meta)?;
            }
        }
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> Result<(), SolveError> {
    let meta = fs::symlink_metadata(src).map_err(|e| err(src, e))?;
    copy_entry(src, dst, &meta)?;
    if meta.is_dir() {
        for (name, child, _) in sorted_children(src)? {
            copy_tree(&child, &dst.join(name))?;
        }
        set_times(dst, &meta)?;
    }
    Ok(())
}

/// A directory's identity: its inode and birth time (a removed directory's
/// inode is often reused at once by the next `mkdir`).
pub(crate) type DirId = (u64, Option<std::time::SystemTime>);

fn dir_id(meta: &fs::Metadata) -> DirId {
    (meta.ino(), meta.created().ok())
}

/// The inode of every directory under `root` (relative paths), taken before a
/// step runs: a directory whose inode changed was removed and made again, which
/// overlayfs records as an opaque directory, and so must the diff.
pub(crate) fn dir_inodes(root: &Path) -> Result<HashMap<PathBuf, DirId>, SolveError> {
    let mut out = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let meta = fs::symlink_metadata(&dir).map_err(|e| err(&dir, e))?;
        out.insert(rel.clone(), dir_id(&meta));
        for (name, _, m) in sorted_children(&dir)? {
            if m.is_dir() {
                stack.push(rel.join(name));
            }
        }
    }
    Ok(out)
}

/// Write the differences from `before` to `after` into `upper`, in overlay
/// format; `inodes` are [`dir_inodes`] of `after` taken before the step.
pub(crate) fn diff(
    before: &Path,
    after: &Path,
    upper: &Path,
    inodes: &HashMap<PathBuf, DirId>,
) -> Result<(), SolveError> {
    diff_dir(before, after, upper, Path::new(""), inodes)
}

fn diff_dir(
    before: &Path,
    after: &Path,
    upper: &Path,
    rel: &Path,
    inodes: &HashMap<PathBuf, DirId>,
) -> Result<(), SolveError> {
    let now = sorted_children(&after.join(rel))?;
    let was = sorted_children(&before.join(rel)).unwrap_or_default();
    for (name, path, meta) in &now {
        let child = rel.join(name);
        let old = was.iter().find(|(n, _, _)| n == name).map(|(_, _, m)| m);
        match old {
            Some(o) if o.is_dir() && meta.is_dir() => {
                if inodes.get(&child).is_some_and(|id| *id != dir_id(meta)) {
                    // Removed and made again: an opaque directory hides the old contents.
                    ensure_parents(after, upper, &child)?;
                    let dst = upper.join(&child);
                    copy_tree(path, &dst)?;
                    rustix::fs::lsetxattr(
                        &dst,
                        "trusted.overlay.opaque",
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| err(&dst, e))?;
                    continue;
                }
                if !same(o, meta) {
                    ensure_parents(after, upper, &child)?;
                    copy_entry(path, &upper.join(&child), meta)?;
                }
                diff_dir(before, after, upper, &child, inodes)?;
            }
            Some(o) if same(o, meta) && o.file_type() == meta.file_type() => {
                if meta.file_type().is_symlink() {
                    let a = fs::read_link(before.join(&child)).ok();
                    let b = fs::read_link(path).ok();
                    if a != b {
                        ensure_parents(after, upper, &child)?;
                        copy_entry(path, &upper.join(&child), meta)?;
                    }
                }
            }
            _ => {
                ensure_parents(after, upper, &child)?;
                copy_tree(path, &upper.join(&child))?;
            }
        }
    }
    for (name, _, _) in &was {
        if now.iter().any(|(n, _, _)| n == name) {
            continue;
        }
        let child = rel.join(name);
        ensure_parents(after, upper, &child)?;
        let dst = upper.join(&child);
        remove_any(&dst)?;
        rustix::fs::mknodat(CWD, &dst, FileType::CharacterDevice, Mode::empty(), 0)
            .map_err(|e| err(&dst, e))?;
    }
    Ok(())
}
