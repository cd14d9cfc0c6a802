//! `.dockerignore`: which files of the build context the build may see.
//!
//! The semantics are those of moby's `patternmatcher` (used by BuildKit and
//! `docker build`), which differ from `.gitignore`:
//!
//! - a pattern is matched against the whole path relative to the context root
//!   (`foo` is only `./foo`, never `a/foo`); `*` and `?` do not cross `/`,
//!   `**` matches any number of directories (including none), `[...]` is a
//!   character class (`[^...]` negated, ranges `a-z`) and `\` quotes the next
//!   character;
//! - a pattern that matches a directory also matches everything under it;
//! - a pattern starting with `!` is an exception that re-includes what earlier
//!   patterns excluded; of all patterns that match a path, the last one wins;
//! - an exception may re-include a file deep inside an excluded directory, so
//!   a context walker may only skip an excluded directory when no exception can
//!   match under it ([`IgnoreMatcher::dir_may_contain_included`]).
//!
//! Reading the file ([`parse_dockerignore`]) drops `#` comment lines and blank
//! lines, trims blanks, cleans each path (`a//b/../c` is `a/c`) and drops a
//! leading `/`, because patterns are always relative to the context.
//!
//! ```
//! use frontend::dockerignore::IgnoreMatcher;
//!
//! let ignore = IgnoreMatcher::from_dockerignore("# build output\ntarget\n*.md\n!README.md\n").unwrap();
//! assert!(ignore.matches("target/debug/app"));
//! assert!(ignore.matches("CHANGES.md"));
//! assert!(!ignore.matches("README.md"));
//! assert!(!ignore.matches("docs/guide.md")); // `*` stays in the root directory
//! assert!(!ignore.dir_may_contain_included("target"));
//! ```

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::error::{DockerfileError, ErrorKind};

/// Upper bound on the compiled size of one pattern, so that a huge pattern
/// fails cleanly instead of using unbounded memory.
const MAX_COMPILED_SIZE: usize = 1 << 20;

/// Turn the text of a `.dockerignore` file into its list of patterns, the way
/// `docker build` reads it.
///
/// Kept separate from [`IgnoreMatcher`] because the patterns themselves travel
/// further than the matcher: they are part of the definition of the local
/// context source and so of its cache key.
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    for line in text.lines() {
        // A comment must start the line; `  # x` is a pattern.
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (exception, path) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let mut pattern = if exception {
            "!".to_string()
        } else {
            String::new()
        };
        if !path.is_empty() {
            let cleaned = crate::path::clean(path);
            match cleaned.strip_prefix('/') {
                Some(relative) if !relative.is_empty() => pattern.push_str(relative),
                _ => pattern.push_str(&cleaned),
            }
        }
        patterns.push(pattern);
    }
    patterns
}

/// Decides, for each path of the build context, whether `.dockerignore`
/// excludes it.
///
/// Built once per build; matching needs no mutable state, so one matcher can
/// serve a parallel walk of the context.
#[derive(Debug, Clone)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

impl IgnoreMatcher {
    /// The matcher for the text of a `.dockerignore` file.
    pub fn from_dockerignore(text: &str) -> Result<Self, DockerfileError> {
        Self::new(parse_dockerignore(text)).map_err(|err| {
            DockerfileError::new(err.kind, format!("in `.dockerignore`: {}", err.message))
        })
    }

    /// The matcher for patterns already read (from a file, or from the
    /// exclude list of a context source); a leading `!` makes an exception.
    /// Blank patterns are skipped; a malformed one is an error.
    pub fn new<I>(patterns: I) -> Result<Self, DockerfileError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut compiled = Vec::new();
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let pattern = Pattern::new(trimmed).map_err(|problem| {
                DockerfileError::new(
                    ErrorKind::InvalidArgument,
                    format!("invalid pattern `{trimmed}`: {problem}"),
                )
                .with_hint("patterns use `*`, `?`, `**`, `[...]` and `\\` as in `docker build`")
            })?;
            compiled.push(pattern);
        }
        Ok(Self { patterns: compiled })
    }

    /// Whether any pattern is an exception (`!`); without one, an excluded
    /// directory never needs to be walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `rel_path` (relative to the context root, `/`-separated) is
    /// excluded from the context. The root itself never is.
    pub fn matches(&self, rel_path: &str) -> bool {
        self.last_match(rel_path)
            .is_some_and(|index| !self.patterns[index].exception)
    }

    /// Whether something strictly under the directory `dir` may be included.
    ///
    /// `false` means everything under `dir` is excluded, so a context walker
    /// can skip the directory without reading it; that is the case when `dir`
    /// is excluded and no exception written after the pattern that excluded it
    /// can match a path below it. `true` is a safe answer whenever in doubt
    /// (exceptions with `**`, classes or escapes).
    pub fn dir_may_contain_included(&self, dir: &str) -> bool {
        let dir = normalize(dir);
        let Some(last) = self.last_match(&dir) else {
            return true;
        };
        if self.patterns[last].exception {
            return true;
        }
        let segments: Vec<&str> = dir.split('/').collect();
        self.patterns[last + 1..]
            .iter()
            .filter(|p| p.exception)
            .any(|p| p.may_match_below(&segments))
    }

    /// The index of the last pattern that matches `rel_path` or one of its
    /// parent directories.
    fn last_match(&self, rel_path: &str) -> Option<usize> {
        let path = normalize(rel_path);
        if path == "." || path.is_empty() {
            return None;
        }
        self.patterns
            .iter()
            .rposition(|pattern| pattern.matches_path_or_parent(&path))
    }
}

