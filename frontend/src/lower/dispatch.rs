//! Lowering one stage, instruction by instruction.

use solver::graph::{
    Chown, CopyOptions, ExecMount, ExecOp, FileAction, FileOp, MountKind, MountPerms, NetworkMode,
    Op, SourceOp, VertexId, VertexMeta,
};

use crate::ast::SourceRange;
use crate::error::{DockerfileError, ErrorKind};
use crate::image::{Healthcheck, ImageSpec, Platform};
use crate::instructions::{
    self, AddInstruction, CommandLine, CopyInstruction, Instruction, MountType, RunInstruction,
    ShellOrExec,
};
use crate::path;

use super::args::{PROXY_ARGS, platform_args};
use super::history::{self, created_by_run};
use super::link;
use super::{Lowering, ResolvedImage, StageState, stage_label};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The mutable state while a stage's instructions are lowered.
struct Dispatch {
    state: StageState,
    /// Stage ARGs in scope, in declaration order; `None` for declared without value.
    args: Vec<(String, Option<String>)>,
    /// Meta args and platform args that `ARG NAME` picks up.
    inherited: Vec<(String, String)>,
    cmd_set: bool,
    ignore_cache: bool,
    step: usize,
    total: usize,
    /// The Dockerfile has one stage: progress names omit the stage name.
    single_stage: bool,
}

impl Dispatch {
    /// The environment words are expanded in: stage args, then ENV (which wins).
    fn expand_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        env.extend(self.state.image.config.env_pairs());
        env
    }

    /// Every arg of the stage for a RUN's history text, as BuildKit lists them: the ENV
    /// value when ENV shadows it, empty when it has no value.
    fn history_args(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.args {
            let value = match self.state.image.config.env_get(k) {
                Some(env) => env.to_string(),
                None => v.clone().unwrap_or_default(),
            };
            out.retain(|(ok, _)| ok != k);
            out.push((k.clone(), value));
        }
        out
    }

    /// Stage args with values that ENV does not shadow: the RUN environment.
    fn run_args(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.args {
            let Some(v) = v else { continue };
            if self.state.image.config.env_get(k).is_some() {
                continue;
            }
            out.retain(|(ok, _)| ok != k);
            out.push((k.clone(), v.clone()));
        }
        out
    }

    fn meta(&mut self, text: &str, range: SourceRange) -> VertexMeta {
        self.step += 1;
        VertexMeta {
            name: format!(
                "{} {text}",
                step_label(&self.state.name, self.single_stage, self.step, self.total)
            ),
            stage: Some(self.state.name.clone()),
            lines: Some((range.start, range.end)),
            ignore_cache: self.ignore_cache,
        }
    }

    fn shell(&self) -> Vec<String> {
        self.state
            .image
            .config
            .shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    fn history(&mut self, created_by: String, empty_layer: bool) {
        self.state.image.history.push(crate::image::History {
            created_by,
            // BuildKit marks every entry of a Dockerfile step, empty or not.
            comment: "buildkit.dockerfile.v0".into(),
            empty_layer,
            ..Default::default()
        });
    }

    fn add_layer_step(&mut self, root: VertexId, created_by: String) {
        self.add_layer(root, root, created_by);
    }

    /// A step whose image layer is `layer`'s diff and after which the stage's
    /// filesystem is `root` (they differ for `COPY --link`: copy, then merge).
    fn add_layer(&mut self, layer: VertexId, root: VertexId, created_by: String) {
        self.state.root = root;
        self.state.layer_steps.push(layer);
        self.history(created_by, false);
    }
}

