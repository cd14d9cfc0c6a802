//! Snapshot tests of what the user reads when something fails (DESIGN.md section 9): the
//! real binary runs against real inputs (Dockerfiles, contexts, Debian's
//! `docker-registry` with and without htpasswd auth or TLS, a full tmpfs, an
//! unprivileged user), and the `error:` part of its stderr, normalised by
//! `tests/support_errors`, must equal `tests/snapshots/errors/<case>.txt`.
//! `STRATA_BLESS=1 cargo test --test errors` rewrites the snapshots; review the diff.
//!
//! Every case also asserts exit code 1, exactly one `error:` line and no panic. The tests
//! need root (namespaces, overlayfs, tmpfs mounts); elsewhere each one prints why it
//! skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../registry-client/tests/support/mod.rs"]
mod support;
mod support_build;
mod support_errors;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{BaseImage, ImageFormat, Registry, RegistryAuth};
use support_build::{TestContext, strata_bin, write};
use support_errors::{Failure, TlsRegistry, assert_snapshot, outside_ip};

/// One case's world: a root seeded with the busybox base, an empty docker config (no
/// credentials from the host), and the strings its snapshot replaces.
struct Case {
    name: &'static str,
    /// The exit code the case expects: 1, or 2 for a command line clap rejects.
    code: i32,
    t: TestContext,
    docker_config: PathBuf,
    replacements: Vec<(String, &'static str)>,
}

impl Case {
    /// The case, or `None` after the skip message.
    fn new(name: &'static str) -> Option<Self> {
        let t = TestContext::new(name)?;
        let docker_config = t.dir().join("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        let replacements = vec![(t.dir().display().to_string(), "[TMP]")];
        Some(Self {
            name,
            code: 1,
            t,
            docker_config,
            replacements,
        })
    }

    /// Replace `text` by `placeholder` in the snapshot.
    fn replace(&mut self, text: impl Into<String>, placeholder: &'static str) {
        self.replacements.push((text.into(), placeholder));
    }

    /// `strata --root ROOT ARGS...` with this case's docker config.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(strata_bin());
        cmd.arg("--root")
            .arg(self.t.root())
            .args(args)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("NO_COLOR", "1")
            .env_remove("STRATA_ROOT")
            .env_remove("STRATA_LOG")
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::null());
        cmd
    }

    /// A context `ctx` holding `files` and this Dockerfile.
    fn context(&self, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.t.context("ctx", files);
        write(&ctx.join("Dockerfile"), dockerfile);
        ctx
    }

    /// `strata build --progress=plain ARGS... CTX` of a context made of `dockerfile` and
    /// `files`; asserts the snapshot.
    fn build(&self, dockerfile: &str, files: &[(&str, &str)], args: &[&str]) {
        let ctx = self.context(dockerfile, files);
        let mut cmd = self.command(&["build", "--progress=plain"]);
        cmd.args(args).arg(&ctx);
        self.check(&mut cmd);
    }

    /// `strata ARGS...`; asserts the snapshot.
    fn run(&self, args: &[&str]) {
        self.check(&mut self.command(args));
    }

    fn check(&self, cmd: &mut Command) {
        assert_snapshot(self.name, self.code, &Failure::of(cmd), &self.replacements);
    }
}

macro_rules! case {
    ($name:ident) => {
        match Case::new(stringify!($name)) {
            Some(c) => c,
            None => return,
        }
    };
}

// ---- Dockerfile parse errors -------------------------------------------------------

#[test]
fn parse_unknown_instruction() {
    case!(parse_unknown_instruction).build("FROM busybox\nRUNN echo hi\nCMD [\"sh\"]\n", &[], &[]);
}

#[test]
fn parse_unknown_flag() {
    case!(parse_unknown_flag).build("FROM busybox\nCOPY --chwon=1:1 a /a\n", &[("a", "x")], &[]);
}

#[test]
fn parse_instruction_before_from() {
    case!(parse_instruction_before_from).build("RUN echo hi\nFROM busybox\n", &[], &[]);
}

