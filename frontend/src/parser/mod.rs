//! Dockerfile text to [`Ast`], with BuildKit's exact behaviour.
//!
//! strata has to accept the Dockerfiles `docker build` accepts and read them
//! the same way, so this parser reproduces BuildKit's, quirks included, and
//! is checked against BuildKit's own corpus through [`dump`].
//!
//! Parsing goes line by line:
//!
//! 1. Leading comment lines may be parser directives (`# escape=`,
//!    `# syntax=`, `# check=`); see `directives`.
//! 2. Physical lines are joined into logical lines: a line ending with the
//!    escape character continues on the next one, and comment or blank lines
//!    inside a continuation are skipped (blank ones with a warning).
//! 3. Each logical line becomes a [`Node`]: the keyword, the builder flags,
//!    and the arguments split by the rules of that instruction (`args`).
//! 4. A shell-form RUN, COPY or ADD line announcing heredocs (`<<EOF`) takes
//!    the following lines as heredoc bodies (`heredoc`).
//!
//! ```
//! use frontend::parser::{dump, parse};
//!
//! let ast = parse("# escape=`\nFROM alpine\nRUN echo `\n  hello\n")?;
//! assert_eq!(ast.escape, '`');
//! assert_eq!(ast.children[1].args, ["echo   hello"]);
//! assert_eq!(ast.children[1].range.start, 3);
//! assert_eq!(ast.children[1].range.end, 4);
//! assert_eq!(dump(&ast), "(from \"alpine\")\n(run \"echo   hello\")");
//! # Ok::<(), frontend::DockerfileError>(())
//! ```
//!
//! Known, deliberate differences from BuildKit: lines are not limited to
//! 64 KiB; `ONBUILD` may nest at most 16 deep and `${...}` in a heredoc line
//! 128 deep (both are rejected later by BuildKit anyway, the limits only keep
//! the stack safe); and where BuildKit slices a multi-byte character in two
//! (a flag or HEALTHCHECK type next to a U+0085 or U+00A0 byte) the broken
//! bytes become U+FFFD.

mod args;
mod charclass;
mod directives;
mod dump;
mod heredoc;
mod json;
mod line;
mod shell_words;

pub use dump::{dump, dump_node};

use crate::ast::{Ast, Node, SourceRange};
use crate::error::{DockerfileError, ErrorKind};
use directives::DirectiveScanner;
use line::{is_blank, is_comment, trim_continuation, trim_leading_space, trim_newline};

/// The escape character when no `# escape=` directive says otherwise.
const DEFAULT_ESCAPE: char = '\\';

/// Parses a Dockerfile.
///
/// Every error is of kind [`ErrorKind::Syntax`] and carries the lines it
/// concerns: a bad or duplicated directive, an instruction whose arguments
/// cannot be split (`ENV` without a value, a JSON array of non-strings), an
/// unterminated heredoc, or a file without any instruction.
pub fn parse(text: &str) -> Result<Ast, DockerfileError> {
    Parser::new(text).run()
}

