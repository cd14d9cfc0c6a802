//! Pushing an image of the local store to registries: `strata push` and `build --push`.
//!
//! [`push_image`] takes the digest of a manifest in the content store and any number of
//! destination references, and for each destination repository:
//!
//! 1. asks the registry (`HEAD`) which of the config and layer blobs it already has;
//!    then, if it lacks any, checks that we may push there ([`Client::check_push_access`]
//!    opens and cancels an upload session) — for every destination before any upload,
//!    so a permission error never comes after minutes of uploading;
//! 2. pushes the missing blobs, at most 4 at a time per registry, each either *mounted*
//!    from another repository of the same registry that has it (a repository pushed
//!    earlier in this run, the caller's `mount_from` — the base image's repository — or
//!    the repository of any local image that references the blob, e.g. the image's own
//!    other tags), or streamed from its file in `store/blobs/` ([`StoreBlobSource`]:
//!    64 KiB at a time, never whole in memory);
//! 3. puts the manifest once per tag, after all its blobs.
//!
//! Several tags of one repository share one blob pass; several repositories of one
//! registry are pushed one after the other so that the later ones mount from the first.
//! Registries are pushed concurrently.
//!
//! Registry quirk: a registry that rejects an OCI manifest (`400 MANIFEST_INVALID` or
//! `415`) gets the image as Docker schema2 instead, with a warning: the manifest's, the
//! config's and the layers' media types are converted (gzip and uncompressed tar layers
//! have Docker equivalents; zstd has none and fails), the converted manifest is written to
//! the content store, and its digest is the one reported for that registry.
//!
//! Progress: one line per blob on stderr (`pushing sha256:abcd12345678… 12.3 MB`,
//! `sha256:… exists`, `sha256:… mounted from <repo>`) and one per manifest.
//!
//! [`push_image`] is synchronous: it runs its own tokio runtime (from a helper thread when
//! called on a tokio thread).

#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cache::{Lease, Store};
use registry_client::oci_spec::image::{Descriptor, ImageManifest};
use registry_client::{
    BlobPushed, BlobSource, BoxedReader, Client, ClientConfig, DOCKER_HUB, DOCKER_MANIFEST,
    ErrorKind, OCI_MANIFEST, Reference, TransportConfig,
};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::commands::pull::human_size;
use crate::images::{PullEvent, PullProgress, RegistryOptions};

/// Blobs pushed at once per registry.
const PARALLEL_BLOBS: usize = 4;

/// How [`push_image`] talks to registries.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Plain-HTTP hosts, extra CA, credentials (docker's `config.json`), connections per
    /// host.
    pub registry: RegistryOptions,
    /// A repository that holds some of the image's blobs (the base image's), tried as the
    /// source of cross-repository mounts on destinations of the same registry. Its tag or
    /// digest, if any, finds its blob list in the local store; without that, every blob is
    /// tried.
    pub mount_from: Option<Reference>,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Receives per-blob upload events (started, bytes sent, done) for a display such as
    /// the build's; independent of `progress`.
    pub blobs: Option<Arc<dyn PullProgress>>,
}

impl PushOptions {
    /// The options the global flags ask for; no `mount_from`; progress on.
    pub fn from_global(global: &crate::cli::GlobalArgs) -> Self {
        Self {
            registry: RegistryOptions::from_global(global),
            mount_from: None,
            progress: true,
            blobs: None,
        }
    }
}

/// What [`push_image`] did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// Blobs uploaded (bytes sent).
    pub uploaded: usize,
    /// Bytes of the uploaded blobs.
    pub uploaded_bytes: u64,
    /// Blobs the destination already had.
    pub existing: usize,
    /// Blobs mounted from another repository of the same registry.
    pub mounted: usize,
    /// The digest of the local manifest that was pushed.
    pub manifest_digest: String,
    /// One entry per destination, in the order given.
    pub pushed: Vec<PushedManifest>,
}

/// One destination's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// The destination as given, normalised (`127.0.0.1:5000/app:1.2`).
    pub reference: String,
    /// The digest of the manifest it now names: [`PushReport::manifest_digest`], or the
    /// Docker schema2 conversion's if the registry refused OCI.
    pub digest: String,
    /// The manifest media type pushed.
    pub media_type: String,
}

