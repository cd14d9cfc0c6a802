//! End-to-end tests of `strata pull`, `images`, `rmi`, `login` and `logout`: the real
//! binary against Debian's `docker-registry`, with images made from busybox-static and
//! pushed with skopeo (the harness of `registry-client/tests/support`), and the results
//! read back with skopeo and umoci.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../registry-client/tests/support/mod.rs"]
mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{
    BaseImage, Fault, FaultProxy, FaultRule, ImageFormat, Registry, RegistryAuth, TokenServer,
    TokenServerOptions,
};

/// One strata root and one docker config directory, and the binary run against them.
struct Strata {
    root: tempfile::TempDir,
    docker_config: tempfile::TempDir,
}

impl Strata {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            docker_config: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> PathBuf {
        self.root.path().join("store")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.arg("--root")
            .arg(self.root.path())
            .args(args)
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env_remove("STRATA_ROOT")
            .env_remove("STRATA_LOG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and asserts success; returns (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "strata {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        (stdout, stderr)
    }

    /// `strata login --password-stdin`.
    fn login(&self, host: &str, user: &str, password: &str) -> Output {
        let mut child = self
            .command(&["login", "-u", user, "--password-stdin", host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Every blob in the store hashes to its name, and nothing is left in `tmp/`.
    fn assert_store_sound(&self) {
        for entry in std::fs::read_dir(self.store().join("blobs/sha256")).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(
                support::sha256(&data),
                format!("sha256:{name}"),
                "blob {name} is corrupt or partial"
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(self.root.path().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(leftovers.is_empty(), "tmp/ holds {leftovers:?}");
    }

    fn blob_count(&self) -> usize {
        std::fs::read_dir(self.store().join("blobs/sha256"))
            .unwrap()
            .count()
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `skopeo inspect oci:<store>:<name>`, parsed.
fn skopeo_inspect_store(store: &Path, name: &str) -> serde_json::Value {
    let out = support::run(
        Command::new("skopeo").args(["inspect", &format!("oci:{}:{name}", store.display())]),
    );
    serde_json::from_str(&out).unwrap()
}

/// Layer blob GETs the proxy forwarded, for the given layer digests.
fn layer_gets(proxy: &FaultProxy, layers: &[String]) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && layers.iter().any(|l| r.path.ends_with(l.as_str())))
        .count()
}

#[test]
fn pull_is_readable_by_skopeo_and_umoci_listed_and_removed() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "library/busybox:latest",
        None,
        ImageFormat::Oci,
    );
    let strata = Strata::new();
    let reference = format!("{}/library/busybox", registry.host());
    let name = format!("{reference}:latest");

    let (stdout, stderr) = strata.ok(&["pull", "--progress", "plain", &reference]);
    let expected = &image.images[0];
    assert_eq!(
        stdout.trim(),
        format!("{name}@{}", expected.manifest_digest),
        "stdout carries the pinned reference only"
    );
    let short = &expected.layer_digests[0][..19];
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(short) && l.ends_with(" done")),
        "one progress line per blob:\n{stderr}"
    );
    strata.assert_store_sound();

    // Other tools read what strata stored.
    let inspected = skopeo_inspect_store(&strata.store(), &name);
    assert_eq!(inspected["Layers"][0], expected.layer_digests[0].as_str());
    assert_eq!(inspected["Architecture"], support::image::host_arch());
    let bundle = tempfile::tempdir().unwrap();
    let bundle_dir = bundle.path().join("bundle");
    support::run(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:{name}", strata.store().display()))
            .arg(&bundle_dir),
    );
    assert!(bundle_dir.join("rootfs/bin/busybox").is_file());
    assert!(bundle_dir.join("rootfs").join(&expected.marker).is_file());

    // A second pull asks for the manifest but downloads no layer.
    let (stdout2, stderr2) = strata.ok(&["pull", "--progress", "plain", &reference]);
    assert_eq!(stdout2, stdout);
    assert!(stderr2.contains("already present"), "{stderr2}");
    assert!(stderr2.contains("0 blobs downloaded"), "{stderr2}");

    let (listing, _) = strata.ok(&["images"]);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&reference))
        .unwrap_or_else(|| panic!("`strata images` does not list {reference}:\n{listing}"));
    assert!(row.contains("latest"), "{row}");
    assert!(row.contains(&expected.manifest_digest[..19]), "{row}");
    assert!(row.contains("years ago"), "created 1970: {row}");
    let (quiet, _) = strata.ok(&["images", "-q"]);
    assert_eq!(quiet.trim(), name);

