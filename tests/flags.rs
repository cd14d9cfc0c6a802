//! The `strata build` flag table, end to end: every flag that docker users type is
//! accepted under docker's name and short form, and has its effect. Each test runs the
//! real binary on a busybox base image (`tests/support_build`) and reads the result back
//! with tools we did not write (umoci, skopeo), or from the sandbox itself (a `RUN` that
//! writes what it saw into the image). Registry flags run against Debian's
//! `docker-registry`: the shared loopback harness of `registry-client/tests/support`, or,
//! for `--insecure-registry` and `--registry-ca` (which only matter off loopback), one
//! started here on the machine's own non-loopback address, with and without TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../registry-client/tests/support/mod.rs"]
mod support;
#[macro_use]
mod support_build;

use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support_build::{EPOCH, Run, TestContext, exists, read, strata_bin, write};

/// `strata --root ROOT build ARGS...` without the harness's `--progress=plain`, with
/// `stdin` as given, and the fixed `SOURCE_DATE_EPOCH`.
fn build_raw(t: &TestContext, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(strata_bin());
    cmd.arg("--root")
        .arg(t.root())
        .arg("build")
        .args(args)
        .env_remove("STRATA_ROOT")
        .env_remove("STRATA_LOG")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        // A writer thread: the child may fill its output pipes before reading all input.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    run_of(child.wait_with_output().unwrap())
}

fn run_of(out: std::process::Output) -> Run {
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `strata ARGS...` with no root and no stdin.
fn strata(args: &[&str]) -> Run {
    run_of(
        Command::new(strata_bin())
            .args(args)
            .env_remove("STRATA_ROOT")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

/// Whether `s` is exactly `sha256:` and 64 lowercase hex digits.
fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The manifests `index.json` of a root's store names `image`, parsed.
fn manifest(root: &Path, image: &str) -> Value {
    let store = root.join("store");
    let index: Value =
        serde_json::from_slice(&fs::read(store.join("index.json")).unwrap()).unwrap();
    let full = format!("docker.io/library/{image}");
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == full.as_str())
        .unwrap_or_else(|| panic!("{full} is not in index.json: {index}"))
        .clone();
    let hex = entry["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    serde_json::from_slice(&fs::read(store.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// A tar of `dir`'s contents (`tar -C dir -c .`).
fn tar_of(dir: &Path) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-c", "."])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -c {}", dir.display());
    out.stdout
}

// ---------------------------------------------------------------------------------------
// Input: -f, CONTEXT, --build-arg, --target, --platform

#[test]
fn file_flag_reads_a_path_or_stdin() {
    let t = ctx_or_skip!("file_flag_reads_a_path_or_stdin");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo wrong > /which\n")],
    );
    let other = t.dir().join("elsewhere/app.Dockerfile");
    write(&other, "FROM busybox\nRUN echo from-f > /which\n");
    t.build(&ctx, &["-f", other.to_str().unwrap(), "-t", "f:path"])
        .ok();
    assert_eq!(read(&t.unpack("f:path"), "/which"), "from-f\n");
    // `--file` is the long form; `-` reads the Dockerfile from stdin.
    let run = build_raw(
        &t,
        &[
            "--progress=plain",
            "--file",
            "-",
            "-t",
            "f:stdin",
            ctx.to_str().unwrap(),
        ],
        &[],
        Some(b"FROM busybox\nRUN echo from-stdin > /which\n"),
    )
    .ok();
    assert!(is_digest(run.stdout.trim()), "{}", run.stdout);
    assert_eq!(read(&t.unpack("f:stdin"), "/which"), "from-stdin\n");
}

#[test]
fn context_dash_reads_a_tar_or_a_dockerfile_from_stdin() {
    let t = ctx_or_skip!("context_dash_reads_a_tar_or_a_dockerfile_from_stdin");
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY app.txt /app.txt\n"),
            (
                "alt/build.Dockerfile",
                "FROM busybox\nCOPY app.txt /alt.txt\n",
            ),
            ("app.txt", "from the tar\n"),
        ],
    );
    let tar = tar_of(&ctx);
    build_raw(
        &t,
        &["--progress=plain", "-t", "dash:tar", "-"],
        &[],
        Some(&tar),
    )
    .ok();
    assert_eq!(read(&t.unpack("dash:tar"), "/app.txt"), "from the tar\n");

    // A gzip tar works too, and -f names a file inside it, as in docker.
    let mut gz = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = gz.stdin.take().unwrap();
    let tar2 = tar.clone();
    std::thread::spawn(move || pipe.write_all(&tar2));
    let gzipped = gz.wait_with_output().unwrap().stdout;
    build_raw(
        &t,
        &[
            "--progress=plain",
            "-f",
            "alt/build.Dockerfile",
            "-t",
            "dash:gz",
            "-",
        ],
        &[],
        Some(&gzipped),
    )
    .ok();
    assert_eq!(read(&t.unpack("dash:gz"), "/alt.txt"), "from the tar\n");

    // A bare Dockerfile on stdin: no context at all.
    build_raw(
        &t,
        &["--progress=plain", "-t", "dash:df", "-"],
        &[],
        Some(b"FROM busybox\nRUN echo no-context > /df\n"),
    )
    .ok();
    assert_eq!(read(&t.unpack("dash:df"), "/df"), "no-context\n");
    let run = build_raw(
        &t,
        &["-t", "dash:nocontext", "-"],
        &[],
        Some(b"FROM busybox\nCOPY app.txt /\n"),
    )
    .fails();
    assert!(run.stderr.contains("app.txt"), "{}", run.stderr);

    // Both from stdin cannot be.
    let run = build_raw(&t, &["-f", "-", "-"], &[], Some(b"FROM busybox\n")).fails();
    assert!(run.stderr.contains("both read stdin"), "{}", run.stderr);
}

