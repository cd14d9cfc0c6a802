//! On-disk state of strata: content store, snapshots, cache index and locks.
//!
//! Everything strata keeps lives under one *root* directory ([`default_root`]), which
//! several strata processes may use at once and which survives `kill -9` at any instant:
//! files are written in a private scratch directory and published by `rename`, so
//! nothing is ever half-visible, and locks are `flock`s that die with their process.
//!
//! # Layout (format version 1, [`FORMAT_VERSION`])
//!
//! ```text
//! <root>/                      --root, $STRATA_ROOT, /var/lib/strata or ~/.local/share/strata
//! ├── version                  "1": the on-disk format version; other versions are refused
//! ├── CACHEDIR.TAG             tells backup tools to skip the root
//! ├── store/                   an OCI image layout: skopeo `oci:<root>/store:<name>`, umoci
//! │   ├── oci-layout           {"imageLayoutVersion":"1.0.0"}
//! │   ├── index.json           tagged images: descriptors annotated with
//! │   │                        org.opencontainers.image.ref.name = docker.io/library/busybox:latest
//! │   └── blobs/sha256/<hex>   immutable blobs (layers, configs, manifests), named by digest
//! ├── snapshots/               unpacked layers and step results (the snapshotter's)
//! ├── index                    the build-cache database (reserved for the cache index)
//! ├── locks/
//! │   ├── index.lock           flock: exclusive while index.json is rewritten
//! │   └── gc.lock              flock: shared by writers (leases), exclusive by collection
//! └── tmp/
//!     └── <pid>-<nanos>-<n>/   one per live process, flock-ed by it; in-flight blobs and
//!                              files; removed at exit, or at the next open if the owner died
//! ```
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! use cache::{Digest, Root};
//! use cache::oci_spec::image::{Descriptor, MediaType};
//!
//! let root = Root::open(dir.path())?;
//! let store = root.store();
//! let lease = store.lease()?; // keeps garbage collection away until tagged
//! let manifest = br#"{"schemaVersion":2}"#;
//! let digest = store.write_blob(&lease, manifest)?;
//! assert_eq!(digest, Digest::of(manifest));
//! let descriptor = Descriptor::new(MediaType::ImageManifest, manifest.len() as u64, digest);
//! store.tag(&lease, "docker.io/library/example:latest", &descriptor)?;
//! drop(lease);
//! let found = store.resolve("docker.io/library/example:latest")?;
//! assert_eq!(store.read_all_verified(&Digest::try_from(found.digest())?)?, manifest);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod content;
mod digest;
mod error;
mod index;
pub mod layer;
mod lock;
pub mod records;
mod root;
mod scratch;

pub use content::{BlobReader, BlobWriter, GcGuard, GcReport, SMALL_BLOB_LIMIT, Store};
pub use digest::{Digest, Digester};
pub use error::{Error, ErrorKind, Result};
pub use index::{REF_NAME_ANNOTATION, TaggedImage, validate_name};
pub use lock::{BuildLock, Lease};
/// The OCI types of this crate's API (descriptors, indexes), re-exported so that callers
/// use the same version.
pub use oci_spec;
pub use root::{FORMAT_VERSION, Root, default_root};