#[test]
fn parse_unterminated_heredoc() {
    case!(parse_unterminated_heredoc).build("FROM busybox\nRUN <<EOF\necho hi\nEOFF\n", &[], &[]);
}

#[test]
fn parse_arg_without_name() {
    case!(parse_arg_without_name).build("FROM busybox\nARG =1\n", &[], &[]);
}

#[test]
fn parse_env_without_value() {
    case!(parse_env_without_value).build("FROM busybox\nENV\nRUN true\n", &[], &[]);
}

#[test]
fn parse_copy_with_one_argument() {
    case!(parse_copy_with_one_argument).build("FROM busybox\nCOPY app.py\n", &[], &[]);
}

#[test]
fn parse_required_variable_unset() {
    case!(parse_required_variable_unset).build(
        "FROM busybox\nARG VERSION\nENV V=\"${VERSION:?pass --build-arg VERSION=...}\"\n",
        &[],
        &[],
    );
}

#[test]
fn parse_empty_dockerfile_from_stdin() {
    let c = case!(parse_empty_dockerfile_from_stdin);
    let ctx = c.t.context("ctx", &[("a", "x")]);
    let mut cmd = c.command(&["build", "--progress=plain", "-f", "-"]);
    cmd.arg(&ctx).stdin(Stdio::piped());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdin.take()); // empty stdin
    let out = child.wait_with_output().unwrap();
    let failure = Failure {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_snapshot(c.name, c.code, &failure, &c.replacements);
}

// ---- Failed steps ------------------------------------------------------------------

#[test]
fn run_exits_non_zero() {
    case!(run_exits_non_zero).build(
        "FROM busybox\nCOPY a /a\nRUN echo building; exit 3\nCMD [\"sh\"]\n",
        &[("a", "x")],
        &[],
    );
}

#[test]
fn run_command_not_found() {
    case!(run_command_not_found).build(
        "FROM busybox\nRUN [\"/no/such/binary\", \"arg\"]\n",
        &[],
        &[],
    );
}

#[test]
fn copy_missing_file() {
    case!(copy_missing_file).build("FROM busybox\nCOPY app.py /app/\n", &[("other", "x")], &[]);
}

#[test]
fn copy_dockerignored_file() {
    case!(copy_dockerignored_file).build(
        "FROM busybox\nCOPY app.py /app/\n",
        &[("app.py", "print()\n"), (".dockerignore", "*.py\n")],
        &[],
    );
}

#[test]
fn copy_from_outside_the_context() {
    case!(copy_from_outside_the_context).build(
        "FROM busybox\nCOPY ../secret.txt /\n",
        &[("a", "x")],
        &[],
    );
}

#[test]
fn copy_from_unknown_stage() {
    // Not a stage, so an image, as docker reads it: the registry has no such image.
    let mut c = case!(copy_from_unknown_stage);
    let registry = Registry::start();
    c.replace(registry.host(), "[REGISTRY]");
    let df = format!(
        "FROM busybox AS builder\nRUN true\nFROM busybox\nCOPY --from={}/buildr /a /a\n",
        registry.host()
    );
    c.build(&df, &[], &[]);
}

// ---- Bad flags ---------------------------------------------------------------------

#[test]
fn flag_unknown_target() {
    case!(flag_unknown_target).build(
        "FROM busybox AS build\nRUN true\nFROM busybox AS runtime\n",
        &[],
        &["--target", "biuld"],
    );
}

#[test]
fn flag_bad_build_arg() {
    case!(flag_bad_build_arg).build("FROM busybox\n", &[], &["--build-arg", "=1"]);
}

#[test]
fn flag_bad_output() {
    case!(flag_bad_output).build("FROM busybox\n", &[], &["--output", "type=tarball,dest=x"]);
}

#[test]
fn flag_bad_secret() {
    case!(flag_bad_secret).build("FROM busybox\n", &[], &["--secret", "token"]);
}

