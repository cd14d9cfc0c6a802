//! Whole Dockerfiles: stages, meta ARGs, and text run through the parser.

use super::*;

// ---- whole Dockerfiles ----

fn ast(children: Vec<Node>) -> Ast {
    Ast {
        children,
        ..Ast::default()
    }
}

#[test]
fn stages_and_meta_args() {
    let parsed = parse_dockerfile(&ast(vec![
        node("arg", &[], &["BASE=alpine", "TAG"], 1),
        node("from", &[], &["$BASE", "AS", "Deps"], 2),
        node("run", &[], &["apk add make"], 3),
        node("arg", &[], &["LOCAL"], 4),
        node("from", &[], &["scratch"], 5),
        node("copy", &["--from=deps"], &["/usr/bin/make", "/"], 6),
    ]))
    .unwrap();
    assert_eq!(parsed.meta_args.len(), 1);
    assert_eq!(parsed.meta_args[0].args[1].name, "TAG");
    assert_eq!(parsed.stages.len(), 2);
    let deps = &parsed.stages[0];
    assert_eq!((deps.index, deps.name.as_deref()), (0, Some("deps")));
    assert_eq!(deps.from.base, "$BASE");
    assert_eq!(deps.commands.len(), 2);
    assert!(matches!(deps.commands[1], Instruction::Arg(_)));
    assert_eq!(parsed.stages[1].index, 1);
    assert_eq!(parsed.stages[1].name, None);
    assert_eq!(parsed.stages[1].commands[0].range(), SourceRange::new(6, 6));
    assert_eq!(parsed.stage_by_name("DEPS").map(|s| s.index), Some(0));
    assert!(parsed.stage_by_name("nope").is_none());
}

#[test]
fn instruction_before_from_is_an_error() {
    let e = parse_dockerfile(&ast(vec![
        node("arg", &[], &["X"], 1),
        node("run", &[], &["echo"], 2),
        node("from", &[], &["alpine"], 3),
    ]))
    .unwrap_err();
    assert_eq!(e.message, "no build stage in current context");
    assert_eq!(e.range, Some(SourceRange::new(2, 2)));
}

#[test]
fn first_bad_instruction_stops_parsing_with_its_line() {
    let e = parse_dockerfile(&ast(vec![
        node("from", &[], &["alpine"], 1),
        node("copy", &["--chwon=1"], &["a", "b"], 2),
        node("runn", &[], &["x"], 3),
    ]))
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownFlag);
    assert_eq!(e.range, Some(SourceRange::new(2, 2)));
}

#[test]
fn every_keyword_is_known() {
    assert_eq!(KEYWORDS.len(), 18);
    for keyword in KEYWORDS {
        let e = parse_instruction(&node(&keyword.to_lowercase(), &[], &[], 1));
        if let Err(e) = e {
            assert_ne!(e.kind, ErrorKind::UnknownInstruction, "{keyword}");
        }
    }
}

// ---- from Dockerfile text, through the parser ----

fn parse_text(text: &str) -> Result<ParsedDockerfile, DockerfileError> {
    let ast = frontend::parser::parse(text)?;
    parse_dockerfile(&ast)
}

#[test]
fn text_multi_stage_build() {
    let parsed = parse_text(
        "ARG GO=1.22\n\
         FROM golang:${GO} AS build\n\
         RUN --mount=type=cache,target=/root/.cache/go-build \\\n    go build -o /out/app .\n\
         FROM scratch\n\
         COPY --from=build --chmod=0755 /out/app /app\n\
         HEALTHCHECK --interval=30s CMD [\"/app\", \"health\"]\n\
         ENTRYPOINT [\"/app\"]\n",
    )
    .unwrap();
    assert_eq!(parsed.meta_args[0].args[0].default.as_deref(), Some("1.22"));
    let build = &parsed.stages[0];
    let Instruction::Run(run) = &build.commands[0] else {
        panic!()
    };
    assert_eq!(run.mounts, vec!["type=cache,target=/root/.cache/go-build"]);
    assert_eq!(run.origin.range, SourceRange::new(3, 4));
    let mounts = parse_mounts(&run.mounts, &no_vars).unwrap();
    assert_eq!(mounts[0].id.as_deref(), Some("/root/.cache/go-build"));
    let last = &parsed.stages[1];
    let Instruction::Copy(copy) = &last.commands[0] else {
        panic!()
    };
    assert_eq!(copy.from.as_deref(), Some("build"));
    assert_eq!(copy.files.dest, "/app");
    let Instruction::Healthcheck(h) = &last.commands[1] else {
        panic!()
    };
    let Healthcheck::Check(c) = &h.health else {
        panic!()
    };
    assert_eq!(
        c.test,
        HealthTest::Exec(vec!["/app".into(), "health".into()])
    );
    assert_eq!(c.interval, Some(Duration::from_secs(30)));
    assert_eq!(last.commands[2].range(), SourceRange::new(8, 8));
}