/// Clean a path to match and make it relative.
fn normalize(path: &str) -> String {
    let cleaned = crate::path::clean(path);
    match cleaned.strip_prefix('/') {
        Some(relative) => relative.to_string(),
        None => cleaned,
    }
}

/// How a pattern is matched; the literal cases avoid a regular expression
/// and, like moby, compare strings directly.
#[derive(Debug, Clone)]
enum Matcher {
    /// No wildcard: the path must equal the pattern.
    Exact,
    /// `literal**`: the path must start with `literal`.
    Prefix(String),
    /// `**literal`: the path must end with `literal`, or be `literal` without
    /// its leading `/`.
    Suffix(String),
    /// Anything else.
    Regex(Regex),
}

/// One compiled line of `.dockerignore`.
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its `!`.
    text: String,
    exception: bool,
    matcher: Matcher,
}

/// Why a pattern is rejected.
#[derive(Debug)]
enum PatternProblem {
    LoneExclamation,
    TrailingBackslash,
    UnclosedClass,
    BadClass,
    EmptyRange(char, char),
    TooLarge,
}

impl fmt::Display for PatternProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoneExclamation => f.write_str("`!` must be followed by a pattern"),
            Self::TrailingBackslash => f.write_str("`\\` at the end quotes nothing"),
            Self::UnclosedClass => f.write_str("`[` without its `]`"),
            Self::BadClass => {
                f.write_str("malformed character class (empty, or `-` without both ends)")
            }
            Self::EmptyRange(lo, hi) => write!(f, "range `{lo}-{hi}` is backwards"),
            Self::TooLarge => f.write_str("pattern too large"),
        }
    }
}

