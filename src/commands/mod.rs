//! One module per command.

mod build;
mod debug;

use crate::cli::{Cli, Command};

/// Run the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(args) => build::run(&cli.global, args),
        Command::Debug(cmd) => debug::run(cmd),
    }
}