    let (removed, _) = strata.ok(&["rmi", &reference]);
    assert!(removed.contains(&format!("Untagged: {name}")), "{removed}");
    assert!(
        removed.contains(&format!("Deleted: {}", expected.layer_digests[0])),
        "{removed}"
    );
    assert_eq!(strata.blob_count(), 0, "rmi leaves unreferenced blobs");
    let (listing, _) = strata.ok(&["images", "-q"]);
    assert!(listing.trim().is_empty(), "{listing}");
    let missing = strata.run(&["rmi", &reference]);
    assert!(!missing.status.success());
    assert!(
        texts(&missing).1.contains("no such image"),
        "{}",
        texts(&missing).1
    );
}

#[test]
fn login_with_password_stdin_then_pull_from_htpasswd_registry() {
    let (user, password) = ("strata", "s3cret-Pa55");
    let registry = Registry::start_with(RegistryAuth::Htpasswd {
        user: user.to_owned(),
        password: password.to_owned(),
    });
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "team/app:1",
        Some((user, password)),
        ImageFormat::Docker,
    );
    let strata = Strata::new();
    let reference = format!("{}/team/app:1", registry.host());

    let anonymous = strata.run(&["pull", &reference]);
    assert!(!anonymous.status.success());
    let (_, stderr) = texts(&anonymous);
    assert!(
        stderr.contains("401") || stderr.contains("unauthorized"),
        "{stderr}"
    );

    let wrong = strata.login(&registry.host(), user, "wrong");
    assert!(!wrong.status.success(), "a wrong password is refused");
    assert!(
        !strata.docker_config.path().join("config.json").exists() || {
            let c =
                std::fs::read_to_string(strata.docker_config.path().join("config.json")).unwrap();
            !c.contains(&registry.host())
        }
    );

    let login = strata.login(&registry.host(), user, password);
    let (stdout, stderr) = texts(&login);
    assert!(login.status.success(), "login failed: {stderr}");
    assert!(
        !stdout.contains(password) && !stderr.contains(password),
        "password printed"
    );
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(strata.docker_config.path().join("config.json")).unwrap(),
    )
    .unwrap();
    assert!(
        config["auths"][registry.host()]["auth"].is_string(),
        "{config}"
    );

    // Bars are drawn only on a terminal, but the events still flow through them.
    let (stdout, stderr) = strata.ok(&["pull", "--progress", "tty", &reference]);
    assert!(
        stdout.starts_with(&format!("{reference}@sha256:")),
        "{stdout}"
    );
    assert!(!stderr.contains(password));
    strata.assert_store_sound();

    strata.ok(&["logout", &registry.host()]);
    let config = std::fs::read_to_string(strata.docker_config.path().join("config.json")).unwrap();
    assert!(!config.contains(&registry.host()), "{config}");
}

#[test]
fn login_and_pull_with_bearer_tokens() {
    let (user, password) = ("tokenuser", "token-Pa55");
    let tokens = TokenServer::start(TokenServerOptions {
        users: vec![(user.to_owned(), password.to_owned())],
        anonymous_pull: false,
        ..TokenServerOptions::default()
    });
    let registry = Registry::start_with(tokens.registry_auth());
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "private/busybox:latest",
        Some((user, password)),
        ImageFormat::Oci,
    );
    let strata = Strata::new();
    let reference = format!("{}/private/busybox", registry.host());

    assert!(!strata.run(&["pull", &reference]).status.success());
    let login = strata.login(&registry.host(), user, password);
    assert!(login.status.success(), "{}", texts(&login).1);
    let before = tokens.tokens_issued();
    let (stdout, _) = strata.ok(&["pull", &reference]);
    assert_eq!(
        stdout.trim(),
        format!("{reference}:latest@{}", image.images[0].manifest_digest)
    );
    assert!(
        tokens.tokens_issued() > before,
        "the pull used a bearer token"
    );
    strata.assert_store_sound();
}

#[test]
fn platform_is_selected_from_an_index_and_a_missing_one_is_named() {
    let registry = Registry::start();
    let image = BaseImage::multi_platform();
    image.push(
        &registry.host(),
        "multi/busybox:latest",
        None,
        ImageFormat::Oci,
    );
    let strata = Strata::new();
    let reference = format!("{}/multi/busybox", registry.host());
    let index_digest = image.index_digest.clone().unwrap();

    for wanted in ["linux/arm64", "linux/amd64"] {
        let expected = image
            .images
            .iter()
            .find(|i| i.platform.starts_with(wanted))
            .unwrap();
        let (stdout, _) = strata.ok(&["pull", "--platform", wanted, &reference]);
        assert_eq!(
            stdout.trim(),
            format!("{reference}:latest@{}", expected.manifest_digest),
            "{wanted}"
        );
        let index: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(strata.store().join("index.json")).unwrap(),
        )
        .unwrap();
        let entry = &index["manifests"][0];
        assert_eq!(entry["digest"], expected.manifest_digest.as_str());
        assert_eq!(
            entry["platform"]["architecture"],
            wanted.split('/').nth(1).unwrap()
        );
        assert_eq!(
            entry["annotations"]["dev.strata.image.index.digest"],
            index_digest.as_str()
        );
    }
    strata.assert_store_sound();

    let absent = strata.run(&["pull", "--platform", "linux/s390x", &reference]);
    assert!(!absent.status.success());
    let (stdout, stderr) = texts(&absent);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("no manifest for platform `linux/s390x`")
            && stderr.contains("linux/amd64")
            && stderr.contains("linux/arm64"),
        "{stderr}"
    );
}

