//! `.dockerignore` matching measured against moby's behaviour.
//!
//! The rows are transcribed from moby/patternmatcher's `patternmatcher_test.go`
//! (`TestMatches` as answered by `MatchesOrParentMatches`, the multi-pattern
//! table, the `filepath.Match` table and the single-case tests) and
//! `ignorefile_test.go`; rows marked "derived" follow from reading moby's
//! matcher where its tests have no row. moby's rows matching `**` against
//! the path `/` are left out: here paths are relative and the context root is
//! never excluded.

use frontend::ErrorKind;
use frontend::dockerignore::{IgnoreMatcher, parse_dockerignore};

/// (patterns, path relative to the context, excluded?)
const MATCH_ROWS: &[(&[&str], &str, bool)] = &[
    // `**`
    (&["**"], "file", true),
    (&["**"], "file/", true),
    (&["**/"], "file", true),
    (&["**/"], "file/", true),
    (&["**"], "dir/file", true),
    (&["**/"], "dir/file", true),
    (&["**"], "dir/file/", true),
    (&["**/"], "dir/file/", true),
    (&["**/**"], "dir/file", true),
    (&["**/**"], "dir/file/", true),
    (&["dir/**"], "dir/file", true),
    (&["dir/**"], "dir/file/", true),
    (&["dir/**"], "dir/dir2/file", true),
    (&["dir/**"], "dir/dir2/file/", true),
    (&["**/dir"], "dir", true),
    (&["**/dir"], "dir/file", true),
    (&["**/dir2/*"], "dir/dir2/file", true),
    (&["**/dir2/*"], "dir/dir2/file/", true),
    (&["**/dir2/**"], "dir/dir2/dir3/file", true),
    (&["**/dir2/**"], "dir/dir2/dir3/file/", true),
    (&["**file"], "file", true),
    (&["**file"], "dir/file", true),
    (&["**/file"], "dir/file", true),
    (&["**file"], "dir/dir/file", true),
    (&["**/file"], "dir/dir/file", true),
    (&["**/file*"], "dir/dir/file", true),
    (&["**/file*"], "dir/dir/file.txt", true),
    (&["**/file*txt"], "dir/dir/file.txt", true),
    (&["**/file*.txt"], "dir/dir/file.txt", true),
    (&["**/file*.txt*"], "dir/dir/file.txt", true),
    (&["**/**/*.txt"], "dir/dir/file.txt", true),
    (&["**/**/*.txt2"], "dir/dir/file.txt", false),
    (&["**/*.txt"], "file.txt", true),
    (&["**/**/*.txt"], "file.txt", true),
    (&["a**/*.txt"], "a/file.txt", true),
    (&["a**/*.txt"], "a/dir/file.txt", true),
    (&["a**/*.txt"], "a/dir/dir/file.txt", true),
    (&["a/*.txt"], "a/dir/file.txt", false),
    (&["a/*.txt"], "a/file.txt", true),
    (&["a/*.txt**"], "a/file.txt", true),
    (&["**/foo/bar"], "foo/bar", true),
    (&["**/foo/bar"], "dir/foo/bar", true),
    (&["**/foo/bar"], "dir/dir2/foo/bar", true),
    (&["abc/**"], "abc", false),
    (&["abc/**"], "abc/def", true),
    (&["abc/**"], "abc/def/ghi", true),
    (&["**/.foo"], ".foo", true),
    (&["**/.foo"], "bar.foo", false),
    // derived: a leading `**` not followed by `/` compares the string tail
    (&["**file"], "dir/myfile", true),
    // classes
    (&["a[b-d]e"], "ae", false),
    (&["a[b-d]e"], "ace", true),
    (&["a[b-d]e"], "aae", false),
    (&["a[^b-d]e"], "aze", true),
    // regular-expression characters are literal
    (&[".*"], ".foo", true),
    (&[".*"], "foo", false),
    (&["abc.def"], "abcdef", false),
    (&["abc.def"], "abc.def", true),
    (&["abc.def"], "abcZdef", false),
    (&["abc?def"], "abcZdef", true),
    (&["abc?def"], "abcdef", false),
    (&["a(b)c/def"], "a(b)c/def", true),
    (&["a(b)c/def"], "a(b)c/xyz", false),
    (&["a.|)$(}+{bc"], "a.|)$(}+{bc", true),
    (
        &["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    (
        &["dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    // escapes
    (&["a\\\\"], "a\\", true),
    (&["a\\*b"], "a*b", true),
    // exceptions, last match wins
    (&["**", "!util/docker/web"], "util/docker/web/foo", false),
    (
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        true,
    ),
    (
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    (
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    (&["*"], "fileutils.go", true),
    (&["*.go"], "fileutils.go", true),
    (&["!fileutils.go", "*.go"], "fileutils.go", true),
    (&["*.go", "!fileutils.go"], "fileutils.go", false),
    // a directory pattern covers what is inside it, exceptions still apply
    (&["docs", "!docs/README.md"], "docs/README.md", false),
    (&["docs/", "!docs/README.md"], "docs/README.md", false),
    (&["docs/*", "!docs/README.md"], "docs/README.md", false),
    (&["docs"], "docs/guide/intro.md", true),
    // the context root is never excluded
    (&["*.go"], ".", false),
    (&[], "any/path/there", false),
    // Go's filepath.Match table
    (&["abc"], "abc", true),
    (&["*"], "abc", true),
    (&["*c"], "abc", true),
    (&["a*"], "a", true),
    (&["a*"], "abc", true),
    (&["a*"], "ab/c", true),
    (&["a*/b"], "abc/b", true),
    (&["a*/b"], "a/c/b", false),
    (&["a*b*c*d*e*/f"], "axbxcxdxe/f", true),
    (&["a*b*c*d*e*/f"], "axbxcxdxexxx/f", true),
    (&["a*b*c*d*e*/f"], "axbxcxdxe/xxx/f", false),
    (&["a*b*c*d*e*/f"], "axbxcxdxexxx/fff", false),
    (&["a*b?c*x"], "abxbbxdbxebxczzx", true),
    (&["a*b?c*x"], "abxbbxdbxebxczzy", false),
    (&["ab[c]"], "abc", true),
    (&["ab[b-d]"], "abc", true),
    (&["ab[e-g]"], "abc", false),
    (&["ab[^c]"], "abc", false),
    (&["ab[^b-d]"], "abc", false),
    (&["ab[^e-g]"], "abc", true),
    (&["a\\*b"], "ab", false),
    (&["a?b"], "a☺b", true),
    (&["a[^a]b"], "a☺b", true),
    (&["a???b"], "a☺b", false),
    (&["a[^a][^a][^a]b"], "a☺b", false),
    (&["[a-ζ]*"], "α", true),
    (&["*[a-ζ]"], "A", false),
    (&["a?b"], "a/b", false),
    (&["a*b"], "a/b", false),
    (&["[\\]a]"], "]", true),
    (&["[\\-]"], "-", true),
    (&["[x\\-]"], "x", true),
    (&["[x\\-]"], "-", true),
    (&["[x\\-]"], "z", false),
    (&["[\\-x]"], "x", true),
    (&["[\\-x]"], "-", true),
    (&["[\\-x]"], "a", false),
    (&["*x"], "xxx", true),
];

#[test]
fn match_table() {
    let mut failures = Vec::new();
    for (row, &(patterns, path, want)) in MATCH_ROWS.iter().enumerate() {
        match IgnoreMatcher::new(patterns) {
            Ok(matcher) if matcher.matches(path) == want => {}
            Ok(_) => failures.push(format!(
                "row {row}: {patterns:?} on {path:?}: expected {want}"
            )),
            Err(err) => failures.push(format!("row {row}: {patterns:?}: unexpected error {err}")),
        }
    }
    assert!(MATCH_ROWS.len() >= 40);
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        MATCH_ROWS.len(),
        failures.join("\n")
    );
}

#[test]
fn malformed_patterns_are_errors() {
    let bad = [
        "[",
        "[^",
        "[^bc",
        "a[",
        "\\",
        "[]a]",
        "[-]",
        "[x-]",
        "[-x]",
        "[a-b-c]",
        "!",
        // derived: accepted by Go's syntax check, rejected when moby compiles it
        "[Local-Only]/",
    ];
    for pattern in bad {
        let err = IgnoreMatcher::new([pattern]).expect_err(pattern);
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{pattern}");
        assert!(err.message.contains(pattern), "{pattern}: {}", err.message);
    }
    let err = IgnoreMatcher::from_dockerignore("ok\n  a[  \n").unwrap_err();
    assert!(err.message.contains("`.dockerignore`"), "{}", err.message);
}

#[test]
fn blank_patterns_are_skipped_and_blanks_trimmed() {
    let matcher = IgnoreMatcher::new(["docs", "config", "", "  !docs/README.md  "]).unwrap();
    assert!(matcher.has_exceptions());
    assert!(!matcher.matches("docs/README.md"));
    assert!(matcher.matches("config"));
    assert!(
        !IgnoreMatcher::new(["docs", "config"])
            .unwrap()
            .has_exceptions()
    );
}

#[test]
fn reading_the_file() {
    let text =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert_eq!(
        parse_dockerignore(text),
        [
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
    // derived: BOM, CRLF, cleaning, comments only at the start of a line
    let text = "\u{feff}a//b/../c/\r\n  # not a comment\r\n./d\r\n/\n";
    assert_eq!(
        parse_dockerignore(text),
        ["a/c", "# not a comment", "d", "/"]
    );
    // a lone `!` is read, then refused by the matcher
    assert!(IgnoreMatcher::from_dockerignore("foo\n!\n").is_err());
    let matcher =
        IgnoreMatcher::from_dockerignore("# c\n/node_modules\n*.log\n!keep.log\n").unwrap();
    assert!(matcher.matches("node_modules/x/index.js"));
    assert!(matcher.matches("debug.log"));
    assert!(!matcher.matches("keep.log"));
    assert!(!matcher.matches("src/debug.log"));
}

/// (patterns, directory, may something under it be included?)
const DIR_ROWS: &[(&[&str], &str, bool)] = &[
    // not excluded: must be walked
    (&["*.go"], "src", true),
    (&[], "src", true),
    // excluded without exceptions: skip
    (&["node_modules"], "node_modules", false),
    (&["node_modules"], "node_modules/a/b", false),
    (&["**/target"], "x/target", false),
    // an exception inside: walk only the directories leading to it
    (&["docs", "!docs/README.md"], "docs", true),
    (&["docs", "!docs/api/index.md"], "docs/api", true),
    (&["docs", "!docs/api/index.md"], "docs/guide", false),
    (&["*", "!src/main.rs"], "target", false),
    (&["*", "!src/main.rs"], "src", true),
    // an exception before the excluding pattern cannot re-include anything
    (&["!docs/README.md", "docs"], "docs", false),
    // wildcard exceptions: walk whenever they might match below
    (&["**", "!**/*.md"], "any/dir", true),
    (&["docs", "!docs/*.md"], "docs", true),
    (&["docs", "!docs/*/x"], "docs/sub", true),
    (&["docs", "!src/*.md"], "docs", false),
    (&["docs", "!docs/[ab]*"], "docs", true),
];

#[test]
fn skipping_excluded_directories() {
    let mut failures = Vec::new();
    for (row, &(patterns, dir, want)) in DIR_ROWS.iter().enumerate() {
        let matcher = IgnoreMatcher::new(patterns).unwrap();
        if matcher.dir_may_contain_included(dir) != want {
            failures.push(format!(
                "row {row}: {patterns:?} on {dir:?}: expected {want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whatever `dir_may_contain_included` says `false` for, every path below must
/// indeed be excluded.
#[test]
fn skipping_is_sound() {
    let pattern_sets: &[&[&str]] = &[
        &["docs", "!docs/api/index.md"],
        &["*", "!src/main.rs", "src/gen"],
        &["a/**", "!a/b/*.txt", "a/b/c"],
        &["**/x", "!**/x/keep"],
        &["a", "!a/b", "a/b/c", "!a/b/c/d"],
    ];
    let paths = [
        "docs",
        "docs/api",
        "docs/api/index.md",
        "docs/guide/x",
        "src",
        "src/main.rs",
        "src/gen/x",
        "a",
        "a/b",
        "a/b/x.txt",
        "a/b/c",
        "a/b/c/d",
        "a/b/c/d/e",
        "q/x",
        "q/x/keep",
        "q/x/other",
    ];
    for &patterns in pattern_sets {
        let matcher = IgnoreMatcher::new(patterns).unwrap();
        for dir in paths {
            if matcher.dir_may_contain_included(dir) {
                continue;
            }
            let prefix = format!("{dir}/");
            for path in paths.iter().filter(|p| p.starts_with(&prefix)) {
                assert!(
                    matcher.matches(path),
                    "{patterns:?}: skipped {dir:?} but {path:?} is included"
                );
            }
        }
    }
}
