//! A test harness of real servers for registry tests: Debian's `docker-registry`
//! (CNCF distribution) on a free loopback port, a bearer-token server, a fault-injecting
//! HTTP proxy, and a maker of busybox base images pushed with `skopeo`.
//!
//! Self-contained on purpose: it uses no registry-client internals, only std, tokio,
//! hyper and command-line tools, so other crates' tests include it with
//!
//! ```ignore
//! #[path = "../registry-client/tests/support/mod.rs"]
//! mod support;
//! ```
//!
//! and these dev-dependencies: `tokio` (full), `hyper` (server, client, http1),
//! `hyper-util` (tokio), `http-body-util`, `bytes`, `sha2`, `hex`, `serde_json`, `base64`,
//! `tempfile`.
//!
//! Every server runs on its own thread with its own tokio runtime (or is a child
//! process), so the harness works from `#[test]` and `#[tokio::test]` alike, and stops in
//! `Drop`.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

pub mod image;
pub mod proxy;
pub mod registry;
pub mod server;
pub mod token_server;

pub use image::{BaseImage, ImageFormat, PlatformImage, skopeo_inspect, skopeo_push};
pub use proxy::{Fault, FaultProxy, FaultRule, LoggedRequest};
pub use registry::{Registry, RegistryAuth};
pub use token_server::{TokenServer, TokenServerOptions};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound then released; the race is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Sends `GET path` over plain HTTP/1.0 and returns the status code, if anything answers.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `addr` answers HTTP on `path`, or panics after `timeout` with `context`.
pub fn wait_http(addr: SocketAddr, path: &str, timeout: Duration, context: impl Fn() -> String) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if http_status(addr, path).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{addr}{path} did not answer within {timeout:?}\n{}",
        context()
    );
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes sure `binary` exists, installing Debian `package` with apt-get if it does not.
pub fn ensure_tool(binary: &str, package: &str) {
    if Path::new(binary).exists() {
        return;
    }
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok && Path::new(binary).exists(),
        "`{binary}` is missing and `apt-get install -y {package}` failed; install the Debian package `{package}` to run these tests"
    );
}

/// The sha256 of `data` as `sha256:<hex>`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
