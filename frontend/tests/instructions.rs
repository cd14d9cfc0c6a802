//! Typed instructions: each instruction, each flag check, mount specs,
//! durations and chmod, against BuildKit's behaviour.

use std::time::Duration;

use frontend::ast::{Ast, Heredoc, Node, SourceRange};
use frontend::error::{DockerfileError, ErrorKind};
use frontend::instructions::*;

/// A node as the parser would produce it, on line `line`.
fn node(keyword: &str, flags: &[&str], args: &[&str], line: usize) -> Node {
    Node {
        keyword: keyword.to_string(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        original: format!("{} {}", keyword.to_uppercase(), args.join(" ")),
        range: SourceRange::new(line, line),
        ..Node::default()
    }
}

fn json(mut n: Node) -> Node {
    n.json = true;
    n
}

fn ok(n: &Node) -> Instruction {
    match parse_instruction(n) {
        Ok(i) => i,
        Err(e) => panic!("{:?} should parse: {e:?}", n.keyword),
    }
}

fn err(n: &Node) -> DockerfileError {
    match parse_instruction(n) {
        Ok(i) => panic!("{:?} should fail, got {i:?}", n.keyword),
        Err(e) => e,
    }
}

/// Asserts kind, message and that the error points at the node's line.
fn assert_err(n: &Node, kind: ErrorKind, message: &str) -> DockerfileError {
    let e = err(n);
    assert_eq!(e.kind, kind, "{e:?}");
    assert_eq!(e.message, message);
    assert_eq!(e.range, Some(n.range));
    e
}

fn no_vars(s: &str) -> Result<String, DockerfileError> {
    Ok(s.to_string())
}

fn mount(spec: &str) -> Result<RunMount, DockerfileError> {
    parse_mount(spec, &no_vars)
}

#[path = "instructions/flag_values.rs"]
mod flag_values;
#[path = "instructions/stages.rs"]
mod stages;

// ---- FROM ----

#[test]
fn from_with_platform_and_stage_name() {
    let mut n = node(
        "from",
        &["--platform=$BUILDPLATFORM"],
        &["golang:1.22", "AS", "Build"],
        3,
    );
    n.comments = vec![" build compiles the binary".to_string()];
    let Instruction::From(f) = ok(&n) else {
        panic!()
    };
    assert_eq!(f.base, "golang:1.22");
    assert_eq!(f.stage_name.as_deref(), Some("build"));
    assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(f.comment.as_deref(), Some("compiles the binary"));
    assert_eq!(f.origin.range, SourceRange::new(3, 3));
    assert_eq!(f.origin.original, n.original);
}

#[test]
fn from_errors() {
    assert_err(
        &node("from", &[], &["a", "b"], 2),
        ErrorKind::ArgumentCount,
        "FROM requires either one or three arguments",
    );
    assert_err(
        &node("from", &[], &["a", "AS", "1st"], 2),
        ErrorKind::InvalidArgument,
        "invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
    );
    assert_err(
        &node("from", &[], &["a", "as", "b@d"], 2),
        ErrorKind::InvalidArgument,
        "invalid name for build stage: \"b@d\", name can't start with a number or contain symbols",
    );
    let e = assert_err(
        &node("from", &["--platfrom=linux/amd64"], &["a"], 4),
        ErrorKind::UnknownFlag,
        "unknown flag: --platfrom",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean --platform?"));
}

// ---- RUN ----

#[test]
fn run_shell_and_exec_forms() {
    let Instruction::Run(r) = ok(&node("run", &[], &["make all && make install"], 1)) else {
        panic!()
    };
    assert_eq!(
        r.command.form,
        ShellOrExec::Shell("make all && make install".into())
    );
    assert!(r.command.prepends_shell());
    assert_eq!(r.network, NetworkMode::Default);
    assert_eq!(r.security, SecurityMode::Sandbox);
    let Instruction::Run(r) = ok(&json(node("run", &[], &["ls", "-la"], 1))) else {
        panic!()
    };
    assert_eq!(
        r.command.form,
        ShellOrExec::Exec(vec!["ls".into(), "-la".into()])
    );
    assert!(!r.command.is_heredoc());
}

#[test]
fn run_flags() {
    let n = node(
        "run",
        &[
            "--mount=type=cache,target=/root/.cache",
            "--network=none",
            "--security=insecure",
            "--mount=type=secret,id=tok",
        ],
        &["make"],
        5,
    );
    let Instruction::Run(r) = ok(&n) else {
        panic!()
    };
    assert_eq!(
        r.mounts,
        vec!["type=cache,target=/root/.cache", "type=secret,id=tok"]
    );
    assert_eq!(r.network, NetworkMode::None);
    assert_eq!(r.security, SecurityMode::Insecure);
    let Instruction::Run(r) = ok(&node("run", &["--network=host"], &["x"], 1)) else {
        panic!()
    };
    assert_eq!(r.network, NetworkMode::Host);
}

#[test]
fn run_flag_errors() {
    assert_err(
        &node("run", &["--network=bridge"], &["x"], 7),
        ErrorKind::InvalidFlag,
        "invalid network mode \"bridge\"",
    );
    assert_err(
        &node("run", &["--security=root"], &["x"], 7),
        ErrorKind::InvalidFlag,
        "security \"root\" is not valid",
    );
    let e = assert_err(
        &node("run", &["--mnt=type=cache,target=/x"], &["x"], 7),
        ErrorKind::UnknownFlag,
        "unknown flag: --mnt",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean --mount?"));
    assert_err(
        &node("run", &["--mount"], &["x"], 7),
        ErrorKind::InvalidFlag,
        "missing a value on flag: --mount",
    );
    let e = assert_err(
        &node(
            "run",
            &["--mount=type=bind,from=$STAGE,target=/x"],
            &["x"],
            8,
        ),
        ErrorKind::InvalidFlag,
        "`from` doesn't support variable expansion",
    );
    assert!(e.hint.is_some());
    assert_err(
        &node("run", &["--mount=type=bind,target=\"/x"], &["x"], 8),
        ErrorKind::InvalidFlag,
        "failed to parse csv mounts: bare \" in non-quoted-field",
    );
    assert_err(
        &node("run", &["--network=none", "--network=host"], &["x"], 9),
        ErrorKind::InvalidFlag,
        "duplicate flag specified: --network",
    );
}

#[test]
fn run_heredoc() {
    let mut n = node("run", &[], &["<<EOF"], 2);
    n.heredocs = vec![Heredoc {
        name: "EOF".into(),
        content: "apt-get update\n".into(),
        expand: true,
        chomp: false,
        file_descriptor: None,
    }];
    let Instruction::Run(r) = ok(&n) else {
        panic!()
    };
    assert!(r.command.is_heredoc());
    assert_eq!(r.command.heredocs[0].content, "apt-get update\n");
}

// ---- CMD / ENTRYPOINT ----

#[test]
fn cmd_and_entrypoint_forms() {
    let Instruction::Cmd(c) = ok(&node("cmd", &[], &["/app/main.sh"], 1)) else {
        panic!()
    };
    assert_eq!(c.command.form, ShellOrExec::Shell("/app/main.sh".into()));
    let Instruction::Cmd(c) = ok(&json(node("cmd", &[], &[], 1))) else {
        panic!()
    };
    assert_eq!(c.command.form, ShellOrExec::Exec(vec![]));
    let Instruction::Entrypoint(e) = ok(&json(node("entrypoint", &[], &["/bin/tini", "--"], 1)))
    else {
        panic!()
    };
    assert_eq!(
        e.command.form,
        ShellOrExec::Exec(vec!["/bin/tini".into(), "--".into()])
    );
    assert_err(
        &node("cmd", &["--doit"], &["a"], 3),
        ErrorKind::UnknownFlag,
        "unknown flag: --doit",
    );
}

// ---- LABEL / ENV / MAINTAINER ----

#[test]
fn label_and_env_pairs() {
    let Instruction::Label(l) = ok(&node(
        "label",
        &[],
        &["maintainer", "me", "", "a.b", "\"x y\"", "="],
        1,
    )) else {
        panic!()
    };
    assert_eq!(l.labels.len(), 2);
    assert_eq!(l.labels[0].key, "maintainer");
    assert!(l.labels[0].legacy);
    assert_eq!(l.labels[1].value, "\"x y\"");
    assert!(!l.labels[1].legacy);
    let Instruction::Env(e) = ok(&node("env", &[], &["PATH", "/go/bin:$PATH", "="], 1)) else {
        panic!()
    };
    assert_eq!(
        e.vars,
        vec![KeyValue {
            key: "PATH".into(),
            value: "/go/bin:$PATH".into(),
            legacy: false
        }]
    );
    assert_err(
        &node("env", &[], &[], 4),
        ErrorKind::ArgumentCount,
        "ENV requires at least one argument",
    );
    assert_err(
        &node("label", &[], &["", "v", "="], 4),
        ErrorKind::InvalidArgument,
        "LABEL names can not be blank",
    );
    let Instruction::Maintainer(m) = ok(&node("maintainer", &[], &["me <me@x.y>"], 1)) else {
        panic!()
    };
    assert_eq!(m.maintainer, "me <me@x.y>");
    assert_err(
        &node("maintainer", &[], &["a", "b"], 2),
        ErrorKind::ArgumentCount,
        "MAINTAINER requires exactly one argument",
    );
}

// ---- EXPOSE ----

#[test]
fn expose_keeps_words_and_checks_expanded_specs() {
    let Instruction::Expose(e) = ok(&node("expose", &[], &["8080", "$PORT/udp"], 1)) else {
        panic!()
    };
    assert_eq!(e.ports, vec!["8080", "$PORT/udp"]);
    assert_err(
        &node("expose", &[], &[], 2),
        ErrorKind::ArgumentCount,
        "EXPOSE requires at least one argument",
    );
    let ports = parse_port_spec("8000-8002/udp").unwrap();
    assert_eq!(ports.len(), 3);
    assert_eq!(ports[2].to_string(), "8002/udp");
    assert_eq!(
        parse_port_spec("53/sctp").unwrap()[0].protocol,
        Protocol::Sctp
    );
    let e = parse_port_spec("80/icmp").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.message, "invalid proto: icmp");
    assert_eq!(
        parse_port_spec("99999").unwrap_err().message,
        "invalid containerPort: 99999"
    );
}

// ---- ADD / COPY ----

#[test]
fn add_flags() {
    let n = node(
        "add",
        &[
            "--chown=app:app",
            "--chmod=0755",
            "--link",
            "--checksum=sha256:abc",
            "--keep-git-dir=true",
            "--unpack=false",
            "--exclude=*.md",
            "--exclude=.git",
        ],
        &["https://example.com/a.tgz", "b", "/dest/"],
        1,
    );
    let Instruction::Add(a) = ok(&n) else {
        panic!()
    };
    assert_eq!(a.files.sources, vec!["https://example.com/a.tgz", "b"]);
    assert_eq!(a.files.dest, "/dest/");
    assert_eq!(a.chown.as_deref(), Some("app:app"));
    assert_eq!(a.chmod.as_deref(), Some("0755"));
    assert!(a.link && a.keep_git_dir);
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.excludes, vec!["*.md", ".git"]);
    let Instruction::Add(a) = ok(&node("add", &[], &["a", "b"], 1)) else {
        panic!()
    };
    assert_eq!(a.unpack, None);
    assert!(!a.link);
}

#[test]
fn copy_flags() {
    let n = node(
        "copy",
        &[
            "--from=builder",
            "--chown=1000",
            "--chmod=u=rwX,go=rX",
            "--link=false",
            "--parents",
            "--exclude=x",
        ],
        &["/out/app", "/usr/bin/"],
        1,
    );
    let Instruction::Copy(c) = ok(&n) else {
        panic!()
    };
    assert_eq!(c.from.as_deref(), Some("builder"));
    assert_eq!(c.chown.as_deref(), Some("1000"));
    assert_eq!(c.chmod.as_deref(), Some("u=rwX,go=rX"));
    assert!(!c.link);
    assert!(c.parents);
    assert_eq!(c.excludes, vec!["x"]);
    // A variable in --chmod is checked after expansion, not now.
    assert!(parse_instruction(&node("copy", &["--chmod=$MODE"], &["a", "b"], 1)).is_ok());
}

#[test]
fn copy_and_add_errors() {
    let e = assert_err(
        &node("copy", &[], &["onlyone"], 6),
        ErrorKind::ArgumentCount,
        "COPY requires at least two arguments, but only one was provided",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("destination could not be determined")
    );
    assert_err(
        &node("add", &[], &[], 6),
        ErrorKind::ArgumentCount,
        "ADD requires at least two arguments, but only one was provided",
    );
    let e = assert_err(
        &node("copy", &["--chwon=1"], &["a", "b"], 6),
        ErrorKind::UnknownFlag,
        "unknown flag: --chwon",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean --chown?"));
    assert_err(
        &node("copy", &["--chown"], &["a", "b"], 6),
        ErrorKind::InvalidFlag,
        "missing a value on flag: --chown",
    );
    assert_err(
        &node("copy", &["--link=yes"], &["a", "b"], 6),
        ErrorKind::InvalidFlag,
        "expecting boolean value for flag --link, not: yes",
    );
    assert_err(
        &node("copy", &["--from=a", "--from=b"], &["a", "b"], 6),
        ErrorKind::InvalidFlag,
        "duplicate flag specified: --from",
    );
    let e = err(&node("copy", &["--chmod=999"], &["a", "b"], 6));
    assert_eq!(e.kind, ErrorKind::InvalidFlag);
    assert!(
        e.message.starts_with("invalid chmod parameter `999`"),
        "{}",
        e.message
    );
    assert_err(
        &node(
            "add",
            &["--checksum=x", "--keep-git-dir=nope"],
            &["a", "b"],
            6,
        ),
        ErrorKind::InvalidFlag,
        "expecting boolean value for flag --keep-git-dir, not: nope",
    );
    assert_err(
        &node("copy", &["--unpack"], &["a", "b"], 6),
        ErrorKind::UnknownFlag,
        "unknown flag: --unpack",
    );
    assert_err(
        &node("copy", &[], &["a", "<<EOF"], 6),
        ErrorKind::InvalidArgument,
        "COPY cannot accept a heredoc as a destination",
    );
}

#[test]
fn copy_from_rejects_variables_like_buildkit() {
    for from in ["$STAGE", "${STAGE}", "base-${VERSION}", "\"quoted\""] {
        let e = assert_err(
            &node("copy", &[&format!("--from={from}")], &["a", "b"], 3),
            ErrorKind::InvalidFlag,
            "variable expansion is not supported for --from",
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("define a new stage with FROM using ARG from global scope as a workaround")
        );
    }
    // A `$` that expands to nothing stays, as in BuildKit.
    assert!(parse_instruction(&node("copy", &["--from=cost$"], &["a", "b"], 3)).is_ok());
    assert!(parse_instruction(&node("copy", &["--from=0"], &["a", "b"], 3)).is_ok());
}

#[test]
fn copy_heredoc_sources() {
    let mut n = node(
        "copy",
        &[],
        &["<<EOF", "plain.txt", "<<-\"RAW\"", "/dest/"],
        4,
    );
    n.heredocs = vec![
        Heredoc {
            name: "EOF".into(),
            content: "hello $NAME\n".into(),
            expand: true,
            chomp: false,
            file_descriptor: None,
        },
        Heredoc {
            name: "RAW".into(),
            content: "keep $NAME\n".into(),
            expand: false,
            chomp: true,
            file_descriptor: None,
        },
    ];
    let Instruction::Copy(c) = ok(&n) else {
        panic!()
    };
    assert_eq!(c.files.sources, vec!["plain.txt"]);
    assert_eq!(
        c.files.inline,
        vec![
            InlineSource {
                path: "EOF".into(),
                content: "hello $NAME\n".into(),
                expand: true
            },
            InlineSource {
                path: "RAW".into(),
                content: "keep $NAME\n".into(),
                expand: false
            },
        ]
    );
    assert_eq!(c.files.dest, "/dest/");
}

// ---- VOLUME / USER / WORKDIR / STOPSIGNAL / SHELL ----

#[test]
fn simple_instructions() {
    let Instruction::Volume(v) = ok(&json(node("volume", &[], &["/data", " /logs "], 1))) else {
        panic!()
    };
    assert_eq!(v.volumes, vec!["/data", "/logs"]);
    assert_err(
        &json(node("volume", &[], &["/a", "  "], 2)),
        ErrorKind::InvalidArgument,
        "VOLUME specified can not be an empty string",
    );
    let Instruction::User(u) = ok(&node("user", &[], &["app:app"], 1)) else {
        panic!()
    };
    assert_eq!(u.user, "app:app");
    assert_err(
        &node("user", &[], &[], 2),
        ErrorKind::ArgumentCount,
        "USER requires exactly one argument",
    );
    let Instruction::Workdir(w) = ok(&node("workdir", &[], &["/src"], 1)) else {
        panic!()
    };
    assert_eq!(w.path, "/src");
    assert_err(
        &node("workdir", &[], &["/a", "/b"], 2),
        ErrorKind::ArgumentCount,
        "WORKDIR requires exactly one argument",
    );
    let Instruction::StopSignal(s) = ok(&node("stopsignal", &[], &["SIGTERM"], 1)) else {
        panic!()
    };
    assert_eq!(s.signal, "SIGTERM");
    assert_err(
        &node("stopsignal", &[], &["SIGTERM", "x"], 2),
        ErrorKind::ArgumentCount,
        "STOPSIGNAL requires exactly one argument",
    );
    let Instruction::Shell(s) = ok(&json(node("shell", &[], &["/bin/bash", "-c"], 1))) else {
        panic!()
    };
    assert_eq!(s.shell, vec!["/bin/bash", "-c"]);
    assert_err(
        &node("shell", &[], &["/bin/bash -c"], 2),
        ErrorKind::InvalidArgument,
        "SHELL requires the arguments to be in JSON form",
    );
    assert_err(
        &json(node("shell", &[], &[], 2)),
        ErrorKind::ArgumentCount,
        "SHELL requires at least one argument",
    );
}

// ---- ARG ----

#[test]
fn arg_several_definitions() {
    let mut n = node(
        "arg",
        &[],
        &["foo", "bar=baz", "abc=\"123 456\"", "empty="],
        1,
    );
    n.comments = vec![" foo selects the flavour".into()];
    let Instruction::Arg(a) = ok(&n) else {
        panic!()
    };
    let names: Vec<_> = a.args.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["foo", "bar", "abc", "empty"]);
    assert_eq!(a.args[0].default, None);
    assert_eq!(a.args[0].comment.as_deref(), Some("selects the flavour"));
    assert_eq!(a.args[1].default.as_deref(), Some("baz"));
    assert_eq!(a.args[2].default.as_deref(), Some("\"123 456\""));
    assert_eq!(a.args[3].default.as_deref(), Some(""));
    assert_err(
        &node("arg", &[], &["=x"], 2),
        ErrorKind::InvalidArgument,
        "ARG names can not be blank",
    );
    assert_err(
        &node("arg", &[], &[], 2),
        ErrorKind::ArgumentCount,
        "ARG requires at least one argument",
    );
}

// ---- ONBUILD ----

fn onbuild(nested: Node, line: usize) -> Node {
    let mut n = node("onbuild", &[], &[], line);
    n.original = format!("ONBUILD {}", nested.original);
    n.nested = Some(Box::new(nested));
    n
}

#[test]
fn onbuild_types_its_trigger() {
    let n = onbuild(json(node("run", &[], &["echo", "test"], 0)), 4);
    let Instruction::Onbuild(o) = ok(&n) else {
        panic!()
    };
    assert!(matches!(*o.trigger, Instruction::Run(_)));
    assert_eq!(o.trigger.range(), SourceRange::new(4, 4));
    assert_eq!(o.expression, "RUN echo test");
    // Errors in the trigger point at the ONBUILD line.
    let e = assert_err(
        &onbuild(node("copy", &["--chwon=x"], &["a", "b"], 0), 5),
        ErrorKind::UnknownFlag,
        "unknown flag: --chwon",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean --chown?"));
}

#[test]
fn onbuild_rejects_what_buildkit_rejects() {
    assert_err(
        &onbuild(onbuild(node("run", &[], &["x"], 0), 0), 2),
        ErrorKind::InvalidArgument,
        "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    );
    assert_err(
        &onbuild(node("from", &[], &["alpine"], 0), 2),
        ErrorKind::InvalidArgument,
        "FROM isn't allowed as an ONBUILD trigger",
    );
    assert_err(
        &onbuild(node("maintainer", &[], &["me"], 0), 2),
        ErrorKind::InvalidArgument,
        "MAINTAINER isn't allowed as an ONBUILD trigger",
    );
    assert_err(
        &node("onbuild", &[], &[], 2),
        ErrorKind::ArgumentCount,
        "ONBUILD requires at least one argument",
    );
}

// ---- unknown instructions ----

#[test]
fn unknown_instruction_suggests() {
    let e = assert_err(
        &node("runn", &[], &["x"], 9),
        ErrorKind::UnknownInstruction,
        "unknown instruction: RUNN",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean RUN?"));
    let e = assert_err(
        &node("entrypont", &[], &["x"], 9),
        ErrorKind::UnknownInstruction,
        "unknown instruction: ENTRYPONT",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean ENTRYPOINT?"));
    let e = err(&node("frobnicate", &[], &["x"], 9));
    assert_eq!(e.hint, None);
    assert_err(
        &node("env", &["--x=1"], &["a", "b", "="], 9),
        ErrorKind::UnknownFlag,
        "unknown flag: --x",
    );
}
