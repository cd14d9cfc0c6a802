//! The local image store: names of images, kept in the OCI layout's `index.json`.
//!
//! Each tagged image is one entry of `index.json`'s `manifests`: the descriptor of its
//! manifest (or image index) with the annotation `org.opencontainers.image.ref.name`
//! holding the name exactly as the caller passed it. Callers pass the normalised full
//! reference (`docker.io/library/busybox:latest`; normalising is the registry client's
//! job, and this crate depends on no other of ours). skopeo (`oci:<store>:<name>`) and
//! umoci (`--image <store>:<name>`) find images by that full name.
//!
//! Updates are read-modify-write under an exclusive `flock` on `locks/index.lock`, and
//! the new file replaces the old by `rename`, so readers never take a lock and never see a
//! half-written file, and concurrent taggers never lose each other's updates.

use std::fs::{self, File};
use std::io::Write;

use oci_spec::image::{Descriptor, ImageIndex};

use crate::content::Store;
use crate::digest::Digest;
use crate::error::{Error, IoResultExt, Result};
use crate::lock::{FileLock, Lease, Mode, Wait};
use crate::root::sync_dir;

/// The annotation of an `index.json` entry that names the image (OCI image spec,
/// "Pre-Defined Annotation Keys").
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// One named image of the local store.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaggedImage {
    /// The name, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// The descriptor of its manifest or image index, annotation included.
    pub descriptor: Descriptor,
}

impl Store {
    /// Names the image whose manifest (or index) `descriptor` describes, replacing the
    /// image that had this name before, which is returned.
    ///
    /// The manifest blob must already be in the store ([`Error::BlobNotFound`]
    /// otherwise); the lease proves the caller kept garbage collection away since it wrote
    /// or resolved that blob. Fails with [`Error::InvalidName`] on names that the OCI
    /// annotation grammar (and so skopeo and umoci) would reject.
    pub fn tag(
        &self,
        _lease: &Lease,
        name: &str,
        descriptor: &Descriptor,
    ) -> Result<Option<Descriptor>> {
        validate_name(name)?;
        let digest = Digest::try_from(descriptor.digest())?;
        if !self.exists(&digest)? {
            return Err(Error::BlobNotFound { digest });
        }
        let mut entry = descriptor.clone();
        let mut annotations = entry.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME_ANNOTATION.to_owned(), name.to_owned());
        entry.set_annotations(Some(annotations));

