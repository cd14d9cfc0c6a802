//! Variable expansion measured against BuildKit's own test data.
//!
//! `envVarTest` and `wordsTest` are read verbatim from
//! `shared/conformance/buildkit/shell/` (see the README there for their
//! format); the tables below them are transcribed from BuildKit's
//! `frontend/dockerfile/shell/lex_test.go`. Every failing case is reported
//! with its line number, all at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use frontend::ErrorKind;
use frontend::expand::{Env, Lexer};

fn data_file(name: &str) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit/shell")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    (path, text)
}

/// Run one expansion against three environment shapes that must agree.
fn process_word_everywhere(lexer: &Lexer, word: &str, env: &[(String, String)]) -> Option<String> {
    let btree: BTreeMap<String, String> = env.iter().cloned().collect();
    let hash: HashMap<String, String> = env.iter().cloned().collect();
    let results = [
        lexer.process_word(word, env),
        lexer.process_word(word, &btree),
        lexer.process_word(word, &hash),
    ];
    for result in &results[1..] {
        assert_eq!(result, &results[0], "environments disagree on {word:?}");
    }
    let [first, ..] = results;
    first.ok()
}

#[test]
fn env_var_test() {
    let (path, text) = data_file("envVarTest");
    let env: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lexer = Lexer::default();
    let (mut ran, mut failures) = (0, Vec::new());
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        let [platform, input, expected] = fields[..] else {
            panic!("{}:{number}: expected three fields", path.display());
        };
        if platform == "W" {
            continue;
        }
        ran += 1;
        let got = process_word_everywhere(&lexer, input, &env);
        let ok = match (expected, &got) {
            ("error", None) => true,
            (expected, Some(got)) => expected != "error" && got == expected,
            (_, None) => false,
        };
        if !ok {
            failures.push(format!(
                "line {number}: {input:?}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(ran > 200, "only {ran} cases found in {}", path.display());
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn words_test() {
    let (path, text) = data_file("wordsTest");
    let lexer = Lexer::default();
    let mut env: Vec<(String, String)> = Vec::new();
    let (mut ran, mut failures) = (0, Vec::new());
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(definition) = line.strip_prefix("ENV ") {
            let definition = definition.trim_start_matches(' ');
            let (name, value) = definition.split_once('=').unwrap_or((definition, ""));
            env.push((name.to_string(), value.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        let [input, expected] = fields[..] else {
            panic!("{}:{number}: expected exactly one `|`", path.display());
        };
        let input = input.trim();
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        ran += 1;
        let btree: BTreeMap<String, String> = env.iter().cloned().collect();
        for got in [
            lexer.process_words(input, &env),
            lexer.process_words(input, &btree),
        ] {
            let got = got.unwrap_or_else(|_| vec!["error".to_string()]);
            if got != expected {
                failures.push(format!(
                    "line {number}: {input:?}: expected {expected:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(ran > 20, "only {ran} cases found in {}", path.display());
    assert!(
        failures.is_empty(),
        "{} failures in {ran} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn mandatory_variables() {
    let lexer = Lexer::default();
    let set = [("VAR", "plain"), ("ARG", "x")];
    let empty = [("VAR", ""), ("ARG", "x")];
    let unset = [("ARG", "x")];
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";

    assert_eq!(lexer.process_word(no_empty, &set).unwrap(), "plain");
    for env in [&empty[..], &unset[..]] {
        let err = lexer.process_word(no_empty, env).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Expansion);
        assert!(
            err.message.contains("VAR: message herex"),
            "{}",
            err.message
        );
    }
    assert_eq!(lexer.process_word(no_unset, &set).unwrap(), "plain");
    assert_eq!(lexer.process_word(no_unset, &empty).unwrap(), "");
    let err = lexer.process_word(no_unset, &unset).unwrap_err();
    assert!(err.message.contains("message herex"), "{}", err.message);

    let err = lexer.process_word("${x:?is required}", &unset).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Expansion);
    assert!(err.message.contains("x: is required"), "{}", err.message);
    let err = lexer.process_word("${x?}", &unset).unwrap_err();
    assert!(
        err.message.contains("x: is not allowed to be unset"),
        "{}",
        err.message
    );
    let err = lexer.process_word("${VAR:?}", &empty).unwrap_err();
    assert!(
        err.message.contains("VAR: is not allowed to be empty"),
        "{}",
        err.message
    );
}

/// One row of BuildKit's `TestProcessWithMatches`: input, environment, then
/// the expected value (`None`: an error) and the names looked up and set /
/// unset.
type MatchCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

const FOO_BAR: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];

const MATCH_CASES: &[MatchCase] = &[
    ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
    (
        "x ${UNUSED}",
        &[("DUMMY", "dummy")],
        Some("x "),
        &[],
        &["UNUSED"],
    ),
    ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
    (
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        FOO_BAR,
        Some("xxx  ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        FOO_BAR,
        Some("xxx bbb ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO:-}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
    (
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        FOO_BAR,
        Some("aaa bbb "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        FOO_BAR,
        Some("aaa  "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO?aaa}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${BAR?bbb}", FOO_BAR, Some(""), &["BAR"], &[]),
    ("${BAZ?ccc}", FOO_BAR, None, &[], &[]),
    ("${FOO:?aaa}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${BAR:?bbb}", FOO_BAR, None, &[], &[]),
    ("${BAZ:?ccc}", FOO_BAR, None, &[], &[]),
    ("${BAZ:?}", FOO_BAR, None, &[], &[]),
    ("${FOO=aaa}", FOO_BAR, None, &[], &[]),
    ("${FOO=:aaa}", FOO_BAR, None, &[], &[]),
    ("${FOO=}", &[], None, &[], &[]),
    (
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &[("FOO", "()[]{}^$.*?|\\x")],
        Some("x"),
        &["FOO"],
        &[],
    ),
    (
        "${FOO%%\\**}",
        &[("FOO", "xx**")],
        Some("xx"),
        &["FOO"],
        &[],
    ),
    ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
    ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        Some("xyy"),
        &["FOO", "BAR"],
        &[],
    ),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
    ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
    (
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &[("FOO", "xxyy")],
        Some(".xxyy."),
        &["FOO"],
        &["ABC"],
    ),
    (
        "${FOO%%\\**\\*}",
        &[("FOO", "a***yy*")],
        Some("a"),
        &["FOO"],
        &[],
    ),
    ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        Some("/foo.*/*.txt - /foo..*.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        Some("/tmp/bar.txt - /bar.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        Some("/foo/b/c.txt - /foo/c.txt"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        Some("https://google.de"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        Some("\\/tmp\\/foo.txt"),
        &["FOO"],
        &[],
    ),
    (
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("wwxxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
    ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
    ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO///}", &[], Some(""), &[], &["FOO"]),
];

#[test]
fn process_with_matches() {
    let lexer = Lexer::default();
    let mut failures = Vec::new();
    for (row, &(input, env, expected, matched, unmatched)) in MATCH_CASES.iter().enumerate() {
        let result = lexer.process_word_with_matches(input, env);
        let ok = match (expected, &result) {
            (None, Err(err)) => err.kind == ErrorKind::Expansion,
            (Some(expected), Ok(got)) => {
                let names =
                    |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
                got.value == expected
                    && got.matched == names(matched)
                    && got.unmatched == names(unmatched)
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("row {row}: {input:?}: expected {expected:?} {matched:?} {unmatched:?}, got {result:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn release_file_name_with_platform_variables() {
    let word =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let env = [
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm"),
        ("TARGETVARIANT", "v7"),
    ];
    let got = Lexer::default()
        .process_word_with_matches(word, &env)
        .unwrap();
    assert_eq!(got.value, "something-v1.2.3.linux-arm-v7.tar.gz");
    assert_eq!(got.matched.len(), 4);
    assert!(got.unmatched.is_empty());
}

#[test]
fn env_slices_use_the_last_definition() {
    let env = vec![
        ("car".to_string(), "hat".to_string()),
        ("car".to_string(), "bike".to_string()),
    ];
    assert_eq!(env.lookup("car"), Some("bike"));
    assert_eq!(env.lookup("foo"), None);
    assert_eq!(Lexer::default().process_word("$car", &env).unwrap(), "bike");
}
