//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on RUN, COPY and
//! ADD lines.
//!
//! A heredoc is recognised when a shell word of the instruction line has the
//! shape `[digits]<<[-]word`, the line is in shell form, and the instruction
//! is RUN, COPY or ADD (or one of those under ONBUILD). Its body is the
//! following physical lines up to a line equal to the delimiter (after
//! removing leading tabs for `<<-`). Several markers on one line take their
//! bodies one after the other, in order.

use super::shell_words::{Mode, split_words};
use crate::ast::{Heredoc, Node};
use crate::error::{DockerfileError, ErrorKind};

/// True when BuildKit would look for heredocs on this node's line.
pub(super) fn can_contain_heredoc(node: &Node) -> bool {
    let target = match (&node.nested, node.keyword.as_str()) {
        (Some(nested), "onbuild") => nested,
        _ => node,
    };
    matches!(target.keyword.as_str(), "run" | "copy" | "add") && !target.json
}

/// The heredocs announced on a logical line, bodies still empty.
///
/// A line that the shell lexer cannot split (an unbalanced quote, say) has
/// no heredocs, as in BuildKit; a marker whose delimiter cannot be lexed is
/// an error.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, DockerfileError> {
    let raw = Mode {
        raw_quotes: true,
        raw_escapes: true,
    };
    let Ok(words) = split_words(line, raw) else {
        return Ok(Vec::new());
    };
    let mut heredocs = Vec::new();
    for word in &words {
        if let Some(heredoc) = parse_marker(word)? {
            heredocs.push(heredoc);
        }
    }
    Ok(heredocs)
}

/// Parses one word as a heredoc marker; `None` when it is not one.
pub(super) fn parse_marker(word: &str) -> Result<Option<Heredoc>, DockerfileError> {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let (digits, after) = word.split_at(digits_end);
    let Some(after) = after.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, delimiter) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    if delimiter.is_empty() || delimiter.contains('<') {
        return Ok(None);
    }
    let lex = |raw_quotes| {
        split_words(
            delimiter,
            Mode {
                raw_quotes,
                raw_escapes: false,
            },
        )
        .map_err(|err| {
            DockerfileError::new(
                ErrorKind::Syntax,
                format!("invalid heredoc delimiter `{delimiter}`: {err}"),
            )
        })
    };
    let cooked = lex(false)?;
    let [name] = cooked.as_slice() else {
        return Ok(None);
    };
    let raw = lex(true)?;
    let [raw_name] = raw.as_slice() else {
        return Err(DockerfileError::new(
            ErrorKind::Syntax,
            format!("internal lexing of heredoc produced inconsistent results: `{delimiter}`"),
        ));
    };
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        file_descriptor: if digits.is_empty() {
            None
        } else {
            digits.parse().ok()
        },
    }))
}

/// Strips leading tabs from every line of a `<<-` body.
pub(super) fn chomp_tabs(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for line in content.split_inclusive('\n') {
        out.push_str(line.trim_start_matches('\t'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        heredocs_from_line(line)
            .map(|docs| docs.into_iter().map(|d| d.name).collect())
            .unwrap_or_default()
    }

    #[test]
    fn markers_on_a_line() {
        assert_eq!(names("RUN <<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<-EOF"), ["EOF"]);
        assert_eq!(names("RUN <<'EOF'"), ["EOF"]);
        assert_eq!(names("RUN 4<<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert!(names("RUN it's <<EOF").is_empty());
    }

    #[test]
    fn marker_shapes() {
        for valid in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
        ] {
            let doc = parse_marker(valid).ok().flatten();
            assert_eq!(doc.map(|d| d.name), Some("EOF".to_string()), "{valid}");
        }
        for invalid in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_marker(invalid).is_err(), "{invalid}");
        }
        for not_heredoc in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "a<<EOF", "<<\"\""] {
            assert!(
                matches!(parse_marker(not_heredoc), Ok(None)),
                "{not_heredoc}"
            );
        }
    }

    #[test]
    fn quoting_disables_expansion() {
        let expand = |w: &str| parse_marker(w).ok().flatten().map(|d| d.expand);
        assert_eq!(expand("<<EOF"), Some(true));
        assert_eq!(expand("<<'EOF'"), Some(false));
        assert_eq!(expand("<<\"EOF\""), Some(false));
        assert_eq!(expand("<<E\"O\"F"), Some(false));
    }

    #[test]
    fn chomp_strips_leading_tabs_per_line() {
        assert_eq!(
            chomp_tabs("\thello\n\t\tworld\n  x\t\n"),
            "hello\nworld\n  x\t\n"
        );
    }
}
