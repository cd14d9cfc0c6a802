//! The glob patterns of `${v#p}`, `${v%p}` and `${v/p/r}`.
//!
//! A pattern is compiled to a regular expression (the `regex` crate runs in
//! time linear in the value, whatever the pattern) in which `*` becomes `.*`
//! (longest) or `.*?` (shortest) and `?` becomes `.`. Everything else is
//! literal, brackets included, as in BuildKit. A backslash quotes the `*`, `?`
//! or `\` after it; before `}` or `/` it only served to keep the pattern
//! inside `${...}` and is dropped; before anything else it is an error.
//!
//! The shortest and longest *suffix* are found by reversing both the value and
//! the pattern, which turns them into prefix searches.

use std::fmt;

use regex::{NoExpand, Regex, RegexBuilder};

/// Upper bound on the compiled size of one pattern, so that a huge pattern
/// fails cleanly instead of using unbounded memory.
const MAX_COMPILED_SIZE: usize = 1 << 20;

/// Why a pattern cannot be used.
#[derive(Debug)]
pub(crate) enum PatternError {
    /// `\` followed by something other than `*`, `?`, `\`, `}` or `/`.
    InvalidEscape(Option<char>),
    /// The pattern is too large to compile.
    TooLarge,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidEscape(Some(ch)) => write!(f, "invalid escape `\\{ch}`"),
            Self::InvalidEscape(None) => f.write_str("invalid escape `\\` at the end"),
            Self::TooLarge => f.write_str("pattern too large"),
        }
    }
}

/// `${v#p}` (`longest` false) and `${v##p}` (`longest` true): `value` without
/// the shortest or longest prefix that `pattern` matches.
pub(crate) fn trim_prefix(
    value: &str,
    pattern: &str,
    longest: bool,
) -> Result<String, PatternError> {
    let re = compile(pattern, longest, true)?;
    Ok(match re.find(value) {
        Some(found) => value[found.end()..].to_string(),
        None => value.to_string(),
    })
}

/// `${v%p}` and `${v%%p}`: `value` without the shortest or longest suffix that
/// `pattern` matches.
pub(crate) fn trim_suffix(
    value: &str,
    pattern: &str,
    longest: bool,
) -> Result<String, PatternError> {
    let reversed = trim_prefix(&reverse(value), &reverse_pattern(pattern), longest)?;
    Ok(reverse(&reversed))
}

/// `${v/p/r}` (first match) and `${v//p/r}` (every match); the replacement is
/// inserted literally.
pub(crate) fn replace(
    value: &str,
    pattern: &str,
    replacement: &str,
    all: bool,
) -> Result<String, PatternError> {
    let re = compile(pattern, true, false)?;
    let replaced = if all {
        re.replace_all(value, NoExpand(replacement))
    } else {
        re.replace(value, NoExpand(replacement))
    };
    Ok(replaced.into_owned())
}

/// Translate a glob into a regular expression and compile it.
fn compile(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, PatternError> {
    // `(?s)`: a `*` or `?` also matches a newline inside the value, as in a shell.
    let mut re = String::with_capacity(pattern.len() + 8);
    re.push_str("(?s)");
    if anchored {
        re.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    let mut buf = [0u8; 4];
    while let Some(ch) = chars.next() {
        match ch {
            '*' => re.push_str(star),
            '?' => re.push('.'),
            '\\' => match chars.peek().copied() {
                Some('}' | '/') => {}
                Some(quoted @ ('*' | '?' | '\\')) => {
                    chars.next();
                    re.push('\\');
                    re.push(quoted);
                }
                other => return Err(PatternError::InvalidEscape(other)),
            },
            _ => re.push_str(&regex::escape(ch.encode_utf8(&mut buf))),
        }
    }
    RegexBuilder::new(&re)
        .size_limit(MAX_COMPILED_SIZE)
        .build()
        .map_err(|_| PatternError::TooLarge)
}

fn reverse(text: &str) -> String {
    text.chars().rev().collect()
}

/// Reverse a pattern while keeping each `\x` pair in order (`a\*c` -> `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let mut units: Vec<&str> = Vec::new();
    let mut rest = pattern;
    while let Some(first) = rest.chars().next() {
        let mut len = first.len_utf8();
        if first == '\\' {
            len += rest[len..].chars().next().map_or(0, char::len_utf8);
        }
        let (unit, tail) = rest.split_at(len);
        units.push(unit);
        rest = tail;
    }
    units.into_iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_pattern_keeps_escapes_in_order() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
        assert_eq!(reverse_pattern("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse_pattern("\\\\b"), "b\\\\");
    }

    #[test]
    fn invalid_escapes_are_errors() {
        for pattern in ["\\", "\\x", "\\\\\\"] {
            assert!(compile(pattern, true, true).is_err(), "{pattern}");
        }
    }

    #[test]
    fn brackets_and_regex_characters_are_literal() {
        let value = "()[]{}^$.*?|\\x";
        let pattern = "()[]{\\}^$.\\*\\?|\\\\";
        assert_eq!(trim_prefix(value, pattern, true).unwrap(), "x");
    }
}
