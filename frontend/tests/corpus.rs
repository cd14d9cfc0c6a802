//! The whole frontend over a corpus of real-world-shaped Dockerfiles.
//!
//! `testdata/dockerfiles/good/NAME.Dockerfile` must parse, dump, type and lower
//! against a resolver that answers any image with a plausible config; its
//! `NAME.expect` sidecar lists facts about the result (one `key=value` a line,
//! see [`check`] for the keys) and an optional `NAME.args` gives the build
//! options (`target=`, `platform=`, `build-arg=K=V`).
//!
//! `testdata/dockerfiles/bad/NAME.Dockerfile` must fail; its `NAME.expect`
//! holds the error kind, its first (and last) line and a substring of the
//! message: `kind=UnknownInstruction line=3 message=unknown instruction`, with
//! optional `end=N` (default: `line`), `hint=...` and, for failures that only
//! the lowering finds, the same `NAME.args` sidecar.
//!
//! Every file is checked and every mismatch reported at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use frontend::instructions::parse_dockerfile;
use frontend::lower::{ImageResolver, LowerOptions, Lowered, ResolvedImage, lower};
use frontend::parser::{dump, parse};
use frontend::{DockerfileError, ImageSpec, Platform};
use serde_json::{Value, json};
use solver::graph::{ExecOp, FileAction, MountKind, NetworkMode, Op, SourceOp};

/// The shell PATH of most official images.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The triggers of `example/python-onbuild`, as `onbuild-base.Dockerfile` writes them.
const ONBUILD_TRIGGERS: [&str; 5] = [
    "COPY requirements.txt /usr/src/app/",
    "RUN pip install --no-cache-dir -r requirements.txt",
    "COPY . /usr/src/app",
    "ARG APP_VERSION=dev",
    "LABEL org.opencontainers.image.version=${APP_VERSION}",
];

/// Answers every reference with a config shaped like the real image's, and
/// records what was asked, in order.
#[derive(Default)]
struct AnyImage {
    asked: RefCell<Vec<(String, String)>>,
}