#[test]
fn build_args_take_values_or_the_environment() {
    let t = ctx_or_skip!("build_args_take_values_or_the_environment");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nARG GIVEN\nARG FROM_ENV\nARG UNSET=default\n\
             RUN echo \"$GIVEN|$FROM_ENV|$UNSET\" > /args\n",
        )],
    );
    t.build_in(
        t.root(),
        &ctx,
        &[
            "-t",
            "args:1",
            "--build-arg",
            "GIVEN=one",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "STRATA_FLAGS_TEST_UNSET",
        ],
        &[
            ("SOURCE_DATE_EPOCH", EPOCH),
            ("FROM_ENV", "from-environment"),
        ],
    )
    .ok();
    assert_eq!(
        read(&t.unpack("args:1"), "/args"),
        "one|from-environment|default\n"
    );
}

#[test]
fn target_selects_the_stage() {
    let t = ctx_or_skip!("target_selects_the_stage");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox AS first\nRUN echo first > /stage\n\
             FROM busybox AS second\nRUN echo second > /stage\n",
        )],
    );
    t.build(&ctx, &["--target", "first", "-t", "target:1"]).ok();
    assert_eq!(read(&t.unpack("target:1"), "/stage"), "first\n");
}

#[test]
fn platform_sets_the_image_platform() {
    let t = ctx_or_skip!("platform_sets_the_image_platform");
    // FROM scratch runs nothing, so a foreign platform builds anywhere.
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM scratch\nARG TARGETARCH\nCOPY f /f\nLABEL arch=$TARGETARCH\n",
            ),
            ("f", "x"),
        ],
    );
    t.build(&ctx, &["--platform", "linux/arm64", "-t", "plat:arm64"])
        .ok();
    let config = t.config("plat:arm64");
    assert_eq!(config["architecture"], "arm64", "{config}");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Labels"]["arch"], "arm64");
    let run = t
        .build(
            &ctx,
            &["--platform", "linux/nonsense/x/y", "-t", "plat:bad"],
        )
        .fails();
    assert!(run.stderr.contains("--platform"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------
// Cache: --no-cache, --no-cache-filter, --pull

#[test]
fn no_cache_and_no_cache_filter_rerun_steps() {
    let t = ctx_or_skip!("no_cache_and_no_cache_filter_rerun_steps");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox AS deps\nRUN echo deps > /deps\n\
             FROM busybox AS app\nCOPY --from=deps /deps /deps\nRUN echo app > /app\n",
        )],
    );
    t.build(&ctx, &["-t", "nc:1"]).ok();
    let warm = t.build(&ctx, &["-t", "nc:1"]).ok();
    assert!(
        warm.step("echo deps").cached && warm.step("echo app").cached,
        "{}",
        warm.stderr
    );
    let cold = t.build(&ctx, &["-t", "nc:1", "--no-cache"]).ok();
    assert!(
        !cold.step("echo deps").cached && !cold.step("echo app").cached,
        "{}",
        cold.stderr
    );
    let filtered = t
        .build(&ctx, &["-t", "nc:1", "--no-cache-filter", "app"])
        .ok();
    assert!(filtered.step("echo deps").cached, "{}", filtered.stderr);
    assert!(!filtered.step("echo app").cached, "{}", filtered.stderr);
}

