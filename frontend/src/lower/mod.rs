//! Lowering: typed instructions -> a [`BuildGraph`] plus the target stage's image config.
//!
//! Lowering starts at the target stage and lowers a stage only when the target
//! needs it (through `FROM`, `COPY --from` or `RUN --mount from=`), so stages
//! the target does not reach never enter the graph and their base images are
//! never resolved. Base images are resolved through [`ImageResolver`], the one
//! door to the outside world: the frontend itself does no I/O.
//!
//! Variable scoping follows BuildKit: ARGs before the first FROM (the *meta*
//! args) are visible in FROM lines only, unless a stage redeclares them;
//! stage ARGs are visible from their declaration on; `--build-arg` overrides
//! defaults; ARG values reach RUN's environment (and so its digest) but not the
//! image config; ENV wins over an ARG of the same name.

mod args;
mod dispatch;
mod history;
mod link;

use std::collections::{BTreeMap, BTreeSet};

use solver::graph::{BuildGraph, Op, SourceOp, VertexId, VertexMeta};

use crate::ast::{Ast, SourceRange};
use crate::error::{DockerfileError, ErrorKind};
use crate::expand::Lexer;
use crate::image::{ImageSpec, Platform};
use crate::instructions::{self, ParsedDockerfile};

pub use args::PROXY_ARGS;

/// A base image, resolved by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The normalised reference pinned to its manifest digest
    /// (`docker.io/library/busybox:latest@sha256:...`).
    pub reference: String,
    /// Its config blob.
    pub spec: ImageSpec,
}

/// How lowering learns about base images without doing I/O itself.
pub trait ImageResolver {
    /// Resolve `reference` (as written after expansion) for `platform`. The error
    /// is a message shown to the user at the FROM line.
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String>;
}

/// Everything that steers lowering besides the Dockerfile.
#[derive(Debug, Clone)]
pub struct LowerOptions {
    /// The stage to build (default: the last).
    pub target: Option<String>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The platform the image is for.
    pub target_platform: Platform,
    /// The platform strata runs on.
    pub build_platform: Platform,
    /// Skip cache lookups for every step.
    pub no_cache: bool,
    /// Skip cache lookups for the steps of these stages.
    pub no_cache_filter: Vec<String>,
    /// `.dockerignore` patterns, attached to every read of the build context.
    pub dockerignore: Vec<String>,
    /// `--network`: what `RUN` steps that do not choose a network get (BuildKit's
    /// `force-network-mode`). It lands in each step's op, so it enters cache keys.
    pub network: solver::graph::NetworkMode,
    /// `--add-host` entries (`host:ip`), added to every `RUN` step's `/etc/hosts` and
    /// to its op, so a step that read `/etc/hosts` is re-run when they change.
    pub extra_hosts: Vec<String>,
}

impl Default for LowerOptions {
    fn default() -> Self {
        let host = Platform::host();
        Self {
            target: None,
            build_args: BTreeMap::new(),
            target_platform: host.clone(),
            build_platform: host,
            no_cache: false,
            no_cache_filter: Vec::new(),
            dockerignore: Vec::new(),
            network: solver::graph::NetworkMode::Default,
            extra_hosts: Vec::new(),
        }
    }
}

/// The result of lowering: a graph ready for the solver and the image to export.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// Only the vertices the target needs.
    pub graph: BuildGraph,
    /// The vertex whose output is the target stage's root filesystem.
    pub target: VertexId,
    /// The target stage's name (or `stage-N`).
    pub stage: String,
    /// Config and history of the image (without `rootfs` and `created`, which
    /// the exporter fills in).
    pub image: ImageSpec,
    /// The base image at the bottom of the target stage, if any.
    pub base: Option<ResolvedImage>,
    /// The vertices whose diffs are the image's own layers, bottom first; each
    /// matches, in order, a history entry added by this build without
    /// `empty_layer`.
    pub layer_steps: Vec<VertexId>,
    /// Warnings for the user (unused build args, ...).
    pub warnings: Vec<String>,
}