impl AnyImage {
    fn config(reference: &str) -> Value {
        let path = |prefix: &str| format!("PATH={prefix}:{DEFAULT_PATH}");
        let r = reference;
        if r.contains("onbuild") {
            json!({
                "Env": ["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
                "WorkingDir": "/usr/src/app",
                "Cmd": ["python3"],
                "OnBuild": ONBUILD_TRIGGERS,
            })
        } else if r.contains("distroless") {
            let mut c = json!({"Env": [format!("PATH={DEFAULT_PATH}"), "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]});
            if r.contains("nodejs") {
                c["Entrypoint"] = json!(["/nodejs/bin/node"]);
            }
            if r.ends_with(":nonroot") {
                c["User"] = json!("65532");
                c["WorkingDir"] = json!("/home/nonroot");
            }
            c
        } else if r.starts_with("node:") {
            json!({
                "Env": [format!("PATH={DEFAULT_PATH}"), "NODE_VERSION=20.14.0", "YARN_VERSION=1.22.19"],
                "Entrypoint": ["docker-entrypoint.sh"],
                "Cmd": ["node"],
            })
        } else if r.contains("python") {
            json!({
                "Env": ["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "PYTHON_VERSION=3.12.4"],
                "Cmd": ["python3"],
            })
        } else if r.contains("golang") {
            json!({
                "Env": [path("/go/bin:/usr/local/go/bin"), "GOLANG_VERSION=1.22.5", "GOTOOLCHAIN=local", "GOPATH=/go"],
                "WorkingDir": "/go",
            })
        } else if r.starts_with("rust:") {
            json!({
                "Env": [path("/usr/local/cargo/bin"), "RUSTUP_HOME=/usr/local/rustup", "CARGO_HOME=/usr/local/cargo", "RUST_VERSION=1.79.0"],
            })
        } else if r.starts_with("maven:") {
            json!({
                "Env": [path("/opt/java/openjdk/bin"), "JAVA_HOME=/opt/java/openjdk", "MAVEN_HOME=/usr/share/maven"],
                "Entrypoint": ["/usr/local/bin/mvn-entrypoint.sh"],
                "Cmd": ["mvn"],
            })
        } else if r.contains("eclipse-temurin") {
            json!({
                "Env": [path("/opt/java/openjdk/bin"), "JAVA_HOME=/opt/java/openjdk", "LANG=en_US.UTF-8"],
                "Entrypoint": ["/__cacert_entrypoint.sh"],
            })
        } else if r.contains("nginx") {
            json!({
                "Env": [format!("PATH={DEFAULT_PATH}"), "NGINX_VERSION=1.27.0"],
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "ExposedPorts": {"80/tcp": {}},
                "StopSignal": "SIGQUIT",
            })
        } else if r.contains("dotnet/aspnet") {
            json!({
                "Env": ["APP_UID=1654", "ASPNETCORE_HTTP_PORTS=8080", "DOTNET_RUNNING_IN_CONTAINER=true"],
            })
        } else if r.starts_with("php:") {
            json!({
                "Env": [format!("PATH={DEFAULT_PATH}"), "PHP_VERSION=8.3.8", "PHP_INI_DIR=/usr/local/etc/php"],
                "Entrypoint": ["docker-php-entrypoint"],
                "WorkingDir": "/var/www/html",
                "Cmd": ["php-fpm"],
                "StopSignal": "SIGQUIT",
            })
        } else if r.starts_with("haproxy:") {
            json!({
                "Env": [format!("PATH={DEFAULT_PATH}"), "HAPROXY_VERSION=2.9.9"],
                "User": "haproxy",
                "WorkingDir": "/var/lib/haproxy",
                "Entrypoint": ["docker-entrypoint.sh"],
                "Cmd": ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
                "StopSignal": "SIGUSR1",
            })
        } else if r.contains("ruby:") {
            json!({
                "Env": [path("/usr/local/bundle/bin"), "LANG=C.UTF-8", "GEM_HOME=/usr/local/bundle", "BUNDLE_SILENCE_ROOT_WARNING=1"],
                "Cmd": ["irb"],
            })
        } else if r.contains("powershell") {
            json!({"Env": [format!("PATH={DEFAULT_PATH}"), "PSModuleAnalysisCachePath=/var/cache/microsoft/powershell"], "Cmd": ["pwsh"]})
        } else if r.contains("debian") || r.contains("ubuntu") || r.contains("ubi") {
            json!({"Env": [format!("PATH={DEFAULT_PATH}")], "Cmd": ["bash"]})
        } else {
            json!({"Env": [format!("PATH={DEFAULT_PATH}")], "Cmd": ["/bin/sh"]})
        }
    }
}

impl ImageResolver for AnyImage {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        self.asked
            .borrow_mut()
            .push((reference.to_string(), platform.to_string()));
        let spec = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "variant": platform.variant,
            "config": Self::config(reference),
        });
        let spec: ImageSpec = serde_json::from_value(spec).map_err(|e| e.to_string())?;
        let name = reference.split('@').next().unwrap_or(reference);
        Ok(ResolvedImage {
            reference: format!("{name}@sha256:{}", "5".repeat(64)),
            spec,
        })
    }
}

fn testdata(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/dockerfiles")
        .join(dir)
}

/// The `*.Dockerfile` files of a corpus directory, sorted.
fn dockerfiles(dir: &str) -> Vec<PathBuf> {
    let dir = testdata(dir);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "Dockerfile"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sidecar's `key=value` lines (blank lines and `#` comments skipped).
fn sidecar(path: &Path) -> Vec<(String, String)> {
    if !path.exists() {
        return Vec::new();
    }
    read(path)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => panic!("{}: `{l}` is not key=value", path.display()),
        })
        .collect()
}

/// Build options from a `.args` sidecar; always for linux/amd64 on linux/amd64
/// unless `platform=` says otherwise, so that results do not depend on the host.
fn options(dockerfile: &Path) -> LowerOptions {
    let amd64 = Platform::parse("linux/amd64").unwrap_or_else(|e| panic!("{e}"));
    let mut opts = LowerOptions {
        target_platform: amd64.clone(),
        build_platform: amd64,
        ..LowerOptions::default()
    };
    for (key, value) in sidecar(&dockerfile.with_extension("args")) {
        match key.as_str() {
            "target" => opts.target = Some(value),
            "platform" => {
                opts.target_platform = Platform::parse(&value).unwrap_or_else(|e| panic!("{e}"));
            }
            "build-arg" => {
                let (k, v) = value.split_once('=').unwrap_or((value.as_str(), ""));
                opts.build_args.insert(k.to_string(), v.to_string());
            }
            other => panic!("{}: unknown .args key `{other}`", dockerfile.display()),
        }
    }
    opts
}

fn execs(l: &Lowered) -> Vec<&ExecOp> {
    l.graph
        .vertices()
        .filter_map(|(_, v)| match &v.op {
            Op::Exec(x) => Some(x),
            _ => None,
        })
        .collect()
}

fn file_actions(l: &Lowered) -> Vec<&FileAction> {
    l.graph
        .vertices()
        .filter_map(|(_, v)| match &v.op {
            Op::File(f) => Some(f.actions.iter()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn sources(l: &Lowered) -> Vec<&SourceOp> {
    l.graph
        .vertices()
        .filter_map(|(_, v)| match &v.op {
            Op::Source(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// `kind:target` for every non-root mount of every exec.
fn mounts(l: &Lowered) -> BTreeSet<String> {
    execs(l)
        .iter()
        .flat_map(|x| x.mounts.iter().skip(1))
        .map(|m| {
            let kind = match &m.kind {
                MountKind::Bind { .. } => "bind",
                MountKind::Cache { .. } => "cache",
                MountKind::Tmpfs { .. } => "tmpfs",
                MountKind::Secret { .. } => "secret",
                MountKind::Ssh { .. } => "ssh",
            };
            format!("{kind}:{}", m.target)
        })
        .collect()
}

/// What each copy action does, as `flag:value` words.
fn copy_facts(l: &Lowered) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    for action in file_actions(l) {
        if let FileAction::Copy { dest, options, .. } = action {
            if options.parents {
                facts.insert(format!("parents:{dest}"));
            }
            if options.unpack_archive {
                facts.insert(format!("unpack:{dest}"));
            }
            for e in &options.exclude {
                facts.insert(format!("exclude:{e}"));
            }
            if let Some(c) = &options.chmod {
                facts.insert(format!("chmod:{c}"));
            }
            if let Some(c) = &options.chown {
                match &c.group {
                    Some(g) => facts.insert(format!("chown:{}:{g}", c.user)),
                    None => facts.insert(format!("chown:{}", c.user)),
                };
            }
        }
    }
    facts
}

fn json_list(v: &Option<Vec<String>>) -> String {
    match v {
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "none".into(),
    }
}

/// Normalise a JSON list written in a sidecar, so spacing does not matter.
fn normalise_json(text: &str) -> String {
    if text == "none" {
        return text.into();
    }
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(v) => serde_json::to_string(&v).unwrap_or_default(),
        Err(e) => format!("<bad JSON in sidecar: {e}>"),
    }
}

/// `30s` or `1m` in nanoseconds.
fn seconds_ns(text: &str) -> u64 {
    let (n, unit) = text.split_at(text.len() - 1);
    let n: u64 = n.parse().unwrap_or_else(|e| panic!("`{text}`: {e}"));
    match unit {
        "s" => n * 1_000_000_000,
        "m" => n * 60_000_000_000,
        _ => panic!("`{text}`: use s or m"),
    }
}

/// Check one `key=value` fact; `Err` says what differs.
fn check(l: &Lowered, asked: &[(String, String)], key: &str, want: &str) -> Result<(), String> {
    let config = &l.image.config;
    let same = |actual: String| {
        if actual == want {
            Ok(())
        } else {
            Err(format!("{key}: expected `{want}`, got `{actual}`"))
        }
    };
    let holds = |ok: bool, what: &dyn std::fmt::Debug| {
        if ok {
            Ok(())
        } else {
            Err(format!("{key}={want}: not found in {what:?}"))
        }
    };
    let words = |s: &str| {
        s.split_whitespace()
            .map(String::from)
            .collect::<BTreeSet<_>>()
    };
    let xs = execs(l);
    match key {
        "execs" => same(xs.len().to_string()),
        "layers" => same(l.layer_steps.len().to_string()),
        "stage" => same(l.stage.clone()),
        "workdir" => same(config.working_dir.clone()),
        "user" => same(config.user.clone()),
        "stopsignal" => same(config.stop_signal.clone()),
        "author" => same(l.image.author.clone()),
        "architecture" => same(l.image.architecture.clone()),
        "entrypoint" => holds(
            json_list(&config.entrypoint) == normalise_json(want),
            &config.entrypoint,
        ),
        "cmd" => holds(json_list(&config.cmd) == normalise_json(want), &config.cmd),
        "shell" => holds(
            json_list(&config.shell) == normalise_json(want),
            &config.shell,
        ),
        "healthcheck" => {
            let test = config.healthcheck.as_ref().map(|h| h.test.clone());
            holds(json_list(&test) == normalise_json(want), &test)
        }
        "healthcheck-interval" => {
            let got = config.healthcheck.as_ref().map_or(0, |h| h.interval);
            holds(got == seconds_ns(want), &got)
        }
        "healthcheck-retries" => same(
            config
                .healthcheck
                .as_ref()
                .map_or(0, |h| h.retries)
                .to_string(),
        ),
        "onbuild" => {
            let got = config.on_build.clone().unwrap_or_default();
            if want == "none" {
                holds(got.is_empty(), &got)
            } else {
                holds(got.iter().any(|t| t == want), &got)
            }
        }
        "images" => {
            let mut seen = Vec::new();
            for (r, _) in asked {
                if !seen.contains(r) {
                    seen.push(r.clone());
                }
            }
            same(seen.join(" "))
        }
        "image-platform" => {
            let (r, p) = want.split_once(' ').unwrap_or((want, ""));
            // Only os/arch matter here; variants are the resolver's business.
            holds(
                asked.iter().any(|(ar, ap)| ar == r && ap.starts_with(p)),
                &asked,
            )
        }
        "env" => holds(config.env.iter().any(|e| e == want), &config.env),
        "label" => {
            let (k, v) = want.split_once('=').unwrap_or((want, ""));
            holds(config.labels.get(k).is_some_and(|x| x == v), &config.labels)
        }
        "ports" => {
            let got: BTreeSet<String> = config.exposed_ports.keys().cloned().collect();
            holds(got == words(want), &got)
        }
        "volumes" => {
            let got: BTreeSet<String> = config.volumes.keys().cloned().collect();
            holds(got == words(want), &got)
        }
        "mount" => {
            let got = mounts(l);
            holds(got.contains(want), &got)
        }
        "cache-id" | "secret" | "secret-env" | "ssh" | "tmpfs-size" => {
            let got: BTreeSet<String> = xs
                .iter()
                .flat_map(|x| x.mounts.iter())
                .filter_map(|m| match (&m.kind, key) {
                    (MountKind::Cache { id, .. }, "cache-id") => Some(id.clone()),
                    (MountKind::Secret { id, .. }, "secret") => Some(id.clone()),
                    (MountKind::Secret { env, .. }, "secret-env") => env.clone(),
                    (MountKind::Ssh { id, .. }, "ssh") => Some(id.clone()),
                    (MountKind::Tmpfs { size }, "tmpfs-size") => size.map(|s| s.to_string()),
                    _ => None,
                })
                .collect();
            holds(got.contains(want), &got)
        }
        "network" => {
            let got: Vec<&NetworkMode> = xs.iter().map(|x| &x.network).collect();
            let mode = match want {
                "host" => NetworkMode::Host,
                "none" => NetworkMode::None,
                _ => NetworkMode::Default,
            };
            holds(got.contains(&&mode), &got)
        }
        "run" | "no-run" => {
            let scripts: Vec<&str> = xs
                .iter()
                .filter_map(|x| x.args.last().map(String::as_str))
                .collect();
            let found = scripts.iter().any(|s| s.contains(want));
            holds(found == (key == "run"), &scripts)
        }
        "argv" => {
            let got: Vec<&Vec<String>> = xs.iter().map(|x| &x.args).collect();
            let want: Vec<String> = serde_json::from_str(want).map_err(|e| format!("argv: {e}"))?;
            holds(got.contains(&&want), &got)
        }
        "argv0" => {
            let got: Vec<&str> = xs
                .iter()
                .filter_map(|x| x.args.first().map(String::as_str))
                .collect();
            holds(got.contains(&want), &got)
        }
        "exec-env" => {
            let got: Vec<&Vec<String>> = xs.iter().map(|x| &x.env).collect();
            holds(got.iter().any(|env| env.iter().any(|e| e == want)), &got)
        }
        "no-exec-env" => {
            let prefix = format!("{want}=");
            let got: Vec<&Vec<String>> = xs.iter().map(|x| &x.env).collect();
            holds(
                !got.iter()
                    .any(|env| env.iter().any(|e| e.starts_with(&prefix))),
                &got,
            )
        }
        "exec-cwd" => {
            let got: Vec<&str> = xs.iter().map(|x| x.cwd.as_str()).collect();
            holds(got.contains(&want), &got)
        }
        "exec-user" => {
            let got: Vec<&str> = xs.iter().map(|x| x.user.as_str()).collect();
            holds(got.contains(&want), &got)
        }
        "file" | "nofile" => {
            let files: Vec<(String, u32, String)> = file_actions(l)
                .into_iter()
                .filter_map(|a| match a {
                    FileAction::Mkfile {
                        path, mode, data, ..
                    } => Some((
                        path.clone(),
                        *mode,
                        String::from_utf8_lossy(data).into_owned(),
                    )),
                    _ => None,
                })
                .collect();
            if key == "file" {
                let mut parts = want.splitn(3, ':');
                let (path, mode, text) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                let mode = u32::from_str_radix(mode, 8).map_err(|e| format!("file mode: {e}"))?;
                holds(
                    files
                        .iter()
                        .any(|(p, m, d)| p == path && *m == mode && d.contains(text)),
                    &files,
                )
            } else {
                let (path, text) = want.split_once(':').unwrap_or((want, ""));
                holds(
                    files.iter().any(|(p, _, d)| p == path && !d.contains(text)),
                    &files,
                )
            }
        }
        "copy" => {
            let got = copy_facts(l);
            holds(got.contains(want), &got)
        }
        "copy-src" => {
            let got: Vec<&Vec<String>> = file_actions(l)
                .into_iter()
                .filter_map(|a| match a {
                    FileAction::Copy { src, .. } => Some(src),
                    _ => None,
                })
                .collect();
            holds(got.iter().any(|s| s.iter().any(|x| x == want)), &got)
        }
        "http" | "git" | "keep-git-dir" => {
            let got: Vec<String> = sources(l)
                .into_iter()
                .filter_map(|s| match (s, key) {
                    (SourceOp::Http { url, .. }, "http") => Some(url.clone()),
                    (
                        SourceOp::Git {
                            remote,
                            reference,
                            subdir,
                            ..
                        },
                        "git",
                    ) => {
                        let mut s = remote.clone();
                        if let Some(r) = reference {
                            s = format!("{s}#{r}");
                        }
                        if let Some(d) = subdir {
                            s = format!("{s}:{d}");
                        }
                        Some(s)
                    }
                    (SourceOp::Git { keep_git_dir, .. }, "keep-git-dir") => {
                        Some(keep_git_dir.to_string())
                    }
                    _ => None,
                })
                .collect();
            holds(got.iter().any(|g| g == want), &got)
        }
        other => Err(format!("unknown .expect key `{other}`")),
    }
}

#[test]
fn good_dockerfiles_parse_type_and_lower() {
    let files = dockerfiles("good");
    assert!(files.len() >= 22, "only {} good Dockerfiles", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = name(path);
        let text = read(path);
        let expect = sidecar(&path.with_extension("expect"));
        if expect.is_empty() {
            failures.push(format!("{name}: no .expect sidecar"));
        }
        let ast = match parse(&text) {
            Ok(ast) => ast,
            Err(e) => {
                failures.push(format!("{name}: parse: {e} at {:?}", e.range));
                continue;
            }
        };
        assert!(!dump(&ast).is_empty(), "{name}: empty dump");
        if let Err(e) = parse_dockerfile(&ast) {
            failures.push(format!("{name}: instructions: {e} at {:?}", e.range));
            continue;
        }
        let images = AnyImage::default();
        let lowered = match lower(&ast, &options(path), &images) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!(
                    "{name}: lower: {e} at {:?} (hint: {:?})",
                    e.range, e.hint
                ));
                continue;
            }
        };
        let asked = images.asked.borrow();
        for (key, want) in &expect {
            if let Err(msg) = check(&lowered, &asked, key, want) {
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems in {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// The expectation of a bad Dockerfile.
#[derive(Debug)]
struct Expected {
    kind: String,
    /// `None` for `line=none`: errors about the whole build (`--target`).
    range: Option<(usize, usize)>,
    message: String,
    hint: Option<String>,
}

/// Parse `kind=K line=N [end=M] message=TEXT [hint=TEXT]`; `message` and
/// `hint` run to the end of the line or the next ` hint=`.
fn expected(path: &Path) -> Expected {
    let text = read(path);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let line = line.unwrap_or_else(|| panic!("{}: empty", path.display()));
    let (head, message) = line
        .split_once(" message=")
        .unwrap_or_else(|| panic!("{}: no message=", path.display()));
    let (message, hint) = match message.split_once(" hint=") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (message.to_string(), None),
    };
    let fields: BTreeMap<&str, &str> = head
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect();
    let number = |k: &str| {
        fields.get(k).map(|v| {
            v.parse::<usize>()
                .unwrap_or_else(|e| panic!("{}: {k}: {e}", path.display()))
        })
    };
    let range = match fields.get("line") {
        Some(&"none") => None,
        Some(_) => number("line").map(|start| (start, number("end").unwrap_or(start))),
        None => panic!("{}: no line=", path.display()),
    };
    Expected {
        kind: fields
            .get("kind")
            .unwrap_or_else(|| panic!("{}: no kind=", path.display()))
            .to_string(),
        range,
        message,
        hint,
    }
}

/// Run the whole pipeline; the first error wins.
fn first_error(path: &Path, text: &str) -> Option<DockerfileError> {
    let ast = match parse(text) {
        Ok(ast) => ast,
        Err(e) => return Some(e),
    };
    if let Err(e) = parse_dockerfile(&ast) {
        return Some(e);
    }
    lower(&ast, &options(path), &AnyImage::default()).err()
}

#[test]
fn bad_dockerfiles_fail_with_kind_lines_and_message() {
    let files = dockerfiles("bad");
    assert!(files.len() >= 22, "only {} bad Dockerfiles", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = name(path);
        let want = expected(&path.with_extension("expect"));
        let text = read(path);
        let Some(err) = first_error(path, &text) else {
            failures.push(format!("{name}: accepted, expected {want:?}"));
            continue;
        };
        let got_kind = format!("{:?}", err.kind);
        let got_range = err.range.map(|r| (r.start, r.end));
        let mut problems = Vec::new();
        if got_kind != want.kind {
            problems.push(format!("kind {got_kind} != {}", want.kind));
        }
        if got_range != want.range {
            problems.push(format!("range {got_range:?} != {:?}", want.range));
        }
        if !err.message.contains(&want.message) {
            problems.push(format!(
                "message `{}` lacks `{}`",
                err.message, want.message
            ));
        }
        if let Some(h) = &want.hint
            && !err
                .hint
                .as_deref()
                .is_some_and(|got| got.contains(h.as_str()))
        {
            problems.push(format!("hint {:?} lacks `{h}`", err.hint));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {} (error: {err:?})", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad files misbehave:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