#[test]
fn pull_looks_up_a_stored_base_again() {
    let t = ctx_or_skip!("pull_looks_up_a_stored_base_again");
    let registry = support::Registry::start();
    let base = format!("{}/flags/base:1", registry.host());
    support::skopeo_push(
        &format!("oci:{}", t.store_ref("busybox:latest")),
        &base,
        None,
        support::ImageFormat::Oci,
        false,
    );
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {base}\nRUN cat /version > /seen 2>/dev/null || echo v1 > /seen\n"),
        )],
    );
    t.build(&ctx, &["-t", "pull:1"]).ok();
    assert_eq!(read(&t.unpack("pull:1"), "/seen"), "v1\n");
    // Another root pushes a new image under the same tag.
    let other = t.other_root("other");
    let ctx2 = t.context(
        "ctx2",
        &[("Dockerfile", "FROM busybox\nRUN echo v2 > /version\n")],
    );
    t.build_in(
        &other,
        &ctx2,
        &["-t", &base, "--push"],
        &[("SOURCE_DATE_EPOCH", EPOCH)],
    )
    .ok();
    // Without --pull the stored base is used; with it, the registry's new one.
    t.build(&ctx, &["-t", "pull:2"]).ok();
    assert_eq!(read(&t.unpack("pull:2"), "/seen"), "v1\n");
    t.build(&ctx, &["-t", "pull:3", "--pull"]).ok();
    assert_eq!(read(&t.unpack("pull:3"), "/seen"), "v2\n");
}

// ---------------------------------------------------------------------------------------
// Output: -t, --push, -o, --label, --iidfile, --metadata-file, --compression, -q, --progress

#[test]
fn tags_label_iidfile_and_metadata_file() {
    let t = ctx_or_skip!("tags_label_iidfile_and_metadata_file");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nLABEL from.dockerfile=yes\n")],
    );
    let iid = t.dir().join("iid");
    let meta = t.dir().join("meta.json");
    let run = t
        .build(
            &ctx,
            &[
                "-t",
                "tags:a",
                "--tag",
                "tags:b",
                "--label",
                "org.example.team=build",
                "--label",
                "from.dockerfile=overridden",
                "--iidfile",
                iid.to_str().unwrap(),
                "--metadata-file",
                meta.to_str().unwrap(),
            ],
        )
        .ok();
    let id = run.image_id();
    for tag in ["tags:a", "tags:b"] {
        let config = t.config(tag);
        assert_eq!(
            config["config"]["Labels"]["org.example.team"], "build",
            "{config}"
        );
        assert_eq!(
            config["config"]["Labels"]["from.dockerfile"], "overridden",
            "{config}"
        );
        assert_eq!(manifest(t.root(), tag)["config"]["digest"], id.as_str());
    }
    assert_eq!(fs::read_to_string(&iid).unwrap().trim(), id);
    let meta: Value = serde_json::from_slice(&fs::read(&meta).unwrap()).unwrap();
    assert!(
        is_digest(meta["containerimage.digest"].as_str().unwrap_or("")),
        "{meta}"
    );
    assert_eq!(meta["containerimage.config.digest"], id.as_str(), "{meta}");
}

#[test]
fn push_sends_every_tag_to_its_registry() {
    let t = ctx_or_skip!("push_sends_every_tag_to_its_registry");
    let registry = support::Registry::start();
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo pushed > /p\n")],
    );
    let a = format!("{}/flags/app:1", registry.host());
    let b = format!("{}/flags/app:latest", registry.host());
    let run = t.build(&ctx, &["-t", &a, "-t", &b, "--push"]).ok();
    for reference in [&a, &b] {
        let config = support::skopeo_inspect(reference, None, false);
        assert!(
            config["Layers"].as_array().is_some_and(|l| l.len() == 2),
            "{config}"
        );
    }
    let raw = support::skopeo_inspect(&a, None, true);
    assert_eq!(raw["config"]["digest"], run.image_id().as_str());
    // Without a name there is nowhere to push.
    t.build(&ctx, &["--push"]).fails();
}

