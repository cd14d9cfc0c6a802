//! Whiteouts and opaque directories: the two ways a layer deletes what is below it.
//!
//! In a tar (OCI image spec, "Whiteouts"): a file `dir/.wh.name` deletes `dir/name`
//! from the layers below; a file `dir/.wh..wh..opq` hides everything that the layers
//! below have in `dir`. Neither deletes what the same layer adds.
//! In an overlayfs upperdir: a character device 0/0 (or, since Linux 6.7, a file with
//! the `trusted.overlay.whiteout` xattr) deletes; a directory with
//! `trusted.overlay.opaque=y` is opaque (`=x` only means "holds xattr whiteouts").

use std::ffi::OsStr;
use std::path::Path;

use rustix::fd::AsFd;
use rustix::fs::{FileType, Mode, OFlags, XattrFlags};

use super::apply::{Applier, ApplyMode};
use super::error::LayerError;
use super::safe_path::{file_type_at, list_dir, remove_all_at, resolve_dir};

/// Prefix of a whiteout entry name.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker entry.
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs sets on opaque directories.
pub(crate) const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";
/// The xattr marking a regular file as a whiteout (overlayfs "xwhiteout").
pub(crate) const OVERLAY_WHITEOUT: &str = "trusted.overlay.whiteout";

/// Whether an xattr is overlayfs bookkeeping that must never travel in a layer.
pub(crate) fn is_overlay_private_xattr(name: &str) -> bool {
    name.starts_with("trusted.overlay.")
}

impl Applier {
    /// Handles `parent/.wh.name`.
    pub(crate) fn whiteout(
        &mut self,
        parent_rel: &Path,
        name: &OsStr,
        shown: &Path,
    ) -> Result<(), LayerError> {
        self.stats.whiteouts += 1;
        let rel = parent_rel.join(name);
        if self.created.contains(&rel) {
            tracing::warn!(entry = %shown.display(), "whiteout of an entry of the same layer ignored");
            return Ok(());
        }
        match self.opts.mode {
            ApplyMode::Flatten => {
                // Nothing to delete if the parent is absent; never create it for this.
                let parent = match resolve_dir(self.root.as_fd(), parent_rel, shown, false) {
                    Ok(fd) => fd,
                    Err(LayerError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                remove_all_at(parent.as_fd(), name, &rel)?;
                self.forget_dir_time(&rel);
            }
            ApplyMode::Overlay => {
                let parent = resolve_dir(self.root.as_fd(), parent_rel, shown, true)?;
                remove_all_at(parent.as_fd(), name, &rel)?;
                rustix::fs::mknodat(
                    &parent,
                    name,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .map_err(|e| LayerError::errno("create overlay whiteout for", shown, e))?;
            }
        }
        Ok(())
    }

    /// Handles `dir/.wh..wh..opq`.
    pub(crate) fn opaque(&mut self, dir_rel: &Path, shown: &Path) -> Result<(), LayerError> {
        self.stats.opaque_dirs += 1;
        let dir = resolve_dir(self.root.as_fd(), dir_rel, shown, true)?;
        let dir = rustix::fs::openat(
            &dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| LayerError::errno("open directory", dir_rel, e))?;
        match self.opts.mode {
            ApplyMode::Flatten => self.empty_older(dir.as_fd(), dir_rel),
            ApplyMode::Overlay => {
                rustix::fs::fsetxattr(&dir, OVERLAY_OPAQUE, b"y", XattrFlags::empty())
                    .map_err(|e| LayerError::errno("mark opaque", shown, e))
            }
        }
    }

    /// Removes from `dir` everything this layer did not create, keeping this layer's
    /// directories but emptying them the same way.
    fn empty_older(
        &mut self,
        dir: rustix::fd::BorrowedFd<'_>,
        dir_rel: &Path,
    ) -> Result<(), LayerError> {
        for child in list_dir(dir, dir_rel)? {
            let rel = dir_rel.join(&child);
            if !self.created.contains(&rel) {
                remove_all_at(dir, &child, &rel)?;
                self.forget_dir_time(&rel);
            } else if file_type_at(dir, &child, &rel)? == Some(FileType::Directory) {
                let sub = super::safe_path::open_subdir(dir, &child, &rel)?;
                self.empty_older(sub.as_fd(), &rel)?;
            }
        }
        Ok(())
    }
}