/// Lower stage `index` of the Dockerfile into the graph.
pub(crate) fn lower_stage(
    l: &mut Lowering<'_>,
    index: usize,
) -> Result<StageState, DockerfileError> {
    let stage = &l.parsed.stages[index];
    let from = &stage.from;
    let name = stage_label(l.parsed, index);
    let range = from.origin.range;
    let meta_env = l.meta_args.clone();
    let mut from_env = platform_args(
        &l.options.target_platform,
        &l.options.build_platform,
        l.options.target.as_deref(),
    );
    from_env.extend(meta_env.iter().cloned());

    let platform = match &from.platform {
        Some(p) => {
            let text = l
                .lexer
                .process_word(p, &from_env)
                .map_err(|e| e.at(range))?;
            Platform::parse(&text).map_err(|e| e.at(range))?
        }
        None => l.options.target_platform.clone(),
    };
    let base_name = l
        .lexer
        .process_word(&from.base, &from_env)
        .map_err(|e| e.at(range))?;
    if base_name.is_empty() {
        return Err(DockerfileError::new(
            ErrorKind::InvalidArgument,
            format!("base name `{}` should not be blank", from.base),
        )
        .at(range));
    }
    let ignore_cache = l.options.no_cache
        || l.options
            .no_cache_filter
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&name) || *f == index.to_string());
    // FROM and the instructions that become steps, as BuildKit counts them.
    let total = stage.commands.iter().filter(|c| makes_step(c)).count() + 1;
    let single_stage = l.parsed.stages.len() == 1;

    // The base: an earlier stage, scratch, or an image.
    let earlier = l.stage_by_name(&base_name).filter(|&i| i < index);
    let mut state = if let Some(base_index) = earlier {
        l.lower_stage(base_index, Some(range))?;
        let mut s = l.stages[base_index]
            .clone()
            .ok_or_else(|| DockerfileError::new(ErrorKind::Cycle, "stage not lowered").at(range))?;
        s.name = name.clone();
        s
    } else if base_name.eq_ignore_ascii_case("scratch") {
        let root = l
            .graph
            .add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let mut image = ImageSpec {
            os: platform.os.clone(),
            architecture: platform.architecture.clone(),
            variant: platform.variant.clone(),
            ..Default::default()
        };
        image.config.env.push(format!("PATH={DEFAULT_PATH}"));
        StageState {
            name: name.clone(),
            root,
            image,
            base: None,
            layer_steps: Vec::new(),
            platform: platform.clone(),
        }
    } else {
        let resolved = l.resolve_image(&base_name, &platform, range)?;
        let root = l.image_vertex(
            &resolved,
            &platform,
            format!(
                "{} FROM {}",
                step_label(&name, single_stage, 1, total),
                resolved.reference
            ),
        );
        let mut image = resolved.spec.clone();
        image.rootfs = Default::default();
        image.created = None;
        if image.os.is_empty() {
            image.os = platform.os.clone();
            image.architecture = platform.architecture.clone();
            image.variant = platform.variant.clone();
        }
        if image.config.env_get("PATH").is_none() {
            image.config.env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        StageState {
            name: name.clone(),
            root,
            image,
            base: Some(resolved),
            layer_steps: Vec::new(),
            platform: platform.clone(),
        }
    };
    state.platform = platform.clone();

    let mut inherited = platform_args(
        &l.options.target_platform,
        &l.options.build_platform,
        Some(&name),
    );
    inherited.extend(meta_env);
    let mut d = Dispatch {
        state,
        args: Vec::new(),
        inherited,
        cmd_set: false,
        ignore_cache,
        step: 1,
        total,
        single_stage,
    };

    // ONBUILD triggers of an image base run right after FROM, then are consumed.
    if earlier.is_none()
        && let Some(triggers) = d.state.image.config.on_build.take()
    {
        for trigger in triggers {
            let ast = crate::parser::parse(&trigger).map_err(|e| {
                DockerfileError::new(
                    ErrorKind::Syntax,
                    format!(
                        "invalid ONBUILD trigger `{trigger}` of the base image: {}",
                        e.message
                    ),
                )
                .at(range)
            })?;
            for node in &ast.children {
                let instr = instructions::parse_instruction(node).map_err(|e| {
                    DockerfileError::new(
                        e.kind,
                        format!("ONBUILD trigger `{trigger}`: {}", e.message),
                    )
                    .at(range)
                })?;
                if matches!(instr, Instruction::From(_) | Instruction::Onbuild(_)) {
                    return Err(DockerfileError::new(
                        ErrorKind::Syntax,
                        format!("{} is not allowed as an ONBUILD trigger", instr.keyword()),
                    )
                    .at(range));
                }
                if makes_step(&instr) {
                    d.total += 1;
                }
                dispatch(l, &mut d, &instr, Some(range))?;
            }
        }
    }

    for instr in &l.parsed.stages[index].commands {
        dispatch(l, &mut d, instr, None)?;
    }
    Ok(d.state)
}

