//! `strata debug dump-ast` end to end: the built binary against BuildKit's
//! parser corpus, byte for byte, from a path and from stdin, and the snippet
//! display of a parse error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> PathBuf {
    root().join("../shared/conformance/buildkit/parser/testfiles")
}

fn bad(name: &str) -> PathBuf {
    root().join("testdata/dockerfiles/bad").join(name)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run `strata debug dump-ast ARGS`, feeding `stdin` when given.
fn dump_ast(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["debug", "dump-ast"])
        .args(args)
        .env_remove("STRATA_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start strata: {e}"));
    if let Some(bytes) = stdin {
        let mut pipe = child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("no stdin pipe"));
        pipe.write_all(bytes)
            .unwrap_or_else(|e| panic!("writing stdin: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for strata: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cases() -> Vec<PathBuf> {
    let dir = corpus();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn buildkit_parser_corpus_dumps_byte_for_byte() {
    let cases = cases();
    assert_eq!(cases.len(), 33, "the corpus should hold 33 positive cases");
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dockerfile = dir.join("Dockerfile");
        let expected = read(&dir.join("result"));
        let out = dump_ast(&[&dockerfile.to_string_lossy()], None);
        if !out.status.success() {
            failures.push(format!(
                "{name}: exit {:?}, stderr:\n{}",
                out.status.code(),
                text(&out.stderr)
            ));
        } else if out.stdout != expected {
            failures.push(format!(
                "{name}:\n--- expected\n{}--- actual\n{}",
                text(&expected),
                text(&out.stdout)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn stdin_is_read_for_dash_and_for_no_argument() {
    for name in ["escape", "json", "brimstone-consuldock"] {
        let dir = corpus().join(name);
        let expected = read(&dir.join("result"));
        let input = read(&dir.join("Dockerfile"));
        for args in [&["-"][..], &[][..]] {
            let out = dump_ast(args, Some(&input));
            assert!(
                out.status.success(),
                "{name} {args:?}: {}",
                text(&out.stderr)
            );
            assert_eq!(text(&out.stdout), text(&expected), "{name} {args:?}");
        }
    }
}

#[test]
fn a_parse_error_exits_non_zero_with_the_snippet() {
    let path = bad("env-without-value.Dockerfile");
    let out = dump_ast(&[&path.to_string_lossy()], None);
    assert!(!out.status.success(), "accepted: {}", text(&out.stdout));
    assert!(
        out.stdout.is_empty(),
        "stdout carries data only: {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`ENV` must have two arguments"), "{stderr}");
    assert!(
        stderr.contains("env-without-value.Dockerfile:3\n"),
        "{stderr}"
    );
    assert!(stderr.contains("   3 | >>> ENV DEBUG\n"), "{stderr}");
    assert!(
        stderr.contains("   2 |     ENV PYTHONUNBUFFERED=1\n"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[test]
fn a_parse_error_on_stdin_is_named_dockerfile_and_spans_its_lines() {
    let input = read(&bad("unterminated-heredoc.Dockerfile"));
    let out = dump_ast(&["-"], Some(&input));
    assert!(!out.status.success(), "accepted: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unterminated heredoc"), "{stderr}");
    assert!(stderr.contains("Dockerfile:3-6\n"), "{stderr}");
    for marked in ["   3 | >>> RUN <<EOF", "   6 | >>> EOFF"] {
        assert!(stderr.contains(marked), "{marked:?} missing:\n{stderr}");
    }
    assert!(
        stderr.contains("   2 |     FROM debian:bookworm"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let out = dump_ast(&["does/not/exist/Dockerfile"], None);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does/not/exist/Dockerfile"), "{stderr}");
}