#[test]
fn flag_missing_secret_file() {
    case!(flag_missing_secret_file).build(
        "FROM busybox\nRUN --mount=type=secret,id=token cat /run/secrets/token\n",
        &[],
        &["--secret", "id=token,src=/nonexistent/token.txt"],
    );
}

#[test]
fn flag_bad_platform() {
    case!(flag_bad_platform).build("FROM busybox\n", &[], &["--platform", "linux/amd64/v2/x"]);
}

#[test]
fn flag_unknown_option() {
    // Usage errors exit with 2, as clap (and most CLIs) do.
    let mut c = case!(flag_unknown_option);
    c.code = 2;
    c.build("FROM busybox\n", &[], &["--tagg", "x"]);
}

#[test]
fn no_such_dockerfile() {
    case!(no_such_dockerfile).build("FROM busybox\n", &[], &["-f", "Dockerfile.prod"]);
}

#[test]
fn no_such_context() {
    let c = case!(no_such_context);
    let missing = c.t.dir().join("no-such-dir");
    c.run(&["build", "--progress=plain", missing.to_str().unwrap()]);
}

#[test]
fn rmi_no_such_image() {
    case!(rmi_no_such_image).run(&["rmi", "nosuch:1"]);
}

#[test]
fn rmi_two_missing_images() {
    case!(rmi_two_missing_images).run(&["rmi", "nosuch:1", "busybox", "nosuch:2"]);
}

#[test]
fn pull_invalid_reference() {
    case!(pull_invalid_reference).run(&["pull", "Busybox:latest"]);
}

// ---- Registries --------------------------------------------------------------------

fn htpasswd_registry() -> Registry {
    let registry = Registry::start_with(RegistryAuth::Htpasswd {
        user: "strata".into(),
        password: "s3cret-Pa55".into(),
    });
    BaseImage::busybox().push(
        &registry.host(),
        "team/app:1",
        Some(("strata", "s3cret-Pa55")),
        ImageFormat::Oci,
    );
    registry
}

#[test]
fn registry_unauthorized_pull() {
    let mut c = case!(registry_unauthorized_pull);
    let registry = htpasswd_registry();
    c.replace(registry.host(), "[REGISTRY]");
    c.run(&["pull", &format!("{}/team/app:1", registry.host())]);
}

#[test]
fn registry_unauthorized_from() {
    let mut c = case!(registry_unauthorized_from);
    let registry = htpasswd_registry();
    c.replace(registry.host(), "[REGISTRY]");
    c.build(
        &format!("FROM {}/team/app:1\nRUN true\n", registry.host()),
        &[],
        &[],
    );
}

#[test]
fn registry_push_unauthorized() {
    let mut c = case!(registry_push_unauthorized);
    let registry = htpasswd_registry();
    c.replace(registry.host(), "[REGISTRY]");
    let name = format!("{}/team/new:1", registry.host());
    c.build(
        "FROM busybox\nRUN echo hi > /hi\n",
        &[],
        &["-t", &name, "--push"],
    );
}

#[test]
fn registry_image_not_found() {
    let mut c = case!(registry_image_not_found);
    let registry = Registry::start();
    c.replace(registry.host(), "[REGISTRY]");
    c.run(&["pull", &format!("{}/team/absent:1", registry.host())]);
}

#[test]
fn registry_from_not_found() {
    let mut c = case!(registry_from_not_found);
    let registry = Registry::start();
    c.replace(registry.host(), "[REGISTRY]");
    c.build(
        &format!(
            "ARG V=1\nFROM {}/team/absent:$V\nRUN true\n",
            registry.host()
        ),
        &[],
        &[],
    );
}

#[test]
fn registry_unreachable() {
    let c = case!(registry_unreachable);
    // A port nothing listens on.
    let port = support::free_port();
    c.run(&["pull", &format!("127.0.0.1:{port}/team/app:1")]);
}

