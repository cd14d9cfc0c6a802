//! Image archives: the OCI image layout (as a tarball or a directory) and the
//! `docker load` tarball.
//!
//! Both are one layout: `blobs/sha256/<hex>` for the config, layers and manifest,
//! `index.json` naming the manifest, `oci-layout`. The docker tarball adds docker's own
//! `manifest.json` (`[{Config, RepoTags, Layers}]`, paths into `blobs/`) and the legacy
//! `repositories` file, as `docker save` has written since Docker 25, so it loads with
//! `docker load` (which decompresses gzip layers itself, and zstd ones from Docker 23.0
//! on) and reads as an OCI layout too. Blobs are streamed from the store through verifying readers, never held
//! in memory; entries are in a fixed order with fixed owners and times, so the same
//! image gives the same archive bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cache::Digest;
use registry_client::Reference;
use serde::Serialize;

use super::assemble::{Descriptor, Image};
use super::destination::{Destination, Sink, stream_error};
use super::error::{ExportError, Result};

/// The OCI image index media type (`index.json`).
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The content of `oci-layout`.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// containerd's annotation holding the full image name.
const IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// Writes the OCI image layout of `image` to `dest`: a tarball, or a directory when
/// `tar` is false. Each of `names` gets an `index.json` entry annotated with the full
/// name and, as `org.opencontainers.image.ref.name`, its tag (as BuildKit does).
pub(crate) fn write_oci_layout(
    image: &Image,
    dest: &Destination,
    tar: bool,
    names: &[String],
) -> Result<()> {
    if tar {
        let sink = Sink::open(dest)?;
        let mut entries = TarEntries::new(sink, dest.label(), image.source_date_epoch);
        write_layout(image, &mut entries, names, false)?;
        entries.finish()?.commit()
    } else {
        let Destination::File(dir) = dest else {
            return Err(ExportError::InvalidOutput {
                spec: "type=oci,tar=false,dest=-".to_owned(),
                reason: "a directory cannot be written to stdout".to_owned(),
                hint: "give a directory with `dest=DIR`".to_owned(),
            });
        };
        std::fs::create_dir_all(dir).map_err(ExportError::io("create", dir))?;
        write_layout(image, &mut DirEntries { root: dir.clone() }, names, false)
    }
}

/// Writes `image` as a tarball `docker load` accepts.
///
/// zstd layers are written as they are, with a warning: Docker before 23.0 (Debian 12's
/// docker.io 20.10 among them) fails to load them with `archive/tar: invalid tar header`,
/// and that message does not say why.
pub(crate) fn write_docker_archive(
    image: &Image,
    dest: &Destination,
    names: &[String],
) -> Result<()> {
    if image
        .layers
        .iter()
        .any(|l| super::layers::needs_oci(&l.media_type))
    {
        tracing::warn!(
            "the docker archive holds zstd layers: `docker load` needs Docker 23.0 or later \
             (use `--compression=gzip` for older daemons)"
        );
    }
    let sink = Sink::open(dest)?;
    let mut entries = TarEntries::new(sink, dest.label(), image.source_date_epoch);
    write_layout(image, &mut entries, names, true)?;
    entries.finish()?.commit()
}

/// Where layout entries go: a tar stream or a directory.
trait Entries {
    /// A directory (`blobs/`), before its files.
    fn dir(&mut self, path: &str) -> Result<()>;
    /// A file of `size` bytes read from `data`; `reuse` says an existing copy of a
    /// content-addressed file may be kept.
    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read, reuse: bool) -> Result<()>;
}

/// Writes the layout entries, in `docker save`'s order (sorted names).
fn write_layout(
    image: &Image,
    out: &mut dyn Entries,
    names: &[String],
    docker: bool,
) -> Result<()> {
    out.dir("blobs/")?;
    out.dir("blobs/sha256/")?;
    let mut digests = vec![image.config.digest];
    digests.extend(image.layers.iter().map(|l| l.digest));
    digests.push(image.manifest.digest);
    let mut written = BTreeSet::new();
    for digest in digests {
        if written.insert(digest) {
            let mut reader = image.store.open(&digest)?;
            let size = reader.size();
            out.file(&blob_path(&digest), size, &mut reader, true)?;
        }
    }
    let index = json_bytes("index.json", &index(image, names))?;
    out.file(
        "index.json",
        index.len() as u64,
        &mut index.as_slice(),
        false,
    )?;
    if docker {
        let manifest = json_bytes("manifest.json", &docker_manifest(image, names)?)?;
        out.file(
            "manifest.json",
            manifest.len() as u64,
            &mut manifest.as_slice(),
            false,
        )?;
    }
    out.file(
        "oci-layout",
        OCI_LAYOUT.len() as u64,
        &mut &OCI_LAYOUT[..],
        false,
    )?;
    if docker {
        let repositories = json_bytes("repositories", &repositories(image, names)?)?;
        out.file(
            "repositories",
            repositories.len() as u64,
            &mut repositories.as_slice(),
            false,
        )?;
    }
    Ok(())
}

/// `blobs/sha256/<hex>`.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// An `index.json` entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry<'a> {
    #[serde(flatten)]
    descriptor: &'a Descriptor,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

/// `index.json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<IndexEntry<'a>>,
}

