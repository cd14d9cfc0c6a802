//! Base images in the local store: pulled from registries into the content store, and
//! found there again without a registry round trip.
//!
//! [`LocalImages`] is the glue between the registry client (async, network) and the
//! content store (sync, disk). A pull resolves a reference to one platform's manifest,
//! streams every blob that the store does not have yet into a [`cache::BlobWriter`]
//! (several at a time; each verified against its digest before it is renamed into
//! `store/blobs/`), writes the config and the manifest, and finally names the image in
//! `store/index.json` (`docker.io/library/busybox:latest`), all under one
//! [`cache::Lease`] so that a concurrent `strata rmi` cannot collect blobs that are
//! written but not yet tagged.
//!
//! Vocabulary:
//! - the *store name* of a reference is what `index.json` calls it: the normalised
//!   reference with its tag (`docker.io/library/busybox:latest`), or with its digest
//!   alone when it has one (`docker.io/library/busybox@sha256:...`);
//! - the *pinned* reference is the normalised reference plus the digest of the selected
//!   platform's manifest (`docker.io/library/busybox:latest@sha256:...`). Builds record
//!   it so that later steps and rebuilds use exactly that image.
//!
//! Only the selected platform's manifest is stored, not the index it came from (the
//! index digest is kept as the [`INDEX_DIGEST_ANNOTATION`] of the `index.json` entry, so
//! `FROM busybox@sha256:<index>` still resolves locally). One name therefore holds one
//! platform at a time: pulling another platform of the same tag replaces it.
//!
//! The build calls in through [`frontend::lower::ImageResolver`] and
//! [`solver::solve::ImageProvider`], which are synchronous: `LocalImages` owns a tokio
//! runtime and blocks on it, so those calls must come from threads that are not tokio
//! workers (the frontend and the solver's thread pool are not).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let root = cache::Root::open("/var/lib/strata")?;
//! let images = LocalImages::with_options(root, RegistryOptions::from_env(Vec::new(), None))?;
//! let platform = registry_client::Platform::host();
//! let image = images.resolve_local_or_pull("busybox", &platform, PullPolicy::Missing, Arc::new(NoProgress))?;
//! println!("{}", image.reference); // docker.io/library/busybox:latest@sha256:...
//! # Ok(()) }
//! ```

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use cache::oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use cache::{Digest, Store};
use registry_client::{
    Client, ClientConfig, CredentialSource, DockerConfig, Platform, Reference, TransportConfig,
};
use solver::solve::BaseLayer;

mod fetch;
mod list;

pub use list::{ImageSummary, list_images};

/// The `index.json` annotation recording the index (or manifest list) a stored manifest
/// was selected from, so that a reference pinned to the index finds it.
pub const INDEX_DIGEST_ANNOTATION: &str = "dev.strata.image.index.digest";

/// How the registry client is set up.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Hosts spoken to over plain HTTP (`--insecure-registry`); loopback always is.
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) trusted besides the system roots (`--registry-ca`).
    pub registry_ca: Option<PathBuf>,
    /// Blobs downloaded at once, and requests per registry host.
    pub max_connections: usize,
    /// Where credentials come from.
    pub credentials: CredentialSource,
}

impl RegistryOptions {
    /// The options the global flags (`--insecure-registry`, `--registry-ca`) ask for.
    pub fn from_global(global: &crate::cli::GlobalArgs) -> Self {
        Self::from_env(
            global.insecure_registries.clone(),
            global.registry_ca.clone(),
        )
    }

    /// Options with docker's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`) as the
    /// credential source and 4 connections per host.
    pub fn from_env(insecure_registries: Vec<String>, registry_ca: Option<PathBuf>) -> Self {
        let credentials = DockerConfig::from_env()
            .map(CredentialSource::DockerConfig)
            .unwrap_or_default();
        Self {
            insecure_registries,
            registry_ca,
            max_connections: 4,
            credentials,
        }
    }
}