        self.update_index(|index| {
            let mut manifests = index.manifests().clone();
            let previous = manifests.iter().position(|d| ref_name(d) == Some(name));
            let replaced = match previous {
                Some(i) => Some(std::mem::replace(&mut manifests[i], entry)),
                None => {
                    manifests.push(entry);
                    None
                }
            };
            // Entries written by other tools may repeat a name: keep only ours.
            let mut kept_first = false;
            manifests.retain(|d| {
                if ref_name(d) != Some(name) {
                    return true;
                }
                !std::mem::replace(&mut kept_first, true)
            });
            index.set_manifests(manifests);
            Ok(replaced)
        })
        .inspect(|_| tracing::debug!(name, %digest, "tagged image"))
    }

    /// The descriptor of the image named `name`; [`Error::ImageNotFound`] if none is.
    pub fn resolve(&self, name: &str) -> Result<Descriptor> {
        self.read_index()?
            .manifests()
            .iter()
            .find(|d| ref_name(d) == Some(name))
            .cloned()
            .ok_or_else(|| Error::ImageNotFound {
                name: name.to_owned(),
            })
    }

    /// Every named image, in `index.json` order (entries without a name are skipped).
    pub fn list(&self) -> Result<Vec<TaggedImage>> {
        Ok(self
            .read_index()?
            .manifests()
            .iter()
            .filter_map(|d| {
                ref_name(d).map(|name| TaggedImage {
                    name: name.to_owned(),
                    descriptor: d.clone(),
                })
            })
            .collect())
    }

    /// Removes the name `name` and returns the descriptor it named; the blobs stay until
    /// a garbage collection. [`Error::ImageNotFound`] if no image has this name.
    pub fn untag(&self, name: &str) -> Result<Descriptor> {
        self.update_index(|index| {
            let mut manifests = index.manifests().clone();
            let position = manifests.iter().position(|d| ref_name(d) == Some(name));
            let Some(position) = position else {
                return Err(Error::ImageNotFound {
                    name: name.to_owned(),
                });
            };
            let removed = manifests.remove(position);
            manifests.retain(|d| ref_name(d) != Some(name));
            index.set_manifests(manifests);
            Ok(removed)
        })
        .inspect(|_| tracing::debug!(name, "untagged image"))
    }

    /// Parses `store/index.json`.
    pub(crate) fn read_index(&self) -> Result<ImageIndex> {
        let path = self.dir().join("index.json");
        let data = fs::read(&path).at(&path)?;
        serde_json::from_slice(&data).map_err(|source| Error::CorruptJson { path, source })
    }

    /// Runs `change` on `index.json` under the index lock and writes the result back
    /// atomically if `change` succeeds.
    fn update_index<T>(&self, change: impl FnOnce(&mut ImageIndex) -> Result<T>) -> Result<T> {
        let _lock = FileLock::acquire(&self.lock_path("index.lock"), Mode::Exclusive, Wait::Block)?;
        let mut index = self.read_index()?;
        let out = change(&mut index)?;
        let path = self.dir().join("index.json");
        let mut data = serde_json::to_vec(&index).map_err(|source| Error::CorruptJson {
            path: path.clone(),
            source,
        })?;
        data.push(b'\n');
        // A tag that already points where it should (a no-op rebuild) leaves the
        // file, and its fsyncs, alone.
        if fs::read(&path).is_ok_and(|current| current == data) {
            return Ok(out);
        }
        let temp = self.scratch().temp_path("index");
        let written = File::create(&temp)
            .and_then(|mut file| {
                file.write_all(&data)?;
                file.sync_all()
            })
            .at(&temp)
            .and_then(|()| fs::rename(&temp, &path).at(&path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        sync_dir(self.dir())?;
        Ok(out)
    }
}

/// The name annotation of an `index.json` entry.
fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
}

/// Checks `name` against the grammar of `org.opencontainers.image.ref.name`:
/// `component ("/" component)*`, a component being alphanumeric runs joined by one of
/// `- . _ : @ +` or by `--`. skopeo's `oci:` transport enforces the same grammar.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    for component in name.split('/') {
        let mut separator = String::new();
        let mut seen_alnum = false;
        for c in component.chars() {
            if c.is_ascii_alphanumeric() {
                if !separator.is_empty() && separator != "--" && separator.len() != 1 {
                    return Err(invalid("separators must be one of `-._:@+` or `--`"));
                }
                separator.clear();
                seen_alnum = true;
            } else if "-._:@+".contains(c) {
                if !seen_alnum {
                    return Err(invalid(
                        "each `/`-separated part must start with a letter or digit",
                    ));
                }
                separator.push(c);
            } else {
                return Err(invalid(
                    "only ASCII letters, digits, `/` and `-._:@+` are allowed",
                ));
            }
        }
        if !seen_alnum || !separator.is_empty() {
            return Err(invalid(
                "each `/`-separated part must start and end with a letter or digit",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_full_references() {
        for name in [
            "docker.io/library/busybox:latest",
            "localhost:5000/team/app:1.4",
            "ghcr.io/o/r@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "latest",
            "a--b",
            "v1.0+build",
        ] {
            validate_name(name).unwrap();
        }
    }

    #[test]
    fn rejects_malformed_names() {
        for name in [
            "", "/a", "a/", "a//b", ":tag", "a:", "a..b", "a---b", "a b", "é", "a-.b",
        ] {
            let err = validate_name(name).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{name}");
        }
    }
}
