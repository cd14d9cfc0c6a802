//! One module per command.

mod build;
mod completion;
mod debug;
pub mod du;
pub mod images;
pub mod login;
pub mod prune;
pub mod pull;
pub mod push;
pub mod rmi;
mod stdin_context;

use crate::cli::{Cli, Command};

/// Run the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(args) => build::run(&cli.global, args),
        Command::Debug(cmd) => debug::run(cmd),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Images(args) => images::run(&cli.global, args),
        Command::Rmi(args) => rmi::run(&cli.global, args),
        Command::Prune(args) => prune::run(&cli.global, args),
        Command::Du(args) => du::run(&cli.global, args),
        Command::Login(args) => login::run(&cli.global, args),
        Command::Logout(args) => login::run_logout(&cli.global, args),
        Command::Push(args) => push::run(&cli.global, args),
        Command::Completion { shell } => completion::completion(shell),
        Command::Man { command } => completion::man(command.as_deref()),
    }
}