/// Lower one instruction. `at` overrides the instruction's own range (ONBUILD
/// triggers report at the FROM that ran them).
fn dispatch(
    l: &mut Lowering<'_>,
    d: &mut Dispatch,
    instr: &Instruction,
    at: Option<SourceRange>,
) -> Result<(), DockerfileError> {
    let range = at.unwrap_or_else(|| instr.range());
    let env = d.expand_env();
    let lexer = l.lexer;
    let word = |w: &str| lexer.process_word(w, &env).map_err(|e| e.at(range));
    let config = &mut d.state.image.config;
    match instr {
        Instruction::From(_) => {
            return Err(DockerfileError::new(ErrorKind::Syntax, "unexpected FROM").at(range));
        }
        Instruction::Env(e) => {
            let mut values = Vec::new();
            for kv in &e.vars {
                values.push((word(&kv.key)?, word(&kv.value)?));
            }
            let text: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            for (k, v) in values {
                config.env_set(&k, &v);
            }
            d.history(format!("ENV {}", text.join(" ")), true);
        }
        Instruction::Label(lbl) => {
            let mut text = Vec::new();
            for kv in &lbl.labels {
                let (k, v) = (word(&kv.key)?, word(&kv.value)?);
                text.push(format!("{k}={v}"));
                config.labels.insert(k, v);
            }
            d.history(format!("LABEL {}", text.join(" ")), true);
        }
        Instruction::Maintainer(m) => {
            d.state.image.author = m.maintainer.clone();
            d.history(format!("MAINTAINER {}", m.maintainer), true);
        }
        Instruction::Expose(e) => {
            let mut ports = Vec::new();
            for p in &e.ports {
                for w in lexer.process_words(p, &env).map_err(|e| e.at(range))? {
                    for spec in instructions::parse_port_spec(&w).map_err(|e| e.at(range))? {
                        ports.push(spec.to_string());
                    }
                }
            }
            for p in &ports {
                config.exposed_ports.insert(p.clone(), Default::default());
            }
            d.history(history::expose(&ports), true);
        }
        Instruction::Volume(v) => {
            let mut vols = Vec::new();
            for path in &v.volumes {
                let p = word(path)?;
                if p.is_empty() {
                    return Err(DockerfileError::new(
                        ErrorKind::InvalidArgument,
                        "VOLUME specified can not be an empty string",
                    )
                    .at(range));
                }
                config.volumes.insert(p.clone(), Default::default());
                vols.push(p);
            }
            d.history(format!("VOLUME [{}]", vols.join(" ")), true);
        }
        Instruction::User(u) => {
            let user = word(&u.user)?;
            config.user = user.clone();
            d.history(format!("USER {user}"), true);
        }
        Instruction::StopSignal(s) => {
            let sig = word(&s.signal)?;
            if !valid_signal(&sig) {
                return Err(DockerfileError::new(
                    ErrorKind::InvalidArgument,
                    format!("failed to process `{sig}`: invalid signal"),
                )
                .at(range)
                .with_hint("use a signal name like SIGTERM or SIGINT, or a number"));
            }
            config.stop_signal = sig.clone();
            d.history(format!("STOPSIGNAL {sig}"), true);
        }
        Instruction::Shell(s) => {
            config.shell = Some(s.shell.clone());
            d.history(format!("SHELL [{}]", s.shell.join(" ")), true);
        }
        Instruction::Cmd(c) => {
            let argv = command_argv(&c.command, &d.shell());
            d.state.image.config.cmd = Some(argv.clone());
            d.cmd_set = true;
            d.history(format!("CMD {}", history::go_quote_list(&argv)), true);
        }
        Instruction::Entrypoint(e) => {
            let argv = command_argv(&e.command, &d.shell());
            d.state.image.config.entrypoint = Some(argv.clone());
            if !d.cmd_set {
                d.state.image.config.cmd = None;
            }
            d.history(
                format!("ENTRYPOINT {}", history::go_quote_list(&argv)),
                true,
            );
        }
        Instruction::Healthcheck(h) => {
            let hc = match &h.health {
                instructions::Healthcheck::Disabled => Healthcheck {
                    test: vec!["NONE".into()],
                    ..Default::default()
                },
                instructions::Healthcheck::Check(c) => {
                    let ns = |v: Option<std::time::Duration>| v.map_or(0, |d| d.as_nanos() as u64);
                    Healthcheck {
                        test: c.test.to_config_test(),
                        interval: ns(c.interval),
                        timeout: ns(c.timeout),
                        start_period: ns(c.start_period),
                        start_interval: ns(c.start_interval),
                        retries: u64::from(c.retries.unwrap_or(0)),
                    }
                }
            };
            let text = history::healthcheck(&hc);
            d.state.image.config.healthcheck = Some(hc);
            d.history(text, true);
        }
        Instruction::Onbuild(o) => {
            d.state
                .image
                .config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(o.expression.clone());
            // BuildKit records no history entry for ONBUILD.
        }
        Instruction::Arg(a) => {
            let env_before = d.expand_env();
            let inherited = d.inherited.clone();
            let values = l.eval_arg(a, &env_before, &inherited)?;
            // History shows the declaration (`ARG A`, `ARG B=<expanded default>`), not
            // the value a --build-arg or an automatic platform arg gives it.
            let mut text = Vec::new();
            for def in &a.args {
                match &def.default {
                    Some(default) => {
                        let value = lexer
                            .process_word(default, &env_before)
                            .map_err(|e| e.at(range))?;
                        text.push(format!("{}={value}", def.name));
                    }
                    None => text.push(def.name.clone()),
                }
            }
            for (k, v) in values {
                d.args.retain(|(ok, _)| *ok != k);
                d.args.push((k, v));
            }
            d.history(format!("ARG {}", text.join(" ")), true);
        }
        Instruction::Workdir(w) => {
            let path = word(&w.path)?;
            let dir = path::resolve(&d.state.image.config.working_dir, &path);
            let dir = if dir.len() > 1 {
                dir.trim_end_matches('/').to_string()
            } else {
                dir
            };
            d.state.image.config.working_dir = dir.clone();
            let chown = user_chown(&d.state.image.config.user);
            let meta = d.meta(&format!("WORKDIR {path}"), range);
            let root = l.graph.add(
                Op::File(FileOp {
                    actions: vec![FileAction::Mkdir {
                        path: dir.clone(),
                        mode: 0o755,
                        parents: true,
                        chown,
                    }],
                }),
                vec![d.state.root],
                meta,
            );
            d.add_layer_step(root, format!("WORKDIR {dir}"));
        }
        Instruction::Run(r) => lower_run(l, d, r, range)?,
        Instruction::Copy(c) => lower_copy(l, d, c, range)?,
        Instruction::Add(a) => lower_add(l, d, a, range)?,
    }
    Ok(())
}

