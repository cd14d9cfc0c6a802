//! Grouping typed instructions into build stages, like BuildKit's
//! `instructions.Parse`: ARGs before the first FROM are meta arguments (usable
//! in FROM lines), every FROM opens a stage, and everything else belongs to the
//! stage above it.

use crate::ast::Ast;
use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::commands::{ArgInstruction, FromInstruction, Instruction};
use crate::instructions::parse::parse_instruction;

/// A Dockerfile typed and split into stages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedDockerfile {
    /// The ARGs before the first FROM, in order.
    pub meta_args: Vec<ArgInstruction>,
    /// The stages, in file order.
    pub stages: Vec<Stage>,
}

/// One build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The position of the stage in the file, as `COPY --from=0` counts it.
    pub index: usize,
    /// The lower-cased `AS` name, when given.
    pub name: Option<String>,
    /// The FROM that opens the stage.
    pub from: FromInstruction,
    /// The stage's other instructions, in order (never a FROM).
    pub commands: Vec<Instruction>,
}

impl ParsedDockerfile {
    /// The stage named `name` (case-insensitive), as `--target` and
    /// `COPY --from` look stages up. With duplicate names the first wins.
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let wanted = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(wanted.as_str()))
    }
}

/// Type every instruction of `ast` and group them into stages.
///
/// Fails on the first instruction that does not type, and on any instruction
/// other than ARG before the first FROM.
pub fn parse_dockerfile(ast: &Ast) -> Result<ParsedDockerfile, DockerfileError> {
    let mut parsed = ParsedDockerfile::default();
    for node in &ast.children {
        let instruction = parse_instruction(node)?;
        match instruction {
            Instruction::Arg(arg) if parsed.stages.is_empty() => parsed.meta_args.push(arg),
            Instruction::From(from) => {
                parsed.stages.push(Stage {
                    index: parsed.stages.len(),
                    name: from.stage_name.clone(),
                    from,
                    commands: Vec::new(),
                });
            }
            other => {
                let Some(stage) = parsed.stages.last_mut() else {
                    return Err(DockerfileError::new(
                        ErrorKind::Syntax,
                        "no build stage in current context",
                    )
                    .with_hint(format!(
                        "only ARG may come before the first FROM; move this {} after a FROM",
                        other.keyword()
                    ))
                    .at(node.range));
                };
                stage.commands.push(other);
            }
        }
    }
    Ok(parsed)
}
