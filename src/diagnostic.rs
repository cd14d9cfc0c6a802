//! Rendering Dockerfile errors with their source snippet (DESIGN.md section 9).

use std::fmt::Write as _;

use frontend::DockerfileError;

/// Lines of context shown above and below the offending lines.
const CONTEXT: usize = 1;

/// Render `err` against the Dockerfile text it came from:
///
/// ```text
/// Dockerfile:12
/// --------------------
///   11 |     COPY . .
///   12 | >>> RUN make
///   13 |     CMD ["./app"]
/// --------------------
/// ```
pub fn snippet(file_name: &str, source: &str, start: usize, end: usize) -> String {
    let lines: Vec<&str> = source.lines().collect();
    if start == 0 || start > lines.len() {
        return String::new();
    }
    let end = end.clamp(start, lines.len());
    let first = start.saturating_sub(CONTEXT).max(1);
    let last = (end + CONTEXT).min(lines.len());
    let mut out = String::new();
    if start == end {
        let _ = writeln!(out, "{file_name}:{start}");
    } else {
        let _ = writeln!(out, "{file_name}:{start}-{end}");
    }
    out.push_str("--------------------\n");
    for n in first..=last {
        let marker = if (start..=end).contains(&n) {
            ">>>"
        } else {
            "   "
        };
        let text = lines[n - 1].trim_end_matches('\r');
        let _ = writeln!(out, "{n:>4} | {marker} {text}");
    }
    out.push_str("--------------------");
    out
}

/// The full message for a Dockerfile error: message, snippet, hint.
pub fn render(file_name: &str, source: &str, err: &DockerfileError) -> String {
    let mut out = err.message.clone();
    if let Some(range) = err.range {
        let s = snippet(file_name, source, range.start, range.end);
        if !s.is_empty() {
            out.push('\n');
            out.push_str(&s);
        }
    }
    if let Some(hint) = &err.hint {
        out.push_str("\nhint: ");
        out.push_str(hint);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_marks_the_range_with_context() {
        let src = "FROM a\nCOPY . .\nRUN make\nCMD [\"./app\"]\n";
        assert_eq!(
            snippet("Dockerfile", src, 3, 3),
            "Dockerfile:3\n--------------------\n   2 |     COPY . .\n   3 | >>> RUN make\n   4 |     CMD [\"./app\"]\n--------------------"
        );
    }

    #[test]
    fn snippet_of_a_multi_line_range_at_the_top() {
        let src = "RUN a \\\n  b\nFROM x\n";
        let s = snippet("Dockerfile", src, 1, 2);
        assert!(s.starts_with("Dockerfile:1-2\n"));
        assert!(s.contains("   1 | >>> RUN a \\\n   2 | >>>   b\n   3 |     FROM x\n"));
    }

    #[test]
    fn out_of_range_lines_give_no_snippet() {
        assert_eq!(snippet("Dockerfile", "FROM a\n", 5, 5), "");
    }
}