/// BuildKit's progress prefix `[build 2/4]`: no stage name when the Dockerfile
/// has one stage (`[2/4]`), the index padded to the width of the total.
fn step_label(stage: &str, single_stage: bool, index: usize, total: usize) -> String {
    let width = total.to_string().len();
    if single_stage {
        format!("[{index:>width$}/{total}]")
    } else {
        format!("[{stage} {index:>width$}/{total}]")
    }
}

/// Whether an instruction becomes a step of the graph (and is counted in
/// the `i/n` of progress names).
fn makes_step(instr: &Instruction) -> bool {
    matches!(
        instr,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

/// The argv of CMD/ENTRYPOINT/RUN: the shell prepended for shell form.
fn command_argv(cmd: &CommandLine, shell: &[String]) -> Vec<String> {
    match &cmd.form {
        ShellOrExec::Exec(argv) => argv.clone(),
        ShellOrExec::Shell(text) => {
            let mut argv = shell.to_vec();
            argv.push(text.clone());
            argv
        }
    }
}

fn user_chown(user: &str) -> Option<Chown> {
    if user.is_empty() {
        return None;
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (user.to_string(), None),
    };
    Some(Chown { user: u, group: g })
}

/// The shell command of a RUN with heredocs, as BuildKit runs it: a command
/// that is only a heredoc runs the heredoc body as the script; otherwise the
/// whole text with its heredocs goes to the shell, which reads them itself.
fn heredoc_script(text: &str, cmd: &CommandLine) -> String {
    let first = &cmd.heredocs[0];
    let trimmed = text.trim();
    let only = cmd.heredocs.len() == 1
        && (trimmed == format!("<<{}", first.name)
            || trimmed == format!("<<-{}", first.name)
            || trimmed == format!("<<\"{}\"", first.name)
            || trimmed == format!("<<'{}'", first.name));
    if only {
        return first.content.clone();
    }
    let mut script = text.to_string();
    for h in &cmd.heredocs {
        script.push('\n');
        script.push_str(&h.content);
        script.push_str(&h.name);
    }
    script
}

fn lower_run(
    l: &mut Lowering<'_>,
    d: &mut Dispatch,
    r: &RunInstruction,
    range: SourceRange,
) -> Result<(), DockerfileError> {
    let shell = d.shell();
    let argv = match &r.command.form {
        ShellOrExec::Exec(argv) => argv.clone(),
        ShellOrExec::Shell(text) => {
            let script = if r.command.is_heredoc() {
                heredoc_script(text, &r.command)
            } else {
                text.clone()
            };
            let mut argv = shell.clone();
            argv.push(script);
            argv
        }
    };
    let run_args = d.run_args();
    let mut env: Vec<String> = d.state.image.config.env.clone();
    let mut proxy_env = Vec::new();
    for (k, v) in &run_args {
        env.push(format!("{k}={v}"));
    }
    for name in PROXY_ARGS {
        if let Some(v) = l.options.build_args.get(*name) {
            proxy_env.push(format!("{name}={v}"));
        }
    }

    let expand_env = d.expand_env();
    let lexer = l.lexer;
    let expand = |w: &str| lexer.process_word(w, &expand_env).map_err(|e| e.at(range));
    let mounts = instructions::parse_mounts(&r.mounts, &expand).map_err(|e| e.at(range))?;
    let mut inputs = vec![d.state.root];
    let mut exec_mounts = vec![ExecMount {
        target: "/".into(),
        kind: MountKind::Bind {
            input: 0,
            selector: "/".into(),
            readonly: false,
        },
    }];
    let workdir = if d.state.image.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        d.state.image.config.working_dir.clone()
    };
    for m in mounts {
        let target = m
            .target
            .as_deref()
            .map(|t| path::resolve(&workdir, t).trim_end_matches('/').to_string())
            .map(|t| if t.is_empty() { "/".into() } else { t });
        if target.as_deref() == Some("/") && !matches!(m.kind, MountType::Secret | MountType::Ssh) {
            return Err(DockerfileError::new(
                ErrorKind::InvalidFlag,
                format!(
                    "invalid mount target `{}`: it resolves to `/`",
                    m.target.as_deref().unwrap_or_default()
                ),
            )
            .at(range));
        }
        let perms = MountPerms {
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
        };
        let kind = match m.kind {
            MountType::Bind | MountType::Cache => {
                let from_input = match (&m.from, m.kind) {
                    (Some(from), _) => Some(source_vertex(l, d, from, range)?),
                    (None, MountType::Bind) => Some(context_vertex(
                        l,
                        &[m.source.clone().unwrap_or_else(|| "/".into())],
                    )),
                    (None, _) => None,
                };
                let input = from_input.map(|v| {
                    inputs.push(v);
                    inputs.len() - 1
                });
                let selector = path::resolve("/", m.source.as_deref().unwrap_or("/"));
                if m.kind == MountType::Bind {
                    MountKind::Bind {
                        input: input.unwrap_or(0),
                        selector,
                        readonly: m.read_only,
                    }
                } else {
                    let id =
                        m.id.clone()
                            .unwrap_or_else(|| target.clone().unwrap_or_default());
                    MountKind::Cache {
                        id,
                        sharing: match m.sharing {
                            instructions::CacheSharing::Shared => {
                                solver::graph::CacheSharing::Shared
                            }
                            instructions::CacheSharing::Private => {
                                solver::graph::CacheSharing::Private
                            }
                            instructions::CacheSharing::Locked => {
                                solver::graph::CacheSharing::Locked
                            }
                        },
                        input,
                        selector,
                        readonly: m.read_only,
                        perms,
                    }
                }
            }
            MountType::Tmpfs => MountKind::Tmpfs { size: m.size_limit },
            MountType::Secret => MountKind::Secret {
                id: m.id.clone().unwrap_or_default(),
                env: m.env.clone(),
                required: m.required,
                perms,
            },
            MountType::Ssh => MountKind::Ssh {
                id: m.id.clone().unwrap_or_else(|| "default".into()),
                required: m.required,
                perms,
            },
        };
        exec_mounts.push(ExecMount {
            target: target.unwrap_or_default(),
            kind,
        });
    }

    let op = ExecOp {
        args: argv.clone(),
        env,
        cwd: workdir,
        user: d.state.image.config.user.clone(),
        network: match r.network {
            instructions::NetworkMode::Default => l.options.network,
            instructions::NetworkMode::None => NetworkMode::None,
            instructions::NetworkMode::Host => NetworkMode::Host,
        },
        insecure: r.security == instructions::SecurityMode::Insecure,
        mounts: exec_mounts,
        proxy_env,
        extra_hosts: l.options.extra_hosts.clone(),
    };
    let created_by = created_by_run(
        &argv,
        &d.history_args(),
        matches!(r.command.form, ShellOrExec::Shell(_)),
    );
    let meta = d.meta(&history::progress_text(&r.origin.original), range);
    let root = l.graph.add(Op::Exec(op), inputs, meta);
    d.add_layer_step(root, created_by);
    Ok(())
}

/// The vertex for `--from` / `from=`: a stage (by name or index) or an image.
fn source_vertex(
    l: &mut Lowering<'_>,
    d: &Dispatch,
    from: &str,
    range: SourceRange,
) -> Result<VertexId, DockerfileError> {
    let index = l.stage_by_name(from).or_else(|| {
        from.parse::<usize>()
            .ok()
            .filter(|i| *i < l.parsed.stages.len())
    });
    if let Some(i) = index {
        l.lower_stage(i, Some(range))?;
        return l.stages[i]
            .as_ref()
            .map(|s| s.root)
            .ok_or_else(|| DockerfileError::new(ErrorKind::Cycle, "stage not lowered").at(range));
    }
    if from.parse::<usize>().is_ok() {
        return Err(DockerfileError::new(
            ErrorKind::StageNotFound,
            format!(
                "invalid stage index `{from}`: the Dockerfile has {} stages",
                l.parsed.stages.len()
            ),
        )
        .at(range));
    }
    let platform = d.state.platform.clone();
    let resolved: ResolvedImage = l.resolve_image(from, &platform, range)?;
    Ok(l.image_vertex(
        &resolved,
        &platform,
        format!("[internal] load image {}", resolved.reference),
    ))
}

/// The build context, restricted to the paths a step reads.
fn context_vertex(l: &mut Lowering<'_>, paths: &[String]) -> VertexId {
    let include = paths
        .iter()
        .map(|p| path::resolve("/", p).trim_start_matches('/').to_string())
        .collect();
    l.graph.add(
        Op::Source(SourceOp::Context {
            name: "context".into(),
            include,
            exclude: l.options.dockerignore.clone(),
        }),
        vec![],
        VertexMeta {
            name: "[internal] load build context".into(),
            ..Default::default()
        },
    )
}

struct CopyPlan<'a> {
    keyword: &'static str,
    sources: Vec<String>,
    inline: &'a [instructions::InlineSource],
    dest: String,
    chown: Option<String>,
    chmod: Option<String>,
    excludes: Vec<String>,
    parents: bool,
    unpack: bool,
    link: bool,
    original: &'a str,
}

