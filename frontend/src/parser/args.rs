//! Per-instruction argument splitting: one logical line becomes one [`Node`].
//!
//! Each instruction has its own rule for turning the text after the keyword
//! into arguments (see the table in [`node_from_line`]). The rules are
//! BuildKit's, quirks included, because the arguments are what the
//! conformance corpus compares and what later stages interpret.

use super::charclass::{is_space, is_space_byte};
use super::json::{ExecForm, parse_exec_form};
use super::line::{Command, is_word_separator, split_command};
use crate::ast::Node;
use crate::error::{DockerfileError, ErrorKind};

/// How deep `ONBUILD ONBUILD ...` may nest before the parser gives up.
///
/// BuildKit rejects any chained ONBUILD when it types instructions; the
/// parser accepts a few levels so that stage can report it, but stops well
/// before a hostile line could exhaust the stack.
const MAX_ONBUILD_DEPTH: usize = 16;

/// The arguments of one instruction.
#[derive(Default)]
struct Args {
    args: Vec<String>,
    json: bool,
    nested: Option<Box<Node>>,
}

impl Args {
    fn list(args: Vec<String>) -> Self {
        Self {
            args,
            ..Self::default()
        }
    }
}

fn syntax(message: impl Into<String>) -> DockerfileError {
    DockerfileError::new(ErrorKind::Syntax, message)
}

/// Builds the node for one logical line (continuations joined, no heredoc
/// bodies). The range, comments and heredocs are filled in by the caller.
///
/// | keyword | rule |
/// |---|---|
/// | `add`, `copy`, `volume` | JSON array, else whitespace-separated words |
/// | `cmd`, `entrypoint`, `run`, `shell` | JSON array, else the whole text as one argument |
/// | `env`, `label` | name, value, separator triples |
/// | `arg` | words, quotes kept |
/// | `expose`, `from` | whitespace-separated words |
/// | `healthcheck` | the type word, then as `cmd` |
/// | `maintainer`, `stopsignal`, `user`, `workdir` | the whole text |
/// | `onbuild` | the nested instruction |
/// | anything else | one empty argument, as BuildKit records unknown instructions |
pub(super) fn node_from_line(
    line: &str,
    escape: char,
    depth: usize,
) -> Result<Node, DockerfileError> {
    let Command {
        keyword,
        flags,
        rest,
    } = split_command(line);
    let parsed = match keyword.as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(&rest)?,
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(&rest)?,
        "env" => name_values(&rest, "ENV", escape)?,
        "label" => name_values(&rest, "LABEL", escape)?,
        "arg" => Args::list(words(&rest, escape)),
        "expose" | "from" => Args::list(whitespace_delimited(&rest)),
        "healthcheck" => health_config(&rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            Args::list(non_empty(&rest).into_iter().collect())
        }
        "onbuild" => sub_command(&rest, escape, depth)?,
        _ => Args::list(vec![String::new()]),
    };
    Ok(Node {
        keyword,
        flags,
        args: parsed.args,
        nested: parsed.nested,
        json: parsed.json,
        original: line.to_string(),
        ..Node::default()
    })
}

fn non_empty(rest: &str) -> Option<String> {
    (!rest.is_empty()).then(|| rest.to_string())
}

fn sub_command(rest: &str, escape: char, depth: usize) -> Result<Args, DockerfileError> {
    if rest.is_empty() {
        return Ok(Args::default());
    }
    if depth >= MAX_ONBUILD_DEPTH {
        return Err(syntax("`ONBUILD` instructions are nested too deeply")
            .with_hint("chaining `ONBUILD ONBUILD` is not allowed"));
    }
    let nested = node_from_line(rest, escape, depth + 1)?;
    Ok(Args {
        nested: Some(Box::new(nested)),
        ..Args::default()
    })
}

/// The JSON (exec) form if the text is a JSON array of strings; `None` when
/// it is not JSON at all, so the caller falls back to its shell-form rule.
fn json_args(rest: &str) -> Result<Option<Args>, DockerfileError> {
    match parse_exec_form(rest) {
        ExecForm::Strings(args) => Ok(Some(Args {
            args,
            json: true,
            nested: None,
        })),
        ExecForm::NotStrings => Err(syntax(
            "when using JSON array syntax, arrays must be comprised of strings only",
        )
        .with_hint("quote every element of the array, or use the shell form")),
        ExecForm::NotJson => Ok(None),
    }
}

fn maybe_json(rest: &str) -> Result<Args, DockerfileError> {
    if rest.is_empty() {
        return Ok(Args::default());
    }
    Ok(json_args(rest)?.unwrap_or_else(|| Args::list(vec![rest.to_string()])))
}