#[test]
fn output_local_and_tar_to_stdout() {
    let t = ctx_or_skip!("output_local_and_tar_to_stdout");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo out > /out.txt\n")],
    );
    let dest = t.dir().join("local-out");
    t.build(
        &ctx,
        &["-o", &format!("type=local,dest={}", dest.display())],
    )
    .ok();
    assert_eq!(fs::read_to_string(dest.join("out.txt")).unwrap(), "out\n");
    // `--output DIR` is docker's shorthand for type=local.
    let dir2 = t.dir().join("local-2");
    t.build(&ctx, &["--output", dir2.to_str().unwrap()]).ok();
    assert!(dir2.join("out.txt").is_file());
    // `-o -`: a tar of the filesystem on stdout, and nothing else there.
    let out = t
        .command(t.root(), &ctx, &["-o", "-"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar_path = t.dir().join("fs.tar");
    fs::write(&tar_path, &out.stdout).unwrap();
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&tar_path)
        .output()
        .unwrap();
    assert!(list.status.success(), "stdout is not a tar");
    assert!(String::from_utf8_lossy(&list.stdout).contains("out.txt"));
}

#[test]
fn compression_sets_the_layer_media_type() {
    let t = ctx_or_skip!("compression_sets_the_layer_media_type");
    let ctx = t.context("ctx", &[("Dockerfile", "FROM busybox\nRUN echo z > /z\n")]);
    for (mode, media_type) in [
        ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("uncompressed", "application/vnd.oci.image.layer.v1.tar"),
        ("gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
    ] {
        let tag = format!("comp:{mode}");
        t.build(&ctx, &["--compression", mode, "-t", &tag]).ok();
        let m = manifest(t.root(), &tag);
        let layers = m["layers"].as_array().unwrap();
        let top = layers.last().unwrap();
        assert_eq!(top["mediaType"], media_type, "{m}");
        if mode == "zstd" {
            // This umoci predates zstd layers: the zstd tool and tar read the blob.
            let hex = top["digest"]
                .as_str()
                .unwrap()
                .strip_prefix("sha256:")
                .unwrap();
            let blob = t.root().join("store/blobs/sha256").join(hex);
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("zstd -dc '{}' | tar -xOf - z", blob.display()))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), "z\n");
        } else {
            assert_eq!(read(&t.unpack(&tag), "/z"), "z\n");
        }
    }
}