impl PushedManifest {
    /// `registry/repository@digest`, the reference pinned to what was pushed.
    pub fn pinned(&self) -> String {
        match Reference::parse(&self.reference) {
            Ok(r) => format!("{}@{}", r.name(), self.digest),
            Err(_) => format!("{}@{}", self.reference, self.digest),
        }
    }
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// A destination reference does not parse.
    #[error("invalid push destination `{destination}`")]
    InvalidDestination {
        /// As given.
        destination: String,
        /// The parse error.
        #[source]
        source: Box<registry_client::Error>,
    },
    /// A Docker Hub destination without a namespace.
    #[error(
        "cannot push to `{destination}`: Docker Hub repositories are `namespace/repo`, and `{name}` (or `library/{name}`) names the official image, which only Docker can push\nhint: name the image `<your-user>/{name}` (`docker.io/<your-user>/{name}:<tag>`) and push that"
    )]
    DockerHubNamespace {
        /// The normalised destination.
        destination: String,
        /// The repository name without `library/`.
        name: String,
    },
    /// A destination pinned to a digest other than the image's.
    #[error(
        "cannot push to `{destination}`: it names digest `{wanted}`, but the image's manifest is `{manifest}`\nhint: push to a tag instead"
    )]
    DigestDestination {
        /// The destination.
        destination: String,
        /// The digest it names.
        wanted: String,
        /// The manifest being pushed.
        manifest: String,
    },
    /// The local store failed, or lacks a blob of the image.
    #[error("cannot read the image from the local store")]
    Store(#[from] cache::Error),
    /// The stored manifest is not something we can push.
    #[error("cannot push `{digest}`: {reason}")]
    InvalidImage {
        /// The manifest digest.
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry client could not be set up (the CA file).
    #[error("cannot set up the registry client")]
    Client(#[source] Box<registry_client::Error>),
    /// We may not push to a destination (checked before any upload).
    #[error("no permission to push to `{destination}`{}", access_hint(.registry, .source))]
    Access {
        /// The destination repository.
        destination: String,
        /// Its registry.
        registry: String,
        /// The registry's answer.
        #[source]
        source: Box<registry_client::Error>,
    },
    /// A blob could not be pushed.
    #[error("cannot push blob `{digest}` to `{destination}`")]
    Blob {
        /// The blob.
        digest: String,
        /// The destination repository.
        destination: String,
        /// The registry's answer (method, URL, status, `CODE: message`).
        #[source]
        source: Box<registry_client::Error>,
    },
    /// The manifest could not be put.
    #[error("cannot push manifest `{digest}` to `{destination}`")]
    Manifest {
        /// The manifest.
        digest: String,
        /// The destination.
        destination: String,
        /// The registry's answer.
        #[source]
        source: Box<registry_client::Error>,
    },
    /// The registry refused OCI and the image cannot be expressed as Docker schema2.
    #[error(
        "`{registry}` rejected the OCI manifest and the image cannot be converted to Docker schema2: {reason}\nhint: rebuild with `--compression gzip`, or push to a registry that accepts OCI images"
    )]
    NotConvertible {
        /// The registry.
        registry: String,
        /// Why (e.g. a zstd layer).
        reason: String,
        /// The registry's rejection.
        #[source]
        source: Box<registry_client::Error>,
    },
    /// The runtime or a task failed.
    #[error("{what}")]
    Internal {
        /// What failed.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// What to add to an access error, unless the registry client already gave a hint.
fn access_hint(registry: &str, source: &registry_client::Error) -> String {
    match source {
        registry_client::Error::Registry { hint: Some(_), .. } => String::new(),
        _ => format!(
            " (log in with `strata login {registry}`, and check that the account may push to this repository)"
        ),
    }
}

/// The registry client configuration for `options` (the same one `images.rs` builds for
/// pulls).
pub fn client_config(options: &RegistryOptions) -> ClientConfig {
    ClientConfig {
        transport: TransportConfig {
            insecure_hosts: options.insecure_registries.clone(),
            extra_ca_file: options.registry_ca.clone(),
            max_concurrent_per_host: options.max_connections.max(1),
            ..TransportConfig::default()
        },
        credentials: options.credentials.clone(),
        ..ClientConfig::default()
    }
}

/// Parses a destination and refuses what no registry will accept (Docker Hub names
/// without a namespace).
pub fn check_destination(destination: &str) -> Result<Reference, PushError> {
    let reference =
        Reference::parse(destination).map_err(|source| PushError::InvalidDestination {
            destination: destination.to_owned(),
            source: Box::new(source),
        })?;
    if reference.registry() == DOCKER_HUB
        && let Some(name) = reference.repository().strip_prefix("library/")
    {
        return Err(PushError::DockerHubNamespace {
            destination: reference.to_string(),
            name: name.to_owned(),
        });
    }
    Ok(reference)
}

/// Pushes the image whose manifest is `manifest` (in `root`'s content store) to every
/// reference of `destinations` (`registry/repo:tag`; several tags of one repository
/// share the blob uploads). Synchronous; see the module documentation.
pub fn push_image(
    root: &cache::Root,
    manifest: &cache::Digest,
    destinations: &[String],
    opts: &PushOptions,
) -> Result<PushReport, PushError> {
    let manifest_digest = manifest.to_string();
    let mut parsed = Vec::with_capacity(destinations.len());
    for d in destinations {
        let reference = check_destination(d)?;
        if let Some(wanted) = reference.digest()
            && wanted.to_string() != manifest_digest
        {
            return Err(PushError::DigestDestination {
                destination: reference.to_string(),
                wanted: wanted.to_string(),
                manifest: manifest_digest,
            });
        }
        parsed.push(reference);
    }
    let store = root.store().clone();
    // Held until the end: a concurrent `rmi` + collection cannot remove what we push, nor
    // the converted manifest before the caller sees it.
    let lease = Arc::new(store.lease()?);
    let image = Arc::new(LocalImage::load(&store, manifest)?);
    let registries: Vec<&str> = parsed.iter().map(Reference::registry).collect();
    let mounts = Arc::new(MountIndex::build(
        &store,
        &registries,
        opts.mount_from.as_ref(),
    ));
    let client =
        Client::new(client_config(&opts.registry)).map_err(|e| PushError::Client(Box::new(e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("strata-push")
        .enable_all()
        .build()
        .map_err(|source| PushError::Internal {
            what: "cannot start the push runtime".to_owned(),
            source,
        })?;
    let job = Job {
        client,
        store,
        lease,
        image,
        mounts,
        progress: opts.progress,
        blobs: opts.blobs.clone(),
        counts: Arc::new(Mutex::new(PushReport::default())),
    };
    let pushed = if tokio::runtime::Handle::try_current().is_ok() {
        // On a tokio thread block_on would panic: run the push beside it.
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(job.run(&parsed)))
                .join()
                .map_err(|_| PushError::Internal {
                    what: "the push thread panicked".to_owned(),
                    source: io::Error::other("panic"),
                })
        })?
    } else {
        runtime.block_on(job.run(&parsed))
    }?;
    let mut report = lock(&job.counts).clone();
    report.manifest_digest = manifest_digest;
    report.pushed = pushed;
    Ok(report)
}

/// The image being pushed, read once from the store.
#[derive(Debug)]
struct LocalImage {
    digest: String,
    bytes: Bytes,
    media_type: String,
    /// Config first, then the layers.
    blobs: Vec<Descriptor>,
    /// Where each blob's file is.
    paths: HashMap<String, PathBuf>,
}

impl LocalImage {
    fn load(store: &Store, digest: &cache::Digest) -> Result<Self, PushError> {
        let invalid = |reason: String| PushError::InvalidImage {
            digest: digest.to_string(),
            reason,
        };
        let bytes = store.read_all_verified(digest)?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
        let media_type = match json.get("mediaType").and_then(|t| t.as_str()) {
            Some(t) => t.to_owned(),
            None if json.get("manifests").is_some() => registry_client::OCI_INDEX.to_owned(),
            None => OCI_MANIFEST.to_owned(),
        };
        if media_type != OCI_MANIFEST && media_type != DOCKER_MANIFEST {
            return Err(invalid(format!(
                "`{media_type}` is not an image manifest; only single-platform images can be pushed"
            )));
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("the manifest does not parse: {e}")))?;
        let mut blobs = vec![manifest.config().clone()];
        blobs.extend(manifest.layers().iter().cloned());
        let mut paths = HashMap::new();
        for blob in &blobs {
            let d = cache::Digest::try_from(blob.digest())?;
            let size = store.size(&d)?;
            if size != blob.size() {
                return Err(invalid(format!(
                    "blob `{d}` is {size} bytes in the store but {} in the manifest",
                    blob.size()
                )));
            }
            paths.insert(d.to_string(), store.path(&d));
        }
        Ok(Self {
            digest: digest.to_string(),
            bytes: Bytes::from(bytes),
            media_type,
            blobs,
            paths,
        })
    }

    fn source(&self, blob: &Descriptor) -> StoreBlobSource {
        let digest = blob.digest().to_string();
        StoreBlobSource {
            path: self.paths.get(&digest).cloned().unwrap_or_default(),
            digest,
            size: blob.size(),
            progress: None,
        }
    }
}

/// A blob of the content store as an upload source: opened at an offset for each
/// attempt, checked to have the descriptor's size, streamed (the registry verifies the
/// digest on the final `PUT`).
#[derive(Clone)]
pub struct StoreBlobSource {
    /// `store/blobs/sha256/<hex>`.
    pub path: PathBuf,
    /// The blob's digest, for messages.
    pub digest: String,
    /// The size the manifest gives it.
    pub size: u64,
    /// Told how many bytes have been read for sending, as they are read.
    pub progress: Option<Arc<dyn PullProgress>>,
}

impl std::fmt::Debug for StoreBlobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBlobSource")
            .field("path", &self.path)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A reader that reports the bytes read through it (upload progress of one blob).
struct Counting {
    inner: BoxedReader,
    progress: Arc<dyn PullProgress>,
    digest: String,
    read: u64,
    size: u64,
}

impl tokio::io::AsyncRead for Counting {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = self.inner.as_mut().poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            self.read += n;
            let this = &*self;
            this.progress.event(PullEvent::BlobProgress {
                digest: &this.digest,
                written: this.read,
                size: this.size,
            });
        }
        poll
    }
}