/// The state of one parse.
struct Parser<'a> {
    lines: std::str::SplitInclusive<'a, char>,
    /// Lines read so far; also the 1-based number of the last line read.
    line_no: usize,
    directives: DirectiveScanner,
    escape: char,
    /// Comments seen since the last instruction.
    comments: Vec<String>,
    ast: Ast,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            lines: text.split_inclusive('\n'),
            line_no: 0,
            directives: DirectiveScanner::default(),
            escape: DEFAULT_ESCAPE,
            comments: Vec::new(),
            ast: Ast::default(),
        }
    }

    fn next_line(&mut self) -> Option<&'a str> {
        let line = self.lines.next()?;
        self.line_no += 1;
        Some(line)
    }

    fn run(mut self) -> Result<Ast, DockerfileError> {
        while let Some(mut raw) = self.next_line() {
            if self.line_no == 1 {
                raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            }
            let here = SourceRange::new(self.line_no, self.line_no);
            if is_comment(raw) {
                self.record_comment(raw);
            }
            let token = trim_leading_space(trim_newline(raw));
            if self.directives.scan(token).map_err(|e| e.at(here))? {
                self.comments.pop();
                if let Some(escape) = self.directives.directives().escape {
                    self.escape = escape;
                }
            }
            let token = if is_comment(token) { "" } else { token };
            let (first, ended) = trim_continuation(token, self.escape);
            if ended && first.is_empty() {
                continue;
            }
            self.instruction(first, ended)?;
        }
        if self.ast.children.is_empty() {
            let at = self.line_no.max(1);
            return Err(
                DockerfileError::new(ErrorKind::Syntax, "file with no instructions")
                    .at(SourceRange::new(at, at))
                    .with_hint("a Dockerfile needs at least a `FROM` instruction"),
            );
        }
        self.ast.directives = self.directives.directives().clone();
        self.ast.escape = self.escape;
        Ok(self.ast)
    }

    /// Records a comment line as BuildKit does: the line minus its first
    /// byte, trimmed (so an indented `  # x` is remembered as `# x`); an
    /// empty comment forgets the ones before it.
    fn record_comment(&mut self, raw: &str) {
        let text = match raw.get(1..) {
            Some(rest) => rest.to_string(),
            None => String::from_utf8_lossy(&raw.as_bytes()[1..]).into_owned(),
        };
        let text = charclass::trim_space(&text);
        if text.is_empty() {
            self.comments.clear();
        } else {
            self.comments.push(text.to_string());
        }
    }

    /// Assembles the logical line starting with `first`, builds its node and
    /// reads its heredoc bodies.
    fn instruction(&mut self, first: &str, mut ended: bool) -> Result<(), DockerfileError> {
        let start = self.line_no;
        let mut line = first.to_string();
        let mut empty_continuation = false;
        while !ended {
            let Some(raw) = self.next_line() else { break };
            if is_comment(raw) {
                continue;
            }
            let token = trim_newline(raw);
            if is_blank(token) {
                empty_continuation = true;
                continue;
            }
            let (part, part_ended) = trim_continuation(token, self.escape);
            line.push_str(part);
            ended = part_ended;
        }
        if empty_continuation {
            self.ast.warnings.push((
                SourceRange::new(self.line_no, self.line_no),
                format!("empty continuation line found in: {line}"),
            ));
        }
        let mut node = args::node_from_line(&line, self.escape, 0)
            .map_err(|e| e.at(SourceRange::new(start, self.line_no)))?;
        if heredoc::can_contain_heredoc(&node) && line.contains("<<") {
            self.read_heredocs(&mut node, &line, start)?;
        }
        node.comments = std::mem::take(&mut self.comments);
        node.range = SourceRange::new(start, self.line_no);
        if self.ast.children.is_empty() {
            self.ast.range.start = start;
        }
        self.ast.range.end = self.line_no;
        self.ast.children.push(node);
        Ok(())
    }

    fn read_heredocs(
        &mut self,
        node: &mut Node,
        line: &str,
        start: usize,
    ) -> Result<(), DockerfileError> {
        let heredocs = heredoc::heredocs_from_line(line)
            .map_err(|e| e.at(SourceRange::new(start, self.line_no)))?;
        for mut doc in heredocs {
            let mut terminated = false;
            while let Some(raw) = self.next_line() {
                let mut candidate = trim_newline(raw);
                if doc.chomp {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == doc.name {
                    terminated = true;
                    break;
                }
                doc.content.push_str(raw);
            }
            if !terminated {
                return Err(DockerfileError::new(
                    ErrorKind::Syntax,
                    format!("unterminated heredoc `{}`", doc.name),
                )
                .at(SourceRange::new(start, self.line_no))
                .with_hint(format!(
                    "end the heredoc with a line holding only `{}`",
                    doc.name
                )));
            }
            if doc.chomp {
                doc.content = heredoc::chomp_tabs(&doc.content);
            }
            node.heredocs.push(doc);
        }
        Ok(())
    }
}
