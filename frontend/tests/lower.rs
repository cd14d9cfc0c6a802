//! Lowering: stages, ARG scoping, config inheritance, ONBUILD, pruning, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use frontend::lower::{ImageResolver, LowerOptions, Lowered, ResolvedImage, lower_text};
use frontend::{DockerfileError, ErrorKind, ImageSpec, Platform};
use solver::graph::{ExecOp, FileAction, MountKind, Op, SourceOp};

/// Resolves images from a fixed table and records every request, so tests can
/// assert which base images lowering asked for.
#[derive(Default)]
struct Images {
    specs: BTreeMap<String, ImageSpec>,
    asked: RefCell<Vec<String>>,
}

impl Images {
    fn with(mut self, name: &str, config_json: &str) -> Self {
        let spec: ImageSpec = serde_json::from_str(config_json).unwrap();
        self.specs.insert(name.to_string(), spec);
        self
    }
}

impl ImageResolver for Images {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        self.asked.borrow_mut().push(reference.to_string());
        let spec = self
            .specs
            .get(reference)
            .cloned()
            .ok_or_else(|| format!("`{reference}` not found"))?;
        Ok(ResolvedImage {
            reference: format!("docker.io/library/{reference}@sha256:{}", "a".repeat(64)),
            spec,
        })
    }
}

fn busybox() -> Images {
    Images::default().with(
        "busybox",
        r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]}}"#,
    )
}

fn lower(df: &str, images: &Images, opts: &LowerOptions) -> Result<Lowered, DockerfileError> {
    lower_text(df, opts, images)
}

fn execs(l: &Lowered) -> Vec<ExecOp> {
    l.graph
        .vertices()
        .filter_map(|(_, v)| match &v.op {
            Op::Exec(x) => Some(x.clone()),
            _ => None,
        })
        .collect()
}

fn run_script(x: &ExecOp) -> &str {
    x.args.last().unwrap()
}

#[test]
fn single_stage_lowers_to_a_chain_with_config() {
    let df = "FROM busybox\nENV A=1\nWORKDIR /app\nCOPY a.txt ./\nRUN echo $A > out\nUSER 1000\nCMD [\"./run\"]\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(l.image.config.env, vec!["PATH=/bin", "A=1"]);
    assert_eq!(l.image.config.working_dir, "/app");
    assert_eq!(l.image.config.user, "1000");
    assert_eq!(l.image.config.cmd, Some(vec!["./run".to_string()]));
    assert_eq!(
        l.layer_steps.len(),
        3,
        "WORKDIR, COPY, RUN each add a layer"
    );
    let x = &execs(&l)[0];
    assert_eq!(x.args, vec!["/bin/sh", "-c", "echo $A > out"]);
    assert_eq!(x.cwd, "/app");
    assert!(x.env.contains(&"A=1".to_string()));
    let copy = l
        .graph
        .vertices()
        .find_map(|(_, v)| match &v.op {
            Op::File(f) => f.actions.iter().find_map(|a| match a {
                FileAction::Copy { src, dest, .. } => Some((src.clone(), dest.clone())),
                _ => None,
            }),
            _ => None,
        })
        .unwrap();
    assert_eq!(copy, (vec!["/a.txt".to_string()], "/app/".to_string()));
    let history: Vec<_> = l
        .image
        .history
        .iter()
        .map(|h| (h.created_by.as_str(), h.empty_layer))
        .collect();
    assert_eq!(history[0], ("ENV A=1", true));
    assert_eq!(
        history[3],
        ("RUN /bin/sh -c echo $A > out # buildkit", false)
    );
    // The target is the RUN's successor chain end; the graph holds only what it needs.
    assert!(l.graph.get(l.target).is_some());
}