impl BlobSource for StoreBlobSource {
    async fn open(&self, offset: u64) -> io::Result<BoxedReader> {
        let at = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("blob `{}` (`{}`): {e}", self.digest, self.path.display()),
            )
        };
        let mut file = tokio::fs::File::open(&self.path).await.map_err(at)?;
        let len = file.metadata().await.map_err(at)?.len();
        if len != self.size {
            return Err(at(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file has {len} bytes but the manifest says {}",
                    self.size
                ),
            )));
        }
        if offset > len {
            return Err(at(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot resume at byte {offset}"),
            )));
        }
        file.seek(io::SeekFrom::Start(offset)).await.map_err(at)?;
        let reader: BoxedReader = Box::pin(file.take(len - offset));
        Ok(match &self.progress {
            Some(progress) => Box::pin(Counting {
                inner: reader,
                progress: Arc::clone(progress),
                digest: self.digest.clone(),
                read: offset,
                size: self.size,
            }),
            None => reader,
        })
    }
}

/// Which repositories (of the destination registries) are known to hold which blob: the
/// local images named on those registries, and the caller's `mount_from`.
#[derive(Debug, Default)]
struct MountIndex {
    /// Blob digest -> repositories (`mount_from`'s first).
    by_blob: HashMap<String, Vec<Reference>>,
    /// `mount_from` when its blobs are not known locally: tried for every blob.
    fallback: Option<Reference>,
}