#[test]
fn quiet_prints_only_the_image_id() {
    let t = ctx_or_skip!("quiet_prints_only_the_image_id");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo quiet > /q\n")],
    );
    let iid = t.dir().join("iid");
    for flag in ["-q", "--quiet"] {
        let run = build_raw(
            &t,
            &[
                flag,
                "--no-cache",
                "--iidfile",
                iid.to_str().unwrap(),
                "-t",
                "quiet:1",
                ctx.to_str().unwrap(),
            ],
            &[],
            None,
        )
        .ok();
        assert!(
            is_digest(&run.stdout.replace('\n', "")),
            "stdout: {:?}",
            run.stdout
        );
        assert_eq!(run.stdout.lines().count(), 1, "stdout: {:?}", run.stdout);
        assert_eq!(run.stdout.trim(), fs::read_to_string(&iid).unwrap().trim());
        assert_eq!(run.stderr, "", "stderr of {flag}");
    }
    // A failure is still reported.
    let bad = t.context("bad", &[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
    let run = build_raw(&t, &["-q", bad.to_str().unwrap()], &[], None).fails();
    assert!(run.stderr.contains("exit code: 3"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn progress_modes() {
    let t = ctx_or_skip!("progress_modes");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo progress-line\n")],
    );
    let c = ctx.to_str().unwrap();
    let quiet = build_raw(&t, &["--progress=quiet", "--no-cache", c], &[], None).ok();
    assert_eq!(quiet.stderr, "");
    assert!(is_digest(quiet.stdout.trim()), "{}", quiet.stdout);
    let plain = build_raw(&t, &["--progress", "plain", "--no-cache", c], &[], None).ok();
    assert!(
        plain
            .stderr
            .lines()
            .any(|l| l.starts_with('#') && l.contains("RUN echo progress-line")),
        "{}",
        plain.stderr
    );
    let json = build_raw(&t, &["--progress=json", "--no-cache", c], &[], None).ok();
    let events: Vec<Value> = json
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(!events.is_empty());
    assert!(json.stderr.contains("progress-line"), "{}", json.stderr);
    // Not a terminal: auto and tty still build (tty degrades to lines).
    for mode in ["auto", "tty"] {
        build_raw(&t, &["--progress", mode, c], &[], None).ok();
    }
    let bad = build_raw(&t, &["--progress=fancy", c], &[], None).fails();
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);
}

// ---------------------------------------------------------------------------------------
// Secrets and network: --secret, --ssh, --network, --add-host

#[test]
fn secret_from_env_and_file() {
    let t = ctx_or_skip!("secret_from_env_and_file");
    let file = t.dir().join("token.txt");
    fs::write(&file, "from-file").unwrap();
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=secret,id=envtok cat /run/secrets/envtok > /env-secret\n\
             RUN --mount=type=secret,id=filetok cat /run/secrets/filetok > /file-secret\n",
        )],
    );
    t.build_in(
        t.root(),
        &ctx,
        &[
            "-t",
            "secret:1",
            "--secret",
            "id=envtok,env=STRATA_FLAGS_SECRET",
            "--secret",
            &format!("id=filetok,src={}", file.display()),
        ],
        &[
            ("SOURCE_DATE_EPOCH", EPOCH),
            ("STRATA_FLAGS_SECRET", "from-env"),
        ],
    )
    .ok();
    let r = t.unpack("secret:1");
    assert_eq!(read(&r, "/env-secret"), "from-env");
    assert_eq!(read(&r, "/file-secret"), "from-file");
    let run = t
        .build(&ctx, &["--secret", "id=x,env=STRATA_FLAGS_NOT_SET"])
        .fails();
    assert!(
        run.stderr.contains("STRATA_FLAGS_NOT_SET"),
        "{}",
        run.stderr
    );
}

#[test]
fn ssh_default_and_id_path() {
    let t = ctx_or_skip!("ssh_default_and_id_path");
    let sock = t.dir().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo default-ok > /ssh-default\n\
             RUN --mount=type=ssh,id=deploy test -S \"$SSH_AUTH_SOCK\" && echo deploy-ok > /ssh-deploy\n",
        )],
    );
    // Bare `default` takes $SSH_AUTH_SOCK, as docker does.
    t.build_in(
        t.root(),
        &ctx,
        &[
            "-t",
            "ssh:1",
            "--ssh",
            "default",
            "--ssh",
            &format!("deploy={}", sock.display()),
        ],
        &[
            ("SOURCE_DATE_EPOCH", EPOCH),
            ("SSH_AUTH_SOCK", sock.to_str().unwrap()),
        ],
    )
    .ok();
    let r = t.unpack("ssh:1");
    assert_eq!(read(&r, "/ssh-default"), "default-ok\n");
    assert_eq!(read(&r, "/ssh-deploy"), "deploy-ok\n");
}

#[test]
fn network_none_leaves_only_loopback() {
    let t = ctx_or_skip!("network_none_leaves_only_loopback");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /ifaces\n\
             RUN --network=host tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /host-ifaces\n",
        )],
    );
    t.build(&ctx, &["-t", "net:default", "--network", "default"])
        .ok();
    let host_ifaces = read(&t.unpack("net:default"), "/ifaces");
    assert!(
        host_ifaces.lines().count() > 1,
        "the host has only {host_ifaces:?}"
    );
    let run = t.build(&ctx, &["-t", "net:none", "--network=none"]).ok();
    // The forced mode is part of the step, so the default build's cache does not answer.
    assert!(!run.step("> /ifaces").cached, "{}", run.stderr);
    let r = t.unpack("net:none");
    assert_eq!(read(&r, "/ifaces"), "lo\n");
    // A step that asks for the host network keeps it.
    assert_eq!(read(&r, "/host-ifaces"), host_ifaces);
    t.build(&ctx, &["-t", "net:host", "--network", "host"]).ok();
    assert_eq!(read(&t.unpack("net:host"), "/ifaces"), host_ifaces);
    t.build(&ctx, &["--network", "bridge"]).fails();
}

