//! Conformance with `docker build`: the same Dockerfile built by strata and by a real
//! docker daemon's BuildKit gives the same image.
//!
//! One private `dockerd` (`tests/support_docker`) serves every case. The busybox base
//! image is built by strata (`FROM scratch` + `COPY rootfs/ /`) and `docker load`ed, so
//! both builders start from byte-identical layers. Each case of `testdata/parity/CASE/`
//! is built with `DOCKER_BUILDKIT=1 docker build` (then `docker save`) and with
//! `strata build --output type=docker` (in a second thread, at the same time), and the
//! two archives are compared:
//!
//! - the image config fields a Dockerfile sets, and the history (`created_by`,
//!   `empty_layer`);
//! - the final filesystem tree (all layers applied in order, whiteouts included): each
//!   path's type, mode, owner, size, content hash and link target; never mtimes;
//! - each layer's list of paths (where BuildKit cuts layers, strata must too).
//!
//! Differences that are deliberate or unavoidable are listed in [`KNOWN`] with the
//! reason; each must still occur (so the list cannot go stale), and anything else
//! fails the test with a readable diff of every case. Two more are rules in the code:
//! docker 20.10's RUN leaves `/dev`, `/proc`, `/sys` mount points and touches `/etc`
//! (stubs for `/etc/hosts`, `/etc/resolv.conf`), see [`volatile`] and [`compare`].
//!
//! Docker 20.10's built-in Dockerfile frontend predates heredocs and `COPY --link`
//! (and no `# syntax=` image can be pulled here): a case with a `Dockerfile.docker`
//! gives docker that equivalent file instead, and the history texts are then not
//! compared (their empty-layer flags are).
//!
//! `STRATA_PARITY_VERBOSE=1` adds every layer entry of both images to the report.
//!
//! Skips (with a message) without root, umoci/skopeo, busybox-static or `dockerd`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_build;
mod support_docker;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::Digest as _;
use support_build::TestContext;
use support_docker::Dockerd;

/// The cases: directories of `testdata/parity`.
const CASES: &[&str] = &[
    "run",
    "copy_wildcards",
    "chown_chmod",
    "links",
    "add_tar",
    "workdir",
    "env_arg",
    "multistage",
    "copy_link",
    "heredoc",
    "metadata",
    "onbuild",
    // FROM the image `onbuild` built: its triggers run first (needs that order).
    "onbuild_child",
    "dockerignore",
    "whiteouts",
    "user_args",
    "add_url",
    "modes",
    "run_mounts",
    "replace",
    "add_more",
    "escapes",
    "dest_symlinks",
    "named_user",
    "json_forms",
];

/// Why docker's config has `ArgsEscaped` and strata's has not.
const ARGS_ESCAPED: &str = "docker 20.10's BuildKit sets ArgsEscaped for a CMD of either \
     form and a shell-form ENTRYPOINT, on every OS; newer BuildKit and strata set it only \
     for shell forms of Windows images, the only place it means anything";

/// Why docker's image has empty directories where RUN --mount targets were.
const MOUNT_STUBS: &str = "docker 20.10's BuildKit leaves the directories it made to \
     mount onto; newer BuildKit removes such empty mount stubs after the RUN, and strata \
     never makes them";