fn maybe_json_to_list(rest: &str) -> Result<Args, DockerfileError> {
    Ok(json_args(rest)?.unwrap_or_else(|| Args::list(whitespace_delimited(rest))))
}

/// HEALTHCHECK: the first word (`CMD`, `NONE`, anything) is its own argument,
/// the remainder is parsed like CMD. The word boundary is found byte by byte,
/// as BuildKit does.
fn health_config(rest: &str) -> Result<Args, DockerfileError> {
    let bytes = rest.as_bytes();
    let sep = bytes
        .iter()
        .position(|&b| is_space_byte(b))
        .unwrap_or(bytes.len());
    if sep == 0 {
        return Ok(Args::default());
    }
    let next = bytes[sep..]
        .iter()
        .position(|&b| !is_space_byte(b))
        .map_or(bytes.len(), |at| sep + at);
    let kind = String::from_utf8_lossy(&bytes[..sep]).into_owned();
    let command = String::from_utf8_lossy(&bytes[next..]);
    let mut parsed = maybe_json(&command)?;
    parsed.args.insert(0, kind);
    Ok(parsed)
}

/// Words separated by `[\t\v\f\r ]` runs, nothing else interpreted.
fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_word_separator)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Splits on whitespace outside quotes, keeping quotes and escapes in the
/// words (they are interpreted later, during expansion). An escape character
/// keeps the next character in the word, even a quote or a space; inside
/// single quotes it has no effect. An escape at the very end is dropped.
pub(super) fn words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut chars = rest.chars().peekable();
    while let Some(mut c) = chars.next() {
        match phase {
            Phase::Spaces if is_space(c) => continue,
            Phase::Spaces | Phase::Word => {
                if is_space(c) {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    continue;
                }
                phase = Phase::Word;
                if c == '\'' || c == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(c);
                } else if c == escape {
                    let Some(next) = chars.next() else { continue };
                    word.push(c);
                    c = next;
                }
                word.push(c);
            }
            Phase::Quote(quote) => {
                if c == quote {
                    phase = Phase::Word;
                } else if c == escape && quote != '\'' {
                    let Some(next) = chars.next() else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(c);
                    c = next;
                }
                word.push(c);
            }
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `name=value ...` pairs, or the legacy `name value` form
/// where the value is the rest of the line. Each pair yields three
/// arguments: name, value and the separator that was used (`=` or empty).
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Args, DockerfileError> {
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Args::default());
    };
    if !first.contains('=') {
        let Some(at) = rest.find(is_word_separator) else {
            return Err(syntax(format!("`{keyword}` must have two arguments"))
                .with_hint(format!("write `{keyword} name=value`")));
        };
        let value = rest[at..].trim_start_matches(is_word_separator);
        return Ok(Args::list(vec![
            rest[..at].to_string(),
            value.to_string(),
            String::new(),
        ]));
    }
    let mut args = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(syntax(format!(
                "syntax error - can't find = in `{word}`, must be of the form: name=value"
            )));
        };
        args.extend([name.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(Args::list(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(words("foo", '\\'), ["foo"]);
        assert_eq!(words("foo bar", '\\'), ["foo", "bar"]);
        assert_eq!(words("foo\\ bar", '\\'), ["foo\\ bar"]);
        assert_eq!(
            words("foo bar 'abc xyz'", '\\'),
            ["foo", "bar", "'abc xyz'"]
        );
        assert_eq!(
            words(r#"foo bar "abc xyz""#, '\\'),
            ["foo", "bar", r#""abc xyz""#]
        );
        assert_eq!(
            words("föo bàr \"âbc xÿz\"", '\\'),
            ["föo", "bàr", "\"âbc xÿz\""]
        );
        assert_eq!(words("a=''", '\\'), ["a=''"]);
        assert_eq!(words("''", '\\'), ["''"]);
        assert_eq!(words("abc\\", '\\'), ["abc"]);
        assert_eq!(words("\"abc\\", '\\'), ["\"abc"]);
    }

    #[test]
    fn whitespace_delimited_ignores_unicode_spaces() {
        assert_eq!(whitespace_delimited("a \t b"), ["a", "b"]);
        assert_eq!(whitespace_delimited("a\u{a0}b"), ["a\u{a0}b"]);
    }

    #[test]
    fn healthcheck_splits_type() {
        let parsed = health_config("CMD   a b").ok().map(|a| a.args);
        assert_eq!(parsed, Some(vec!["CMD".to_string(), "a b".to_string()]));
    }
}
