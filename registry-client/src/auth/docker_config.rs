//! Docker's `config.json`: reading credentials for pulls and pushes, and writing them for
//! `strata login`/`logout`, in the exact format docker writes so both tools share logins.
//!
//! Lookup order is docker's: `credHelpers[host]`, then `credsStore`, then `auths[host]`
//! (base64 `user:pass` in `auth`, or an `identitytoken`). Docker Hub's key is the legacy
//! `https://index.docker.io/v1/`; other registries are keyed by `host[:port]`, and keys
//! written with a scheme or path (`https://host/v1/`) still match.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt as _;

use super::Credentials;
use crate::error::{Error, Result};
use crate::reference::DOCKER_HUB;
use crate::secret::Secret;

/// The key docker uses for Docker Hub in `auths` and with credential helpers.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";
/// The user name credential helpers return for an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// A docker `config.json` file (which may not exist yet).
#[derive(Clone, Debug)]
pub struct DockerConfig {
    path: PathBuf,
    helper_dirs: Vec<PathBuf>,
}

impl DockerConfig {
    /// The config at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            helper_dirs: Vec::new(),
        }
    }

    /// The config docker itself uses: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`. `None` when neither variable says where home is.
    pub fn from_env() -> Option<Self> {
        Self::from_vars(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    }

    fn from_vars(docker_config: Option<OsString>, home: Option<OsString>) -> Option<Self> {
        if let Some(dir) = docker_config.filter(|d| !d.is_empty()) {
            return Some(Self::new(PathBuf::from(dir).join("config.json")));
        }
        let home = home.filter(|h| !h.is_empty())?;
        Some(Self::new(
            PathBuf::from(home).join(".docker").join("config.json"),
        ))
    }

    /// Adds directories searched for `docker-credential-*` before `$PATH` (for tests and
    /// for installations that ship helpers beside the binary).
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dirs.push(dir.into());
        self
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The server key docker uses for `registry` (as written in references).
    pub fn server_key(registry: &str) -> String {
        if registry == DOCKER_HUB {
            DOCKER_HUB_SERVER.to_owned()
        } else {
            registry.to_owned()
        }
    }

    /// Credentials for `registry`, or `None` when the config has none.
    pub async fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let config = self.load().await?;
        let server = Self::server_key(registry);
        let helper = helper_for(&config, registry);
        if let Some(helper) = helper
            && let Some(c) = self.helper_get(&helper, &server, registry).await?
        {
            return Ok(Some(c));
        }
        let Some(entry) = find_auth_entry(&config, registry) else {
            return Ok(None);
        };
        parse_auth_entry(entry, registry)
    }

    /// Stores credentials the way `docker login` does: through the credential helper or
    /// store when one is configured, else base64 in `auths`.
    pub async fn store(&self, registry: &str, credentials: &Credentials) -> Result<()> {
        let mut config = self.load().await?;
        let server = Self::server_key(registry);
        let helper = helper_for(&config, registry);
        let entry = match (&helper, credentials) {
            (Some(helper), _) => {
                let (user, secret) = match credentials {
                    Credentials::Basic { username, password } => (username.as_str(), password),
                    Credentials::IdentityToken(t) | Credentials::RegistryToken(t) => {
                        (TOKEN_USERNAME, t)
                    }
                };
                // Field order as docker writes it (a struct keeps it; a JSON map sorts).
                #[derive(serde::Serialize)]
                struct Payload<'a> {
                    #[serde(rename = "ServerURL")]
                    server_url: &'a str,
                    #[serde(rename = "Username")]
                    username: &'a str,
                    #[serde(rename = "Secret")]
                    secret: &'a str,
                }
                let payload = serde_json::to_vec(&Payload {
                    server_url: &server,
                    username: user,
                    secret: secret.expose(),
                })
                .map_err(|e| Error::Credentials {
                    server: registry.to_owned(),
                    message: format!("cannot encode helper input: {e}"),
                })?;
                self.run_helper(helper, "store", &payload, registry).await?;
                // docker keeps an empty marker entry so `docker info` lists the login.
                Value::Object(Map::new())
            }
            (None, Credentials::Basic { username, password }) => serde_json::json!({
                "auth": BASE64.encode(format!("{username}:{}", password.expose())),
            }),
            (None, Credentials::IdentityToken(t)) => serde_json::json!({
                "auth": BASE64.encode(format!("{TOKEN_USERNAME}:")),
                "identitytoken": t.expose(),
            }),
            (None, Credentials::RegistryToken(t)) => serde_json::json!({
                "registrytoken": t.expose(),
            }),
        };
        let auths = ensure_object(&mut config, "auths");
        auths.retain(|k, _| hostname_of(k) != registry || k == &server);
        auths.insert(server, entry);
        self.save(&config).await
    }

    /// Removes credentials the way `docker logout` does. Returns whether any were there.
    pub async fn erase(&self, registry: &str) -> Result<bool> {
        let mut config = self.load().await?;
        let server = Self::server_key(registry);
        if let Some(helper) = helper_for(&config, registry) {
            // "not found" from a helper is fine for logout.
            if let Err(HelperFailure::Error(e)) = self
                .run_helper(&helper, "erase", server.as_bytes(), registry)
                .await
            {
                tracing::debug!(registry, "credential helper erase failed: {e}");
            }
        }
        let host = registry;
        let mut removed = false;
        if let Some(Value::Object(auths)) = config.get_mut("auths") {
            let before = auths.len();
            auths.retain(|k, _| hostname_of(k) != host);
            removed = auths.len() != before;
        }
        if removed {
            self.save(&config).await?;
        }
        Ok(removed)
    }

    async fn load(&self) -> Result<Map<String, Value>> {
        let text = match fs_err::tokio::read_to_string(&self.path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => {
                return Err(Error::Io {
                    op: "read",
                    path: self.path.clone(),
                    source: e,
                });
            }
        };
        if text.trim().is_empty() {
            return Ok(Map::new());
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(self.invalid("the top level is not a JSON object")),
            // serde_json's message has a line and column, never the file content.
            Err(e) => Err(self.invalid(&e.to_string())),
        }
    }

    fn invalid(&self, why: &str) -> Error {
        Error::Credentials {
            server: self.path.display().to_string(),
            message: format!("invalid docker config file: {why}"),
        }
    }

    async fn save(&self, config: &Map<String, Value>) -> Result<()> {
        let io = |op, source| Error::Io {
            op,
            path: self.path.clone(),
            source,
        };
        let text = serde_json::to_string_pretty(config)
            .map_err(|e| io("serialize", std::io::Error::other(e)))?;
        if let Some(dir) = self.path.parent() {
            fs_err::tokio::create_dir_all(dir)
                .await
                .map_err(|e| io("create directory for", e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp).await.map_err(|e| io("create", e))?;
        file.write_all(text.as_bytes())
            .await
            .map_err(|e| io("write", e))?;
        file.sync_all().await.map_err(|e| io("sync", e))?;
        drop(file);
        fs_err::tokio::rename(&tmp, &self.path)
            .await
            .map_err(|e| io("rename", e))
    }

    async fn helper_get(
        &self,
        helper: &str,
        server: &str,
        registry: &str,
    ) -> Result<Option<Credentials>> {
        let out = match self
            .run_helper(helper, "get", server.as_bytes(), registry)
            .await
        {
            Ok(out) => out,
            Err(HelperFailure::NotFound) => return Ok(None),
            Err(HelperFailure::Error(e)) => return Err(e),
        };
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let reply: Reply = serde_json::from_slice(&out).map_err(|e| Error::Credentials {
            server: registry.to_owned(),
            message: format!("`docker-credential-{helper}` returned invalid JSON: {e}"),
        })?;
        if reply.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if reply.username == TOKEN_USERNAME {
            Credentials::IdentityToken(Secret::new(reply.secret))
        } else {
            Credentials::basic(reply.username, reply.secret)
        }))
    }

    async fn run_helper(
        &self,
        helper: &str,
        action: &str,
        input: &[u8],
        registry: &str,
    ) -> Result<Vec<u8>, HelperFailure> {
        let program = format!("docker-credential-{helper}");
        let fail = |message: String| {
            HelperFailure::Error(Error::Credentials {
                server: registry.to_owned(),
                message,
            })
        };
        let mut cmd = tokio::process::Command::new(&program);
        if !self.helper_dirs.is_empty() {
            let mut path: Vec<PathBuf> = self.helper_dirs.clone();
            if let Some(p) = std::env::var_os("PATH") {
                path.extend(std::env::split_paths(&p));
            }
            let joined: OsString = std::env::join_paths(path).unwrap_or_default();
            // Resolve the program ourselves: Command looks it up in the parent's PATH.
            if let Some(found) = std::env::split_paths(&joined)
                .map(|d| d.join(&program))
                .find(|p| p.is_file())
            {
                cmd = tokio::process::Command::new(found);
            }
            cmd.env("PATH", joined);
        }
        cmd.arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            fail(format!(
                "cannot run `{program}`: {e}\nhint: install it or remove it from the docker config"
            ))
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input)
                .await
                .map_err(|e| fail(format!("cannot write to `{program}`: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| fail(format!("`{program}` failed: {e}")))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if text.contains("credentials not found") {
            return Err(HelperFailure::NotFound);
        }
        // Helpers print an error message, not the secret; cap it to one line anyway.
        let first_line = text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        Err(fail(format!(
            "`{program} {action}` exited with {}: {first_line}",
            out.status
        )))
    }
}