/// Differences between docker 20.10's BuildKit and strata that are expected:
/// (case, the exact diff line, why).
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "metadata",
        "config keys: only docker [\"ArgsEscaped\"], only strata []",
        ARGS_ESCAPED,
    ),
    (
        "onbuild",
        "config keys: only docker [\"ArgsEscaped\"], only strata []",
        ARGS_ESCAPED,
    ),
    (
        "escapes",
        "config keys: only docker [\"ArgsEscaped\"], only strata []",
        ARGS_ESCAPED,
    ),
    (
        "onbuild_child",
        "config keys: only docker [\"ArgsEscaped\"], only strata []",
        ARGS_ESCAPED,
    ),
    (
        "workdir",
        "history[13]: docker \"WORKDIR /tmp [comment buildkit.dockerfile.v0]\" \
         strata \"WORKDIR /tmp [comment buildkit.dockerfile.v0] (empty)\"",
        "WORKDIR of an existing directory changes nothing: docker 20.10's exporter still \
         writes an empty layer for it, newer BuildKit and strata record no layer and mark \
         the history entry empty (docs/notes/export.md, empty diffs)",
    ),
    (
        "workdir",
        "layer count: docker 10 strata 9",
        "the same empty WORKDIR layer",
    ),
    (
        "add_url",
        "tree /app/hello.txt: docker f 0600 0:0 size=18 \
         5682341983eca613a46bfe1cef783ef0fbedce31d74547ab71153500b4950d6f | \
         strata f 0755 0:0 size=18 \
         5682341983eca613a46bfe1cef783ef0fbedce31d74547ab71153500b4950d6f",
        "docker 20.10's frontend ignores --chmod for a URL source (the download keeps \
         0600); the Dockerfile reference gives ADD --chmod for every source, and strata \
         applies it as newer BuildKit does",
    ),
    (
        "run_mounts",
        "tree /data: only docker: d 0755 0:0 size=0",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "tree /mnt: only docker: d 0755 0:0 size=0",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "tree /scratch: only docker: d 0755 0:0 size=0",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "tree /var: only docker: d 0755 0:0 size=0",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "tree /var/cache: only docker: d 0755 0:0 size=0",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "tree /var/cache/parity: only docker: d 0755 0:0 size=0",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "layer[1] /mnt: only in docker's layer",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "layer[2] /var: only in docker's layer",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "layer[2] /var/cache: only in docker's layer",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "layer[2] /var/cache/parity: only in docker's layer",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "layer[3] /scratch: only in docker's layer",
        MOUNT_STUBS,
    ),
    (
        "run_mounts",
        "layer[4] /data: only in docker's layer",
        MOUNT_STUBS,
    ),
];

/// One entry of a layer or of the final tree. Times are never compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    /// `f` file, `d` directory, `l` symlink, `h` hardlink (in layers only), `c`/`b`/`p`.
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    /// sha256 of the content (files), the link target (symlinks, hardlinks).
    data: String,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:04o} {}:{} size={}",
            self.kind, self.mode, self.uid, self.gid, self.size
        )?;
        if !self.data.is_empty() {
            write!(f, " {}", self.data)?;
        }
        Ok(())
    }
}

/// An image read back from a `docker save`-format archive.
struct Image {
    config: Value,
    /// Each layer's entries: normalised path -> node (whiteouts as `.wh.` names).
    layers: Vec<BTreeMap<String, Node>>,
}

/// Reads a docker archive (`manifest.json`, config blob, layer tars plain or gzip).
fn read_archive(path: &Path) -> Image {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(name.trim_start_matches("./").to_string(), data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let manifest = &manifest[0];
    let config: Value =
        serde_json::from_slice(&files[manifest["Config"].as_str().unwrap()]).unwrap();
    let layers = manifest["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| read_layer(&files[l.as_str().unwrap()]))
        .collect();
    Image { config, layers }
}

/// The entries of one layer tar (gzip or plain).
fn read_layer(raw: &[u8]) -> BTreeMap<String, Node> {
    let mut bytes = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(raw)
            .read_to_end(&mut bytes)
            .unwrap();
    } else {
        bytes = raw.to_vec();
    }
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = normalise(&entry.path().unwrap().display().to_string());
        let header = entry.header().clone();
        let link = || {
            entry
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default()
        };
        let (kind, data) = match header.entry_type() {
            tar::EntryType::Directory => ('d', String::new()),
            tar::EntryType::Symlink => ('l', link()),
            tar::EntryType::Link => ('h', normalise(&link())),
            tar::EntryType::Char => ('c', String::new()),
            tar::EntryType::Block => ('b', String::new()),
            tar::EntryType::Fifo => ('p', String::new()),
            _ => {
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                ('f', hex::encode(sha2::Sha256::digest(&content)))
            }
        };
        let size = if kind == 'f' {
            header.size().unwrap()
        } else {
            0
        };
        out.insert(
            path,
            Node {
                kind,
                mode: header.mode().unwrap() & 0o7777,
                uid: header.uid().unwrap(),
                gid: header.gid().unwrap(),
                size,
                data,
            },
        );
    }
    out
}

/// `./a/b/` -> `/a/b`.
fn normalise(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_end_matches('/');
    format!("/{}", p.trim_start_matches('/'))
}