#[test]
fn add_host_entries_reach_etc_hosts() {
    let t = ctx_or_skip!("add_host_entries_reach_etc_hosts");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN cat /etc/hosts > /h\n")],
    );
    t.build(
        &ctx,
        &[
            "-t",
            "hosts:1",
            "--add-host",
            "db.internal:10.1.2.3",
            "--add-host",
            "v6host=fd00::5",
        ],
    )
    .ok();
    let r = t.unpack("hosts:1");
    let hosts = read(&r, "/h");
    assert!(hosts.contains("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(
        hosts.lines().any(|l| l == "10.1.2.3\tdb.internal"),
        "{hosts}"
    );
    assert!(hosts.lines().any(|l| l == "fd00::5\tv6host"), "{hosts}");
    // The generated file is bind-mounted, never part of the layer.
    assert!(!exists(&r, "/etc/hosts"));
    // Other entries make another step (a RUN that read /etc/hosts must see the change).
    let run = t
        .build(
            &ctx,
            &["-t", "hosts:2", "--add-host", "db.internal:10.9.9.9"],
        )
        .ok();
    assert!(!run.step("cat /etc/hosts").cached, "{}", run.stderr);
    assert!(read(&t.unpack("hosts:2"), "/h").contains("10.9.9.9\tdb.internal"));
    let bad = t.build(&ctx, &["--add-host", "db.internal"]).fails();
    assert!(bad.stderr.contains("HOST:IP"), "{}", bad.stderr);
    let bad = t.build(&ctx, &["--add-host", "db:not-an-ip"]).fails();
    assert!(bad.stderr.contains("not an IP address"), "{}", bad.stderr);
}

// ---------------------------------------------------------------------------------------
// Execution and global: --max-parallelism, --root

#[test]
fn max_parallelism_one_still_builds_and_zero_is_refused() {
    let t = ctx_or_skip!("max_parallelism_one_still_builds_and_zero_is_refused");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox AS a\nRUN echo a > /a\nFROM busybox AS b\nRUN echo b > /b\n\
             FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        )],
    );
    t.build(&ctx, &["--max-parallelism", "1", "-t", "par:1"])
        .ok();
    let r = t.unpack("par:1");
    assert_eq!(read(&r, "/a") + &read(&r, "/b"), "a\nb\n");
    t.build(&ctx, &["--max-parallelism", "0"]).fails();
}

#[test]
fn root_flag_after_the_command_chooses_the_store() {
    let t = ctx_or_skip!("root_flag_after_the_command_chooses_the_store");
    let ctx = t.context("ctx", &[("Dockerfile", "FROM busybox\nRUN echo r > /r\n")]);
    let other = t.other_root("root-2");
    // The harness puts `--root ROOT` before `build`; a later one (docker users put flags
    // after the command) wins.
    t.build(&ctx, &["--root", other.to_str().unwrap(), "-t", "rooted:1"])
        .ok();
    assert!(support_build::store_ref(&other, "rooted:1").contains("root-2"));
    let index = fs::read_to_string(other.join("store/index.json")).unwrap();
    assert!(index.contains("rooted:1"), "{index}");
    let index = fs::read_to_string(t.root().join("store/index.json")).unwrap();
    assert!(!index.contains("rooted:1"), "{index}");
}

// ---------------------------------------------------------------------------------------
// Registry: --insecure-registry, --registry-ca (off loopback, where they matter)

/// This machine's first non-loopback IPv4 address, if it has one.
fn non_loopback_ip() -> Option<IpAddr> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
}

/// `docker-registry` listening on `addr`, optionally with TLS; killed on drop.
struct OwnRegistry {
    child: Child,
    _dir: tempfile::TempDir,
}

impl OwnRegistry {
    fn start(addr: SocketAddr, tls: Option<(&Path, &Path)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tls_yaml = tls
            .map(|(cert, key)| {
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                )
            })
            .unwrap_or_default();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: strata-flags\n{tls_yaml}",
            dir.path().join("storage").display()
        );
        let path = dir.path().join("config.yml");
        fs::write(&path, config).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, _dir: dir }
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate it signed for `ip`: (ca.pem, cert.pem, key.pem).
fn make_certificates(dir: &Path, ip: IpAddr) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=strata test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=strata test registry",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    fs::write(
        p("ext.cnf"),
        format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