fn lower_copy(
    l: &mut Lowering<'_>,
    d: &mut Dispatch,
    c: &CopyInstruction,
    range: SourceRange,
) -> Result<(), DockerfileError> {
    let env = d.expand_env();
    let lexer = l.lexer;
    let word = |w: &str| lexer.process_word(w, &env).map_err(|e| e.at(range));
    let sources = c
        .files
        .sources
        .iter()
        .map(|s| word(s))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = CopyPlan {
        keyword: "COPY",
        sources,
        inline: &c.files.inline,
        dest: word(&c.files.dest)?,
        chown: c.chown.as_deref().map(word).transpose()?,
        chmod: c.chmod.as_deref().map(word).transpose()?,
        excludes: c
            .excludes
            .iter()
            .map(|s| word(s))
            .collect::<Result<_, _>>()?,
        parents: c.parents,
        unpack: false,
        link: c.link,
        original: &c.origin.original,
    };
    let src_vertex = match &c.from {
        Some(from) => Some(source_vertex(l, d, from, range)?),
        None => None,
    };
    lower_file_copy(l, d, plan, src_vertex, range)
}

fn lower_add(
    l: &mut Lowering<'_>,
    d: &mut Dispatch,
    a: &AddInstruction,
    range: SourceRange,
) -> Result<(), DockerfileError> {
    let env = d.expand_env();
    let lexer = l.lexer;
    let word = |w: &str| lexer.process_word(w, &env).map_err(|e| e.at(range));
    let sources = a
        .files
        .sources
        .iter()
        .map(|s| word(s))
        .collect::<Result<Vec<_>, _>>()?;
    let dest = word(&a.files.dest)?;
    let checksum = a.checksum.as_deref().map(word).transpose()?;
    let remote: Vec<&String> = sources.iter().filter(|s| is_url(s) || is_git(s)).collect();
    if !remote.is_empty() {
        if sources.len() != 1 {
            return Err(DockerfileError::new(
                ErrorKind::InvalidArgument,
                "ADD with a URL or git source takes exactly one source",
            )
            .at(range));
        }
        let src = remote[0].clone();
        let workdir = d.state.image.config.working_dir.clone();
        let dest_path = path::resolve(&workdir, &dest);
        let (op, copy_src, dir_contents) = if is_git(&src) {
            let (remote_url, reference, subdir) = split_git(&src);
            (
                SourceOp::Git {
                    remote: remote_url,
                    reference,
                    subdir,
                    keep_git_dir: a.keep_git_dir,
                },
                "/".to_string(),
                true,
            )
        } else {
            let filename = url_filename(&src);
            (
                SourceOp::Http {
                    url: src.clone(),
                    checksum,
                    filename: filename.clone(),
                },
                format!("/{filename}"),
                false,
            )
        };
        let source = l.graph.add(
            Op::Source(op),
            vec![],
            VertexMeta {
                name: format!("[internal] fetch {}", redact_url(&src)),
                ..Default::default()
            },
        );
        let chown = a.chown.as_deref().map(word).transpose()?;
        let options = CopyOptions {
            chown: copy_chown(chown.as_deref(), a.link, range)?,
            chmod: a.chmod.as_deref().map(word).transpose()?,
            dir_contents_only: dir_contents,
            create_dest_path: true,
            follow_symlinks: true,
            unpack_archive: a.unpack.unwrap_or(false),
            ..Default::default()
        };
        validate_chmod(options.chmod.as_deref(), range)?;
        let meta = d.meta(&history::progress_text(&a.origin.original), range);
        let op = FileOp {
            actions: vec![FileAction::Copy {
                input: 1,
                src: vec![copy_src],
                dest: dest_path.clone(),
                options,
            }],
        };
        let step = link::add_copy(&mut l.graph, d.state.root, op, vec![source], meta, a.link);
        d.add_layer(
            step.layer,
            step.root,
            // BuildKit's text has the destination as written (expanded), not resolved.
            history::created_by_copy("ADD", &[redact_url(&src)], &[], &dest),
        );
        return Ok(());
    }
    if checksum.is_some() {
        return Err(DockerfileError::new(
            ErrorKind::InvalidFlag,
            "checksum can't be specified for non-HTTP(S) sources",
        )
        .at(range));
    }
    let plan = CopyPlan {
        keyword: "ADD",
        sources,
        inline: &a.files.inline,
        dest,
        chown: a.chown.as_deref().map(word).transpose()?,
        chmod: a.chmod.as_deref().map(word).transpose()?,
        excludes: a
            .excludes
            .iter()
            .map(|s| word(s))
            .collect::<Result<_, _>>()?,
        parents: false,
        unpack: a.unpack.unwrap_or(true),
        link: a.link,
        original: &a.origin.original,
    };
    lower_file_copy(l, d, plan, None, range)
}

