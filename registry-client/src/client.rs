//! [`Client`]: the entry point that ties transport, auth, pull and push together.

use std::sync::Arc;

use reqwest::Url;

use crate::auth::CredentialSource;
use crate::error::{Error, Result};
use crate::platform::Platform;
use crate::push::PushConfig;
use crate::reference::Reference;
use crate::transport::{Transport, TransportConfig};

/// Everything configurable about a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// TLS, plain-HTTP hosts, timeouts, retries, per-host concurrency.
    pub transport: TransportConfig,
    /// Where credentials come from.
    pub credentials: CredentialSource,
    /// The platform [`Client::resolve`] selects from an index; the host's by default.
    pub platform: Platform,
    /// Upload strategy for pushes.
    pub push: PushConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            transport: TransportConfig::default(),
            credentials: CredentialSource::Anonymous,
            platform: Platform::host(),
            push: PushConfig::default(),
        }
    }
}

/// An OCI distribution client. Cheap to clone: clones share connections, tokens, cached
/// credentials and the per-host request limits, so one client serves a whole build.
///
/// ```no_run
/// # async fn demo() -> registry_client::Result<()> {
/// use registry_client::{Client, ClientConfig, Reference};
/// let client = Client::new(ClientConfig::default())?;
/// let image = client.resolve(&Reference::parse("busybox")?).await?;
/// for layer in &image.layers {
///     let mut file = tokio::fs::File::create(format!("/tmp/{}", layer.digest().digest()))
///         .await
///         .map_err(|e| registry_client::Error::Io { op: "create", path: "/tmp".into(), source: e })?;
///     client.fetch_blob(&image.reference, layer, &mut file).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    platform: Platform,
    push: PushConfig,
}

impl Client {
    /// Builds a client; fails only if the extra CA file cannot be read.
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport::new(config.transport, config.credentials)?,
                platform: config.platform,
                push: config.push,
            }),
        })
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    pub(crate) fn push_config(&self) -> &PushConfig {
        &self.inner.push
    }

    /// The platform [`Client::resolve`] selects.
    pub fn default_platform(&self) -> &Platform {
        &self.inner.platform
    }

    /// `<base>/v2/<repository>/<path>`.
    pub(crate) fn repo_url(&self, reference: &Reference, path: &str) -> Result<Url> {
        let base = self.transport().base_url(reference.api_host())?;
        base.join(&format!("{}/{path}", reference.repository()))
            .map_err(|e| Error::InvalidReference {
                input: reference.to_string(),
                reason: format!("cannot build a URL: {e}"),
            })
    }

    /// Checks that the registry answers `/v2/` (and that our credentials work, if it
    /// wants some): the `strata login` check.
    pub async fn ping(&self, reference: &Reference) -> Result<()> {
        let url = self.transport().base_url(reference.api_host())?;
        let req = crate::transport::Request::new(
            reqwest::Method::GET,
            url,
            reference.registry(),
            Vec::new(),
        );
        self.transport().send_ok(&req).await.map(drop)
    }
}
