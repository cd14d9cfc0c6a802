//! Physical-line helpers and the split of a logical line into keyword, flags
//! and the argument text.
//!
//! A Dockerfile is read line by line; these functions decide whether a line
//! is a comment, whether it continues on the next one, and, once a logical
//! line is assembled, which part is the instruction keyword and which words
//! are builder flags (`--mount=...`) rather than arguments.

use super::charclass::{is_space, is_space_byte, to_lower, trim_space};

/// Drops the line terminator (any trailing run of `\r` and `\n`).
pub(super) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Drops leading whitespace (Unicode White_Space, as Go's `unicode.IsSpace`).
pub(super) fn trim_leading_space(line: &str) -> &str {
    line.trim_start_matches(is_space)
}

/// True for a line whose first non-blank character is `#`.
pub(super) fn is_comment(line: &str) -> bool {
    trim_leading_space(line).starts_with('#')
}

/// True for a line inside a continuation that holds nothing but blanks.
pub(super) fn is_blank(line: &str) -> bool {
    trim_leading_space(trim_newline(line)).is_empty()
}

/// Removes a trailing continuation character, reporting whether the logical
/// line ends here (`true`) or goes on with the next physical line (`false`).
///
/// The escape character continues the line when it is the last character
/// apart from spaces and tabs, unless it is itself escaped (`\\` at the end
/// of a line is a literal backslash). A line holding only the escape
/// character continues too, and contributes nothing.
pub(super) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

/// A logical line split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Command {
    /// The keyword, lower-cased.
    pub(super) keyword: String,
    /// Builder flags, quotes and backslash escapes already removed.
    pub(super) flags: Vec<String>,
    /// Everything after the flags, trimmed.
    pub(super) rest: String,
}

/// True for the separators BuildKit uses between keyword and arguments and
/// between whitespace-delimited arguments (`[\t\v\f\r ]`).
pub(super) fn is_word_separator(c: char) -> bool {
    matches!(c, '\t' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// Splits a logical line into keyword, flags and argument text.
pub(super) fn split_command(line: &str) -> Command {
    let trimmed = trim_space(line);
    let (keyword, args) = match trimmed.find(is_word_separator) {
        Some(at) => {
            let args = trimmed[at..].trim_start_matches(is_word_separator);
            (&trimmed[..at], Some(args))
        }
        None => (trimmed, None),
    };
    let (rest, flags) = match args {
        Some(args) => extract_flags(args),
        None => (String::new(), Vec::new()),
    };
    Command {
        keyword: to_lower(keyword),
        flags,
        rest: trim_space(&rest).to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote(u8),
}

/// Takes the leading `--flag[=value]` words off `line`.
///
/// This works on bytes, like BuildKit: a byte above 0x7f becomes the
/// character with that code point (so non-ASCII text in flags reads as
/// Latin-1, exactly as BuildKit records it), and bytes 0x85 and 0xA0 count as
/// spaces. Quotes are removed and `\` escapes the next byte. A bare `--`
/// ends the flags and is dropped; the first word not starting with `--` ends
/// them and is kept.
fn extract_flags(line: &str) -> (String, Vec<String>) {
    let bytes = line.as_bytes();
    let rest_from = |pos: usize| match line.get(pos..) {
        Some(rest) => rest.to_string(),
        None => String::from_utf8_lossy(&bytes[pos..]).into_owned(),
    };
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut pos = 0;
    while pos < bytes.len() {
        let mut b = bytes[pos];
        match phase {
            Phase::Spaces => {
                if is_space_byte(b) {
                    pos += 1;
                    continue;
                }
                if b != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                    return (rest_from(pos), flags);
                }
                phase = Phase::Word;
                continue;
            }
            Phase::Word => {
                if is_space_byte(b) {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (rest_from(pos), flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                } else if b == b'\'' || b == b'"' {
                    blank_ok = true;
                    phase = Phase::Quote(b);
                } else if b == b'\\' && pos + 1 == bytes.len() {
                    // a lone backslash at the very end is dropped
                } else {
                    if b == b'\\' {
                        pos += 1;
                        b = bytes[pos];
                    }
                    word.push(char::from(b));
                }
            }
            Phase::Quote(quote) => {
                let closes = b == quote;
                let dangling_escape = b == b'\\' && pos + 1 == bytes.len();
                if closes || dangling_escape {
                    phase = Phase::Word;
                } else {
                    if b == b'\\' {
                        pos += 1;
                        b = bytes[pos];
                    }
                    word.push(char::from(b));
                }
            }
        }
        pos += 1;
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    (String::new(), flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(line: &str) -> (Vec<String>, String) {
        let c = split_command(line);
        (c.flags, c.rest)
    }

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("foo \\", '\\'), ("foo ", false));
        assert_eq!(trim_continuation("foo \\  \t", '\\'), ("foo ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("foo\\\\", '\\'), ("foo\\\\", true));
        assert_eq!(trim_continuation("foo `", '`'), ("foo ", false));
        assert_eq!(trim_continuation("foo \\", '`'), ("foo \\", true));
    }

    #[test]
    fn flags_stop_at_first_argument() {
        assert_eq!(
            flags_of("COPY --from=a --chown=b:c src dst"),
            (
                vec!["--from=a".into(), "--chown=b:c".into()],
                "src dst".into()
            )
        );
        assert_eq!(
            flags_of("COPY --doit=true -- foo"),
            (vec!["--doit=true".into()], "foo".into())
        );
        assert_eq!(
            flags_of("CMD --doit --"),
            (vec!["--doit".into()], String::new())
        );
        assert_eq!(
            flags_of(r#"RUN --a="x y" --b='' \--c"#),
            (vec!["--a=x y".into(), "--b=".into()], r"\--c".into())
        );
    }

    #[test]
    fn flags_read_non_ascii_bytes_as_latin1() {
        let (flags, rest) = flags_of("RUN --x=é ls");
        assert_eq!(flags, vec!["--x=\u{c3}\u{a9}".to_string()]);
        assert_eq!(rest, "ls");
    }

    #[test]
    fn keyword_is_lower_cased() {
        let c = split_command("  FrOm\talpine  ");
        assert_eq!(c.keyword, "from");
        assert_eq!(c.rest, "alpine");
    }
}
