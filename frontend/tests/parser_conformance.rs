//! The parser against BuildKit's own parser corpus, byte for byte.
//!
//! The corpus lives in `shared/conformance/buildkit/parser/` next to the
//! repository; see its README for the dump format.

use std::path::{Path, PathBuf};

use frontend::ErrorKind;
use frontend::parser::{dump, parse};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/buildkit/parser")
}

fn read(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn cases(dir: &str) -> Vec<(String, PathBuf)> {
    let dir = corpus().join(dir);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut cases: Vec<_> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
        .filter(|path| path.is_dir())
        .map(|path| {
            (
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path,
            )
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn positive_cases_dump_byte_for_byte() {
    let cases = cases("testfiles");
    assert_eq!(cases.len(), 33, "the corpus should hold 33 positive cases");
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        let dockerfile = read(&dir.join("Dockerfile"));
        let expected = read(&dir.join("result"));
        match parse(&dockerfile) {
            Ok(ast) => {
                let actual = dump(&ast) + "\n";
                if actual != expected {
                    failures.push(format!(
                        "{name}:\n--- expected\n{expected}--- actual\n{actual}"
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: unexpected error: {e} at {:?}", e.range)),
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
fn negative_cases_are_rejected() {
    let cases = cases("testfiles-negative");
    assert_eq!(cases.len(), 4, "the corpus should hold 4 negative cases");
    for (name, dir) in &cases {
        let dockerfile = read(&dir.join("Dockerfile"));
        match parse(&dockerfile) {
            Ok(ast) => panic!("{name} parsed but must fail: {}", dump(&ast)),
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Syntax, "{name}");
                assert!(e.range.is_some(), "{name}: the error has no line range");
            }
        }
    }
}

#[test]
fn negative_cases_report_their_lines() {
    let error = |name: &str| {
        let text = read(
            &corpus()
                .join("testfiles-negative")
                .join(name)
                .join("Dockerfile"),
        );
        match parse(&text) {
            Ok(_) => panic!("{name} parsed"),
            Err(e) => (e.message, e.range.map(|r| (r.start, r.end))),
        }
    };
    assert_eq!(
        error("env_no_value"),
        ("`ENV` must have two arguments".into(), Some((3, 3)))
    );
    assert_eq!(
        error("only_comments"),
        ("file with no instructions".into(), Some((3, 3)))
    );
    assert_eq!(error("empty_dockerfile").0, "file with no instructions");
    assert_eq!(
        error("shykes-nested-json"),
        (
            "when using JSON array syntax, arrays must be comprised of strings only".into(),
            Some((1, 1))
        )
    );
}

#[test]
fn line_ranges_match_buildkit() {
    let text = read(&corpus().join("testfile-line/Dockerfile"));
    let ast = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ast.range.start, ast.range.end), (5, 31));
    let ranges: Vec<_> = ast
        .children
        .iter()
        .map(|c| (c.range.start, c.range.end))
        .collect();
    assert_eq!(ranges, [(5, 5), (11, 12), (17, 31)]);
}