#[test]
fn registry_tls_unknown_authority() {
    let mut c = case!(registry_tls_unknown_authority);
    let Some(ip) = outside_ip() else {
        eprintln!("SKIP registry_tls_unknown_authority: no non-loopback address to serve HTTPS on");
        return;
    };
    let registry = TlsRegistry::start(&ip);
    c.replace(registry.host.clone(), "[REGISTRY]");
    c.run(&["pull", &format!("{}/team/app:1", registry.host)]);
    // With the CA the same registry is trusted: it answers "manifest unknown".
    let with_ca = Failure::of(&mut c.command(&[
        "--registry-ca",
        registry.cert.to_str().unwrap(),
        "pull",
        &format!("{}/team/app:1", registry.host),
    ]));
    assert!(
        with_ca.stderr.contains("MANIFEST_UNKNOWN") && !with_ca.stderr.contains("certificate"),
        "{}",
        with_ca.stderr
    );
}

// ---- The machine: disk and permissions ---------------------------------------------

/// A tmpfs mounted on a directory; unmounted on drop.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full() {
    let c = case!(disk_full);
    let root = c.t.dir().join("small-root");
    std::fs::create_dir_all(&root).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&root)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP disk_full: cannot mount a tmpfs");
        return;
    }
    let _mount = Tmpfs(root.clone());
    // 4 MiB that do not compress: more than the disk holds.
    let ctx = c.t.context("ctx", &[]);
    let mut noise = std::fs::File::create(ctx.join("blob.bin")).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..4 {
        for b in buf.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        noise.write_all(&buf).unwrap();
    }
    write(&ctx.join("Dockerfile"), "FROM scratch\nCOPY blob.bin /\n");
    let mut cmd = Command::new(strata_bin());
    cmd.arg("--root")
        .arg(&root)
        .args(["build", "--progress=plain", "-t", "big:1"])
        .arg(&ctx)
        .env("DOCKER_CONFIG", &c.docker_config)
        .env_remove("STRATA_ROOT")
        .stdin(Stdio::null());
    c.check(&mut cmd);
}

/// `setpriv` arguments that run a command as `nobody` with no groups.
const AS_NOBODY: &[&str] = &["--reuid=65534", "--regid=65534", "--clear-groups"];

#[test]
fn permission_root_not_writable() {
    let c = case!(permission_root_not_writable);
    // A root-owned directory that nobody may not write into.
    let parent = c.t.dir().join("system");
    std::fs::create_dir_all(&parent).unwrap();
    open_for_nobody(c.t.dir());
    let root = parent.join("strata");
    let ctx = c.context("FROM busybox\n", &[]);
    open_for_nobody(&ctx);
    let mut cmd = Command::new("setpriv");
    cmd.args(AS_NOBODY)
        .arg(strata_bin())
        .arg("--root")
        .arg(&root)
        .args(["build", "--progress=plain"])
        .arg(&ctx)
        .env("DOCKER_CONFIG", &c.docker_config)
        .env_remove("STRATA_ROOT")
        .stdin(Stdio::null());
    c.check(&mut cmd);
}

#[test]
fn permission_no_namespaces_as_nobody() {
    let c = case!(permission_no_namespaces_as_nobody);
    // A root nobody owns, so the build gets as far as running a step.
    let root = c.t.dir().join("nobody-root");
    Command::new("cp")
        .arg("-a")
        .arg(c.t.root())
        .arg(&root)
        .status()
        .unwrap();
    Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&root)
        .status()
        .unwrap();
    open_for_nobody(c.t.dir());
    let ctx = c.context("FROM busybox\nRUN echo hi\n", &[]);
    open_for_nobody(&ctx);
    let mut cmd = Command::new("setpriv");
    cmd.args(AS_NOBODY)
        .arg(strata_bin())
        .arg("--root")
        .arg(&root)
        .args(["build", "--progress=plain"])
        .arg(&ctx)
        .env("DOCKER_CONFIG", &c.docker_config)
        .env_remove("STRATA_ROOT")
        .stdin(Stdio::null());
    c.check(&mut cmd);
}

/// Lets other users traverse and read `dir` and its contents (tempdirs are 0700).
fn open_for_nobody(dir: &Path) {
    let ok = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
}