#[test]
fn pull_survives_a_faulty_registry_and_a_second_pull_downloads_nothing() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "library/busybox:latest",
        None,
        ImageFormat::Oci,
    );
    let proxy = FaultProxy::start(registry.addr);
    proxy.set_rules(vec![
        FaultRule::new("GET", "/manifests/", 1, Fault::Status(503)).times(1),
        FaultRule::new("GET", "/blobs/", 1, Fault::DropMidBody).times(1),
        FaultRule::new("GET", "/blobs/", 2, Fault::RetryAfter(429, 1)).times(1),
    ]);
    let strata = Strata::new();
    let reference = format!("{}/library/busybox:latest", proxy.host());

    strata.ok(&["pull", &reference]);
    assert!(proxy.faults_fired() >= 2, "{:#?}", proxy.requests());
    strata.assert_store_sound();

    proxy.set_rules(Vec::new());
    proxy.clear_requests();
    let (_, stderr) = strata.ok(&["pull", "--progress", "plain", &reference]);
    let layers = &image.images[0].layer_digests;
    assert_eq!(layer_gets(&proxy, layers), 0, "{:#?}", proxy.requests());
    assert!(stderr.contains("already present"), "{stderr}");
}

#[test]
fn stored_images_are_used_without_a_registry_request() {
    let registry = Registry::start();
    let image = BaseImage::multi_platform();
    image.push(
        &registry.host(),
        "multi/busybox:latest",
        None,
        ImageFormat::Oci,
    );
    let proxy = FaultProxy::start(registry.addr);
    let strata = Strata::new();
    let reference = format!("{}/multi/busybox:latest", proxy.host());
    let repository = format!("{}/multi/busybox", proxy.host());
    let arm = image
        .images
        .iter()
        .find(|i| i.platform.starts_with("linux/arm64"))
        .unwrap();
    let amd = image
        .images
        .iter()
        .find(|i| i.platform.starts_with("linux/amd64"))
        .unwrap();

    let never = strata.run(&["pull", "--policy", "never", &reference]);
    assert!(!never.status.success());
    assert!(
        texts(&never).1.contains("is not in the local store"),
        "{}",
        texts(&never).1
    );
    assert!(
        proxy.requests().is_empty(),
        "--policy never asked the registry"
    );

    let (pinned, _) = strata.ok(&["pull", "--platform", "linux/arm64", &reference]);
    proxy.clear_requests();
    let local = [
        reference.clone(),
        pinned.trim().to_owned(),
        format!("{repository}@{}", arm.manifest_digest),
        format!("{repository}@{}", image.index_digest.clone().unwrap()),
    ];
    for wanted in &local {
        let (stdout, _) = strata.ok(&[
            "pull",
            "--policy",
            "missing",
            "--platform",
            "linux/arm64",
            wanted,
        ]);
        assert!(
            stdout.trim().ends_with(&arm.manifest_digest),
            "{wanted}: {stdout}"
        );
        assert!(
            proxy.requests().is_empty(),
            "{wanted}: {:#?}",
            proxy.requests()
        );
    }
    strata.ok(&[
        "pull",
        "--policy",
        "never",
        "--platform",
        "linux/arm64",
        &reference,
    ]);

    // Stored for another platform: pulled.
    let (stdout, _) = strata.ok(&[
        "pull",
        "--policy",
        "missing",
        "--platform",
        "linux/amd64",
        &reference,
    ]);
    assert!(stdout.trim().ends_with(&amd.manifest_digest), "{stdout}");
    assert!(!proxy.requests().is_empty());
    strata.assert_store_sound();
}