impl MountIndex {
    /// Best effort: images that cannot be read are skipped.
    fn build(store: &Store, registries: &[&str], mount_from: Option<&Reference>) -> Self {
        let mut index = MountIndex::default();
        let mount_from = mount_from.filter(|m| registries.contains(&m.registry()));
        let mut names: Vec<(Reference, Descriptor)> = Vec::new();
        if let Some(from) = mount_from {
            match store.resolve(&crate::images::store_name(from)) {
                Ok(d) => names.push((from.clone(), d)),
                Err(_) => index.fallback = Some(from.clone()),
            }
        }
        match store.list() {
            Ok(list) => {
                for tagged in list {
                    if let Ok(r) = Reference::parse(&tagged.name)
                        && registries.contains(&r.registry())
                    {
                        names.push((r, tagged.descriptor));
                    }
                }
            }
            Err(e) => tracing::debug!("cannot list local images for mounts: {e}"),
        }
        for (reference, descriptor) in names {
            let Ok(digest) = cache::Digest::try_from(descriptor.digest()) else {
                continue;
            };
            let Ok(bytes) = store.read_all_verified(&digest) else {
                continue;
            };
            let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&bytes) else {
                continue;
            };
            let repo = repository_of(&reference);
            for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
                let repos = index.by_blob.entry(blob.digest().to_string()).or_default();
                if !repos.iter().any(|r| r.name() == repo.name()) {
                    repos.push(repo.clone());
                }
            }
        }
        index
    }

    /// A repository of `target`'s registry other than `target` that should hold `digest`.
    fn candidate(&self, digest: &str, target: &Reference) -> Option<Reference> {
        let other = |r: &&Reference| r.registry() == target.registry() && r.name() != target.name();
        self.by_blob
            .get(digest)
            .and_then(|repos| repos.iter().find(other))
            .or(self.fallback.as_ref().filter(other))
            .cloned()
    }
}

