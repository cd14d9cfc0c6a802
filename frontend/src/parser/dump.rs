//! BuildKit's `Node.Dump` format: one s-expression per instruction.
//!
//! The format exists so the parser can be compared, byte for byte, with
//! BuildKit's on its own corpus; it is also a compact way to look at an AST
//! in tests and bug reports. Strings are quoted exactly as Go's
//! `strconv.Quote` does.

use super::charclass::{is_print, to_lower, trim_space};
use crate::ast::{Ast, Node};

/// Renders a whole AST: one `(keyword ...)` line per instruction, without a
/// trailing newline (the conformance files are `dump(ast) + "\n"`).
///
/// ```
/// let ast = frontend::parser::parse("FROM alpine\nRUN echo hi\n")?;
/// assert_eq!(frontend::parser::dump(&ast), "(from \"alpine\")\n(run \"echo hi\")");
/// # Ok::<(), frontend::DockerfileError>(())
/// ```
pub fn dump(ast: &Ast) -> String {
    let mut out = String::new();
    for child in &ast.children {
        out.push('(');
        out.push_str(&dump_node(child));
        out.push_str(")\n");
    }
    trim_space(&out).to_string()
}

/// Renders one instruction without its surrounding parentheses:
/// the keyword, the flags as a Go `%q` slice, each argument Go-quoted, and a
/// nested ONBUILD instruction in parentheses.
pub fn dump_node(node: &Node) -> String {
    let mut out = to_lower(&node.keyword);
    if !node.flags.is_empty() {
        out.push_str(" [");
        for (i, flag) in node.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&go_quote(flag));
        }
        out.push(']');
    }
    for arg in &node.args {
        out.push(' ');
        out.push_str(&go_quote(arg));
    }
    if let Some(nested) = &node.nested {
        out.push_str(" (");
        out.push_str(&dump_node(nested));
        out.push(')');
    }
    trim_space(&out).to_string()
}

/// Go's `strconv.Quote`: double quotes, `\"` and `\\`, the C escapes for
/// the usual control characters, `\xNN` for other ASCII controls, `\uNNNN`
/// or `\UNNNNNNNN` for non-printable characters, printable Unicode as is.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            _ if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            _ => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("abc"), "\"abc\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            go_quote("\u{0}\u{7}\t\n\u{1b}\u{7f}"),
            "\"\\x00\\a\\t\\n\\x1b\\x7f\""
        );
        assert_eq!(go_quote("é☃😀"), "\"é☃😀\"");
        assert_eq!(
            go_quote("\u{a0}\u{200b}\u{feff}"),
            "\"\\u00a0\\u200b\\ufeff\""
        );
        assert_eq!(go_quote("\u{e0001}\u{f0000}"), "\"\\U000e0001\\U000f0000\"");
    }

    #[test]
    fn nested_and_flags() {
        let node = Node {
            keyword: "onbuild".into(),
            nested: Some(Box::new(Node {
                keyword: "copy".into(),
                flags: vec!["--from=a".into()],
                args: vec!["x".into(), "y".into()],
                ..Node::default()
            })),
            ..Node::default()
        };
        assert_eq!(
            dump_node(&node),
            "onbuild (copy [\"--from=a\"] \"x\" \"y\")"
        );
    }
}