#[test]
fn unreachable_stages_are_pruned_and_their_images_never_resolved() {
    let images = busybox().with("alpine", r#"{"os":"linux","architecture":"amd64"}"#);
    let df = "FROM alpine AS unused\nRUN echo unused\n\nFROM busybox AS build\nRUN echo build > /b\n\nFROM scratch\nCOPY --from=build /b /b\n";
    let l = lower(df, &images, &LowerOptions::default()).unwrap();
    assert_eq!(images.asked.borrow().as_slice(), ["busybox"]);
    assert!(execs(&l).iter().all(|x| run_script(x) != "echo unused"));
    assert_eq!(execs(&l).len(), 1);
}

#[test]
fn target_selects_a_stage_and_a_missing_target_is_an_error() {
    let df = "FROM busybox AS a\nRUN echo a\nFROM busybox AS b\nRUN echo b\n";
    let opts = LowerOptions {
        target: Some("a".into()),
        ..Default::default()
    };
    let l = lower(df, &busybox(), &opts).unwrap();
    assert_eq!(l.stage, "a");
    assert_eq!(run_script(&execs(&l)[0]), "echo a");
    let opts = LowerOptions {
        target: Some("c".into()),
        ..Default::default()
    };
    let err = lower(df, &busybox(), &opts).unwrap_err();
    assert_eq!(err.kind, ErrorKind::StageNotFound);
    assert!(err.message.contains("`c`"), "{}", err.message);
}

#[test]
fn identical_steps_of_two_stages_are_one_vertex() {
    let df = "FROM busybox AS a\nRUN echo same\nFROM busybox AS b\nRUN echo same\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(execs(&l).len(), 1);
}

#[test]
fn meta_args_reach_from_only_unless_redeclared() {
    let images = busybox().with("busybox:1.36", r#"{"os":"linux","architecture":"amd64"}"#);
    let df =
        "ARG TAG=1.36\nARG OTHER=x\nFROM busybox:${TAG}\nARG OTHER\nRUN echo [$TAG] [$OTHER]\n";
    let l = lower(df, &images, &LowerOptions::default()).unwrap();
    assert_eq!(images.asked.borrow().as_slice(), ["busybox:1.36"]);
    let x = &execs(&l)[0];
    assert!(x.env.contains(&"OTHER=x".to_string()), "{:?}", x.env);
    assert!(!x.env.iter().any(|e| e.starts_with("TAG=")), "{:?}", x.env);
    // ARG values are not in the image config.
    assert!(!l.image.config.env.iter().any(|e| e.starts_with("OTHER=")));
}

#[test]
fn build_args_override_defaults_and_unused_ones_warn() {
    let df = "FROM busybox\nARG V=default\nRUN echo $V\n";
    let mut build_args = BTreeMap::new();
    build_args.insert("V".to_string(), "cli".to_string());
    build_args.insert("UNUSED".to_string(), "1".to_string());
    build_args.insert("HTTP_PROXY".to_string(), "http://proxy:3128".to_string());
    let opts = LowerOptions {
        build_args,
        ..Default::default()
    };
    let l = lower(df, &busybox(), &opts).unwrap();
    let x = &execs(&l)[0];
    assert!(x.env.contains(&"V=cli".to_string()));
    assert_eq!(x.proxy_env, vec!["HTTP_PROXY=http://proxy:3128"]);
    assert!(!x.env.iter().any(|e| e.contains("proxy")));
    assert_eq!(l.warnings.len(), 1);
    assert!(l.warnings[0].contains("UNUSED"));
    assert!(!l.warnings[0].contains("HTTP_PROXY"));
    let run = l
        .image
        .history
        .iter()
        .find(|h| h.created_by.starts_with("RUN"))
        .unwrap();
    assert_eq!(run.created_by, "RUN |1 V=cli /bin/sh -c echo $V # buildkit");
}

#[test]
fn arg_values_change_the_run_digest() {
    let df = "FROM busybox\nARG V=1\nRUN echo hi\n";
    let a = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    let mut opts = LowerOptions::default();
    opts.build_args.insert("V".into(), "2".into());
    let b = lower(df, &busybox(), &opts).unwrap();
    assert_ne!(
        a.graph.get(a.target).unwrap().digest,
        b.graph.get(b.target).unwrap().digest
    );
    // Proxy args do not.
    let mut opts = LowerOptions::default();
    opts.build_args
        .insert("HTTPS_PROXY".into(), "http://p".into());
    let c = lower(df, &busybox(), &opts).unwrap();
    assert_eq!(
        a.graph.get(a.target).unwrap().digest,
        c.graph.get(c.target).unwrap().digest
    );
}

#[test]
fn one_env_instruction_sees_a_consistent_environment() {
    let df = "FROM busybox\nENV a=old\nENV a=x b=$a\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert!(l.image.config.env.contains(&"a=x".to_string()));
    assert!(l.image.config.env.contains(&"b=old".to_string()));
}

#[test]
fn env_wins_over_arg_of_the_same_name() {
    let df = "FROM busybox\nARG X=arg\nENV X=env\nRUN echo $X\nWORKDIR /$X\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(l.image.config.working_dir, "/env");
    let x = &execs(&l)[0];
    assert!(!x.env.contains(&"X=arg".to_string()));
}

#[test]
fn predefined_platform_args_need_a_declaration_in_a_stage() {
    let df = "FROM busybox\nARG TARGETARCH\nRUN echo $TARGETARCH $BUILDOS\n";
    let opts = LowerOptions {
        target_platform: Platform::parse("linux/arm64").unwrap(),
        ..Default::default()
    };
    let l = lower(df, &busybox(), &opts).unwrap();
    let x = &execs(&l)[0];
    assert!(
        x.env.contains(&"TARGETARCH=arm64".to_string()),
        "{:?}",
        x.env
    );
    assert!(!x.env.iter().any(|e| e.starts_with("BUILDOS=")));
}

#[test]
fn stage_inherits_config_from_an_earlier_stage() {
    let df = "FROM busybox AS base\nENV A=1\nWORKDIR /w\nFROM base\nRUN pwd\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(l.image.config.working_dir, "/w");
    assert_eq!(execs(&l)[0].cwd, "/w");
    assert!(l.image.config.env.contains(&"A=1".to_string()));
    assert_eq!(l.layer_steps.len(), 2);
}

#[test]
fn entrypoint_resets_an_inherited_cmd_but_not_one_set_in_the_stage() {
    let df = "FROM busybox\nENTRYPOINT [\"/bin/app\"]\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(l.image.config.cmd, None);
    let df = "FROM busybox\nCMD [\"x\"]\nENTRYPOINT /bin/app\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(l.image.config.cmd, Some(vec!["x".to_string()]));
    assert_eq!(
        l.image.config.entrypoint,
        Some(vec!["/bin/sh".to_string(), "-c".into(), "/bin/app".into()])
    );
}

#[test]
fn shell_instruction_changes_later_shell_forms() {
    let df = "FROM busybox\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN echo hi\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert_eq!(
        execs(&l)[0].args,
        vec!["/bin/ash", "-eo", "pipefail", "-c", "echo hi"]
    );
}

#[test]
fn onbuild_triggers_of_the_base_run_after_from_and_are_consumed() {
    let images = busybox().with(
        "parent",
        r#"{"os":"linux","architecture":"amd64","config":{"OnBuild":["RUN echo from-parent","ENV P=1"]}}"#,
    );
    let df = "FROM parent\nRUN echo child\n";
    let l = lower(df, &images, &LowerOptions::default()).unwrap();
    let scripts: Vec<String> = execs(&l)
        .iter()
        .map(|x| run_script(x).to_string())
        .collect();
    assert_eq!(scripts, vec!["echo from-parent", "echo child"]);
    assert!(l.image.config.env.contains(&"P=1".to_string()));
    assert_eq!(l.image.config.on_build, None);
}

#[test]
fn onbuild_in_the_dockerfile_is_recorded_not_run() {
    let df = "FROM busybox\nONBUILD RUN echo later\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    assert!(execs(&l).is_empty());
    assert_eq!(
        l.image.config.on_build,
        Some(vec!["RUN echo later".to_string()])
    );
}

#[test]
fn stages_depending_on_each_other_in_a_cycle_are_an_error() {
    let df = "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n";
    let err = lower(df, &busybox(), &LowerOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cycle);
    assert!(err.range.is_some());
}

#[test]
fn copy_from_a_later_stage_works() {
    let df = "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nRUN touch /x\n";
    let opts = LowerOptions {
        target: Some("a".into()),
        ..Default::default()
    };
    let l = lower(df, &busybox(), &opts).unwrap();
    assert_eq!(execs(&l).len(), 1);
}

#[test]
fn copy_from_an_index_and_an_image() {
    let images = busybox().with("golang", r#"{"os":"linux","architecture":"amd64"}"#);
    let df = "FROM busybox\nRUN echo 0\nFROM scratch\nCOPY --from=0 /bin/busybox /bin/\nCOPY --from=golang /usr/local/go /go\n";
    let l = lower(df, &images, &LowerOptions::default()).unwrap();
    assert!(images.asked.borrow().contains(&"golang".to_string()));
    assert_eq!(execs(&l).len(), 1);
}

#[test]
fn run_mounts_become_exec_mounts() {
    let df = "FROM busybox AS deps\nRUN echo d\nFROM busybox\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE --mount=type=bind,from=deps,source=/etc,target=/deps --mount=type=secret,id=tok --mount=type=tmpfs,target=/t go build\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    let x = execs(&l)
        .into_iter()
        .find(|x| run_script(x) == "go build")
        .unwrap();
    assert_eq!(x.mounts.len(), 5);
    assert!(matches!(&x.mounts[1].kind, MountKind::Cache { id, .. } if id == "/root/.cache"));
    assert_eq!(x.mounts[1].target, "/root/.cache");
    assert!(
        matches!(&x.mounts[2].kind, MountKind::Bind { input: 1, selector, readonly: true } if selector == "/etc")
    );
    assert!(matches!(&x.mounts[3].kind, MountKind::Secret { id, .. } if id == "tok"));
    assert!(matches!(&x.mounts[4].kind, MountKind::Tmpfs { .. }));
}

#[test]
fn bind_mount_from_the_context_reads_only_its_source() {
    let df =
        "FROM busybox\nRUN --mount=type=bind,source=go.mod,target=/src/go.mod cat /src/go.mod\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    let include = l
        .graph
        .vertices()
        .find_map(|(_, v)| match &v.op {
            Op::Source(SourceOp::Context { include, .. }) => Some(include.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(include, vec!["go.mod"]);
}

#[test]
fn copy_to_several_sources_needs_a_directory_destination() {
    let df = "FROM busybox\nCOPY a b /dest\n";
    let err = lower(df, &busybox(), &LowerOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("must be a directory and end with a /"));
    assert_eq!(err.range.unwrap().start, 2);
}

#[test]
fn heredoc_copy_becomes_a_file_and_heredoc_run_a_script() {
    let df = "FROM busybox\nARG NAME=world\nCOPY <<EOF /hello.txt\nhello $NAME\nEOF\nRUN <<EOT\necho one\necho two\nEOT\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    let data = l
        .graph
        .vertices()
        .find_map(|(_, v)| match &v.op {
            Op::File(f) => f.actions.iter().find_map(|a| match a {
                FileAction::Mkfile { path, data, .. } => Some((path.clone(), data.clone())),
                _ => None,
            }),
            _ => None,
        })
        .unwrap();
    assert_eq!(data, ("/hello.txt".to_string(), b"hello world\n".to_vec()));
    assert_eq!(run_script(&execs(&l)[0]), "echo one\necho two\n");
}

#[test]
fn no_cache_filter_marks_a_stage() {
    let df = "FROM busybox AS a\nRUN echo a\nFROM a AS b\nRUN echo b\n";
    let opts = LowerOptions {
        no_cache_filter: vec!["b".into()],
        ..Default::default()
    };
    let l = lower(df, &busybox(), &opts).unwrap();
    for (_, v) in l.graph.vertices() {
        if let Op::Exec(x) = &v.op {
            assert_eq!(
                v.meta.ignore_cache,
                run_script(x) == "echo b",
                "{}",
                v.meta.name
            );
        }
    }
}

#[test]
fn scratch_stage_gets_the_default_path() {
    let l = lower(
        "FROM scratch\nCOPY x /x\n",
        &busybox(),
        &LowerOptions::default(),
    )
    .unwrap();
    assert_eq!(
        l.image.config.env,
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
}

#[test]
fn a_base_image_that_cannot_be_resolved_is_reported_at_its_from_line() {
    let err = lower(
        "FROM busybox\nRUN x\nFROM nosuch\n",
        &busybox(),
        &LowerOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.range.unwrap().start, 3);
    assert!(err.message.contains("nosuch"));
}

#[test]
fn metadata_instructions_fill_the_config() {
    let df = "FROM busybox\nLABEL a=1 \"b c\"=2\nEXPOSE 80 443/udp 8000-8001\nVOLUME /data [\"/logs\"]\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost\nMAINTAINER me\n";
    let l = lower(df, &busybox(), &LowerOptions::default()).unwrap();
    let c = &l.image.config;
    assert_eq!(c.labels.get("a").map(String::as_str), Some("1"));
    assert_eq!(c.labels.get("b c").map(String::as_str), Some("2"));
    let ports: Vec<&String> = c.exposed_ports.keys().collect();
    assert_eq!(ports, ["443/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    assert!(c.volumes.contains_key("/data"));
    assert_eq!(c.stop_signal, "SIGINT");
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, vec!["CMD-SHELL", "wget -q localhost"]);
    assert_eq!(hc.interval, 5_000_000_000);
    assert_eq!(hc.retries, 3);
    assert_eq!(l.image.author, "me");
    assert!(l.image.history.iter().all(|h| h.empty_layer));
}

#[test]
fn a_misspelled_from_stage_is_read_as_an_image_with_a_stage_hint() {
    let df = "FROM busybox AS builder\nRUN true\nFROM busybox\nCOPY --from=buildr /a /a\n";
    let err = lower(df, &busybox(), &LowerOptions::default()).unwrap_err();
    assert!(
        err.message
            .starts_with("failed to resolve source metadata for `buildr`"),
        "{}",
        err.message
    );
    assert_eq!(err.range.map(|r| r.start), Some(4));
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("did you mean the stage `builder`?")),
        "{:?}",
        err.hint
    );
    // A name that looks like an image gets no stage hint.
    let df = "FROM busybox AS builder\nFROM busybox\nCOPY --from=example.com/builder /a /a\n";
    let err = lower(df, &busybox(), &LowerOptions::default()).unwrap_err();
    assert_eq!(err.hint, None);
}