#[test]
fn concurrent_pulls_into_one_root_all_succeed() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "library/busybox:latest",
        None,
        ImageFormat::Oci,
    );
    let strata = Strata::new();
    let reference = format!("{}/library/busybox:latest", registry.host());
    let children: Vec<_> = (0..4)
        .map(|_| {
            strata
                .command(&["pull", "--quiet", &reference])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        let (stdout, stderr) = texts(out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout, texts(&outputs[0]).0);
    }
    strata.assert_store_sound();
    // manifest, config, layer
    assert_eq!(strata.blob_count(), 3);
    let inspected = skopeo_inspect_store(&strata.store(), &reference);
    assert_eq!(
        inspected["Layers"][0],
        image.images[0].layer_digests[0].as_str()
    );
}

#[test]
fn a_pull_killed_mid_blob_leaves_no_partial_blob() {
    let registry = Registry::start();
    let big = BigImage::new(64);
    big.push(&registry.host(), "big/image:latest");
    // What the registry holds: skopeo gzips the layer on the way.
    let manifest =
        support::skopeo_inspect(&format!("{}/big/image:latest", registry.host()), None, true);
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    // ~16 MB/s: the 64 MB layer takes seconds, plenty of time to kill in its middle.
    let slow = SlowRelay::start(registry.addr, 16 * 1024 * 1024);
    let strata = Strata::new();

    let mut child = strata
        .command(&[
            "pull",
            "--quiet",
            &format!("{}/big/image:latest", slow.host()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = strata.root.path().join("tmp");
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the layer download never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        if largest_file(&tmp) > 4 * 1024 * 1024 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let layer_hex = layer_digest.trim_start_matches("sha256:");
    assert!(
        !strata.store().join("blobs/sha256").join(layer_hex).exists(),
        "a partial layer was published"
    );

    let (stdout, _) = strata.ok(&["pull", &format!("{}/big/image:latest", registry.host())]);
    assert!(
        stdout.starts_with(&format!("{}/big/image:latest@sha256:", registry.host())),
        "{stdout}"
    );
    assert!(
        strata
            .store()
            .join("blobs/sha256")
            .join(layer_hex)
            .is_file()
    );
    // The next strata to open the root removed the killed one's scratch files.
    strata.assert_store_sound();
}

/// The size of the largest file under `dir`.
fn largest_file(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let meta = e.metadata().ok();
            match meta {
                Some(m) if m.is_dir() => largest_file(&e.path()),
                Some(m) => m.len(),
                None => 0,
            }
        })
        .max()
        .unwrap_or(0)
}

/// An OCI layout holding one image whose single uncompressed layer is a tar of one file
/// of `mb` MiB of incompressible bytes.
struct BigImage {
    dir: tempfile::TempDir,
}

impl BigImage {
    fn new(mb: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let blobs = layout.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(
            layout.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let content = dir.path().join("content");
        std::fs::create_dir_all(&content).unwrap();
        let mut file = std::fs::File::create(content.join("random.bin")).unwrap();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut chunk = vec![0u8; 1024 * 1024];
        for _ in 0..mb {
            for word in chunk.chunks_exact_mut(8) {
                // xorshift64*: fast, incompressible enough for a transfer test.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                word.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
            }
            file.write_all(&chunk).unwrap();
        }
        drop(file);
        let tar = dir.path().join("layer.tar");
        support::run(
            Command::new("tar")
                .args([
                    "--owner=0",
                    "--group=0",
                    "--numeric-owner",
                    "--mtime=@0",
                    "-C",
                ])
                .arg(&content)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        let layer_digest = sha256_file(&tar);
        let layer_size = std::fs::metadata(&tar).unwrap().len();
        std::fs::rename(&tar, blobs.join(layer_digest.trim_start_matches("sha256:"))).unwrap();
        let write = |data: &[u8]| {
            let digest = support::sha256(data);
            std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), data).unwrap();
            (digest, data.len())
        };
        let config = serde_json::json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": support::image::host_arch(),
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        });
        let (config_digest, config_size) = write(config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
        });
        let (manifest_digest, manifest_size) = write(manifest.to_string().as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        });
        std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
        Self { dir }
    }

    fn push(&self, host: &str, repo_tag: &str) {
        support::skopeo_push(
            &format!("oci:{}:latest", self.dir.path().join("layout").display()),
            &format!("{host}/{repo_tag}"),
            None,
            ImageFormat::Oci,
            false,
        );
    }
}

fn sha256_file(path: &Path) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A TCP relay that passes responses through at a limited rate: a registry on a slow
/// network, so that a test can act in the middle of a download.
struct SlowRelay {
    addr: SocketAddr,
}

impl SlowRelay {
    fn start(upstream: SocketAddr, bytes_per_sec: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let chunk = (bytes_per_sec / 100).max(1);
                    let mut buf = vec![0u8; chunk];
                    loop {
                        match s_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if c_write.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                                std::thread::sleep(Duration::from_millis(10));
                            }
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self { addr }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}
