//! An OCI distribution client: references, auth, pull and push with retries.
//!
//! The roles, as in containerd's remotes: *resolve* a [`Reference`] to a manifest and
//! config ([`Client::resolve`]), *fetch* blobs into a caller's [`BlobSink`]
//! ([`Client::fetch_blob`]), and *push* blobs from a [`BlobSource`] and then manifests
//! ([`Client::push_blob`], [`Client::push_manifest`]). This crate depends on no other
//! crate of the workspace: the content store plugs in through the sink and source traits.
//!
//! Everything goes through one [`Client`], which owns the HTTP connections, the per-host
//! request limits (4 by default), the bearer tokens and the retry policy (exponential
//! backoff with jitter on 5xx, 429 and dropped connections).
//!
//! ```no_run
//! # async fn demo() -> registry_client::Result<()> {
//! use registry_client::{Client, ClientConfig, CredentialSource, DockerConfig, Reference};
//! let mut config = ClientConfig::default();
//! if let Some(docker) = DockerConfig::from_env() {
//!     config.credentials = CredentialSource::DockerConfig(docker);
//! }
//! let client = Client::new(config)?;
//! let image = client.resolve(&Reference::parse("busybox:1.36")?).await?;
//! let mut layer = Vec::new(); // any BlobSink: a file, the content store's writer...
//! client.fetch_blob(&image.reference, &image.layers[0], &mut layer).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod auth;
mod blob;
mod client;
mod error;
mod media_type;
mod platform;
mod pull;
mod push;
mod reference;
mod retry;
mod secret;
mod transport;

pub use auth::{
    Challenge, CredentialSource, Credentials, DOCKER_HUB_SERVER, DockerConfig, parse_challenges,
};
pub use blob::{
    BlobSink, BlobSource, BoxedReader, BytesSource, FileSource, Verifier, WriterSink, sha256_digest,
};
pub use client::{Client, ClientConfig};
pub use error::{Error, ErrorKind, Result};
pub use media_type::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, is_index, is_manifest,
};
pub use oci_spec;
pub use oci_spec::image::{Descriptor, Digest};
pub use platform::Platform;
pub use pull::{Manifest, ResolvedImage};
pub use push::{BlobPushed, PushConfig, UploadMode};
pub use reference::{DOCKER_HUB, DOCKER_HUB_API, Reference};
pub use retry::{RetryPolicy, parse_retry_after};
pub use secret::{RedactedUrl, Secret};
pub use transport::TransportConfig;