/// Lower a parsed Dockerfile.
pub fn lower(
    ast: &Ast,
    options: &LowerOptions,
    resolver: &dyn ImageResolver,
) -> Result<Lowered, DockerfileError> {
    let parsed = instructions::parse_dockerfile(ast)?;
    let lexer = Lexer::new(ast.escape);
    let mut lowering = Lowering::new(&parsed, options, resolver, lexer)?;
    let target = lowering.target_index()?;
    lowering.lower_stage(target, None)?;
    lowering.finish(target)
}

/// The state of one lowered stage.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    pub(crate) name: String,
    pub(crate) root: VertexId,
    pub(crate) image: ImageSpec,
    pub(crate) base: Option<ResolvedImage>,
    pub(crate) layer_steps: Vec<VertexId>,
    pub(crate) platform: Platform,
}

pub(crate) struct Lowering<'a> {
    pub(crate) parsed: &'a ParsedDockerfile,
    pub(crate) options: &'a LowerOptions,
    pub(crate) resolver: &'a dyn ImageResolver,
    pub(crate) lexer: Lexer,
    pub(crate) graph: BuildGraph,
    pub(crate) meta_args: Vec<(String, String)>,
    pub(crate) stages: Vec<Option<StageState>>,
    in_progress: BTreeSet<usize>,
    pub(crate) used_build_args: BTreeSet<String>,
    pub(crate) images: BTreeMap<(String, String), ResolvedImage>,
}

impl<'a> Lowering<'a> {
    fn new(
        parsed: &'a ParsedDockerfile,
        options: &'a LowerOptions,
        resolver: &'a dyn ImageResolver,
        lexer: Lexer,
    ) -> Result<Self, DockerfileError> {
        let mut me = Self {
            parsed,
            options,
            resolver,
            lexer,
            graph: BuildGraph::default(),
            meta_args: Vec::new(),
            stages: vec![None; parsed.stages.len()],
            in_progress: BTreeSet::new(),
            used_build_args: BTreeSet::new(),
            images: BTreeMap::new(),
        };
        me.meta_args = me.eval_meta_args()?;
        for (i, stage) in parsed.stages.iter().enumerate() {
            let Some(name) = &stage.name else { continue };
            if parsed.stages[..i]
                .iter()
                .any(|s| s.name.as_ref() == Some(name))
            {
                return Err(DockerfileError::new(
                    ErrorKind::InvalidArgument,
                    format!("duplicate stage name `{name}`"),
                )
                .at(stage.from.origin.range)
                .with_hint("each `FROM ... AS name` needs a name of its own"));
            }
        }
        Ok(me)
    }

    /// The stage `--target` names, or the last one.
    fn target_index(&self) -> Result<usize, DockerfileError> {
        let Some(target) = &self.options.target else {
            return self.parsed.stages.len().checked_sub(1).ok_or_else(|| {
                DockerfileError::new(ErrorKind::Syntax, "the Dockerfile has no stage")
            });
        };
        self.stage_by_name(target).ok_or_else(|| {
            let names: Vec<String> = self
                .parsed
                .stages
                .iter()
                .filter_map(|s| s.name.clone())
                .collect();
            let err = DockerfileError::new(
                ErrorKind::StageNotFound,
                format!("target stage `{target}` could not be found"),
            );
            match crate::instructions::closest(target, names.iter().map(String::as_str), false) {
                Some(s) => err.with_hint(format!("did you mean `{s}`?")),
                None if names.is_empty() => {
                    err.with_hint("no stage of this Dockerfile has a name (`FROM image AS name`)")
                }
                None => err.with_hint(format!("stages are: {}", names.join(", "))),
            }
        })
    }