/// The tree after applying every layer in order: whiteouts remove what lower layers
/// made; hardlinks become copies of their target's node (with the link noted).
fn final_tree(layers: &[BTreeMap<String, Node>]) -> BTreeMap<String, Node> {
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    let remove_under = |tree: &mut BTreeMap<String, Node>, dir: &str, keep_dir: bool| {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        tree.retain(|p, _| !(p.starts_with(&prefix) || (!keep_dir && p == dir)));
    };
    for layer in layers {
        // Whiteouts of a layer only hide lower layers: apply them first.
        for path in layer.keys() {
            let (parent, name) = path.rsplit_once('/').unwrap();
            if name == ".wh..wh..opq" {
                remove_under(
                    &mut tree,
                    if parent.is_empty() { "/" } else { parent },
                    true,
                );
            } else if let Some(hidden) = name.strip_prefix(".wh.") {
                remove_under(&mut tree, &format!("{parent}/{hidden}"), false);
            }
        }
        for (path, node) in layer {
            let name = path.rsplit_once('/').unwrap().1;
            if name.starts_with(".wh.") {
                continue;
            }
            let node = if node.kind == 'h' {
                let mut target = tree
                    .get(&node.data)
                    .or_else(|| layer.get(&node.data))
                    .cloned()
                    .unwrap_or_else(|| panic!("hardlink {path} to missing {}", node.data));
                target.data = format!("{} (hardlink)", target.data);
                target
            } else {
                node.clone()
            };
            if node.kind != 'd' {
                remove_under(&mut tree, path, true);
            }
            tree.insert(path.clone(), node);
        }
    }
    tree
}

/// The config fields a Dockerfile sets, by name.
fn config_fields(image: &Image) -> BTreeMap<String, Value> {
    let c = &image.config;
    let mut out = BTreeMap::new();
    for key in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "Labels",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Healthcheck",
        "Shell",
        "OnBuild",
    ] {
        let mut v = c["config"].get(key).cloned().unwrap_or(Value::Null);
        // Absent, null, "" and [] / {} all mean "not set" to docker.
        let empty = match &v {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            v = Value::Null;
        }
        out.insert(format!("config.{key}"), v);
    }
    for key in ["architecture", "os"] {
        out.insert(key.to_string(), c[key].clone());
    }
    out
}

