//! `strata`: build container images from Dockerfiles, without a daemon.
//!
//! This binary is the only place that owns a terminal: it parses arguments,
//! reads files, sets up logging and renders progress and errors; the crates
//! beside it do the work and return typed errors.

mod calendar;
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
    let mut out = hints_last(&out);
    if !out.contains("\nhint: ")
        && let Some(hint) = host_hint(err, &out)
    {
        out.push_str("\nhint: ");
        out.push_str(&hint);
    }
    out
}

/// Moves `hint:` lines after everything else (a cause's hint would otherwise sit
/// between the message and the Dockerfile snippet), dropping repeats.
fn hints_last(text: &str) -> String {
    let (hints, rest): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with("hint: "));
    let mut lines = rest;
    for hint in hints {
        if !lines.contains(&hint) {
            lines.push(hint);
        }
    }
    lines.join("\n")
}

/// What to do about a failure of the machine rather than of the input: a full disk, or
/// a strata root this user may not write. Recognised from the typed I/O error where one
/// survives in the chain, else from the OS error text that steps carry as strings.
fn host_hint(err: &anyhow::Error, rendered: &str) -> Option<String> {
    let io_kind = err
        .chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    if io_kind == Some(std::io::ErrorKind::StorageFull) || rendered.contains("(os error 28)") {
        return Some(
            "the disk holding the strata root is full: free space (`strata prune` removes build cache, `strata rmi` images and their blobs), or put the root on a larger disk with `--root DIR` or `STRATA_ROOT`".to_owned(),
        );
    }
    let denied_in_root = err
        .chain()
        .find_map(|c| match c.downcast_ref::<cache::Error>() {
            Some(cache::Error::Io { path, source })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Some(path.clone())
            }
            _ => None,
        });
    denied_in_root.map(|path| {
        format!(
            "this user may not write `{}`: run strata as root, or use a root it owns with `--root DIR` or `STRATA_ROOT`",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_go_after_the_snippet_once() {
        let text = "failed: x\nhint: do y\nDockerfile:2\n----\nhint: do y";
        assert_eq!(
            hints_last(text),
            "failed: x\nDockerfile:2\n----\nhint: do y"
        );
    }

    #[test]
    fn a_full_disk_gets_a_hint_from_the_os_error_text() {
        let err =
            anyhow::anyhow!("failed to solve: write `/a`: No space left on device (os error 28)");
        assert!(render_error(&err).ends_with("`--root DIR` or `STRATA_ROOT`"));
        let err = anyhow::anyhow!("failed: thing\nhint: already one");
        assert_eq!(render_error(&err), "failed: thing\nhint: already one");
    }
}
