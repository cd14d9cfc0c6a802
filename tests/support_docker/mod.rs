//! A private docker daemon for tests that compare with or feed a real `docker`
//! (`tests/docker_load.rs`, `tests/docker_parity.rs`).
//!
//! [`Dockerd::start`] runs Debian's `dockerd` (package `docker.io`) with a private data
//! root, exec root, pid file and socket in a temporary directory, and no networking
//! set-up (`--bridge=none --iptables=false --ip-forward=false`), so it neither needs nor
//! disturbs a system daemon. The daemon is stopped when the value is dropped, panics
//! included.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `docker.io` puts the daemon.
pub const DOCKERD: &str = "/usr/sbin/dockerd";

/// A private docker daemon; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Dockerd {
    child: Child,
    /// Data root, exec root, pid file, socket and the daemon's log.
    dir: tempfile::TempDir,
    socket: PathBuf,
    /// The client: the one packaged with the daemon when there is one.
    client: PathBuf,
}

impl Dockerd {
    /// Starts a daemon and waits until it answers; `None` (after a message) when
    /// `dockerd` is not installed.
    pub fn start() -> Option<Self> {
        if !Path::new(DOCKERD).is_file() {
            eprintln!("SKIP: {DOCKERD} is not installed (Debian package docker.io)");
            return None;
        }
        let client = ["/usr/bin/docker", "/usr/local/bin/docker"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("docker"));
        // Short path: the socket path must fit in sockaddr_un (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("strata-dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let socket = d.join("d.sock");
        let log = fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new(DOCKERD)
            .args(["--bridge=none", "--iptables=false", "--ip-forward=false"])
            .args(["--ip-masq=false", "--userland-proxy=false"])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Dockerd {
            child,
            dir,
            socket,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if daemon.socket.exists() && daemon.docker(&["version"]).status.success() {
                return Some(daemon);
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("dockerd exited with {status}:\n{}", daemon.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s:\n{}",
                daemon.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker -H unix://SOCKET ARGS...`.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command `docker -H unix://SOCKET ARGS...`, not yet run (to add environment).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .stdin(Stdio::null());
        cmd
    }

    /// Like [`Self::docker`], asserting success; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\n{}\n{}\ndockerd log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        // grpc's connection chatter says nothing about a failure.
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("module=grpc")).collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd and unmount its layers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
