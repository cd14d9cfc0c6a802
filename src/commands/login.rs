//! `strata login` and `strata logout`: credentials in docker's `config.json`.
//!
//! The file is docker's own (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`),
//! written the way `docker login` writes it (through `credsStore`/`credHelpers` when
//! configured), so docker, skopeo, buildah and strata share logins. `login` checks the
//! credentials against the registry before storing them. Passwords are read from stdin
//! (`--password-stdin`) or from the terminal with echo off, never from the command line,
//! and are never printed.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::os::fd::AsFd as _;

use anyhow::{Context as _, bail};
use registry_client::{
    Client, ClientConfig, CredentialSource, Credentials, DOCKER_HUB, DockerConfig, Reference,
    Secret, TransportConfig,
};

use crate::cli::GlobalArgs;

/// `strata login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The registry (`ghcr.io`, `localhost:5000`); default Docker Hub.
    pub server: Option<String>,
    /// User name; asked for on the terminal when missing.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password (or token) from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `strata logout`.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry; default Docker Hub.
    pub server: Option<String>,
}

/// Log in: check the credentials with the registry, then store them.
pub fn run(global: &GlobalArgs, args: LoginArgs) -> anyhow::Result<()> {
    let registry = normalise_server(args.server.as_deref().unwrap_or(DOCKER_HUB));
    let config = docker_config()?;
    let username = match args.username {
        Some(u) => u,
        None if std::io::stdin().is_terminal() && !args.password_stdin => prompt("Username: ")?,
        None => bail!("a user name is needed\nhint: pass it with -u USER"),
    };
    if username.is_empty() {
        bail!("the user name is empty");
    }
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        Secret::new(text.trim_end_matches(['\n', '\r']))
    } else if std::io::stdin().is_terminal() {
        Secret::new(read_password("Password: ")?)
    } else {
        bail!("no terminal to ask for the password on\nhint: pipe it in with --password-stdin");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let credentials = Credentials::basic(username.clone(), password);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = Client::new(ClientConfig {
        transport: TransportConfig {
            insecure_hosts: global.insecure_registries.clone(),
            extra_ca_file: global.registry_ca.clone(),
            ..TransportConfig::default()
        },
        credentials: CredentialSource::Static(vec![(registry.clone(), credentials.clone())]),
        ..ClientConfig::default()
    })?;
    let probe = Reference::parse(&format!("{registry}/library/strata-login"))
        .with_context(|| format!("invalid registry `{registry}`"))?;
    runtime
        .block_on(client.ping(&probe))
        .with_context(|| format!("login to `{registry}` as `{username}` failed"))?;
    runtime
        .block_on(config.store(&registry, &credentials))
        .with_context(|| {
            format!(
                "cannot store the credentials in `{}`",
                config.path().display()
            )
        })?;
    eprintln!(
        "Login Succeeded ({registry}, credentials in {})",
        config.path().display()
    );
    Ok(())
}

/// Log out: remove the stored credentials.
pub fn run_logout(_global: &GlobalArgs, args: LogoutArgs) -> anyhow::Result<()> {
    let registry = normalise_server(args.server.as_deref().unwrap_or(DOCKER_HUB));
    let config = docker_config()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let removed = runtime
        .block_on(config.erase(&registry))
        .with_context(|| format!("cannot update `{}`", config.path().display()))?;
    if removed {
        eprintln!("Removing login credentials for {registry}");
    } else {
        eprintln!("Not logged in to {registry}");
    }
    Ok(())
}

fn docker_config() -> anyhow::Result<DockerConfig> {
    DockerConfig::from_env()
        .context("cannot tell where docker's config.json is\nhint: set DOCKER_CONFIG or HOME")
}

/// What users type for a registry, as references spell it: `https://ghcr.io/` ->
/// `ghcr.io`, `https://index.docker.io/v1/` -> `docker.io`.
fn normalise_server(server: &str) -> String {
    let without_scheme = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    Ok(line.trim().to_owned())
}

/// Reads a line from the terminal with echo off, restoring the terminal afterwards.
fn read_password(label: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let saved = tcgetattr(fd).context("cannot read the terminal settings")?;
    let mut silent = saved.clone();
    silent.local_modes.remove(LocalModes::ECHO);
    tcsetattr(fd, OptionalActions::Now, &silent).context("cannot turn terminal echo off")?;
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(fd, OptionalActions::Now, &saved);
    eprintln!();
    read.context("cannot read the password")?;
    restored.context("cannot restore terminal echo")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_normalise_like_docker_login() {
        assert_eq!(normalise_server("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_server("docker.io"), "docker.io");
        assert_eq!(normalise_server("http://localhost:5000/"), "localhost:5000");
        assert_eq!(normalise_server("ghcr.io"), "ghcr.io");
    }
}
