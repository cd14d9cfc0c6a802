//! ARG scoping: meta args, stage args, predefined platform args and proxy args.

use crate::error::DockerfileError;
use crate::image::Platform;
use crate::instructions::ArgInstruction;

use super::Lowering;

/// Proxy variables that RUN sees when given as `--build-arg`, without an ARG,
/// and that never enter a digest or the history (as in BuildKit).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Build args that are not reported as unused when nothing declares them.
pub(crate) fn is_builtin(name: &str) -> bool {
    PROXY_ARGS.contains(&name)
        || matches!(
            name,
            "SOURCE_DATE_EPOCH" | "BUILDKIT_INLINE_CACHE" | "BUILDKIT_SYNTAX"
        )
        || name.starts_with("BUILDKIT_")
}

/// The predefined platform args and their values.
pub(crate) fn platform_args(
    target: &Platform,
    build: &Platform,
    stage: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, p) in [("TARGET", target), ("BUILD", build)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((format!("{prefix}VARIANT"), p.variant.clone()));
    }
    if let Some(stage) = stage {
        out.push(("TARGETSTAGE".into(), stage.to_string()));
    }
    out
}

impl Lowering<'_> {
    /// The args before the first FROM, with their values: a `--build-arg`
    /// wins, else the default expanded against earlier meta args and the
    /// predefined platform args. A meta arg without any value is left out.
    pub(crate) fn eval_meta_args(&mut self) -> Result<Vec<(String, String)>, DockerfileError> {
        let stage = self.options.target.clone();
        let mut env = platform_args(
            &self.options.target_platform,
            &self.options.build_platform,
            stage.as_deref(),
        );
        let mut meta = Vec::new();
        for arg in &self.parsed.meta_args {
            let values = self.eval_arg(arg, &env, &[])?;
            for (name, value) in values {
                if let Some(value) = value {
                    env.push((name.clone(), value.clone()));
                    meta.push((name, value));
                }
            }
        }
        Ok(meta)
    }

    /// The value each name of one ARG instruction takes. All defaults are
    /// expanded against `env` as it was before the instruction, so that
    /// `ARG a=1 b=$a` sees the old `a`, as one ENV does.
    ///
    /// `inherited` holds meta args: a stage's `ARG NAME` without default
    /// takes the meta arg's value.
    pub(crate) fn eval_arg(
        &mut self,
        arg: &ArgInstruction,
        env: &[(String, String)],
        inherited: &[(String, String)],
    ) -> Result<Vec<(String, Option<String>)>, DockerfileError> {
        let mut out = Vec::new();
        for def in &arg.args {
            let value = if let Some(v) = self.options.build_args.get(&def.name) {
                self.used_build_args.insert(def.name.clone());
                Some(v.clone())
            } else if let Some(default) = &def.default {
                Some(
                    self.lexer
                        .process_word(default, env)
                        .map_err(|e| e.at(arg.origin.range))?,
                )
            } else {
                inherited
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == def.name)
                    .map(|(_, v)| v.clone())
            };
            out.push((def.name.clone(), value));
        }
        Ok(out)
    }
}
