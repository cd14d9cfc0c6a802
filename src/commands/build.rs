//! `strata build`.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;

use crate::cli::{BuildArgs, GlobalArgs};

/// Read a Dockerfile from a path, or from stdin for `-`; returns the name to
/// show in messages and the text.
pub fn read_dockerfile(path: &str) -> anyhow::Result<(String, String)> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the Dockerfile from stdin")?;
        return Ok(("Dockerfile".into(), text));
    }
    let text = std::fs::read_to_string(Path::new(path))
        .with_context(|| format!("reading the Dockerfile `{path}`"))?;
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    Ok((name, text))
}

/// Run a build.
pub fn run(_global: &GlobalArgs, args: BuildArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("building is not available yet")
}