/// One destination repository and the tags to put there.
#[derive(Debug, Clone)]
struct RepoTarget {
    /// The repository (first destination's reference).
    reference: Reference,
    /// Tags; empty means push by digest.
    tags: Vec<String>,
    /// Indexes into the destination list and the destinations, for the report.
    destinations: Vec<(usize, String)>,
    /// Blobs the registry lacks (after phase 1).
    missing: Vec<Descriptor>,
}

/// Everything the async part shares.
#[derive(Clone)]
struct Job {
    client: Client,
    store: Store,
    lease: Arc<Lease>,
    image: Arc<LocalImage>,
    mounts: Arc<MountIndex>,
    progress: bool,
    blobs: Option<Arc<dyn PullProgress>>,
    counts: Arc<Mutex<PushReport>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Job {
    async fn run(&self, destinations: &[Reference]) -> Result<Vec<PushedManifest>, PushError> {
        // Group by registry, then repository, keeping the order given.
        let mut registries: BTreeMap<String, Vec<RepoTarget>> = BTreeMap::new();
        for (i, d) in destinations.iter().enumerate() {
            let repos = registries.entry(d.registry().to_owned()).or_default();
            let repo = match repos.iter_mut().find(|r| r.reference.name() == d.name()) {
                Some(r) => r,
                None => {
                    repos.push(RepoTarget {
                        reference: repository_of(d),
                        tags: Vec::new(),
                        destinations: Vec::new(),
                        missing: Vec::new(),
                    });
                    let last = repos.len() - 1;
                    &mut repos[last]
                }
            };
            if let Some(tag) = d.tag()
                && !repo.tags.iter().any(|t| t == tag)
            {
                repo.tags.push(tag.to_owned());
            }
            repo.destinations.push((i, d.to_string()));
        }
        let several_repos = registries.values().map(Vec::len).sum::<usize>() > 1;

        // Phase 1, every destination before any upload: what is missing, and may we push?
        for repos in registries.values_mut() {
            for repo in repos.iter_mut() {
                repo.missing = self.missing_blobs(&repo.reference, several_repos).await?;
                if !repo.missing.is_empty() {
                    self.client
                        .check_push_access(&repo.reference)
                        .await
                        .map_err(|e| {
                            access_or(e, &repo.reference, |source| PushError::Blob {
                                digest: String::new(),
                                destination: repo.reference.name(),
                                source: Box::new(source),
                            })
                        })?;
                }
            }
        }

        // Phase 2: registries concurrently; within one, repositories in turn.
        let mut tasks = tokio::task::JoinSet::new();
        for (registry, repos) in registries {
            let job = self.clone();
            tasks.spawn(async move { job.push_registry(&registry, repos, several_repos).await });
        }
        let mut pushed: Vec<Option<PushedManifest>> = vec![None; destinations.len()];
        while let Some(joined) = tasks.join_next().await {
            let results = joined.map_err(join_error)??;
            for (i, manifest) in results {
                pushed[i] = Some(manifest);
            }
        }
        Ok(pushed.into_iter().flatten().collect())
    }

    /// `HEAD`s every blob of the image in `repo` (4 at a time); prints `exists` lines.
    async fn missing_blobs(
        &self,
        repo: &Reference,
        several_repos: bool,
    ) -> Result<Vec<Descriptor>, PushError> {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(PARALLEL_BLOBS));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, blob) in self.image.blobs.iter().enumerate() {
            let (client, repo, blob) = (self.client.clone(), repo.clone(), blob.clone());
            let semaphore = Arc::clone(&semaphore);
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let exists = client.blob_exists(&repo, blob.digest()).await;
                (i, blob, exists)
            });
        }
        let mut missing = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (i, blob, exists) = joined.map_err(join_error)?;
            let exists = exists.map_err(|e| {
                access_or(e, repo, |source| PushError::Blob {
                    digest: blob.digest().to_string(),
                    destination: repo.name(),
                    source: Box::new(source),
                })
            })?;
            if exists {
                lock(&self.counts).existing += 1;
                if let Some(p) = &self.blobs {
                    p.event(PullEvent::BlobDone {
                        digest: blob.digest().as_ref(),
                        size: blob.size(),
                        present: true,
                    });
                }
                if self.progress {
                    eprintln!(
                        "{} exists{}",
                        short_digest(blob.digest().as_ref()),
                        to_repo(repo, several_repos)
                    );
                }
            } else {
                missing.push((i, blob));
            }
        }
        missing.sort_by_key(|(i, _)| *i);
        Ok(missing.into_iter().map(|(_, b)| b).collect())
    }

    /// Pushes every repository of one registry: blobs, then manifests.
    async fn push_registry(
        &self,
        registry: &str,
        repos: Vec<RepoTarget>,
        several_repos: bool,
    ) -> Result<Vec<(usize, PushedManifest)>, PushError> {
        let mut done: Vec<Reference> = Vec::new();
        let mut docker_only = false;
        let mut out = Vec::new();
        for repo in repos {
            self.push_blobs(&repo, &done, several_repos).await?;
            let (digest, media_type) = self
                .push_manifest(registry, &repo, &mut docker_only)
                .await?;
            for (i, reference) in &repo.destinations {
                out.push((
                    *i,
                    PushedManifest {
                        reference: reference.clone(),
                        digest: digest.clone(),
                        media_type: media_type.clone(),
                    },
                ));
            }
            done.push(repo.reference.clone());
        }
        Ok(out)
    }

    /// Mounts or uploads `repo.missing`, 4 at a time.
    async fn push_blobs(
        &self,
        repo: &RepoTarget,
        done: &[Reference],
        several_repos: bool,
    ) -> Result<(), PushError> {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(PARALLEL_BLOBS));
        let mut tasks = tokio::task::JoinSet::new();
        for blob in &repo.missing {
            let digest = blob.digest().to_string();
            let from = done
                .first()
                .cloned()
                .or_else(|| self.mounts.candidate(&digest, &repo.reference));
            let (job, target, blob) = (self.clone(), repo.reference.clone(), blob.clone());
            let semaphore = Arc::clone(&semaphore);
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                job.push_blob(&target, &blob, from, several_repos).await
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(join_error)??;
        }
        Ok(())
    }

    async fn push_blob(
        &self,
        target: &Reference,
        blob: &Descriptor,
        from: Option<Reference>,
        several_repos: bool,
    ) -> Result<(), PushError> {
        let digest = blob.digest().to_string();
        let short = short_digest(&digest);
        let suffix = to_repo(target, several_repos);
        if self.progress && from.is_none() {
            eprintln!("pushing {short} {}{suffix}", human_size(blob.size()));
        }
        let mut source = self.image.source(blob);
        source.progress = self.blobs.clone();
        if let Some(p) = &self.blobs {
            p.event(PullEvent::BlobStarted {
                digest: &digest,
                size: blob.size(),
            });
        }
        let outcome = self
            .client
            .push_blob(target, blob, &source, from.as_ref())
            .await
            .map_err(|e| {
                access_or(e, target, |source| PushError::Blob {
                    digest: digest.clone(),
                    destination: target.name(),
                    source: Box::new(source),
                })
            })?;
        if let Some(p) = &self.blobs {
            p.event(PullEvent::BlobDone {
                digest: &digest,
                size: blob.size(),
                present: !matches!(outcome, BlobPushed::Uploaded),
            });
        }
        let mut counts = lock(&self.counts);
        match outcome {
            BlobPushed::Exists => {
                counts.existing += 1;
                if self.progress {
                    eprintln!("{short} exists{suffix}");
                }
            }
            BlobPushed::Mounted => {
                counts.mounted += 1;
                if self.progress {
                    let from = from.map(|f| f.name()).unwrap_or_default();
                    eprintln!("{short} mounted from {from}{suffix}");
                }
            }
            BlobPushed::Uploaded => {
                counts.uploaded += 1;
                counts.uploaded_bytes += blob.size();
                if self.progress && from.is_some() {
                    eprintln!("pushing {short} {}{suffix}", human_size(blob.size()));
                }
            }
        }
        Ok(())
    }
}

