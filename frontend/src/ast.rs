//! The syntax tree of a Dockerfile, as the parser produces it.
//!
//! The shape follows BuildKit's `parser.Node` closely enough that its `Dump`
//! format (used by the conformance corpus) falls out directly, but it is a plain
//! Rust tree instead of a linked list: one [`Node`] per instruction, its
//! arguments already split by the rules of that instruction.

/// A 1-based, inclusive range of Dockerfile lines.
///
/// Every node and every error carries one so that messages can show the
/// offending source snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SourceRange {
    /// First line (1-based).
    pub start: usize,
    /// Last line (1-based, inclusive).
    pub end: usize,
}

impl SourceRange {
    /// A range covering lines `start..=end`.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// Parser directives found at the top of the file (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// The `# syntax=` frontend image, recorded but not acted on.
    pub syntax: Option<String>,
    /// The escape character chosen by `# escape=` (default `\`).
    pub escape: Option<char>,
    /// The `# check=` build-check configuration, recorded verbatim.
    pub check: Option<String>,
}

/// A heredoc body attached to a RUN, COPY or ADD instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, without quotes (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The body, with every line ending in `\n`; leading tabs already
    /// stripped when `chomp` is set.
    pub content: String,
    /// False when the delimiter was quoted, which disables variable expansion.
    pub expand: bool,
    /// True for `<<-EOF`, which strips leading tabs.
    pub chomp: bool,
    /// The file-descriptor prefix (`3<<EOF`), when one was written.
    pub file_descriptor: Option<u32>,
}

/// One instruction of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword, lower-cased (`run`, `copy`, ...).
    pub keyword: String,
    /// Flags written before the arguments, verbatim (`--mount=type=cache,target=/x`).
    pub flags: Vec<String>,
    /// Arguments, split by the rules of this instruction (see the dump format in
    /// `../shared/conformance/README.md`): one per JSON element in exec form, one
    /// joined string for shell-form RUN/CMD/ENTRYPOINT, name/value/separator
    /// triples for ENV and LABEL, and so on.
    pub args: Vec<String>,
    /// The instruction nested in an `ONBUILD`.
    pub nested: Option<Box<Node>>,
    /// True when the arguments were written in JSON (exec) form.
    pub json: bool,
    /// Heredoc bodies, in the order their delimiters appear on the line.
    pub heredocs: Vec<Heredoc>,
    /// The instruction's full text with continuations joined, as BuildKit
    /// records it for history and error messages.
    pub original: String,
    /// Comment lines directly above the instruction, without the `#`.
    pub comments: Vec<String>,
    /// The lines this instruction spans.
    pub range: SourceRange,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ast {
    /// The instructions, in file order.
    pub children: Vec<Node>,
    /// The parser directives that were in effect.
    pub directives: Directives,
    /// The escape character used while parsing (`\` or `` ` ``).
    pub escape: char,
    /// Non-fatal findings (empty continuation lines, and the like), with lines.
    pub warnings: Vec<(SourceRange, String)>,
    /// The lines spanned by all instructions.
    pub range: SourceRange,
}