#[test]
fn text_errors_point_at_their_line() {
    let e = parse_text("FROM alpine\nRUN true\nCOPY --chwon=app . /app\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownFlag);
    assert_eq!(e.hint.as_deref(), Some("did you mean --chown?"));
    assert_eq!(e.range, Some(SourceRange::new(3, 3)));

    let e = parse_text("FROM alpine\n\nRUNN make\n").unwrap_err();
    assert_eq!(e.message, "unknown instruction: RUNN");
    assert_eq!(e.hint.as_deref(), Some("did you mean RUN?"));
    assert_eq!(e.range, Some(SourceRange::new(3, 3)));

    let e = parse_text("FROM alpine\nHEALTHCHECK --interval=1us \\\n  CMD true\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidFlag);
    assert_eq!(e.range, Some(SourceRange::new(2, 3)));

    let e = parse_text("ARG V=1\nFROM alpine\nCOPY --from=img:${V} /a /b\n").unwrap_err();
    assert_eq!(e.message, "variable expansion is not supported for --from");
    assert_eq!(e.range, Some(SourceRange::new(3, 3)));
}

#[test]
fn text_onbuild_and_heredocs() {
    let parsed = parse_text(
        "FROM alpine\n\
         ONBUILD COPY . /src\n\
         COPY <<EOF /etc/motd\n\
         hello\n\
         EOF\n",
    )
    .unwrap();
    let Instruction::Onbuild(o) = &parsed.stages[0].commands[0] else {
        panic!()
    };
    assert!(matches!(*o.trigger, Instruction::Copy(_)));
    assert_eq!(o.expression, "COPY . /src");
    let Instruction::Copy(c) = &parsed.stages[0].commands[1] else {
        panic!()
    };
    assert!(c.files.sources.is_empty());
    assert_eq!(c.files.inline[0].path, "EOF");
    assert_eq!(c.files.inline[0].content, "hello\n");
    assert_eq!(c.files.dest, "/etc/motd");
}

/// BuildKit's parser corpus: every instruction types, except the ones BuildKit's
/// instruction parser rejects too.
#[test]
fn conformance_corpus_types() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit/parser/testfiles");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        panic!("conformance corpus missing at {}", root.display())
    };
    let expected_failures = [
        ("flags", "unknown flag: --user"),
        ("flags", "unknown flag: --doit"),
        ("health", "HEALTHCHECK requires at least one argument"),
        ("health", "missing command after HEALTHCHECK CMD"),
        (
            "health",
            "unknown type \"CONNECT\" in HEALTHCHECK (try CMD)",
        ),
    ];
    let mut seen_failures = Vec::new();
    let mut typed = 0;
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().to_string();
        let text = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
        let ast = frontend::parser::parse(&text).unwrap();
        for child in &ast.children {
            match parse_instruction(child) {
                Ok(_) => typed += 1,
                Err(e) => {
                    assert_eq!(e.range, Some(child.range));
                    seen_failures.push((name.clone(), e.message));
                }
            }
        }
    }
    assert!(typed >= 250, "only {typed} instructions typed");
    for failure in &seen_failures {
        assert!(
            expected_failures
                .iter()
                .any(|(n, m)| failure.0 == *n && failure.1 == *m),
            "unexpected failure {failure:?}"
        );
    }
    for (n, m) in expected_failures {
        assert!(
            seen_failures.iter().any(|(fn_, fm)| fn_ == n && fm == m),
            "{n}: {m} not seen"
        );
    }
}