/// The history as `created_by` strings with an `(empty)` mark.
fn history(image: &Image) -> Vec<String> {
    image.config["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| {
                    format!(
                        "{}{}{}",
                        e["created_by"].as_str().unwrap_or(""),
                        match e["comment"].as_str() {
                            Some(c) if !c.is_empty() => format!(" [comment {c}]"),
                            _ => String::new(),
                        },
                        if e["empty_layer"].as_bool().unwrap_or(false) {
                            " (empty)"
                        } else {
                            ""
                        }
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Paths that only a RUN's sandbox set-up leaves and that say nothing about the image:
/// docker 20.10's BuildKit leaves `/dev`, `/proc`, `/sys` (mount points) in its first
/// RUN layer, newer BuildKit and strata do not; the `/etc` files a RUN gets mounted
/// are left out too, should a daemon leave their stubs.
fn volatile(path: &str) -> bool {
    matches!(
        path,
        "/etc/hosts" | "/etc/resolv.conf" | "/etc/hostname" | "/proc" | "/sys" | "/dev"
    ) || path.starts_with("/proc/")
        || path.starts_with("/sys/")
        || path.starts_with("/dev/")
}

/// Every difference between the docker image and the strata image, one line each.
/// `compare_history`: false when docker built an equivalent Dockerfile (different text).
fn compare(docker: &Image, strata: &Image, compare_history: bool) -> Vec<String> {
    let mut diffs = Vec::new();
    let (dc, sc) = (config_fields(docker), config_fields(strata));
    for (key, dv) in &dc {
        if dv != &sc[key] {
            diffs.push(format!("{key}: docker {dv} strata {}", sc[key]));
        }
    }
    // Any other field either image sets (docker 20.10 writes a few more, listed).
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (what, d, s) in [
        ("top-level", &docker.config, &strata.config),
        ("config", &docker.config["config"], &strata.config["config"]),
    ] {
        let (dk, sk) = (keys(d), keys(s));
        if dk != sk {
            diffs.push(format!(
                "{what} keys: only docker {:?}, only strata {:?}",
                dk.difference(&sk).collect::<Vec<_>>(),
                sk.difference(&dk).collect::<Vec<_>>()
            ));
        }
    }
    let (dh, sh) = (history(docker), history(strata));
    if compare_history {
        if dh.len() != sh.len() {
            diffs.push(format!(
                "history length: docker {} strata {}",
                dh.len(),
                sh.len()
            ));
        }
        for (i, (d, s)) in dh.iter().zip(&sh).enumerate() {
            if d != s {
                diffs.push(format!("history[{i}]: docker {d:?} strata {s:?}"));
            }
        }
    } else {
        let flags =
            |h: &[String]| -> Vec<bool> { h.iter().map(|e| e.ends_with("(empty)")).collect() };
        if flags(&dh) != flags(&sh) {
            diffs.push(format!(
                "history empty_layer flags: docker {dh:?} strata {sh:?}"
            ));
        }
    }

    let clean = |t: BTreeMap<String, Node>| -> BTreeMap<String, Node> {
        t.into_iter().filter(|(p, _)| !volatile(p)).collect()
    };
    let (dt, st) = (
        clean(final_tree(&docker.layers)),
        clean(final_tree(&strata.layers)),
    );
    let paths: BTreeSet<&String> = dt.keys().chain(st.keys()).collect();
    for p in paths {
        match (dt.get(p), st.get(p)) {
            (Some(d), Some(s)) if d != s => {
                diffs.push(format!("tree {p}: docker {d} | strata {s}"))
            }
            (Some(d), None) => diffs.push(format!("tree {p}: only docker: {d}")),
            (None, Some(s)) => diffs.push(format!("tree {p}: only strata: {s}")),
            _ => {}
        }
    }

    if docker.layers.len() != strata.layers.len() {
        diffs.push(format!(
            "layer count: docker {} strata {}",
            docker.layers.len(),
            strata.layers.len()
        ));
    }
    for (i, (d, s)) in docker.layers.iter().zip(&strata.layers).enumerate() {
        let dp: BTreeSet<&String> = d.keys().filter(|p| !volatile(p)).collect();
        let sp: BTreeSet<&String> = s.keys().filter(|p| !volatile(p)).collect();
        for p in dp.difference(&sp) {
            // docker 20.10's BuildKit creates mount stubs for /etc/hosts and
            // /etc/resolv.conf in every RUN and removes them afterwards, which leaves
            // /etc (its mtime) in the layer; strata mounts without stubs. Anything
            // strata changed under /etc would put /etc in its layer too.
            if p.as_str() == "/etc" && d[*p].kind == 'd' {
                continue;
            }
            diffs.push(format!("layer[{i}] {p}: only in docker's layer"));
        }
        for p in sp.difference(&dp) {
            diffs.push(format!("layer[{i}] {p}: only in strata's layer"));
        }
    }
    if std::env::var_os("STRATA_PARITY_VERBOSE").is_some() {
        for (who, image) in [("docker", docker), ("strata", strata)] {
            for (i, layer) in image.layers.iter().enumerate().skip(1) {
                for (p, n) in layer {
                    diffs.push(format!("(verbose) {who} layer[{i}] {p} {n}"));
                }
            }
        }
    }
    diffs
}

/// Serves the files of `dir` over HTTP on 127.0.0.1 (for `ADD <url>`); returns the
/// port. The thread lives as long as the test process.
fn serve_files(dir: PathBuf) -> u16 {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let name = path.trim_start_matches('/');
            let response = match fs::read(dir.join(name)) {
                Ok(body) if !name.contains("..") => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\
                         Last-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    if !request.starts_with("HEAD ") {
                        r.extend_from_slice(&body);
                    }
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    port
}

/// A case's context, copied to `dir` with what git cannot hold (a hardlink).
fn prepare_context(case: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/parity")
        .join(case);
    let ctx = dir.join(case);
    let status = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&ctx)
        .status()
        .unwrap();
    assert!(status.success(), "copying {}", src.display());
    if case == "links" {
        fs::hard_link(ctx.join("tree/target.txt"), ctx.join("tree/hard.txt")).unwrap();
    }
    if case == "modes" {
        use std::os::unix::fs::PermissionsExt as _;
        let tree = ctx.join("tree");
        let set = |p: &Path, mode: u32| {
            fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
        };
        set(&tree.join("suid"), 0o4755);
        set(&tree.join("readonly"), 0o444);
        set(&tree.join("private"), 0o600);
        fs::create_dir_all(tree.join("empty/nested-empty")).unwrap();
        fs::create_dir_all(tree.join("sticky")).unwrap();
        set(&tree.join("sticky"), 0o1777);
        fs::create_dir_all(tree.join("closed")).unwrap();
        set(&tree.join("closed"), 0o700);
    }
    ctx
}

/// Every case of `testdata/parity` built by docker and by strata: same config,
/// history, tree and layers, but for the explained [`KNOWN`] differences.
#[test]
fn strata_builds_the_same_images_as_docker_buildkit() {
    let Some(t) = TestContext::new("strata_builds_the_same_images_as_docker_buildkit") else {
        return;
    };
    let Some(daemon) = Dockerd::start() else {
        return;
    };
    let work = t.dir().join("parity");
    fs::create_dir_all(&work).unwrap();

    // The base image, built by strata and loaded into docker.
    let base_ctx = work.join("base");
    support_build::busybox_rootfs(&base_ctx.join("rootfs"));
    fs::write(
        base_ctx.join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\nCMD [\"/bin/sh\"]\n",
    )
    .unwrap();
    let base_tar = work.join("base.tar");
    t.build(
        &base_ctx,
        &[
            "-t",
            "busybox:latest",
            "--output",
            &format!("type=docker,dest={}", base_tar.display()),
        ],
    )
    .ok();
    daemon.docker_ok(&["load", "-i", &base_tar.display().to_string()]);

    let port =
        serve_files(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/parity/add_url/served"))
            .to_string();
    let port_arg = format!("PORT={port}");
    // Per-case build args: the URL cases need the file server's port.
    let build_args = |case: &str| -> Vec<&str> {
        if case == "add_url" {
            vec!["--build-arg", &port_arg]
        } else {
            Vec::new()
        }
    };

    let contexts: Vec<(&str, PathBuf)> = CASES
        .iter()
        .map(|c| (*c, prepare_context(c, &work)))
        .collect();

    // strata in a second thread, docker here.
    let strata_archives = std::thread::scope(|scope| {
        let strata = scope.spawn(|| {
            contexts
                .iter()
                .map(|(case, ctx)| {
                    let dest = work.join(format!("{case}.strata.tar"));
                    let tag = format!("parity-{case}:latest");
                    let output = format!("type=docker,dest={}", dest.display());
                    let mut args = vec!["-t", &tag, "--output", &output];
                    args.extend(build_args(case));
                    let run = t.build(ctx, &args);
                    assert!(run.status.success(), "strata build {case}:\n{}", run.stderr);
                    dest
                })
                .collect::<Vec<_>>()
        });
        for (case, ctx) in &contexts {
            let tag = format!("parity-{case}:latest");
            let mut args = vec!["build", "--network=host", "--progress=plain", "-t", &tag];
            args.extend(build_args(case));
            let alt = ctx.join("Dockerfile.docker");
            let alt_arg = alt.display().to_string();
            if alt.exists() {
                args.extend(["-f", &alt_arg]);
            }
            let ctx_arg = ctx.display().to_string();
            args.push(&ctx_arg);
            let out = daemon
                .command(&args)
                .env("DOCKER_BUILDKIT", "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "docker build {case}:\n{}\ndockerd log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                daemon.log_tail()
            );
            let dest = work.join(format!("{case}.docker.tar"));
            daemon.docker_ok(&["save", "-o", &dest.display().to_string(), &tag]);
        }
        strata.join().unwrap()
    });

    let mut report = String::new();
    let mut unexpected = 0;
    for ((case, ctx), strata_tar) in contexts.iter().zip(&strata_archives) {
        let docker = read_archive(&work.join(format!("{case}.docker.tar")));
        let strata = read_archive(strata_tar);
        let same_dockerfile = !ctx.join("Dockerfile.docker").exists();
        let diffs = compare(&docker, &strata, same_dockerfile);
        let known: Vec<&(&str, &str, &str)> = KNOWN.iter().filter(|k| k.0 == *case).collect();
        for k in &known {
            if !diffs.iter().any(|d| d == k.1) {
                unexpected += 1;
                report.push_str(&format!("{case}: expected difference gone: {}\n", k.1));
            }
        }
        for d in &diffs {
            if !known.iter().any(|k| k.1 == d) {
                unexpected += 1;
                report.push_str(&format!("{case}: {d}\n"));
            }
        }
    }
    assert!(
        unexpected == 0,
        "{unexpected} differences between docker build and strata build:\n{report}"
    );
}