impl Job {
    /// Puts the manifest for every tag of `repo` (or by digest), falling back to Docker
    /// schema2 when the registry refuses OCI. Returns the digest and media type pushed.
    async fn push_manifest(
        &self,
        registry: &str,
        repo: &RepoTarget,
        docker_only: &mut bool,
    ) -> Result<(String, String), PushError> {
        let tags: Vec<&str> = repo.tags.iter().map(String::as_str).collect();
        let image = &self.image;
        let mut converted = None;
        if !*docker_only || image.media_type != OCI_MANIFEST {
            match self
                .client
                .push_manifest(
                    &repo.reference,
                    &tags,
                    &image.media_type,
                    image.bytes.clone(),
                )
                .await
            {
                Ok(digest) => {
                    self.manifest_line(digest.as_ref(), repo);
                    return Ok((digest.to_string(), image.media_type.clone()));
                }
                Err(e) if image.media_type == OCI_MANIFEST && rejects_oci(&e) => {
                    let docker = match self.docker_manifest() {
                        Ok(c) => c,
                        Err(reason) => {
                            return Err(PushError::NotConvertible {
                                registry: registry.to_owned(),
                                reason,
                                source: Box::new(e),
                            });
                        }
                    };
                    eprintln!(
                        "warning: `{registry}` rejected the OCI manifest ({}); pushing the image as Docker schema2 instead (manifest `{}` instead of `{}`)",
                        registry_message(&e),
                        docker.1,
                        image.digest
                    );
                    *docker_only = true;
                    converted = Some(docker);
                }
                Err(e) => return Err(manifest_error(e, &image.digest, &repo.reference)),
            }
        }
        let (bytes, digest) = match converted {
            Some(c) => c,
            None => self
                .docker_manifest()
                .map_err(|reason| PushError::InvalidImage {
                    digest: image.digest.clone(),
                    reason,
                })?,
        };
        let pushed = self
            .client
            .push_manifest(&repo.reference, &tags, DOCKER_MANIFEST, bytes)
            .await
            .map_err(|e| manifest_error(e, &digest, &repo.reference))?;
        self.manifest_line(pushed.as_ref(), repo);
        Ok((pushed.to_string(), DOCKER_MANIFEST.to_owned()))
    }