fn validate_chmod(chmod: Option<&str>, range: SourceRange) -> Result<(), DockerfileError> {
    if let Some(c) = chmod {
        instructions::Chmod::parse(c).map_err(|e| e.at(range))?;
    }
    Ok(())
}

/// `--chown` as expanded, checked for `--link` (numeric ids only).
fn copy_chown(
    written: Option<&str>,
    link: bool,
    range: SourceRange,
) -> Result<Option<Chown>, DockerfileError> {
    let Some(written) = written else {
        return Ok(None);
    };
    let chown = parse_chown(written);
    if link {
        link::numeric_chown(chown, written, range).map(Some)
    } else {
        Ok(Some(chown))
    }
}

fn parse_chown(s: &str) -> Chown {
    match s.split_once(':') {
        Some((u, g)) => Chown {
            user: u.to_string(),
            group: Some(g.to_string()),
        },
        None => Chown {
            user: s.to_string(),
            group: None,
        },
    }
}

fn lower_file_copy(
    l: &mut Lowering<'_>,
    d: &mut Dispatch,
    plan: CopyPlan<'_>,
    from: Option<VertexId>,
    range: SourceRange,
) -> Result<(), DockerfileError> {
    validate_chmod(plan.chmod.as_deref(), range)?;
    let workdir = d.state.image.config.working_dir.clone();
    let count = plan.sources.len() + plan.inline.len();
    let dest_is_dir = plan.dest.ends_with('/') || plan.dest == "." || plan.dest.ends_with("/.");
    if count > 1 && !dest_is_dir {
        return Err(DockerfileError::new(
            ErrorKind::InvalidArgument,
            format!(
                "when using {} with more than one source file, the destination must be a directory and end with a /",
                plan.keyword
            ),
        )
        .at(range));
    }
    let dest = path::resolve(&workdir, &plan.dest);
    let chown = copy_chown(plan.chown.as_deref(), plan.link, range)?;
    let mut actions = Vec::new();
    let mut inputs = Vec::new();
    if !plan.sources.is_empty() {
        let src_vertex = match from {
            Some(v) => v,
            None => context_vertex(l, &plan.sources),
        };
        inputs.push(src_vertex);
        let src = plan
            .sources
            .iter()
            .map(|s| match s.split_once("/./") {
                // `--parents` keeps the `/./` pivot: the copy keeps what follows it.
                Some((pivot, rest)) if plan.parents => format!(
                    "{}/./{}",
                    path::resolve("/", pivot).trim_end_matches('/'),
                    path::resolve("/", rest).trim_start_matches('/')
                ),
                _ => path::resolve("/", s),
            })
            .map(|s| {
                if s.len() > 1 {
                    s.trim_end_matches('/').to_string()
                } else {
                    s
                }
            })
            .collect();
        actions.push(FileAction::Copy {
            input: 1,
            src,
            dest: dest.clone(),
            options: CopyOptions {
                chown: chown.clone(),
                chmod: plan.chmod.clone(),
                dir_contents_only: true,
                allow_wildcard: true,
                allow_empty_wildcard: true,
                unpack_archive: plan.unpack && from.is_none(),
                create_dest_path: true,
                follow_symlinks: true,
                parents: plan.parents,
                exclude: plan.excludes.clone(),
                timestamp: None,
            },
        });
    }
    let env = d.expand_env();
    for inline in plan.inline {
        let content = if inline.expand {
            l.lexer
                .skip_process_quotes(true)
                .process_word(&inline.content, &env)
                .map_err(|e| e.at(range))?
        } else {
            inline.content.clone()
        };
        let path = if dest_is_dir {
            path::resolve(&dest, &inline.path)
        } else {
            dest.clone()
        };
        let mode = match plan.chmod.as_deref() {
            Some(c) => instructions::Chmod::parse(c)
                .map_err(|e| e.at(range))?
                .apply(0o644, false),
            None => 0o644,
        };
        actions.push(FileAction::Mkfile {
            path,
            mode,
            data: content.into_bytes(),
            chown: chown.clone(),
        });
    }
    let meta = d.meta(&history::progress_text(plan.original), range);
    let op = FileOp { actions };
    let step = link::add_copy(&mut l.graph, d.state.root, op, inputs, meta, plan.link);
    let inline_names: Vec<&str> = plan.inline.iter().map(|i| i.path.as_str()).collect();
    d.add_layer(
        step.layer,
        step.root,
        history::created_by_copy(plan.keyword, &plan.sources, &inline_names, &plan.dest),
    );
    Ok(())
}

