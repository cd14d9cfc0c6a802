//! Integration tests of the registry client against real servers: Debian's
//! `docker-registry`, a token server and a fault-injecting proxy (see `support/`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod faults;
mod pull;
mod push;

use std::time::Duration;

use registry_client::{Client, ClientConfig, CredentialSource, Reference, RetryPolicy};

/// A client with fast retries, so fault tests take milliseconds.
pub fn config() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.transport.retry = RetryPolicy {
        max_retries: 6,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
    };
    config.platform = "linux/amd64".parse().unwrap();
    config
}

pub fn client() -> Client {
    Client::new(config()).unwrap()
}

pub fn client_with(credentials: CredentialSource) -> Client {
    let mut c = config();
    c.credentials = credentials;
    Client::new(c).unwrap()
}

pub fn reference(host: &str, repo: &str) -> Reference {
    Reference::parse(&format!("{host}/{repo}")).unwrap()
}

/// The sha256 of a file, `sha256:<hex>`.
pub fn file_digest(path: &std::path::Path) -> String {
    support::sha256(&std::fs::read(path).unwrap())
}