    fn manifest_line(&self, digest: &str, repo: &RepoTarget) {
        if !self.progress {
            return;
        }
        for (_, reference) in &repo.destinations {
            eprintln!("manifest {digest} -> {reference}");
        }
    }

    /// The image's manifest as Docker schema2, written to the content store; its bytes and
    /// digest. `Err` says why the image cannot be converted.
    fn docker_manifest(&self) -> Result<(Bytes, String), String> {
        let bytes = to_docker_schema2(&self.image.bytes)?;
        let digest = self
            .store
            .write_blob(&self.lease, &bytes)
            .map_err(|e| format!("cannot store the converted manifest: {e}"))?;
        Ok((Bytes::from(bytes), digest.to_string()))
    }
}

/// Converts an OCI image manifest to Docker schema2: manifest, config and layer media
/// types (`tar+gzip` -> `rootfs.diff.tar.gzip`, `tar` -> `rootfs.diff.tar`); drops what
/// schema2 has no place for (top-level `annotations`, `subject`, `artifactType`). Zstd
/// layers and non-image configs cannot be converted.
pub fn to_docker_schema2(oci: &[u8]) -> Result<Vec<u8>, String> {
    use serde_json::Value;
    let mut json: Value =
        serde_json::from_slice(oci).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let Some(object) = json.as_object_mut() else {
        return Err("the manifest is not a JSON object".to_owned());
    };
    object.insert("schemaVersion".to_owned(), Value::from(2));
    object.insert("mediaType".to_owned(), Value::from(DOCKER_MANIFEST));
    for key in ["annotations", "subject", "artifactType"] {
        object.remove(key);
    }
    let config = object
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .ok_or("the manifest has no config")?;
    match config.get("mediaType").and_then(Value::as_str) {
        Some("application/vnd.oci.image.config.v1+json")
        | Some("application/vnd.docker.container.image.v1+json") => {
            config.insert(
                "mediaType".to_owned(),
                Value::from("application/vnd.docker.container.image.v1+json"),
            );
        }
        other => {
            return Err(format!(
                "the config media type `{}` has no Docker equivalent",
                other.unwrap_or("")
            ));
        }
    }
    let layers = object
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .ok_or("the manifest has no layers")?;
    for layer in layers {
        let digest = layer
            .get("digest")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let Some(layer) = layer.as_object_mut() else {
            return Err("a layer descriptor is not an object".to_owned());
        };
        let media_type = layer.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let docker = match media_type {
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            }
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => {
                "application/vnd.docker.image.rootfs.diff.tar"
            }
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            }
            t if t.contains("zstd") => {
                return Err(format!(
                    "layer `{digest}` is zstd-compressed (`{t}`), which Docker schema2 cannot describe"
                ));
            }
            t => {
                return Err(format!(
                    "layer `{digest}` has media type `{t}`, which has no Docker equivalent"
                ));
            }
        };
        layer.insert("mediaType".to_owned(), Value::from(docker));
    }
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