/// When a base image is fetched from its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Only when the store has no image of that name for the platform (the default: a
    /// rebuild makes no registry request).
    #[default]
    Missing,
    /// Always ask the registry, downloading only blobs the store lacks (`--pull`).
    Always,
    /// Never: fail if the image is not in the store.
    Never,
}

/// Opens the strata root the global options name (`--root`, `$STRATA_ROOT`, default).
pub fn open_root(global: &crate::cli::GlobalArgs) -> Result<cache::Root, cache::Error> {
    cache::Root::open(cache::default_root(global.root.as_deref())?)
}

/// Opens the root and a registry client as the global options say.
pub fn open_local_images(global: &crate::cli::GlobalArgs) -> Result<LocalImages, ImageError> {
    LocalImages::with_options(open_root(global)?, RegistryOptions::from_global(global))
}

/// An image config blob, verbatim and parsed.
#[derive(Debug, Clone)]
pub struct ConfigBlob {
    /// Its digest (`sha256:...`).
    pub digest: String,
    /// The JSON as stored (the digest is over these bytes).
    #[allow(
        dead_code,
        reason = "for exporters that carry a base config over verbatim"
    )]
    pub bytes: Vec<u8>,
    /// The parsed config (Env, Cmd, User... and the diff IDs).
    pub spec: frontend::ImageSpec,
}

/// An image that is complete in the local store.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// Its name in `index.json` (`docker.io/library/busybox:latest`).
    pub name: String,
    /// The reference pinned to the manifest digest
    /// (`docker.io/library/busybox:latest@sha256:...`).
    pub reference: String,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// The index or manifest list it was selected from, if any.
    pub index_digest: Option<String>,
    /// The image's platform, from its config.
    pub platform: Platform,
    /// The config blob.
    pub config: ConfigBlob,
    /// The layers, base first, as the solver wants them.
    pub layers: Vec<BaseLayer>,
    /// Blobs downloaded by this call (0 when the image was found locally).
    pub downloaded_blobs: usize,
    /// Bytes downloaded by this call.
    pub downloaded_bytes: u64,
}

/// What a pull reports as it goes; `src/` renders it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PullEvent<'a> {
    /// The manifest is known: `blobs` blobs (layers and config) make up the image.
    Resolved {
        /// The pinned reference.
        reference: &'a str,
        /// How many layer blobs the image has.
        layers: usize,
    },
    /// A layer download starts.
    BlobStarted {
        /// Its digest.
        digest: &'a str,
        /// Its size in bytes.
        size: u64,
    },
    /// Bytes of a layer arrived.
    BlobProgress {
        /// Its digest.
        digest: &'a str,
        /// Bytes written so far.
        written: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// A layer is in the store.
    BlobDone {
        /// Its digest.
        digest: &'a str,
        /// Its size in bytes.
        size: u64,
        /// True if it was already there and nothing was downloaded.
        present: bool,
    },
}

