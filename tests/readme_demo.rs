//! The README's first command, `scripts/demo.sh`, run from the repository as a user
//! would (with `--keep`, so that the test can inspect the pushed image with skopeo
//! before the script stops its registry), and checked by what it prints.
//!
//! The script builds the release binary unless `STRATA_BIN` names one; this test
//! hands it the debug binary under test to save a release build, unless
//! `STRATA_DEMO_RELEASE=1` is set, which runs the command exactly as the README has it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_build;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the demo may take with a debug binary (a release build takes longer; the
/// script is given the same budget per line of output, not in total).
const LINE_TIMEOUT: Duration = Duration::from_secs(1200);

/// The running script; asked to stop (SIGTERM, as Ctrl-C would) on drop, so a failed
/// assertion leaves no registry behind.
struct Demo {
    child: Child,
}

impl Demo {
    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// The value of the stdout line `KEY: value`.
fn field<'a>(lines: &'a [String], key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the demo printed no `{key}:` line:\n{}", lines.join("\n")))
}

/// `skopeo inspect --tls-verify=false docker://REF`: the manifest digest.
fn inspect_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

#[test]
fn readme_first_command_builds_the_static_site_pushes_it_and_prints_the_digest() {
    if !support_build::can_run("readme_demo") {
        return;
    }
    if Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP readme_demo: `docker-registry` is not installed");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("strata-readme-demo-")
        .tempdir()
        .unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(repo.join("scripts/demo.sh"));
    cmd.arg("--keep")
        .current_dir(repo)
        .env("STRATA_ROOT", tmp.path().join("root"))
        .env_remove("STRATA_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if std::env::var("STRATA_DEMO_RELEASE").as_deref() == Ok("1") {
        cmd.env_remove("STRATA_BIN");
    } else {
        cmd.env("STRATA_BIN", support_build::strata_bin());
    }
    let mut demo = Demo {
        child: cmd.spawn().unwrap(),
    };

    // stderr (progress) is kept for failure messages; stdout is read line by line
    // until the script says the registry is up and waits.
    let mut stderr = demo.child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (tx, rx) = mpsc::channel();
    let stdout = demo.child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => {
                let waiting = line.starts_with("the registry stays up");
                lines.push(line);
                if waiting {
                    break;
                }
            }
            Err(e) => {
                let status = demo.stop();
                panic!(
                    "the demo ended ({status}, {e}) before its registry was up:\nstdout:\n{}\nstderr:\n{}",
                    lines.join("\n"),
                    stderr.join().unwrap()
                );
            }
        }
    }

    assert!(
        lines.iter().any(|l| l == "demo: ok"),
        "{}",
        lines.join("\n")
    );
    let registry = field(&lines, "registry")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(registry.starts_with("127.0.0.1:"), "{registry}");
    let pushed = field(&lines, "pushed");
    assert_eq!(pushed, format!("{registry}/examples/static-site:latest"));
    let digest = field(&lines, "digest");
    assert!(
        digest.len() == 71
            && digest.starts_with("sha256:")
            && digest[7..].bytes().all(|b| b.is_ascii_hexdigit()),
        "not a digest: {digest}"
    );
    let inspect = field(&lines, "inspect");
    let pinned = format!("{registry}/examples/static-site@{digest}");
    assert_eq!(
        inspect,
        format!("skopeo inspect --tls-verify=false docker://{pinned}")
    );
    let cached: usize = field(&lines, "cached steps on rebuild").parse().unwrap();
    assert!(cached >= 5, "a rebuild reused only {cached} steps");

    // The registry the script started holds what it says it pushed, by digest and by tag.
    assert_eq!(inspect_digest(&pinned), digest);
    assert_eq!(inspect_digest(pushed), digest);

    // Ctrl-C (here SIGTERM) ends the demo cleanly and stops the registry.
    let status = demo.stop();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "demo exited with {status}:\n{stderr}");
    assert!(stderr.contains("registry stopped"), "{stderr}");
    assert!(
        TcpStream::connect(&registry).is_err(),
        "the registry still answers on {registry}"
    );
}