/// The layout's index: one entry per name (one without annotations when unnamed).
fn index<'a>(image: &'a Image, names: &[String]) -> Index<'a> {
    let mut manifests = Vec::new();
    let mut tags = BTreeSet::new();
    for name in names {
        let mut annotations = BTreeMap::new();
        annotations.insert(IMAGE_NAME_ANNOTATION, name.clone());
        let tag = Reference::parse(name)
            .ok()
            .and_then(|r| r.tag().map(str::to_owned));
        // Two names with one tag would make `oci-archive:FILE:TAG` ambiguous.
        if let Some(tag) = tag.filter(|t| tags.insert(t.clone())) {
            annotations.insert(cache::REF_NAME_ANNOTATION, tag);
        }
        manifests.push(IndexEntry {
            descriptor: &image.manifest,
            annotations,
        });
    }
    if manifests.is_empty() {
        manifests.push(IndexEntry {
            descriptor: &image.manifest,
            annotations: BTreeMap::new(),
        });
    }
    Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests,
    }
}

/// One image of docker's `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Docker's `manifest.json`: paths into `blobs/`, names in docker's short form.
fn docker_manifest(image: &Image, names: &[String]) -> Result<Vec<DockerManifest>> {
    let repo_tags = names
        .iter()
        .map(|n| familiar(n).map(|(repo, tag)| format!("{repo}:{tag}")))
        .collect::<Result<_>>()?;
    Ok(vec![DockerManifest {
        config: blob_path(&image.config.digest),
        repo_tags,
        layers: image.layers.iter().map(|l| blob_path(&l.digest)).collect(),
    }])
}

/// The legacy `repositories` file: `{repo: {tag: id}}`, the id being the top layer's
/// blob (what `docker save` writes); old loaders read it, current ones ignore it.
fn repositories(
    image: &Image,
    names: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let top = image
        .layers
        .last()
        .map_or_else(|| image.config.digest.hex(), |l| l.digest.hex());
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for name in names {
        let (repo, tag) = familiar(name)?;
        out.entry(repo).or_default().insert(tag, top.clone());
    }
    Ok(out)
}

/// The short repository name and tag docker shows for a full name.
fn familiar(name: &str) -> Result<(String, String)> {
    let reference = Reference::parse(name).map_err(|e| ExportError::InvalidName {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    let tag = reference.tag().unwrap_or("latest").to_owned();
    let short = reference.familiar();
    let repo = short
        .strip_suffix(&format!(":{tag}"))
        .unwrap_or(&short)
        .to_owned();
    Ok((repo, tag))
}

/// Serialises a layout document.
fn json_bytes(what: &'static str, value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| ExportError::Json { what, source })
}

/// Layout entries in a tar stream, with fixed owners, modes and times.
pub(crate) struct TarEntries<W: Write> {
    builder: tar::Builder<W>,
    label: PathBuf,
    mtime: u64,
}

impl<W: Write> TarEntries<W> {
    /// Starts a tar stream into `out`; `label` names it in errors; entries get
    /// `SOURCE_DATE_EPOCH` (or 0) as their time.
    pub(crate) fn new(out: W, label: &Path, source_date_epoch: Option<i64>) -> Self {
        TarEntries {
            builder: tar::Builder::new(out),
            label: label.to_path_buf(),
            mtime: source_date_epoch
                .and_then(|t| u64::try_from(t).ok())
                .unwrap_or(0),
        }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        header.set_size(size);
        header
    }

    /// Writes the end-of-archive marker and returns the sink.
    pub(crate) fn finish(self) -> Result<W> {
        self.builder
            .into_inner()
            .map_err(ExportError::io("write", &self.label))
    }
}

impl<W: Write> Entries for TarEntries<W> {
    fn dir(&mut self, path: &str) -> Result<()> {
        let mut header = self.header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut header, path, io::empty())
            .map_err(ExportError::io("write", &self.label))
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read, _reuse: bool) -> Result<()> {
        let mut header = self.header(tar::EntryType::Regular, 0o644, size);
        // Read to the end, so that a verifying blob reader checks the digest: a damaged
        // blob fails the export (and the unfinished archive is discarded).
        self.builder
            .append_data(&mut header, path, data)
            .map_err(stream_error(&self.label))
    }
}

/// Layout entries in a directory: content-addressed blobs already present are kept,
/// other files are replaced atomically.
struct DirEntries {
    root: PathBuf,
}

impl Entries for DirEntries {
    fn dir(&mut self, path: &str) -> Result<()> {
        let dir = self.root.join(path);
        std::fs::create_dir_all(&dir).map_err(ExportError::io("create", &dir))
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read, reuse: bool) -> Result<()> {
        let target = self.root.join(path);
        if reuse && std::fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok(());
        }
        let mut temp_name = target.file_name().unwrap_or_default().to_os_string();
        temp_name.push(format!(".strata-{}.tmp", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let written = File::create(&temp)
            .map_err(ExportError::io("create", &temp))
            .and_then(|mut file| {
                io::copy(data, &mut file).map_err(stream_error(&temp))?;
                file.sync_all().map_err(ExportError::io("sync", &temp))
            })
            .and_then(|()| {
                std::fs::rename(&temp, &target).map_err(ExportError::io("rename into", &target))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }
}