#[test]
fn insecure_registry_and_registry_ca() {
    let t = ctx_or_skip!("insecure_registry_and_registry_ca");
    let Some(ip) = non_loopback_ip() else {
        eprintln!(
            "SKIP insecure_registry_and_registry_ca: no non-loopback address (loopback is always plain HTTP)"
        );
        return;
    };
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIP insecure_registry_and_registry_ca: openssl is not installed");
        return;
    }
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo reg > /reg\n")],
    );
    let no_proxy = [
        ("SOURCE_DATE_EPOCH", EPOCH),
        ("NO_PROXY", "*"),
        ("no_proxy", "*"),
    ];

    // Plain HTTP off loopback: refused (strata speaks TLS) unless --insecure-registry.
    let plain_addr = SocketAddr::new(ip, support::free_port());
    let _plain = OwnRegistry::start(plain_addr, None);
    let name = format!("{plain_addr}/flags/insecure:1");
    t.build_in(t.root(), &ctx, &["-t", &name, "--push"], &no_proxy)
        .fails();
    t.build_in(
        t.root(),
        &ctx,
        &[
            "-t",
            &name,
            "--push",
            "--insecure-registry",
            &plain_addr.to_string(),
        ],
        &no_proxy,
    )
    .ok();
    support::skopeo_inspect(&name, None, true);

    // TLS with our own CA: refused without --registry-ca, trusted with it.
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certificates(certs.path(), ip);
    let tls_addr = SocketAddr::new(ip, support::free_port());
    let _tls = OwnRegistry::start(tls_addr, Some((&cert, &key)));
    let name = format!("{tls_addr}/flags/tls:1");
    let run = t
        .build_in(t.root(), &ctx, &["-t", &name, "--push"], &no_proxy)
        .fails();
    assert!(
        run.stderr.to_lowercase().contains("certificate") || run.stderr.contains("TLS"),
        "{}",
        run.stderr
    );
    t.build_in(
        t.root(),
        &ctx,
        &["-t", &name, "--push", "--registry-ca", ca.to_str().unwrap()],
        &no_proxy,
    )
    .ok();
    support::skopeo_inspect(&name, None, true);
}

// ---------------------------------------------------------------------------------------
// The command line itself: suggestions, help, completion, man page

#[test]
fn unknown_flag_gets_a_suggestion() {
    let run = strata(&["build", "--tagg", "x", "."]).fails();
    assert!(run.stderr.contains("--tag"), "{}", run.stderr);
    assert!(run.stderr.contains("similar"), "{}", run.stderr);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn help_is_grouped() {
    let run = strata(&["build", "--help"]).ok();
    for heading in [
        "Input:",
        "Cache:",
        "Output:",
        "Secrets and network:",
        "Registry:",
        "Global options:",
    ] {
        assert!(
            run.stdout.contains(heading),
            "no {heading} in\n{}",
            run.stdout
        );
    }
    for flag in [
        "--tag",
        "--file",
        "--build-arg",
        "--target",
        "--platform",
        "--no-cache",
        "--no-cache-filter",
        "--pull",
        "--push",
        "--output",
        "--label",
        "--iidfile",
        "--metadata-file",
        "--secret",
        "--ssh",
        "--network",
        "--add-host",
        "--quiet",
        "--progress",
        "--root",
        "--max-parallelism",
        "--compression",
        "--insecure-registry",
        "--registry-ca",
    ] {
        assert!(run.stdout.contains(flag), "no {flag} in\n{}", run.stdout);
    }
    let top = strata(&["--help"]).ok();
    for command in ["build", "push", "pull", "completion", "man"] {
        assert!(top.stdout.contains(command), "{}", top.stdout);
    }
}

#[test]
fn completion_and_man_page() {
    let bash = strata(&["completion", "bash"]).ok();
    assert!(bash.stdout.contains("complete -F"), "{}", bash.stdout);
    assert!(
        bash.stdout.contains("--add-host"),
        "bash completion lacks build flags"
    );
    // bash itself accepts the script.
    let check = Command::new("bash")
        .args(["-n", "-c", &bash.stdout])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for shell in ["zsh", "fish"] {
        let run = strata(&["completion", shell]).ok();
        assert!(run.stdout.contains("strata"), "{shell}");
    }
    let man = strata(&["man", "build"]).ok();
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH"),
        "{}",
        man.stdout
    );
    assert!(man.stdout.contains("strata\\-build") || man.stdout.contains("strata-build"));
    assert!(man.stdout.contains("add\\-host"), "{}", man.stdout);
    strata(&["man", "nosuch"]).fails();
}