/// Whether a manifest `PUT` failed because the registry does not take OCI manifests.
fn rejects_oci(err: &registry_client::Error) -> bool {
    match err {
        registry_client::Error::Registry {
            status, message, ..
        } => {
            *status == 415
                || (*status == 400
                    && message
                        .as_deref()
                        .is_some_and(|m| m.contains("MANIFEST_INVALID")))
        }
        _ => false,
    }
}

/// `400 MANIFEST_INVALID: ...` from a registry error, for the warning.
fn registry_message(err: &registry_client::Error) -> String {
    match err {
        registry_client::Error::Registry {
            status, message, ..
        } => match message {
            Some(m) => format!("{status} {m}"),
            None => status.to_string(),
        },
        other => other.to_string(),
    }
}

fn manifest_error(e: registry_client::Error, digest: &str, target: &Reference) -> PushError {
    access_or(e, target, |source| PushError::Manifest {
        digest: digest.to_owned(),
        destination: target.name(),
        source: Box::new(source),
    })
}

/// A permission error as [`PushError::Access`], anything else as `other` makes it.
fn access_or(
    e: registry_client::Error,
    target: &Reference,
    other: impl FnOnce(registry_client::Error) -> PushError,
) -> PushError {
    if matches!(e.kind(), ErrorKind::Unauthorized | ErrorKind::Denied) {
        PushError::Access {
            destination: target.name(),
            registry: target.registry().to_owned(),
            source: Box::new(e),
        }
    } else {
        other(e)
    }
}

fn join_error(e: tokio::task::JoinError) -> PushError {
    PushError::Internal {
        what: "a push task failed".to_owned(),
        source: io::Error::other(e.to_string()),
    }
}

/// `reference` without tag or digest (the repository, as a reference).
fn repository_of(reference: &Reference) -> Reference {
    Reference::parse(&reference.name()).unwrap_or_else(|_| reference.clone())
}

/// ` -> registry/repo` when the push has several repositories, else nothing.
fn to_repo(repo: &Reference, several: bool) -> String {
    if several {
        format!(" -> {}", repo.name())
    } else {
        String::new()
    }
}

/// `sha256:` and the first 12 hex digits, then `…`.
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) if hex.len() > 12 => format!("{algorithm}:{}…", &hex[..12]),
        _ => digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":3}],"annotations":{"a":"b"}}"#;

    #[test]
    fn converts_oci_to_docker_schema2() {
        let out = to_docker_schema2(OCI.as_bytes()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["mediaType"], DOCKER_MANIFEST);
        assert_eq!(
            v["config"]["mediaType"],
            "application/vnd.docker.container.image.v1+json"
        );
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert_eq!(v["layers"][0]["size"], 3);
        assert!(v.get("annotations").is_none());
    }

    #[test]
    fn zstd_layers_cannot_be_converted() {
        let zstd = OCI.replace("tar+gzip", "tar+zstd");
        let err = to_docker_schema2(zstd.as_bytes()).unwrap_err();
        assert!(err.contains("zstd") && err.contains("sha256:bbbb"), "{err}");
    }

    #[test]
    fn docker_hub_names_need_a_namespace() {
        for name in ["busybox", "docker.io/library/busybox:1", "library/x"] {
            let err = check_destination(name).unwrap_err();
            assert!(
                matches!(err, PushError::DockerHubNamespace { .. }),
                "{name}: {err}"
            );
            assert!(err.to_string().contains("namespace/repo"), "{err}");
        }
        check_destination("me/busybox").unwrap();
        check_destination("localhost:5000/busybox").unwrap();
    }

    #[test]
    fn sizes_and_digests_print_short() {
        assert_eq!(human_size(12_345_678), "12.3 MB");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab…"
        );
    }
}
