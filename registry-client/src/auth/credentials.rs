//! Credentials and where they come from.

use crate::secret::Secret;

/// What we authenticate to a registry with.
///
/// Every secret is a [`Secret`], so `{:?}` of a `Credentials` never shows one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token used as a password).
    Basic {
        /// The user name; not secret, shown in messages.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm
    /// with a `POST` of `grant_type=refresh_token`.
    IdentityToken(Secret),
    /// A ready-made registry bearer token (docker's `registrytoken`), sent as is.
    RegistryToken(Secret),
}

impl Credentials {
    /// Convenience constructor for basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// Where a [`crate::Client`] looks up credentials for a registry.
#[derive(Clone, Debug, Default)]
pub enum CredentialSource {
    /// Never send credentials (anonymous tokens are still fetched).
    #[default]
    Anonymous,
    /// A fixed list of `(registry, credentials)`, e.g. from command-line flags. The
    /// registry is written as in references (`docker.io`, `localhost:5000`).
    Static(Vec<(String, Credentials)>),
    /// Docker's `config.json`: `auths`, `credsStore` and `credHelpers`.
    DockerConfig(super::DockerConfig),
}

impl CredentialSource {
    /// Looks up credentials for `registry` (as written in references).
    pub async fn lookup(&self, registry: &str) -> crate::Result<Option<Credentials>> {
        match self {
            CredentialSource::Anonymous => Ok(None),
            CredentialSource::Static(list) => Ok(list
                .iter()
                .find(|(r, _)| r == registry)
                .map(|(_, c)| c.clone())),
            CredentialSource::DockerConfig(config) => config.get(registry).await,
        }
    }
}
