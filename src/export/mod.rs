//! Image export: from a finished build to an image in the local store, in files, or
//! on stdout.
//!
//! The last stage of a build (DESIGN.md section 7). The solver hands over the base
//! image's layers (already in the content store) and the snapshot directory of every
//! layer step; the frontend hands over the lowered image config. Export then:
//!
//! 1. [`assemble`]: turns each step snapshot into a compressed layer blob (in parallel,
//!    reusing blobs remembered in the cache index), then writes the config and the
//!    manifest as store blobs. Nothing is named yet; the returned [`Image`] holds a
//!    garbage-collection lease.
//! 2. [`tag`]: names the image in the local store (`store/index.json`) under each
//!    `-t` name, normalised as docker does ([`normalize_names`]); [`write_iidfile`] and
//!    [`write_metadata_file`] record its digests for scripts.
//! 3. [`write_output`]: each `--output` ([`Output::parse`]): an OCI layout (tarball or
//!    directory), a `docker load` tarball, the unpacked filesystem, or that
//!    filesystem as a tar, to a file or stdout.
//!
//! Vocabulary: a *step layer* is a step's overlay upperdir; its *diffID* is the digest of
//! the uncompressed tar, its *digest* that of the stored (compressed) blob; the *image
//! ID* is the config digest, the *image digest* the manifest digest.
//!
//! ```no_run
//! # fn demo(root: &cache::Root, records: &cache::records::Records,
//! #         spec: frontend::image::ImageSpec,
//! #         base: Vec<solver::solve::BaseLayer>) -> Result<(), Box<dyn std::error::Error>> {
//! use crate::export::{self, ExportOptions, Output, StepLayer};
//! let steps = vec![StepLayer::new("4f2a...", "/var/lib/strata/snapshots/12/upper")];
//! let options = ExportOptions { source_date_epoch: Some(0), ..ExportOptions::default() };
//! let image = export::assemble(root.store(), records, spec, &base, &steps, &options)?;
//! let names = export::normalize_names(&["app:1"])?;
//! export::tag(&image, &names)?;
//! let output = Output::parse("type=oci,dest=app.tar")?;
//! export::write_output(&image, &output, &names, root.scratch_dir())?;
//! # Ok(()) }
//! ```

mod archive;
mod assemble;
mod destination;
mod early;
mod error;
mod filesystem;
mod layers;
mod options;
mod output;
mod tag;

#[cfg(test)]
mod tests;

pub use assemble::{Image, assemble};
pub use early::EarlyLayers;
pub use layers::StepLayer;
pub use options::{ExportOptions, compression, parse_labels};
pub use output::{Output, write_output};
pub use tag::{normalize_names, tag, write_iidfile, write_metadata_file};