impl Pattern {
    fn new(raw: &str) -> Result<Self, PatternProblem> {
        let cleaned = crate::path::clean(raw);
        let (exception, text) = match cleaned.strip_prefix('!') {
            Some("") => return Err(PatternProblem::LoneExclamation),
            Some(rest) => (true, rest.to_string()),
            None => (false, cleaned),
        };
        let matcher = compile(&text)?;
        Ok(Self {
            text,
            exception,
            matcher,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }

    /// The parent-directory rule: a pattern that matches `a/b` also matches
    /// `a/b/c`.
    fn matches_path_or_parent(&self, path: &str) -> bool {
        self.matches(path)
            || path
                .match_indices('/')
                .any(|(slash, _)| slash > 0 && self.matches(&path[..slash]))
    }

    /// Whether this pattern could match some path strictly under the
    /// directory made of `dir` segments (conservatively `true`).
    fn may_match_below(&self, dir: &[&str]) -> bool {
        // A class may match `/`, an escape may quote one: segment counting
        // would be unsound, so assume the worst.
        if self.text.contains(['[', '\\']) {
            return true;
        }
        let mut segments = self.text.split('/');
        for want in dir {
            let Some(segment) = segments.next() else {
                // The pattern only reaches `dir` or its parents.
                return false;
            };
            if segment.contains("**") {
                return true;
            }
            if !segment.contains(['*', '?']) && segment != *want {
                return false;
            }
        }
        segments.next().is_some()
    }
}

/// One element of a pattern after syntax checking.
enum Token {
    Literal(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` (a following `/` is part of it); `at_end` when nothing follows.
    DoubleStar {
        at_end: bool,
    },
    /// `?`: one character but `/`.
    AnyChar,
    /// `\x`: `x` literally.
    Quoted(char),
    /// `[...]`: ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Check the syntax of `pattern` (that of Go's `filepath.Match`, which
/// `docker build` applies) and cut it into tokens.
fn tokenize(pattern: &str) -> Result<Vec<Token>, PatternProblem> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&ch) = chars.get(i) {
        i += 1;
        let token = match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                Token::DoubleStar {
                    at_end: i == chars.len(),
                }
            }
            '*' => Token::Star,
            '?' => Token::AnyChar,
            '\\' => {
                let quoted = chars.get(i).ok_or(PatternProblem::TrailingBackslash)?;
                i += 1;
                Token::Quoted(*quoted)
            }
            '[' => parse_class(&chars, &mut i)?,
            other => Token::Literal(other),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// A class after its `[`; leaves `i` after the closing `]`.
fn parse_class(chars: &[char], i: &mut usize) -> Result<Token, PatternProblem> {
    let negated = chars.get(*i) == Some(&'^');
    if negated {
        *i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*i) == Some(&']') && !ranges.is_empty() {
            *i += 1;
            return Ok(Token::Class { negated, ranges });
        }
        let lo = class_char(chars, i)?;
        let hi = if chars.get(*i) == Some(&'-') {
            *i += 1;
            class_char(chars, i)?
        } else {
            lo
        };
        if lo > hi {
            return Err(PatternProblem::EmptyRange(lo, hi));
        }
        ranges.push((lo, hi));
    }
}

/// One end of a class range: any character but `-` or `]` unless quoted by
/// `\`; something must follow it, at least the closing `]`.
fn class_char(chars: &[char], i: &mut usize) -> Result<char, PatternProblem> {
    let mut ch = *chars.get(*i).ok_or(PatternProblem::UnclosedClass)?;
    if ch == '-' || ch == ']' {
        return Err(PatternProblem::BadClass);
    }
    if ch == '\\' {
        *i += 1;
        ch = *chars.get(*i).ok_or(PatternProblem::UnclosedClass)?;
    }
    *i += 1;
    if *i >= chars.len() {
        return Err(PatternProblem::UnclosedClass);
    }
    Ok(ch)
}

/// Choose how to match `pattern`, building a regular expression unless a
/// string comparison gives the same answer.
fn compile(pattern: &str) -> Result<Matcher, PatternProblem> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let tokens = tokenize(pattern)?;
    let mut kind = Kind::Exact;
    // `(?s)`: `**` also crosses newlines in file names.
    let mut re = String::from("(?s)^");
    for (index, token) in tokens.iter().enumerate() {
        match token {
            Token::Literal(ch) => push_literal(&mut re, *ch),
            Token::Quoted(ch) => {
                push_literal(&mut re, *ch);
                kind = Kind::Regex;
            }
            Token::Star => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            Token::AnyChar => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            Token::DoubleStar { at_end } => {
                if !at_end {
                    re.push_str("(?:.*/)?");
                    kind = Kind::Regex;
                } else if kind == Kind::Exact {
                    kind = Kind::Prefix;
                } else {
                    re.push_str(".*");
                    kind = Kind::Regex;
                }
                if index == 0 {
                    kind = Kind::Suffix;
                }
            }
            Token::Class { negated, ranges } => {
                re.push('[');
                if *negated {
                    re.push('^');
                }
                for &(lo, hi) in ranges {
                    push_class_char(&mut re, lo);
                    if hi != lo {
                        re.push('-');
                        push_class_char(&mut re, hi);
                    }
                }
                re.push(']');
                kind = Kind::Regex;
            }
        }
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix(strip_double_star(pattern, false)),
        Kind::Suffix => Matcher::Suffix(strip_double_star(pattern, true)),
        Kind::Regex => {
            re.push('$');
            let re = RegexBuilder::new(&re)
                .size_limit(MAX_COMPILED_SIZE)
                .build()
                .map_err(|_| PatternProblem::TooLarge)?;
            Matcher::Regex(re)
        }
    })
}

/// The literal part of a `literal**` or `**literal` pattern.
fn strip_double_star(pattern: &str, leading: bool) -> String {
    let stripped = if leading {
        pattern.strip_prefix("**")
    } else {
        pattern.strip_suffix("**")
    };
    stripped.unwrap_or(pattern).to_string()
}

fn push_literal(re: &mut String, ch: char) {
    let mut buf = [0u8; 4];
    re.push_str(&regex::escape(ch.encode_utf8(&mut buf)));
}

/// A character inside `[...]`: ASCII punctuation is quoted so that it cannot
/// form class syntax (`[:`, `&&`, `--`, `^`).
fn push_class_char(re: &mut String, ch: char) {
    if ch.is_ascii_punctuation() {
        re.push('\\');
    }
    re.push(ch);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random patterns and paths over the characters that matter: an error or
    /// an answer, never a panic.
    #[test]
    fn random_patterns_never_panic() {
        const PIECES: &[&str] = &[
            "[", "]", "^", "-", "\\", "*", "**", "?", "/", "!", "a", "b", "é", ".", "..", " ",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut pick = |max: u64| -> String {
            let len = next() % max;
            (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        };
        for _ in 0..800 {
            let patterns = [pick(8), pick(8), pick(8)];
            if let Ok(matcher) = IgnoreMatcher::new(&patterns) {
                let path = pick(10);
                let _ = matcher.matches(&path);
                let _ = matcher.dir_may_contain_included(&path);
            }
        }
    }

    #[test]
    fn literal_prefix_and_suffix_patterns_compare_strings() {
        assert!(matches!(compile("a/b.c").unwrap(), Matcher::Exact));
        assert!(matches!(compile("dir/**").unwrap(), Matcher::Prefix(p) if p == "dir/"));
        assert!(matches!(compile("**/dir").unwrap(), Matcher::Suffix(s) if s == "/dir"));
        assert!(matches!(compile("**").unwrap(), Matcher::Suffix(s) if s.is_empty()));
        assert!(matches!(compile("**/**").unwrap(), Matcher::Regex(_)));
    }
}
