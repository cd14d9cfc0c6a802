//! Shell-style wildcards in COPY sources and `--exclude` / `.dockerignore` patterns.
//!
//! A source pattern matches one path component per pattern component: `*` and
//! `?` never cross a `/`, `[a-z]`, `[!a]` and `[^a]` are classes, `\` escapes
//! the next character. Expansion lists only the directories the pattern needs,
//! so `COPY src/*.rs` in a 100k-file context reads one directory.
//!
//! Exclude patterns follow `.dockerignore`: `**` matches any number of
//! components, a leading `!` re-includes, the last matching pattern wins, and a
//! pattern that matches a directory excludes everything below it.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::Dir;

use super::FileOpError;
use super::root::{RootDir, is_dir, show};

/// Whether a path component holds an unescaped wildcard character.
pub fn has_wildcard(component: &str) -> bool {
    let b = component.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Matches one path component against one pattern component.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match_class(&p[pi..], n[ni]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(2),
            Some(c) => (*c == n[ni]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[0] == '['`; returns the
/// class's length in the pattern when it matches.
fn match_class(p: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return (hit != negate).then_some(i + 1);
        }
        first = false;
        let mut lo = p[i];
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|h| *h != ']') {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    // An unterminated class matches a literal `[`.
    (c == '[').then_some(1)
}

/// Expands a source pattern inside `root` into the root-relative paths it
/// matches, sorted; a pattern without wildcards is returned as written (it
/// may not exist: the caller reports that). `visit` counts each directory
/// entry looked at, so callers can prove how little was read.
pub(crate) fn expand(
    root: &RootDir,
    pattern: &str,
    visit: &mut dyn FnMut(),
) -> Result<Vec<String>, FileOpError> {
    let comps: Vec<&str> = pattern
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let Some(first_wild) = comps.iter().position(|c| has_wildcard(c)) else {
        return Ok(vec![pattern.to_owned()]);
    };
    let base = root.resolve(&comps[..first_wild].join("/"), true)?;
    let mut current = vec![base];
    for (i, comp) in comps[first_wild..].iter().enumerate() {
        let last = first_wild + i + 1 == comps.len();
        let mut next = Vec::new();
        for dir in &current {
            match root.lstat(dir)? {
                Some(st) if is_dir(&st) => {}
                _ => continue,
            }
            if *comp == ".." {
                let mut up = dir.clone();
                up.pop();
                next.push(up);
                continue;
            }
            if !has_wildcard(comp) {
                let lit = unescape(comp);
                visit();
                if root.lstat(&dir.join(&lit))?.is_some() {
                    next.push(dir.join(lit));
                }
                continue;
            }
            for name in list_dir(root, dir)? {
                visit();
                let Some(name_str) = name.to_str() else {
                    continue;
                };
                if !glob_match(comp, name_str) {
                    continue;
                }
                let child = dir.join(name_str);
                // A hidden (`.dockerignore`d) name is not there to match.
                if !last || root.hides_any() {
                    match root.lstat(&child)? {
                        Some(st) if last || is_dir(&st) => {}
                        _ => continue,
                    }
                }
                next.push(child);
            }
        }
        current = next;
    }
    let mut out: Vec<String> = current
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Names in a resolved directory, sorted bytewise, without `.` and `..`.
pub(crate) fn list_dir(root: &RootDir, rel: &Path) -> Result<Vec<PathBuf>, FileOpError> {
    let fd = root.open_dir(rel)?;
    read_names(&fd).map_err(|e| FileOpError::io("read directory", show(rel), e))
}

/// Names in an open directory, sorted bytewise, without `.` and `..`.
pub(crate) fn read_names(fd: &impl std::os::fd::AsFd) -> Result<Vec<PathBuf>, rustix::io::Errno> {
    let mut dir = Dir::read_from(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        names.push(PathBuf::from(std::ffi::OsStr::from_bytes(name)));
    }
    names.sort();
    Ok(names)
}

fn unescape(comp: &str) -> String {
    let mut out = String::with_capacity(comp.len());
    let mut chars = comp.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `.dockerignore`-style exclude patterns, compiled once per operation.
#[derive(Debug, Clone, Default)]
pub struct Excluder {
    patterns: Vec<ExcludePattern>,
}

#[derive(Debug, Clone)]
struct ExcludePattern {
    negate: bool,
    text: String,
    segments: Vec<String>,
}

impl Excluder {
    /// Compiles patterns; blank lines and `#` comments are ignored.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let patterns = patterns
            .iter()
            .filter_map(|p| {
                let p = p.as_ref().trim();
                if p.is_empty() || p.starts_with('#') {
                    return None;
                }
                let (negate, body) = match p.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, p),
                };
                let segments: Vec<String> = body
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .map(str::to_owned)
                    .collect();
                if segments.is_empty() {
                    return None;
                }
                Some(ExcludePattern {
                    negate,
                    text: segments.join("/"),
                    segments,
                })
            })
            .collect();
        Self { patterns }
    }

    /// Whether no pattern was given (everything is kept).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `rel` (a `/`-separated path relative to what is being copied)
    /// is excluded: the last pattern matching it or one of its parents decides.
    pub fn is_excluded(&self, rel: &str) -> bool {
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        if comps.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            if (1..=comps.len()).any(|n| match_segments(&p.segments, &comps[..n])) {
                excluded = !p.negate;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be entered because a `!`
    /// pattern re-includes something below it.
    pub fn reincludes_below(&self, dir_rel: &str) -> bool {
        let prefix = format!("{}/", dir_rel.trim_matches('/'));
        self.patterns
            .iter()
            .any(|p| p.negate && (p.text.starts_with(&prefix) || p.text.starts_with("**")))
    }
}

fn match_segments(pat: &[String], comps: &[&str]) -> bool {
    match pat.split_first() {
        None => comps.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=comps.len()).any(|skip| match_segments(rest, &comps[skip..]))
        }
        Some((first, rest)) => match comps.split_first() {
            Some((c, crest)) => glob_match(first, c) && match_segments(rest, crest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.txt.bak"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
        assert!(glob_match("[^a]x", "zx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
    }

    #[test]
    fn excludes() {
        let e = Excluder::new(&["*.md", "!README.md", "**/tmp", "build"]);
        assert!(e.is_excluded("a.md"));
        assert!(!e.is_excluded("README.md"));
        assert!(!e.is_excluded("docs/a.md"));
        assert!(e.is_excluded("x/y/tmp/z"));
        assert!(e.is_excluded("build/out.o"));
        assert!(!e.is_excluded("src/main.rs"));
    }
}
