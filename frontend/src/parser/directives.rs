//! Parser directives: `# syntax=`, `# escape=` and `# check=` comments at the
//! very top of a Dockerfile.
//!
//! Directives are only looked for until the first line that is not one: an
//! instruction, an ordinary comment, or a blank line all end the search, and
//! a directive-shaped comment after that is just a comment. Keys are
//! case-insensitive; each directive may appear once. `escape` changes the
//! character used for escapes and line continuations from then on.

use crate::ast::Directives;
use crate::error::{DockerfileError, ErrorKind};

/// The directive scanner's state across the leading lines of a file.
#[derive(Debug, Default)]
pub(super) struct DirectiveScanner {
    done: bool,
    directives: Directives,
}

/// What `\s` means in Go's regular expressions (`[\t\n\f\r ]`).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Matches `key = value` (after the `#` and leading blanks are gone) the way
/// BuildKit's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` does.
fn key_value(text: &str) -> Option<(&str, &str)> {
    if !text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let key_end = text
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(text.len());
    let (key, after) = text.split_at(key_end);
    let rest = after.trim_start_matches(is_re_space).strip_prefix('=')?;
    if rest.is_empty() {
        return None;
    }
    let value = match rest.trim_start_matches(is_re_space) {
        // only blanks: the lazy value group still takes the last one
        "" => &rest[rest.len() - 1..],
        start => start.trim_end_matches(is_re_space),
    };
    Some((key, value))
}

impl DirectiveScanner {
    /// The directives seen so far.
    pub(super) fn directives(&self) -> &Directives {
        &self.directives
    }

    /// Looks at one line (newline and leading blanks removed). Returns true
    /// when it was a directive, which the caller then does not treat as a
    /// comment.
    pub(super) fn scan(&mut self, line: &str) -> Result<bool, DockerfileError> {
        if self.done {
            return Ok(false);
        }
        let Some((key, value)) = line
            .strip_prefix('#')
            .map(|rest| rest.trim_start_matches(char::is_whitespace))
            .and_then(key_value)
        else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        let slot_taken = match key.as_str() {
            "syntax" => self.directives.syntax.is_some(),
            "escape" => self.directives.escape.is_some(),
            "check" => self.directives.check.is_some(),
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if slot_taken {
            return Err(DockerfileError::new(
                ErrorKind::Syntax,
                format!("only one `{key}` parser directive can be used"),
            )
            .with_hint("remove the duplicate directive"));
        }
        match key.as_str() {
            "escape" => {
                let escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(DockerfileError::new(
                            ErrorKind::Syntax,
                            format!(
                                "invalid escape token `{value}`, it must be `\\` or a backtick"
                            ),
                        ));
                    }
                };
                self.directives.escape = Some(escape);
            }
            "syntax" => self.directives.syntax = Some(value.to_string()),
            _ => self.directives.check = Some(value.to_string()),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_follows_the_directive_regex() {
        assert_eq!(key_value("escape=`"), Some(("escape", "`")));
        assert_eq!(key_value("ESCAPE = \\ "), Some(("ESCAPE", "\\")));
        assert_eq!(key_value("syntax=a b  "), Some(("syntax", "a b")));
        assert_eq!(key_value("escape=   "), Some(("escape", " ")));
        assert_eq!(key_value("escape="), None);
        assert_eq!(key_value("1a=b"), None);
        assert_eq!(key_value("a-b=c"), None);
        assert_eq!(key_value("just a comment"), None);
    }

    #[test]
    fn scanning_stops_at_the_first_non_directive() {
        let mut scanner = DirectiveScanner::default();
        assert_eq!(
            scanner.scan("# syntax=docker/dockerfile:1").ok(),
            Some(true)
        );
        assert_eq!(scanner.scan("# a comment").ok(), Some(false));
        assert_eq!(scanner.scan("# escape=`").ok(), Some(false));
        assert_eq!(scanner.directives().escape, None);
        assert_eq!(
            scanner.directives().syntax.as_deref(),
            Some("docker/dockerfile:1")
        );
    }

    #[test]
    fn unknown_keys_end_the_directives() {
        let mut scanner = DirectiveScanner::default();
        assert_eq!(scanner.scan("# foo=bar").ok(), Some(false));
        assert_eq!(scanner.scan("# escape=`").ok(), Some(false));
    }

    #[test]
    fn duplicates_and_bad_escapes_are_errors() {
        let mut scanner = DirectiveScanner::default();
        assert_eq!(scanner.scan("# check=skip=all").ok(), Some(true));
        assert!(scanner.scan("# CHECK=error=true").is_err());
        let mut scanner = DirectiveScanner::default();
        assert!(scanner.scan("# escape=x").is_err());
    }
}