/// Signal names Linux knows (with or without `SIG`), `SIGRTMIN+n`, or a number, as
/// BuildKit's signal parsing accepts them.
fn valid_signal(sig: &str) -> bool {
    if let Ok(n) = sig.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = sig.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ", "RTMIN", "RTMAX",
    ];
    if NAMES.contains(&name) {
        return true;
    }
    for base in ["RTMIN+", "RTMAX-"] {
        if let Some(n) = name.strip_prefix(base) {
            return n.parse::<u32>().is_ok_and(|n| n <= 30);
        }
    }
    false
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn is_git(s: &str) -> bool {
    s.starts_with("git@")
        || s.starts_with("git://")
        || (is_url(s) && (s.ends_with(".git") || s.contains(".git#")))
}

fn split_git(s: &str) -> (String, Option<String>, Option<String>) {
    let (remote, fragment) = match s.split_once('#') {
        Some((r, f)) => (r.to_string(), Some(f.to_string())),
        None => (s.to_string(), None),
    };
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, sd)) => (
                (!r.is_empty()).then(|| r.to_string()),
                (!sd.is_empty()).then(|| sd.to_string()),
            ),
            None => ((!f.is_empty()).then_some(f), None),
        },
        None => (None, None),
    };
    (remote, reference, subdir)
}

fn url_filename(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || path.matches('/').count() <= 2 {
        "__unnamed__".into()
    } else {
        name.to_string()
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://xxxxx@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_split_into_remote_ref_and_subdir() {
        assert_eq!(
            split_git("https://github.com/a/b.git#v1:dir"),
            (
                "https://github.com/a/b.git".into(),
                Some("v1".into()),
                Some("dir".into())
            )
        );
        assert!(is_git("git@github.com:a/b.git"));
        assert!(!is_git("https://example.com/file.tar.gz"));
    }

    #[test]
    fn url_file_names() {
        assert_eq!(
            url_filename("https://example.com/a/file.tgz?x=1"),
            "file.tgz"
        );
        assert_eq!(url_filename("https://example.com"), "__unnamed__");
        assert_eq!(redact_url("https://user:pw@host/x"), "https://xxxxx@host/x");
    }
}
