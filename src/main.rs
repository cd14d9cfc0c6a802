//! `strata`: build container images from Dockerfiles, without a daemon.
//!
//! This binary is the only place that owns a terminal: it parses arguments,
//! reads files, sets up logging and renders progress and errors; the crates
//! beside it do the work and return typed errors.

mod cli;
mod commands;
mod diagnostic;
mod export;
mod fetch;
mod images;
mod progress;
mod push;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // The sandbox's init re-executes this binary; it must take over before any
    // thread exists.
    solver::sandbox::sandbox_init_if_requested();
    let cli = cli::Cli::parse();
    init_logging(cli.global.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", render_error(&err));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `STRATA_LOG` (an `EnvFilter` directive) wins over `-v`.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("STRATA_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The error chain on one line each, the outermost first.
fn render_error(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}