    /// A stage by (case-insensitive) name.
    pub(crate) fn stage_by_name(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.parsed
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// Lower stage `index` (once), after everything it depends on. `from` is the
    /// range of the instruction that needs it, for the cycle error.
    pub(crate) fn lower_stage(
        &mut self,
        index: usize,
        from: Option<SourceRange>,
    ) -> Result<(), DockerfileError> {
        if self.stages.get(index).is_some_and(Option::is_some) {
            return Ok(());
        }
        if !self.in_progress.insert(index) {
            let stage = &self.parsed.stages[index];
            let name = stage.name.clone().unwrap_or_else(|| index.to_string());
            let err = DockerfileError::new(
                ErrorKind::Cycle,
                format!("circular dependency detected on stage `{name}`"),
            );
            return Err(match from {
                Some(r) => err.at(r),
                None => err,
            });
        }
        let state = dispatch::lower_stage(self, index)?;
        self.in_progress.remove(&index);
        self.stages[index] = Some(state);
        Ok(())
    }

    /// Resolve an image once per (reference, platform).
    pub(crate) fn resolve_image(
        &mut self,
        reference: &str,
        platform: &Platform,
        range: SourceRange,
    ) -> Result<ResolvedImage, DockerfileError> {
        let key = (reference.to_string(), platform.to_string());
        if let Some(found) = self.images.get(&key) {
            return Ok(found.clone());
        }
        let resolved = self.resolver.resolve(reference, platform).map_err(|msg| {
            let err = DockerfileError::new(
                ErrorKind::InvalidArgument,
                format!("failed to resolve source metadata for `{reference}`: {msg}"),
            )
            .at(range);
            // `--from=buildr` is read as an image, as docker does; a near stage name
            // was most likely meant.
            let names = self.parsed.stages.iter().filter_map(|s| s.name.as_deref());
            match crate::instructions::closest(reference, names, false) {
                Some(stage) if !reference.contains(['/', ':', '@', '.']) => err.with_hint(
                    format!("`{reference}` is no stage of this Dockerfile, so it was read as an image; did you mean the stage `{stage}`?"),
                ),
                _ => err,
            }
        })?;
        self.images.insert(key, resolved.clone());
        Ok(resolved)
    }

    /// The vertex for an image, named for progress.
    pub(crate) fn image_vertex(
        &mut self,
        image: &ResolvedImage,
        platform: &Platform,
        name: String,
    ) -> VertexId {
        self.graph.add(
            Op::Source(SourceOp::Image {
                reference: image.reference.clone(),
                platform: platform.to_string(),
            }),
            vec![],
            VertexMeta {
                name,
                ..Default::default()
            },
        )
    }

    fn finish(mut self, target: usize) -> Result<Lowered, DockerfileError> {
        let state = self.stages[target].take().ok_or_else(|| {
            DockerfileError::new(ErrorKind::Syntax, "the target stage was not lowered")
        })?;
        let (graph, ids) = self.graph.prune(&[state.root]);
        let map_old_to_new = |old: VertexId| -> Option<VertexId> {
            let digest = self.graph.get(old)?.digest;
            graph
                .vertices()
                .find(|(_, v)| v.digest == digest)
                .map(|(id, _)| id)
        };
        let layer_steps = state
            .layer_steps
            .iter()
            .filter_map(|v| map_old_to_new(*v))
            .collect();
        let mut warnings = Vec::new();
        let unused: Vec<&String> = self
            .options
            .build_args
            .keys()
            .filter(|k| !self.used_build_args.contains(*k) && !args::is_builtin(k))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            warnings.push(format!(
                "one or more build-args [{}] were not consumed",
                names.join(" ")
            ));
        }
        Ok(Lowered {
            graph,
            target: ids.first().copied().unwrap_or(VertexId(0)),
            stage: state.name,
            image: state.image,
            base: state.base,
            layer_steps,
            warnings,
        })
    }
}

/// Parse and lower in one go, for callers that hold the Dockerfile text.
pub fn lower_text(
    text: &str,
    options: &LowerOptions,
    resolver: &dyn ImageResolver,
) -> Result<Lowered, DockerfileError> {
    let ast = crate::parser::parse(text)?;
    lower(&ast, options, resolver)
}

pub(crate) fn stage_label(parsed: &ParsedDockerfile, index: usize) -> String {
    parsed.stages[index]
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{index}"))
}
