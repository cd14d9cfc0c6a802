//! Debian's `docker-registry` (CNCF distribution 2.8) as a child process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{ensure_tool, free_port, run, wait_http};

const BINARY: &str = "/usr/bin/docker-registry";

/// How the registry authenticates clients.
#[derive(Clone, Debug, Default)]
pub enum RegistryAuth {
    /// Anyone may pull and push.
    #[default]
    None,
    /// `auth: htpasswd` with one bcrypt user (made with `htpasswd -Bbn`).
    Htpasswd {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `auth: token`: bearer tokens from a [`super::TokenServer`].
    Token {
        /// The token server's `/token` URL.
        realm: String,
        /// The `service` (JWT audience).
        service: String,
        /// The `issuer` (JWT `iss`).
        issuer: String,
        /// PEM certificate whose key signs tokens.
        root_cert: PathBuf,
    },
}

/// A running registry; killed on drop.
pub struct Registry {
    child: Child,
    /// Its address on 127.0.0.1.
    pub addr: SocketAddr,
    /// The temporary directory holding config, storage and logs.
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// An open registry.
    pub fn start() -> Self {
        Self::start_with(RegistryAuth::None)
    }

    /// A registry with the given auth; waits until `/v2/` answers.
    pub fn start_with(auth: RegistryAuth) -> Self {
        ensure_tool(BINARY, "docker-registry");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let auth_yaml = match &auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Htpasswd { user, password } => {
                ensure_tool("/usr/bin/htpasswd", "apache2-utils");
                let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, line.trim()).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                    file.display()
                )
            }
            RegistryAuth::Token {
                realm,
                service,
                issuer,
                root_cert,
            } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                root_cert.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  secret: strata-test-secret\n{auth_yaml}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
        let registry = Self { child, addr, dir };
        wait_http(addr, "/v2/", Duration::from_secs(20), || {
            registry.log_tail()
        });
        registry
    }

    /// `127.0.0.1:PORT`, for references and skopeo.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The last lines of the registry's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
