//! The one error type of the frontend.
//!
//! Every problem with a Dockerfile, whether found while parsing, while typing
//! instructions, while expanding variables or while lowering, is reported as a
//! [`DockerfileError`]: a lowercase message, the lines it concerns and an
//! optional hint. The CLI turns it into the snippet display of DESIGN.md
//! section 9; tests branch on [`ErrorKind`] and assert the range.

use crate::ast::SourceRange;

/// What kind of problem a [`DockerfileError`] reports, for callers and tests that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not a Dockerfile (syntax, bad heredoc, empty file, ...).
    Syntax,
    /// An instruction keyword that does not exist.
    UnknownInstruction,
    /// A flag the instruction does not take.
    UnknownFlag,
    /// A flag given twice, without a value, or with a bad value.
    InvalidFlag,
    /// Too few or too many arguments.
    ArgumentCount,
    /// Any other invalid argument (bad port, bad duration, bad mount, ...).
    InvalidArgument,
    /// Variable expansion failed (`${x:?msg}`, bad substitution).
    Expansion,
    /// A stage named by `--from`, `FROM` or `--target` does not exist.
    StageNotFound,
    /// Stages depend on each other in a cycle.
    Cycle,
}

/// A problem with a Dockerfile, with the lines it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DockerfileError {
    /// What went wrong, lowercase, without a final period.
    pub message: String,
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// The Dockerfile lines involved, when known.
    pub range: Option<SourceRange>,
    /// What the user could do about it ("did you mean RUN?").
    pub hint: Option<String>,
}

impl DockerfileError {
    /// An error of `kind` with `message` and no location yet.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind,
            range: None,
            hint: None,
        }
    }

    /// Attach the lines the error concerns; an existing range is kept, so the
    /// innermost location wins.
    pub fn at(mut self, range: SourceRange) -> Self {
        self.range.get_or_insert(range);
        self
    }

    /// Attach a hint telling the user what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}
