//! Filesystem outputs: the image's final tree, unpacked (`type=local`) or as one tar
//! (`type=tar`).
//!
//! Every layer is applied in order with [`apply_layer`] in flatten mode, so whiteouts
//! delete what lower layers created and nothing escapes the target, whatever a base
//! layer holds. The tar is written from such a tree in a scratch directory by
//! [`write_layer`], which gives the same sorted, reproducible entries as a layer
//! (times clamped to `SOURCE_DATE_EPOCH`); the scratch tree is removed afterwards.

use std::path::{Path, PathBuf};

use cache::layer::{ApplyMode, ApplyOptions, ApplyStats, Compression, WriteOptions, write_layer};

use super::assemble::Image;
use super::destination::{Destination, Sink};
use super::error::{ExportError, Result};

/// Unpacks the image's filesystem into `dest` (created if missing), layer after layer.
///
/// Returns what was applied, summed over the layers, for logs and tests.
pub(crate) fn write_local(image: &Image, dest: &Path) -> Result<ApplyStats> {
    std::fs::create_dir_all(dest).map_err(ExportError::io("create", dest))?;
    let mut total = ApplyStats::default();
    for layer in &image.layers {
        let reader = image.store.open(&layer.digest)?;
        let options = ApplyOptions {
            compression: Compression::from_media_type(&layer.media_type),
            mode: ApplyMode::Flatten,
            ..ApplyOptions::default()
        };
        let stats = cache::layer::apply_layer(reader, dest, &options).map_err(|source| {
            ExportError::ApplyLayer {
                digest: layer.digest.to_string(),
                dest: dest.to_path_buf(),
                source,
            }
        })?;
        tracing::debug!(digest = %layer.digest, ?stats, "applied layer");
        total.entries += stats.entries;
        total.files += stats.files;
        total.dirs += stats.dirs;
        total.whiteouts += stats.whiteouts;
        total.skipped_devices += stats.skipped_devices;
    }
    Ok(total)
}

/// Writes the image's filesystem as one tar to `dest`, through a tree unpacked in
/// `scratch` (a directory on the root's file system, e.g. `cache::Root::scratch_dir`).
pub(crate) fn write_filesystem_tar(
    image: &Image,
    dest: &Destination,
    scratch: &Path,
) -> Result<()> {
    let tree = ScratchTree::create(scratch)?;
    write_local(image, &tree.path)?;
    let mut sink = Sink::open(dest)?;
    let options = WriteOptions {
        source_date_epoch: image.source_date_epoch,
        ..WriteOptions::default()
    };
    write_layer(&tree.path, &mut sink, options).map_err(|source| ExportError::WriteTree {
        dir: tree.path.clone(),
        source,
    })?;
    sink.commit()
}

/// A temporary directory removed on drop.
struct ScratchTree {
    path: PathBuf,
}

impl ScratchTree {
    fn create(scratch: &Path) -> Result<ScratchTree> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = scratch.join(format!("export-fs-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(ExportError::io("create", &path))?;
        Ok(ScratchTree { path })
    }
}

impl Drop for ScratchTree {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a scratch tree");
        }
    }
}
