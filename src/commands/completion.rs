//! `strata completion SHELL` and `strata man [COMMAND]`: generated from the same clap
//! definition the parser uses, so completions and manual pages list exactly the flags
//! that exist, with their help text and headings.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use clap::CommandFactory as _;

use crate::cli::Cli;

/// Print the completion script for `shell` on stdout.
pub fn completion(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "strata", &mut out);
    write_stdout(&out)
}

/// Print the manual page of strata, or of one of its commands (`strata-build(1)`), as roff.
pub fn man(command: Option<&str>) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    // Propagates global flags (--root, --insecure-registry...) into every subcommand.
    cmd.build();
    let page = match command {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name).cloned() else {
                let names: Vec<String> = cmd
                    .get_subcommands()
                    .map(|s| s.get_name().to_string())
                    .collect();
                bail!("no command `{name}`\nhint: one of: {}", names.join(", "));
            };
            sub.name(format!("strata-{name}"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .context("rendering the manual page")?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // `strata completion bash | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
