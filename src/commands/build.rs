//! `strata build`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use frontend::lower::{LowerOptions, Lowered};
use frontend::{DockerfileError, Platform};
use solver::graph::{BuildGraph, NetworkMode};
use solver::solve::{SecretSource, SolveError, SolveOptions, Solver};

use solver::solve::ImageProvider as _;

use crate::cli::{BuildArgs, CompressionArg, GlobalArgs, NetworkArg, PrintMode, ProgressMode};
use crate::commands::stdin_context::{self, StdinContext};
use crate::diagnostic;
use crate::export::{self, ExportOptions};
use crate::images::PullPolicy;
use crate::progress::{MetadataSteps, Progress, StepHandle, Summary};

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

/// `--build-arg K=V`, or `--build-arg K` to take K from the environment
/// (skipped when unset, as docker does).
fn parse_build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for arg in raw {
        match arg.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            Some(_) => bail!("invalid --build-arg `{arg}`: the name is empty"),
            None => {
                if let Ok(v) = std::env::var(arg) {
                    out.insert(arg.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// The `.dockerignore` patterns: `<Dockerfile>.dockerignore` next to the
/// Dockerfile wins over the context's `.dockerignore`.
fn read_dockerignore(context: &Path, dockerfile: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut candidates = Vec::new();
    if let Some(df) = dockerfile {
        let mut name = df.as_os_str().to_owned();
        name.push(".dockerignore");
        candidates.push(PathBuf::from(name));
    }
    candidates.push(context.join(".dockerignore"));
    for path in candidates {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let patterns = frontend::dockerignore::parse_dockerignore(&text);
                frontend::dockerignore::IgnoreMatcher::new(&patterns)
                    .map_err(|e| anyhow::anyhow!("`{}`: {}", path.display(), e.message))?;
                return Ok(patterns);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading `{}`", path.display())),
        }
    }
    Ok(Vec::new())
}

fn parse_secrets(raw: &[String]) -> anyhow::Result<BTreeMap<String, SecretSource>> {
    let mut out = BTreeMap::new();
    for spec in raw {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid --secret `{spec}`: expected id=ID,src=FILE or id=ID,env=VAR"),
            }
        }
        let id = id.with_context(|| format!("invalid --secret `{spec}`: id= is required"))?;
        let source = match (src, env) {
            (Some(p), _) => SecretSource::File(p),
            (None, Some(var)) => SecretSource::Value(
                std::env::var(&var)
                    .with_context(|| {
                        format!("--secret `{id}`: environment variable `{var}` is not set")
                    })?
                    .into_bytes(),
            ),
            (None, None) => match std::env::var(&id) {
                Ok(v) => SecretSource::Value(v.into_bytes()),
                Err(_) => bail!("invalid --secret `{spec}`: give src=FILE or env=VAR"),
            },
        };
        out.insert(id, source);
    }
    Ok(out)
}

fn parse_ssh(raw: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for spec in raw {
        let (id, path) = match spec.split_once('=') {
            Some((id, path)) => (id.to_string(), PathBuf::from(path)),
            None => {
                let sock = std::env::var("SSH_AUTH_SOCK")
                    .with_context(|| format!("--ssh `{spec}`: SSH_AUTH_SOCK is not set"))?;
                (spec.clone(), PathBuf::from(sock))
            }
        };
        out.insert(id, path);
    }
    Ok(out)
}

/// Render a Dockerfile error with its snippet.
fn dockerfile_error(name: &str, text: &str, err: &DockerfileError) -> anyhow::Error {
    anyhow::anyhow!(diagnostic::render(name, text, err))
}

/// The graph as JSON, for `--print=graph`.
fn print_graph(lowered: &Lowered) -> anyhow::Result<()> {
    let graph: &BuildGraph = &lowered.graph;
    let vertices: Vec<serde_json::Value> = graph
        .vertices()
        .map(|(id, v)| {
            serde_json::json!({
                "id": id.0,
                "digest": v.digest.to_string(),
                "name": v.meta.name,
                "inputs": v.inputs.iter().map(|i| i.0).collect::<Vec<_>>(),
                "op": v.op,
            })
        })
        .collect();
    let out = serde_json::json!({
        "target": lowered.target.0,
        "stage": lowered.stage,
        "vertices": vertices,
        "image": lowered.image,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `--add-host HOST:IP` (or docker's newer `HOST=IP`), checked and normalised to
/// `HOST:IP` for the sandbox's `/etc/hosts`.
fn parse_add_hosts(raw: &[String]) -> anyhow::Result<Vec<String>> {
    raw.iter()
        .map(|entry| {
            // `HOST=IP` when `=` comes before any `:` (an IPv6 address has colons).
            let split = match (entry.find('='), entry.find(':')) {
                (Some(eq), Some(colon)) if eq < colon => entry.split_once('='),
                (Some(_), None) => entry.split_once('='),
                _ => entry.split_once(':'),
            };
            let Some((host, ip)) = split else {
                bail!("invalid --add-host `{entry}`: expected HOST:IP\nhint: write `--add-host db.internal:10.0.0.5`");
            };
            let ip_text = ip.trim_start_matches('[').trim_end_matches(']');
            let valid_host = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !valid_host {
                bail!("invalid --add-host `{entry}`: `{host}` is not a host name");
            }
            let ip: std::net::IpAddr = ip_text.parse().map_err(|_| {
                if ip_text == "host-gateway" {
                    anyhow::anyhow!(
                        "invalid --add-host `{entry}`: strata has no host gateway (RUN steps share the host's network)\nhint: use `{host}:127.0.0.1`"
                    )
                } else {
                    anyhow::anyhow!("invalid --add-host `{entry}`: `{ip_text}` is not an IP address")
                }
            })?;
            Ok(format!("{host}:{ip}"))
        })
        .collect()
}

/// Where the context and the Dockerfile come from.
struct Inputs {
    context: PathBuf,
    /// The Dockerfile's path, for `<Dockerfile>.dockerignore`; `None` when it came from stdin.
    dockerfile_path: Option<PathBuf>,
    /// Its name in messages and its text.
    name: String,
    text: String,
}

/// Reads the context (a directory, or stdin for `-`) and the Dockerfile.
fn read_inputs(args: &BuildArgs, scratch: &Path) -> anyhow::Result<Inputs> {
    if args.context.as_os_str() != "-" {
        let context = args.context.clone();
        if !context.is_dir() {
            bail!("build context `{}` is not a directory", context.display());
        }
        let dockerfile_path = match args.file.as_deref() {
            Some("-") => None,
            Some(p) => Some(PathBuf::from(p)),
            None => Some(context.join("Dockerfile")),
        };
        let (name, text) = match &dockerfile_path {
            Some(p) => read_dockerfile(&p.to_string_lossy())?,
            None => read_dockerfile("-")?,
        };
        return Ok(Inputs {
            context,
            dockerfile_path,
            name,
            text,
        });
    }
    if args.file.as_deref() == Some("-") {
        bail!(
            "`-f -` and CONTEXT `-` both read stdin\nhint: give the Dockerfile as a file, or put it in the context tar"
        );
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!(
            "CONTEXT `-` reads the context from stdin, which is a terminal\nhint: pipe a tar (`tar -c . | strata build -`) or a Dockerfile (`strata build - < Dockerfile`)"
        );
    }
    let dir = scratch.join("stdin-context");
    match stdin_context::read(std::io::stdin().lock(), &dir)? {
        StdinContext::Tar(context) => {
            // As docker does, -f names a file inside the context tar.
            let path = context.join(args.file.as_deref().unwrap_or("Dockerfile"));
            if !path.starts_with(&context) || args.file.as_deref().is_some_and(|f| f.contains(".."))
            {
                bail!("-f must name a file inside the context tar on stdin");
            }
            let (name, text) = read_dockerfile(&path.to_string_lossy())?;
            Ok(Inputs {
                context,
                dockerfile_path: Some(path),
                name,
                text,
            })
        }
        StdinContext::Dockerfile { dir, text } => {
            if let Some(f) = &args.file {
                bail!("-f `{f}` cannot be used when stdin holds the Dockerfile itself");
            }
            Ok(Inputs {
                context: dir,
                dockerfile_path: None,
                name: "Dockerfile".into(),
                text,
            })
        }
    }
}

/// Run a build.
pub fn run(global: &GlobalArgs, args: BuildArgs) -> anyhow::Result<()> {
    // Flags are checked before any work, so a typo fails in a second, not after the build.
    let target_platform = match &args.platform {
        Some(p) => Platform::parse(p).map_err(|e| match &e.hint {
            Some(hint) => anyhow::anyhow!("--platform: {}\nhint: {hint}", e.message),
            None => anyhow::anyhow!("--platform: {}", e.message),
        })?,
        None => Platform::host(),
    };
    let mut build_args = parse_build_args(&args.build_args)?;
    let extra_hosts = parse_add_hosts(&args.add_hosts)?;
    let secrets = parse_secrets(&args.secrets)?;
    // Secret files are checked now, as docker does: a typo fails before the build.
    for (id, source) in &secrets {
        if let SecretSource::File(p) = source {
            std::fs::File::open(p)
                .with_context(|| format!("--secret `{id}`: cannot read `{}`", p.display()))?;
        }
    }
    let ssh = parse_ssh(&args.ssh)?;
    let labels = export::parse_labels(&args.labels)?;
    let compression = export::compression(
        match args.compression {
            CompressionArg::Gzip => "gzip",
            CompressionArg::Zstd => "zstd",
            CompressionArg::Uncompressed => "uncompressed",
        },
        args.compression_level,
    )?;
    let plan = ExportPlan {
        names: export::normalize_names(&args.tags)?,
        outputs: args
            .outputs
            .iter()
            .map(|o| export::Output::parse(o))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if args.push {
        if plan.names.is_empty() {
            bail!("--push needs at least one -t NAME");
        }
        for t in &args.tags {
            crate::push::check_destination(t)?;
        }
    }
    let quiet = args.quiet || args.progress == ProgressMode::Quiet;
    let progress_mode = if quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };
    let progress = std::sync::Arc::new(Progress::new(progress_mode));
    if args.print.is_none() && rustix::process::geteuid().is_root() {
        // Before any thread exists: step overlays then vanish with this process.
        solver::solve::enter_private_mount_namespace().map_err(anyhow::Error::msg)?;
    }
    let root_path = cache::default_root(global.root.as_deref())?;
    let root = cache::Root::open(&root_path)
        .with_context(|| format!("opening the strata root `{}`", root_path.display()))?;
    // Held until the build ends: `strata prune` waits for it, and this build waits for a
    // running prune, so no snapshot or record this solve reads is removed under it.
    let _build_lock = root
        .lock_for_build(|| eprintln!("waiting for `strata prune` to finish"))
        .context("cannot take the build lock")?;
    let Inputs {
        context,
        dockerfile_path,
        name,
        text,
    } = progress.internal(
        &format!(
            "[internal] load build definition from {}",
            dockerfile_label(&args)
        ),
        |step| {
            let inputs = read_inputs(&args, root.scratch_dir())?;
            step.status(&format!(
                "transferring dockerfile: {}B done",
                inputs.text.len()
            ));
            Ok::<_, anyhow::Error>(inputs)
        },
    )?;
    let ast = frontend::parser::parse(&text).map_err(|e| dockerfile_error(&name, &text, &e))?;
    let dockerignore = progress.internal("[internal] load .dockerignore", |step| {
        let patterns = read_dockerignore(&context, dockerfile_path.as_deref())?;
        step.status(&format!(
            "transferring context: {} patterns done",
            patterns.len()
        ));
        Ok::<_, anyhow::Error>(patterns)
    })?;
    let options = LowerOptions {
        target: args.target.clone(),
        build_args: build_args.clone(),
        target_platform: target_platform.clone(),
        build_platform: Platform::host(),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        dockerignore,
        // `host` is what `default` already is here: keeping it `Default` keeps cache keys.
        network: match args.network {
            NetworkArg::None => NetworkMode::None,
            NetworkArg::Default | NetworkArg::Host => NetworkMode::Default,
        },
        extra_hosts,
    };
    let pull_policy = if args.pull {
        PullPolicy::Always
    } else {
        PullPolicy::Missing
    };
    let images = crate::images::LocalImages::new(&root, global, args.pull)?
        .with_build_settings(pull_policy, progress.pull_progress());
    let lowered = frontend::lower::lower(&ast, &options, &MetadataSteps::new(&images, &progress))
        .map_err(|e| dockerfile_error(&name, &text, &e))?;
    for w in &lowered.warnings {
        progress.warning(w);
    }
    if let Some(PrintMode::Graph) = args.print {
        progress.close();
        return print_graph(&lowered);
    }

    progress.set_graph(&lowered.graph);
    let executor = solver::sandbox::BuiltinExecutor::new(root.scratch_dir().join("sandbox"));
    let events = |e| progress.event(e);
    let solve_options = SolveOptions {
        root: root_path.clone(),
        scratch: root.scratch_dir().to_path_buf(),
        context: context.clone(),
        max_parallelism: args
            .max_parallelism
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        secrets,
        ssh,
    };
    // SOURCE_DATE_EPOCH from --build-arg wins over the environment, as in BuildKit.
    let epoch = build_args
        .remove("SOURCE_DATE_EPOCH")
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .map(|v| {
            v.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number"))
        })
        .transpose()?;
    let options = ExportOptions {
        compression,
        oci_mediatypes: args.oci_mediatypes,
        source_date_epoch: epoch,
        labels,
        platform: target_platform.clone(),
        jobs: args
            .max_parallelism
            .unwrap_or_else(|| ExportOptions::default().jobs),
    };
    let records = cache::records::Records::new(root.path().join("index"));

    let fetcher = crate::fetch::HttpFetcher::new();
    // Layers are compressed as soon as their step is done, overlapping later steps;
    // the export below then finds their blobs in the cache index.
    let layer_steps: std::collections::HashSet<_> = lowered.layer_steps.iter().copied().collect();
    let early = export::EarlyLayers::new(&options);
    let solved = std::thread::scope(|scope| {
        early.run(scope, root.store(), &records);
        let hook = |v: solver::graph::VertexId, layer: &solver::solve::LayerRef| {
            if let (true, Some(key)) = (layer_steps.contains(&v), layer.step_key) {
                early.submit(export::StepLayer::new(solver::solve::hex(&key), &layer.dir));
            }
        };
        let solver = Solver::new(solve_options, &images, &executor, &events)
            .with_fetcher(&fetcher)
            .with_layer_hook(&hook)
            .explain_cache(args.explain_cache);
        let solved = solver.solve(&lowered.graph, lowered.target);
        early.finish();
        solved
    })
    .map_err(|e| solve_error(&name, &text, &lowered, &e))?;

    let export_step = progress.start_internal("exporting to image");
    export_step.status("exporting layers");
    let base = match &lowered.base {
        Some(b) => images
            .layers(&b.reference, &target_platform.to_string())
            .map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let mut steps = Vec::with_capacity(lowered.layer_steps.len());
    for v in &lowered.layer_steps {
        let layer = solved
            .step_layer(*v)
            .with_context(|| format!("step {} produced no layer", v.0))?;
        let key = layer
            .step_key
            .map(|k| solver::solve::hex(&k))
            .unwrap_or_default();
        steps.push(export::StepLayer::new(key, &layer.dir));
    }
    let image = export::assemble(
        root.store(),
        &records,
        lowered.image.clone(),
        &base,
        &steps,
        &options,
    )?;
    export::tag(&image, &plan.names)?;
    for o in &plan.outputs {
        export::write_output(&image, o, &plan.names, root.scratch_dir())?;
    }
    if let Some(p) = &args.iidfile {
        export::write_iidfile(&image, p)?;
    }
    if let Some(p) = &args.metadata_file {
        export::write_metadata_file(&image, &plan.names, p)?;
    }
    export_step.status(&format!(
        "exporting manifest {} done",
        image.manifest.digest
    ));
    export_step.status(&format!("exporting config {} done", image.config.digest));
    for name in &plan.names {
        export_step.status(&format!("naming to {name} done"));
    }
    export_step.done();
    let mut pushed = Vec::new();
    if args.push {
        pushed = progress.internal("pushing layers", |step| {
            push_names(
                global,
                &root,
                &image,
                &plan.names,
                lowered.base.as_ref(),
                step,
                progress.pull_progress(),
            )
        })?;
    }
    progress.summary(&Summary {
        image: image.config.digest.to_string(),
        manifest: image.manifest.digest.to_string(),
        tags: args.tags.clone(),
        pushed,
    });
    // The image ID is the one thing on stdout, unless an output streams there.
    if !plan.outputs.iter().any(export::Output::writes_to_stdout) {
        println!("{}", image.config.digest);
    }
    Ok(())
}

/// Push the built image to every `-t` name, mounting base layers from the
/// base image's repository when it lives on the same registry.
fn push_names(
    global: &GlobalArgs,
    root: &cache::Root,
    image: &export::Image,
    names: &[String],
    base: Option<&frontend::lower::ResolvedImage>,
    step: &StepHandle<'_>,
    blobs: std::sync::Arc<dyn crate::images::PullProgress>,
) -> anyhow::Result<Vec<String>> {
    let mut opts = crate::push::PushOptions::from_global(global);
    opts.mount_from = base
        .map(|b| registry_client::Reference::parse(&b.reference))
        .transpose()
        .ok()
        .flatten();
    // The build's display reports the push; push's own lines would break its format.
    opts.progress = false;
    opts.blobs = Some(blobs);
    let report =
        step.pulls(|| crate::push::push_image(root, &image.manifest.digest, names, &opts))?;
    step.status(&format!(
        "{} blob{} uploaded ({}), {} already there, {} mounted",
        report.uploaded,
        if report.uploaded == 1 { "" } else { "s" },
        super::pull::human_size(report.uploaded_bytes),
        report.existing,
        report.mounted
    ));
    let mut pushed = Vec::with_capacity(report.pushed.len());
    for p in &report.pushed {
        step.status(&format!("pushed {}", p.pinned()));
        pushed.push(p.pinned());
    }
    Ok(pushed)
}

/// The Dockerfile's name for `[internal] load build definition from NAME`.
fn dockerfile_label(args: &BuildArgs) -> String {
    args.file
        .as_deref()
        .filter(|f| *f != "-")
        .and_then(|f| Path::new(f).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".to_owned())
}

/// The export flags, checked before any work.
struct ExportPlan {
    names: Vec<String>,
    outputs: Vec<export::Output>,
}

/// A solve error, with the Dockerfile snippet of the step that failed.
fn solve_error(name: &str, text: &str, lowered: &Lowered, err: &SolveError) -> anyhow::Error {
    let mut msg = format!("failed to solve: {err}");
    if let Some((start, end)) = err
        .vertex()
        .and_then(|v| lowered.graph.get(v))
        .and_then(|v| v.meta.lines)
    {
        let s = diagnostic::snippet(name, text, start, end);
        if !s.is_empty() {
            msg.push('\n');
            msg.push_str(&s);
        }
    }
    anyhow::anyhow!(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_from_values_and_environment() {
        // SAFETY of the test: the variable name is unique to this test.
        let args =
            parse_build_args(&["A=1".into(), "B=".into(), "STRATA_TEST_UNSET_VAR".into()]).unwrap();
        assert_eq!(args.get("A").map(String::as_str), Some("1"));
        assert_eq!(args.get("B").map(String::as_str), Some(""));
        assert!(!args.contains_key("STRATA_TEST_UNSET_VAR"));
        assert!(parse_build_args(&["=x".into()]).is_err());
    }

    #[test]
    fn add_hosts_normalise_to_host_colon_ip() {
        let hosts = parse_add_hosts(&[
            "db:10.0.0.5".into(),
            "v6:fd00::1".into(),
            "eq=192.168.1.1".into(),
            "br:[::1]".into(),
        ])
        .unwrap();
        assert_eq!(
            hosts,
            ["db:10.0.0.5", "v6:fd00::1", "eq:192.168.1.1", "br:::1"]
        );
        for bad in [
            "nohost",
            ":1.2.3.4",
            "db:nope",
            "bad host:1.2.3.4",
            "gw:host-gateway",
        ] {
            assert!(parse_add_hosts(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_parse() {
        let s = parse_secrets(&["id=tok,src=/tmp/x".into()]).unwrap();
        assert_eq!(s.get("tok"), Some(&SecretSource::File("/tmp/x".into())));
        assert!(parse_secrets(&["src=/tmp/x".into()]).is_err());
    }

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "a\n").unwrap();
        std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "b\n").unwrap();
        let df = dir.path().join("app.Dockerfile");
        assert_eq!(read_dockerignore(dir.path(), Some(&df)).unwrap(), vec!["b"]);
        assert_eq!(read_dockerignore(dir.path(), None).unwrap(), vec!["a"]);
    }
}