enum HelperFailure {
    NotFound,
    Error(Error),
}

impl From<HelperFailure> for Error {
    fn from(f: HelperFailure) -> Self {
        match f {
            HelperFailure::NotFound => Error::Credentials {
                server: String::new(),
                message: "credentials not found".to_owned(),
            },
            HelperFailure::Error(e) => e,
        }
    }
}

fn ensure_object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = config
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made it an object"),
    }
}

fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let host = registry;
    if let Some(Value::Object(helpers)) = config.get("credHelpers") {
        for (k, v) in helpers {
            if hostname_of(k) == host
                && let Some(name) = v.as_str().filter(|s| !s.is_empty())
            {
                return Some(name.to_owned());
            }
        }
    }
    config
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// docker's `ConvertToHostname`: strips the scheme and any path from a key.
fn hostname_of(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB,
        h => h,
    }
}

fn find_auth_entry<'a>(config: &'a Map<String, Value>, registry: &str) -> Option<&'a Value> {
    let Some(Value::Object(auths)) = config.get("auths") else {
        return None;
    };
    let server = DockerConfig::server_key(registry);
    auths.get(&server).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| hostname_of(k) == registry)
            .map(|(_, v)| v)
    })
}

fn parse_auth_entry(entry: &Value, registry: &str) -> Result<Option<Credentials>> {
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credentials::IdentityToken(Secret::new(token))));
    }
    if let Some(token) = field("registrytoken") {
        return Ok(Some(Credentials::RegistryToken(Secret::new(token))));
    }
    if let Some(auth) = field("auth") {
        let bad = |why: &str| Error::Credentials {
            server: registry.to_owned(),
            message: format!("invalid `auth` field in docker config: {why}"),
        };
        let decoded = BASE64.decode(auth.trim()).map_err(|_| bad("not base64"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad("not UTF-8"))?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| bad("expected `user:password`"))?;
        return Ok(Some(Credentials::basic(user, pass)));
    }
    if let (Some(user), Some(pass)) = (field("username"), field("password")) {
        return Ok(Some(Credentials::basic(user, pass)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_match_docker() {
        assert_eq!(hostname_of("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(hostname_of("http://localhost:5000/v2/"), "localhost:5000");
        assert_eq!(hostname_of("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn docker_config_env_wins_over_home() {
        let c = DockerConfig::from_vars(Some("/cfg".into()), Some("/home/u".into())).unwrap();
        assert_eq!(c.path(), Path::new("/cfg/config.json"));
        let c = DockerConfig::from_vars(Some("".into()), Some("/home/u".into())).unwrap();
        assert_eq!(c.path(), Path::new("/home/u/.docker/config.json"));
        assert!(DockerConfig::from_vars(None, None).is_none());
    }

    #[tokio::test]
    async fn store_get_erase_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DockerConfig::new(dir.path().join("config.json"));
        assert_eq!(cfg.get("docker.io").await.unwrap(), None);
        cfg.store("docker.io", &Credentials::basic("bob", "pw"))
            .await
            .unwrap();
        cfg.store("localhost:5000", &Credentials::IdentityToken("tok".into()))
            .await
            .unwrap();
        let text = std::fs::read_to_string(cfg.path()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["auths"][DOCKER_HUB_SERVER]["auth"],
            BASE64.encode("bob:pw")
        );
        assert_eq!(
            cfg.get("docker.io").await.unwrap(),
            Some(Credentials::basic("bob", "pw"))
        );
        assert_eq!(
            cfg.get("localhost:5000").await.unwrap(),
            Some(Credentials::IdentityToken("tok".into()))
        );
        assert!(cfg.erase("docker.io").await.unwrap());
        assert_eq!(cfg.get("docker.io").await.unwrap(), None);
        assert!(!cfg.erase("docker.io").await.unwrap());
    }
}
