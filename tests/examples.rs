//! The projects of `examples/`, built the way their READMEs say: the bases made by
//! `examples/make-bases.sh` into a temporary strata root, then `strata build` of the
//! example directory as it is in the repository. Each image is unpacked with umoci
//! and its own config (Cmd, Env, User, WorkingDir) is run under `chroot`, and the
//! test talks to the server it starts.
//!
//! The Debian-based examples (`python-app`, `go-service`) need debootstrap, Debian's
//! apt mirror and PyPI; the bootstrapped root is cached in `/var/cache/strata-examples`
//! (about a minute the first time, then both examples build in about 35 s each).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_build;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's `examples/` directory.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A temporary strata root holding the bases `examples/make-bases.sh` made.
struct Examples {
    dir: tempfile::TempDir,
}

impl Examples {
    /// Runs `examples/make-bases.sh BASES...` into a fresh root, or returns `None`
    /// (after saying why) when the tests cannot run here.
    fn new(test: &str, bases: &[&str]) -> Option<Self> {
        if !support_build::can_run(test) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("strata-examples-")
            .tempdir()
            .unwrap();
        let out = Command::new(examples_dir().join("make-bases.sh"))
            .args(bases)
            .env("STRATA_BIN", support_build::strata_bin())
            .env("STRATA_ROOT", dir.path().join("root"))
            .env_remove("STRATA_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make-bases.sh {bases:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Self { dir })
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// `strata build --progress=plain -t TAG ARGS... examples/NAME`; asserts success and
    /// returns the progress output.
    fn build(&self, name: &str, tag: &str, args: &[&str]) -> String {
        let out = Command::new(support_build::strata_bin())
            .arg("--root")
            .arg(self.root())
            .args(["build", "--progress=plain", "-t", tag])
            .args(args)
            .arg(examples_dir().join(name))
            .env_remove("STRATA_ROOT")
            .env_remove("STRATA_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "building examples/{name} failed ({}):\n{stderr}",
            out.status
        );
        stderr
    }

    /// Unpacks `image` with umoci; returns the bundle's root filesystem.
    fn unpack(&self, image: &str) -> PathBuf {
        support_build::unpack_in(&self.root(), self.dir.path(), image)
    }

    /// The `config` object of `image`'s config (skopeo inspect --config).
    fn config(&self, image: &str) -> Value {
        let out = Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!(
                "oci:{}",
                support_build::store_ref(&self.root(), image)
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect --config {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["config"].clone()
    }
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server started from an unpacked image; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Runs the image's command as its config says (Env, User, WorkingDir, Cmd) in
    /// `chroot ROOTFS`, with `adjust` rewriting the listen address to `127.0.0.1:port`.
    fn start(
        rootfs: &Path,
        config: &Value,
        adjust: impl Fn(&mut Vec<String>, &mut Vec<String>, u16),
    ) -> Self {
        let port = free_port();
        let mut env: Vec<String> = strings(&config["Env"]);
        let mut cmd: Vec<String> = strings(&config["Cmd"]);
        adjust(&mut env, &mut cmd, port);
        let user = config["User"].as_str().unwrap_or("");
        let workdir = config["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/");
        let mut command = Command::new("chroot");
        if !user.is_empty() {
            command.arg(format!("--userspec={}", passwd_ids(rootfs, user)));
        }
        command
            .arg(rootfs)
            .args(["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workdir])
            .args(&cmd)
            .env_clear()
            .envs(env.iter().filter_map(|kv| kv.split_once('=')))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap();
        Self { child, port }
    }

    /// `GET path` over HTTP/1.0, retried until the server answers (30 s); returns the
    /// status line and the body.
    fn get(&mut self, path: &str) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited before answering: {status}");
            }
            match TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(mut stream) => {
                    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
                    let mut text = String::new();
                    stream.read_to_string(&mut text).unwrap();
                    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                    let status = head.lines().next().unwrap_or("").to_string();
                    return (status, body.to_string());
                }
                Err(e) if Instant::now() > deadline => {
                    panic!("nothing answers on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// The strings of a JSON array (empty for anything else).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `uid:gid` of `user` in the image's `/etc/passwd`.
fn passwd_ids(rootfs: &Path, user: &str) -> String {
    let passwd = support_build::read(rootfs, "/etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .map(|f| format!("{}:{}", f[2], f[3]))
        .unwrap_or_else(|| panic!("no user {user} in the image's /etc/passwd"))
}

/// Replaces the value following `flag` in `cmd` (`-p 8080` -> `-p 127.0.0.1:PORT`).
fn set_flag(cmd: &mut [String], flag: &str, value: String) {
    let at = cmd
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in the image's Cmd {cmd:?}"));
    cmd[at + 1] = value;
}

/// The count of `#N CACHED` lines of a plain progress output.
fn cached_steps(progress: &str) -> usize {
    progress
        .lines()
        .filter(|l| l.starts_with('#') && l.ends_with(" CACHED"))
        .count()
}

#[test]
fn static_site_is_generated_in_a_stage_and_served_by_busybox_httpd() {
    let Some(ex) = Examples::new("static_site", &["busybox"]) else {
        return;
    };
    let progress = ex.build("static-site", "site:test", &[]);
    for step in [
        "RUN sh gen.sh pages /site",
        "RUN <<EOF",
        "COPY --from=build /site /var/www",
    ] {
        assert!(progress.contains(step), "no step {step:?} in:\n{progress}");
    }
    assert!(progress.contains("index: 3 pages"), "{progress}");

    let rootfs = ex.unpack("site:test");
    let config = ex.config("site:test");
    assert_eq!(config["User"], "nobody");
    assert!(config["ExposedPorts"]["8080/tcp"].is_object(), "{config}");
    // Only the generated pages reach the final image, not the generator.
    assert!(
        !support_build::exists(&rootfs, "/src"),
        "the build stage's /src leaked"
    );
    assert!(support_build::exists(&rootfs, "/var/www/caching.html"));

    let mut server = Server::start(&rootfs, &config, |_, cmd, port| {
        set_flag(cmd, "-p", format!("127.0.0.1:{port}"));
    });
    let (status, index) = server.get("/index.html");
    assert!(status.contains("200"), "{status}\n{index}");
    for link in ["caching.html", "getting-started.html", "multi-stage.html"] {
        assert!(
            index.contains(&format!("href=\"{link}\"")),
            "index lacks {link}:\n{index}"
        );
    }
    assert!(
        index.contains("<title>Home · strata examples</title>"),
        "{index}"
    );
    let (status, page) = server.get("/caching.html");
    assert!(status.contains("200"), "{status}");
    assert!(page.contains("<h1>How the cache works</h1>"), "{page}");
    assert!(
        page.contains("<code>RUN --mount=type=cache,target=/root/.cache/pip</code>"),
        "{page}"
    );

    // A second build of the unchanged example runs nothing.
    let again = ex.build("static-site", "site:test", &[]);
    assert_eq!(cached_steps(&again), 6, "{again}");
}

/// `--secret id=pip-cert,...` when this machine reaches PyPI through a TLS proxy
/// whose CA only the host trusts (`PIP_CERT` or `SSL_CERT_FILE` names the bundle).
fn pip_cert_args() -> Vec<String> {
    ["PIP_CERT", "SSL_CERT_FILE"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .chain(std::iter::once(
            "/etc/ssl/certs/ca-certificates.crt".to_string(),
        ))
        .find(|p| Path::new(p).is_file())
        .map(|p| vec!["--secret".to_string(), format!("id=pip-cert,src={p}")])
        .unwrap_or_default()
}

#[test]
fn python_app_installs_into_a_venv_with_a_pip_cache_mount_and_serves_json() {
    let Some(ex) = Examples::new("python_app", &["debian"]) else {
        return;
    };
    let secret = pip_cert_args();
    let secret: Vec<&str> = secret.iter().map(String::as_str).collect();
    let progress = ex.build("python-app", "python-app:test", &secret);
    assert!(progress.contains("Successfully installed"), "{progress}");

    let rootfs = ex.unpack("python-app:test");
    // The virtualenv came over; pip's cache and apt's downloads did not.
    assert!(support_build::exists(&rootfs, "/opt/venv/bin/gunicorn"));
    assert!(!support_build::exists(&rootfs, "/root/.cache/pip"));
    let debs = std::fs::read_dir(rootfs.join("var/cache/apt/archives"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "deb"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(debs, 0, "apt's downloads leaked into the image");

    let config = ex.config("python-app:test");
    let mut server = Server::start(&rootfs, &config, |_, cmd, port| {
        set_flag(cmd, "--bind", format!("127.0.0.1:{port}"));
    });
    let (status, body) = server.get("/hello/strata");
    assert!(status.contains("200"), "{status}\n{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["message"], "hello, strata");
    drop(server);

    // The build stage again, from scratch: apt takes python3-venv from its cache mount.
    // (pip's cache mount is there too, but PyPI behind this machine's proxy answers
    // without Cache-Control, so pip stores nothing in it: docs/notes/examples.md.)
    let mut args = secret.clone();
    args.extend(["--no-cache-filter", "build"]);
    let again = ex.build("python-app", "python-app:test", &args);
    assert!(
        again.contains("Need to get 0 B/"),
        "apt downloaded again:\n{again}"
    );
}

#[test]
fn go_service_is_compiled_in_debian_and_runs_from_busybox() {
    let Some(ex) = Examples::new("go_service", &["busybox", "debian"]) else {
        return;
    };
    let progress = ex.build("go-service", "go-service:test", &[]);
    assert!(
        progress.contains("ok  \texample.com/go-service"),
        "go test did not pass:\n{progress}"
    );

    let rootfs = ex.unpack("go-service:test");
    // busybox with one static binary: no Go toolchain, no Debian.
    assert!(support_build::exists(&rootfs, "/bin/busybox"));
    assert!(!support_build::exists(&rootfs, "/usr/lib/go"));
    assert!(!support_build::exists(&rootfs, "/etc/debian_version"));

    let config = ex.config("go-service:test");
    let mut server = Server::start(&rootfs, &config, |env, _, port| {
        env.retain(|kv| !kv.starts_with("LISTEN="));
        env.push(format!("LISTEN=127.0.0.1:{port}"));
    });
    let (status, body) = server.get("/healthz");
    assert!(status.contains("200"), "{status}\n{body}");
    assert_eq!(body, "ok\n");
    let (status, body) = server.get("/time?tz=Europe/Paris");
    assert!(status.contains("200"), "{status}\n{body}");
    assert!(body.contains("\"zone\":\"Europe/Paris\""), "{body}");
}