/// A receiver of [`PullEvent`]s; called from tokio worker threads.
pub trait PullProgress: Send + Sync {
    /// One event.
    fn event(&self, event: PullEvent<'_>);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl PullProgress for NoProgress {
    fn event(&self, _event: PullEvent<'_>) {}
}

/// Errors of pulling and finding images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The registry client failed (reference syntax, network, auth, platform...).
    #[error(transparent)]
    Registry(#[from] registry_client::Error),
    /// The content store failed.
    #[error(transparent)]
    Store(#[from] cache::Error),
    /// `--pull=never` and the store has no such image.
    #[error(
        "image `{name}` for `{platform}` is not in the local store\nhint: run `strata pull {name}` first, or allow pulling"
    )]
    NotLocal {
        /// The store name.
        name: String,
        /// The platform asked for.
        platform: String,
    },
    /// The image's manifest or config is not usable.
    #[error("image `{reference}` is invalid: {reason}")]
    InvalidImage {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// A local failure around the pull (the async runtime, a background task).
    #[error("{what}")]
    Internal {
        /// What failed.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// The local image store plus a registry client: pulls, local lookups, and the image
/// traits of the frontend and the solver.
#[derive(Debug)]
pub struct LocalImages {
    root: cache::Root,
    client: Client,
    max_connections: usize,
    /// What [`frontend::lower::ImageResolver::resolve`] does: `--pull` sets `Always`.
    policy: PullPolicy,
    progress: Arc<dyn PullProgress>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for dyn PullProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PullProgress")
    }
}

impl LocalImages {
    /// The images of `root` with the registry settings of the global options; `pull`
    /// (`strata build --pull`) makes the build traits ask the registry every time.
    pub fn new(
        root: &cache::Root,
        global: &crate::cli::GlobalArgs,
        pull: bool,
    ) -> Result<Self, ImageError> {
        let policy = if pull {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        };
        Ok(
            Self::with_options(root.clone(), RegistryOptions::from_global(global))?
                .with_build_settings(policy, Arc::new(NoProgress)),
        )
    }

    /// Opens the image store of `root` with a registry client set up by `options`, and
    /// starts the runtime that the synchronous methods block on.
    pub fn with_options(root: cache::Root, options: RegistryOptions) -> Result<Self, ImageError> {
        let max_connections = options.max_connections.max(1);
        let transport = TransportConfig {
            insecure_hosts: options.insecure_registries,
            extra_ca_file: options.registry_ca,
            max_concurrent_per_host: max_connections,
            ..TransportConfig::default()
        };
        let client = Client::new(ClientConfig {
            transport,
            credentials: options.credentials,
            ..ClientConfig::default()
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(max_connections.min(4))
            .thread_name("strata-registry")
            .enable_all()
            .build()
            .map_err(|source| ImageError::Internal {
                what: "cannot start the registry client's runtime".to_owned(),
                source,
            })?;
        Ok(Self {
            root,
            client,
            max_connections,
            policy: PullPolicy::Missing,
            progress: Arc::new(NoProgress),
            runtime,
        })
    }

    /// Sets the policy and progress receiver used through the build traits.
    pub fn with_build_settings(
        mut self,
        policy: PullPolicy,
        progress: Arc<dyn PullProgress>,
    ) -> Self {
        self.policy = policy;
        self.progress = progress;
        self
    }

    /// The content store.
    pub fn store(&self) -> &Store {
        self.root.store()
    }

    /// The registry client, for callers that push.
    #[allow(
        dead_code,
        reason = "for `build --push`, which shares the client's tokens and limits"
    )]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Pulls `reference` for `platform` from its registry into the store and tags it;
    /// blobs already in the store are not downloaded again.
    pub fn pull(
        &self,
        reference: &str,
        platform: &Platform,
        progress: Arc<dyn PullProgress>,
    ) -> Result<PulledImage, ImageError> {
        let reference = Reference::parse(reference)?;
        // Before the runtime: the lease may wait for a running collection.
        let lease = Arc::new(self.store().lease()?);
        self.runtime
            .block_on(self.pull_async(&reference, platform, lease, progress))
    }

    /// The image from the store if it has it for `platform` (no registry request),
    /// else pulled; `policy` can force or forbid the pull.
    pub fn resolve_local_or_pull(
        &self,
        reference: &str,
        platform: &Platform,
        policy: PullPolicy,
        progress: Arc<dyn PullProgress>,
    ) -> Result<PulledImage, ImageError> {
        let parsed = Reference::parse(reference)?;
        if policy != PullPolicy::Always
            && let Some(found) = self.find_local(&parsed, platform)?
        {
            tracing::debug!(reference = %found.reference, "using the image in the local store");
            return Ok(found);
        }
        if policy == PullPolicy::Never {
            return Err(ImageError::NotLocal {
                name: store_name(&parsed),
                platform: platform.to_string(),
            });
        }
        self.pull(reference, platform, progress)
    }

    /// The image named by `reference` if the store holds it complete for `platform`.
    ///
    /// A reference with a digest also matches a stored manifest of that digest (whatever
    /// its name), or an image selected from an index of that digest.
    pub fn find_local(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Option<PulledImage>, ImageError> {
        let store = self.store();
        let name = store_name(reference);
        let entry = match store.resolve(&name) {
            Ok(descriptor) => Some(descriptor),
            Err(cache::Error::ImageNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(descriptor) = entry {
            return self.load_local(reference, &name, &descriptor, platform);
        }
        let Some(wanted) = reference.digest() else {
            return Ok(None);
        };
        let wanted = wanted.to_string();
        // Pinned to a manifest we have under another name (the pinned reference a build
        // recorded), or to the index an image was selected from.
        for tagged in store.list()? {
            let d = &tagged.descriptor;
            if d.digest().to_string() == wanted || index_annotation(d) == Some(wanted.as_str()) {
                let found = self.load_local(reference, &tagged.name, d, platform)?;
                if found.is_some() {
                    return Ok(found);
                }
            }
        }
        let digest = Digest::parse(&wanted)?;
        if store.exists(&digest)? {
            let manifest = store.read_all_verified(&digest)?;
            if let Some(media_type) = sniff_manifest(&manifest) {
                let descriptor = Descriptor::new(
                    MediaType::from(media_type.as_str()),
                    manifest.len() as u64,
                    reference
                        .digest()
                        .cloned()
                        .ok_or_else(|| invalid(reference, "no digest"))?,
                );
                return self.load_local(reference, &name, &descriptor, platform);
            }
        }
        Ok(None)
    }

    /// Reads a tagged image's manifest, config and layer list, checking that every blob
    /// is present and that the platform matches. `None` when the store cannot serve it.
    fn load_local(
        &self,
        reference: &Reference,
        name: &str,
        descriptor: &Descriptor,
        platform: &Platform,
    ) -> Result<Option<PulledImage>, ImageError> {
        let store = self.store();
        let mut index_digest = index_annotation(descriptor).map(str::to_owned);
        let mut manifest_descriptor = descriptor.clone();
        if registry_client::is_index(descriptor.media_type().as_ref()) {
            // An index tagged by another tool or by a multi-platform build: use the
            // platform's entry if its manifest is here.
            let Some(bytes) = read_optional(store, descriptor)? else {
                return Ok(None);
            };
            let index: ImageIndex = parse(&bytes, reference)?;
            let entry = index.manifests().iter().find(|m| {
                m.platform().as_ref().is_some_and(|p| {
                    platform.matches(&Platform::new(
                        &p.os().to_string(),
                        &p.architecture().to_string(),
                        p.variant().as_deref(),
                    ))
                })
            });
            let Some(entry) = entry else { return Ok(None) };
            index_digest = Some(descriptor.digest().to_string());
            manifest_descriptor = entry.clone();
        }
        let Some(manifest_bytes) = read_optional(store, &manifest_descriptor)? else {
            return Ok(None);
        };
        let manifest: ImageManifest = parse(&manifest_bytes, reference)?;
        let Some(config_bytes) = read_optional(store, manifest.config())? else {
            return Ok(None);
        };
        let spec: frontend::ImageSpec = parse(&config_bytes, reference)?;
        let image_platform = platform_of(&spec);
        let pinned_here = reference.digest() == Some(manifest_descriptor.digest());
        if !pinned_here && !spec.os.is_empty() && !platform.matches(&image_platform) {
            tracing::debug!(name, have = %image_platform, want = %platform, "stored image is for another platform");
            return Ok(None);
        }
        for layer in manifest.layers() {
            if !store.exists(&Digest::try_from(layer.digest())?)? {
                tracing::debug!(name, layer = %layer.digest(), "stored image lacks a layer");
                return Ok(None);
            }
        }
        let layers = base_layers(&manifest, &spec, reference)?;
        let manifest_digest = manifest_descriptor.digest().to_string();
        Ok(Some(PulledImage {
            name: name.to_owned(),
            reference: pinned(reference, manifest_descriptor.digest()),
            manifest_digest,
            index_digest,
            platform: image_platform,
            config: ConfigBlob {
                digest: manifest.config().digest().to_string(),
                bytes: config_bytes,
                spec,
            },
            layers,
            downloaded_blobs: 0,
            downloaded_bytes: 0,
        }))
    }
}

pub fn store_name(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(digest), _) => format!("{}@{digest}", reference.name()),
        (None, Some(tag)) => format!("{}:{tag}", reference.name()),
        (None, None) => format!("{}:latest", reference.name()),
    }
}

/// `reference` pinned to `manifest` (keeping its tag, for people reading it).
fn pinned(reference: &Reference, manifest: &registry_client::Digest) -> String {
    reference.with_digest(manifest.clone()).to_string()
}

fn index_annotation(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(INDEX_DIGEST_ANNOTATION))
        .map(String::as_str)
}

/// A small blob named by `descriptor`, or `None` if the store lacks it.
fn read_optional(store: &Store, descriptor: &Descriptor) -> Result<Option<Vec<u8>>, ImageError> {
    match store.read_all_verified(&Digest::try_from(descriptor.digest())?) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(cache::Error::BlobNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The media type of a stored manifest or index, from its JSON (`mediaType`, else its
/// shape), or `None` if it is no manifest.
fn sniff_manifest(bytes: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(t) = json.get("mediaType").and_then(|t| t.as_str()) {
        return registry_client::is_manifest(t).then(|| t.to_owned());
    }
    if json.get("manifests").is_some() {
        Some(registry_client::OCI_INDEX.to_owned())
    } else if json.get("config").is_some() && json.get("layers").is_some() {
        Some(registry_client::OCI_MANIFEST.to_owned())
    } else {
        None
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    reference: &Reference,
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(reference, &format!("invalid JSON: {e}")))
}

fn invalid(reference: &Reference, reason: &str) -> ImageError {
    ImageError::InvalidImage {
        reference: reference.to_string(),
        reason: reason.to_owned(),
    }
}

/// The solver's view of the layers: blob descriptors paired with the config's diff IDs.
fn base_layers(
    manifest: &ImageManifest,
    spec: &frontend::ImageSpec,
    reference: &Reference,
) -> Result<Vec<BaseLayer>, ImageError> {
    let diff_ids = &spec.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers().len() {
        return Err(invalid(
            reference,
            &format!(
                "the manifest has {} layers but the config lists {} diff IDs",
                manifest.layers().len(),
                diff_ids.len()
            ),
        ));
    }
    Ok(manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| BaseLayer {
            diff_id: diff_id.clone(),
            digest: layer.digest().to_string(),
            size: layer.size(),
            media_type: layer.media_type().to_string(),
        })
        .collect())
}

/// The platform a config says its image is for.
fn platform_of(spec: &frontend::ImageSpec) -> Platform {
    let variant = (!spec.variant.is_empty()).then_some(spec.variant.as_str());
    Platform::new(&spec.os, &spec.architecture, variant)
}

/// The `platform` of an `index.json` entry, from the config.
fn oci_platform(spec: &frontend::ImageSpec) -> Option<cache::oci_spec::image::Platform> {
    let mut json = serde_json::json!({"architecture": spec.architecture, "os": spec.os});
    if !spec.variant.is_empty() {
        json["variant"] = spec.variant.clone().into();
    }
    serde_json::from_value(json).ok()
}

/// The frontend's platform in the registry client's spelling.
pub fn registry_platform(platform: &frontend::Platform) -> Platform {
    let variant = (!platform.variant.is_empty()).then_some(platform.variant.as_str());
    Platform::new(&platform.os, &platform.architecture, variant)
}

fn join_error(e: tokio::task::JoinError) -> ImageError {
    ImageError::Internal {
        what: "a download task failed".to_owned(),
        source: io::Error::other(e.to_string()),
    }
}

/// The error and its causes on one line, for the build traits' `String` errors.
fn message(err: &ImageError) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

impl frontend::lower::ImageResolver for LocalImages {
    fn resolve(
        &self,
        reference: &str,
        platform: &frontend::Platform,
    ) -> Result<frontend::lower::ResolvedImage, String> {
        let image = self
            .resolve_local_or_pull(
                reference,
                &registry_platform(platform),
                self.policy,
                Arc::clone(&self.progress),
            )
            .map_err(|e| message(&e))?;
        Ok(frontend::lower::ResolvedImage {
            reference: image.reference,
            spec: image.config.spec,
        })
    }
}

impl solver::solve::ImageProvider for LocalImages {
    fn layers(&self, reference: &str, platform: &str) -> Result<Vec<BaseLayer>, String> {
        let platform: Platform = platform
            .parse()
            .map_err(|e| message(&ImageError::from(e)))?;
        // The reference is pinned: whatever is stored under its digest is the image.
        self.resolve_local_or_pull(
            reference,
            &platform,
            PullPolicy::Missing,
            Arc::clone(&self.progress),
        )
        .map(|image| image.layers)
        .map_err(|e| message(&e))
    }

    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send>, String> {
        let digest = Digest::parse(digest).map_err(|e| message(&ImageError::from(e)))?;
        let reader = self
            .store()
            .open(&digest)
            .map_err(|e| message(&ImageError::from(e)))?;
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_keep_the_tag_or_the_digest() {
        let tagged = Reference::parse("busybox").unwrap();
        assert_eq!(store_name(&tagged), "docker.io/library/busybox:latest");
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let both = Reference::parse(&format!("localhost:5000/app:1@{digest}")).unwrap();
        assert_eq!(store_name(&both), format!("localhost:5000/app@{digest}"));
        cache::validate_name(&store_name(&both)).unwrap();
        let manifest: registry_client::Digest = digest.parse().unwrap();
        assert_eq!(
            pinned(&tagged, &manifest),
            format!("docker.io/library/busybox:latest@{digest}")
        );
    }

    #[test]
    fn layers_pair_blobs_with_diff_ids() {
        let reference = Reference::parse("busybox").unwrap();
        let manifest: ImageManifest = serde_json::from_str(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":2},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":7}]}"#,
        )
        .unwrap();
        let mut spec: frontend::ImageSpec = serde_json::from_str(r#"{"os":"linux","architecture":"arm64","variant":"v8","rootfs":{"type":"layers","diff_ids":["sha256:2222222222222222222222222222222222222222222222222222222222222222"]}}"#).unwrap();
        let layers = base_layers(&manifest, &spec, &reference).unwrap();
        assert_eq!(layers[0].size, 7);
        assert!(layers[0].diff_id.ends_with("2222"));
        assert_eq!(platform_of(&spec).to_string(), "linux/arm64");
        spec.rootfs.diff_ids.clear();
        let err = base_layers(&manifest, &spec, &reference).unwrap_err();
        assert!(
            err.to_string().contains("1 layers but the config lists 0"),
            "{err}"
        );
    }

    #[test]
    fn stored_manifests_are_recognised() {
        assert_eq!(
            sniff_manifest(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(registry_client::OCI_INDEX)
        );
        assert_eq!(
            sniff_manifest(br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#).as_deref(),
            Some(registry_client::DOCKER_MANIFEST)
        );
        assert_eq!(sniff_manifest(br#"{"architecture":"amd64"}"#), None);
        assert_eq!(sniff_manifest(b"not json"), None);
    }
}
