//! Snapshot checks of error output for `tests/errors.rs`: the error part of a failed
//! run's stderr, normalised (temporary paths, ports, digests, timings), compared with
//! `tests/snapshots/errors/<case>.txt`. `STRATA_BLESS=1` writes the files instead.
//!
//! Also a registry served over HTTPS with a self-signed certificate (Debian's
//! `docker-registry` with `http.tls`), for the TLS error case.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A finished run of the binary.
pub struct Failure {
    /// The exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Failure {
    /// Runs `cmd` to completion.
    pub fn of(cmd: &mut Command) -> Self {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Replaces what differs between runs: each `(text, placeholder)` pair first (longest
/// first, so a path inside another is not half-replaced), then `sha256:<hex>` digests,
/// loopback ports and durations.
pub fn normalise(text: &str, replacements: &[(String, &str)]) -> String {
    let mut pairs: Vec<&(String, &str)> =
        replacements.iter().filter(|(t, _)| !t.is_empty()).collect();
    pairs.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    let mut out = text.to_owned();
    for (from, to) in pairs {
        out = out.replace(from.as_str(), to);
    }
    let out = replace_digests(&out);
    let out = replace_ports(&out, "127.0.0.1:");
    replace_durations(&out)
}

fn replace_digests(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sha256:") {
        out.push_str(&rest[..at + 7]);
        rest = &rest[at + 7..];
        let hex = rest
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            .count();
        if hex >= 12 {
            out.push_str("[DIGEST]");
            rest = &rest[hex..];
        }
    }
    out.push_str(rest);
    out
}

fn replace_ports(text: &str, host: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(host) {
        out.push_str(&rest[..at + host.len()]);
        rest = &rest[at + host.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[PORT]");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// `1.2s`, `0.05s`, `12ms` -> `[TIME]`.
fn replace_durations(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let starts_number =
            bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if starts_number {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                j += 1;
            }
            let number = &text[i..j];
            let unit = ["ms", "s"].into_iter().find(|u| text[j..].starts_with(u));
            if let Some(unit) = unit {
                let end = j + unit.len();
                let bounded = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
                if bounded && (number.contains('.') || unit == "ms") {
                    out.push_str("[TIME]");
                    i = end;
                    continue;
                }
            }
            out.push_str(number);
            i = j;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The part of stderr a user reads as the error: from the first `error:` line to the
/// end (progress lines before it vary with scheduling and are tested elsewhere).
pub fn error_part(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("error:"));
    let first = lines.next()?;
    let mut out = String::from(first);
    for line in lines {
        out.push('\n');
        out.push_str(line);
    }
    out.push('\n');
    Some(out)
}

/// The snapshot file of `case`.
pub fn snapshot_path(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/errors")
        .join(format!("{case}.txt"))
}

/// Asserts that `run` failed with exit code `code`, printed one `error:` message and no
/// panic, and that the normalised message equals the snapshot of `case` (or writes it
/// with `STRATA_BLESS=1`).
pub fn assert_snapshot(case: &str, code: i32, run: &Failure, replacements: &[(String, &str)]) {
    let context = || format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(code), "{case}: exit code\n{}", context());
    assert!(
        !run.stderr.contains("panicked"),
        "{case}: a panic reached the user\n{}",
        context()
    );
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    assert_eq!(errors, 1, "{case}: one error message\n{}", context());
    let part = error_part(&run.stderr).unwrap_or_default();
    let actual = normalise(&part, replacements);
    let path = snapshot_path(case);
    if std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{case}: no snapshot `{}` ({e}); run with STRATA_BLESS=1 to write it\nactual:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{case}: error output differs from `{}` (STRATA_BLESS=1 rewrites it)\n{}\nfull stderr:\n{}",
            path.display(),
            diff(&expected, &actual),
            run.stderr
        );
    }
}

/// A line diff: common prefix and suffix kept, the middle shown as `-`/`+` lines.
pub fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let prefix = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = e[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = String::new();
    for line in &e[..prefix] {
        out.push_str(&format!("  {line}\n"));
    }
    for line in &e[prefix..e.len() - suffix] {
        out.push_str(&format!("- {line}\n"));
    }
    for line in &a[prefix..a.len() - suffix] {
        out.push_str(&format!("+ {line}\n"));
    }
    for line in &e[e.len() - suffix..] {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// This machine's first non-loopback IPv4 address, if any: a registry there is spoken to
/// over HTTPS (loopback registries are plain HTTP).
pub fn outside_ip() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_owned)
}

/// Debian's `docker-registry` serving HTTPS with a fresh self-signed certificate.
pub struct TlsRegistry {
    child: Child,
    /// `IP:PORT`.
    pub host: String,
    /// The CA certificate that signed the server's (PEM), for `--registry-ca`.
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsRegistry {
    /// Starts it on `ip` and a free port; waits until it answers.
    pub fn start(ip: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A private CA and a server certificate it signed (rustls rejects a CA
        // certificate used as the server's own).
        let ca = dir.path().join("ca.pem");
        let ca_key = dir.path().join("ca-key.pem");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let csr = dir.path().join("server.csr");
        let ext = dir.path().join("server.ext");
        fs::write(
            &ext,
            format!("basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:{ip}\n"),
        )
        .unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=strata-test-ca",
            "-keyout",
            path(&ca_key),
            "-out",
            path(&ca),
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=strata-test",
            "-keyout",
            path(&key),
            "-out",
            path(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&csr),
            "-CA",
            path(&ca),
            "-CAkey",
            path(&ca_key),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            path(&ext),
            "-out",
            path(&cert),
        ]);
        let port = std::net::TcpListener::bind(format!("{ip}:0"))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: strata-test\n  tls:\n    certificate: {}\n    key: {}\n",
            storage.display(),
            cert.display(),
            key.display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the TLS registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            host: addr.to_string(),
            cert: ca,
            _dir: dir,
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for TlsRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_varies() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let text = format!("/tmp/x/root: {d} at 127.0.0.1:5123 in 1.25s, 40ms; exit code: 3, 2m");
        assert_eq!(
            normalise(&text, &[("/tmp/x".to_owned(), "[TMP]")]),
            "[TMP]/root: sha256:[DIGEST] at 127.0.0.1:[PORT] in [TIME], [TIME]; exit code: 3, 2m"
        );
    }
}
