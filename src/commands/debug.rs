//! `strata debug`: views of strata's internals, for tests and bug reports.

use std::io::Write as _;

use anyhow::Context as _;

use crate::cli::DebugCommand;
use crate::commands::build::read_dockerfile;
use crate::diagnostic;

/// Run a debug subcommand.
pub fn run(cmd: DebugCommand) -> anyhow::Result<()> {
    match cmd {
        DebugCommand::DumpAst { file } => {
            let (name, text) = read_dockerfile(file.as_deref().unwrap_or("-"))?;
            let ast = frontend::parser::parse(&text)
                .map_err(|e| anyhow::anyhow!(diagnostic::render(&name, &text, &e)))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", frontend::parser::dump(&ast)).context("writing to stdout")?;
            Ok(())
        }
    }
}
