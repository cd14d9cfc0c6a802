//! Values checked after expansion or by their own grammar: HEALTHCHECK
//! durations, `RUN --mount` specs and `--chmod` modes.

use super::*;

// ---- HEALTHCHECK ----

#[test]
fn healthcheck_cmd_and_cmd_shell() {
    let n = node(
        "healthcheck",
        &[
            "--interval=5s",
            "--timeout=1m30s",
            "--start-period=1.5h",
            "--start-interval=250ms",
            "--retries=3",
        ],
        &["CMD", "/app/check.sh --quiet"],
        1,
    );
    let Instruction::Healthcheck(h) = ok(&n) else {
        panic!()
    };
    let Healthcheck::Check(c) = h.health else {
        panic!()
    };
    assert_eq!(c.test, HealthTest::Shell("/app/check.sh --quiet".into()));
    assert_eq!(
        c.test.to_config_test(),
        vec!["CMD-SHELL", "/app/check.sh --quiet"]
    );
    assert_eq!(c.interval, Some(Duration::from_secs(5)));
    assert_eq!(c.timeout, Some(Duration::from_secs(90)));
    assert_eq!(c.start_period, Some(Duration::from_secs(5400)));
    assert_eq!(c.start_interval, Some(Duration::from_millis(250)));
    assert_eq!(c.retries, Some(3));

    let zeros = json(node(
        "healthcheck",
        &[
            "--start-period=0s",
            "--start-interval=0s",
            "--interval=5s",
            "--timeout=0s",
            "--retries=0",
        ],
        &["CMD", "foo"],
        2,
    ));
    let Instruction::Healthcheck(h) = ok(&zeros) else {
        panic!()
    };
    let Healthcheck::Check(c) = h.health else {
        panic!()
    };
    assert_eq!(c.test.to_config_test(), vec!["CMD", "foo"]);
    assert_eq!((c.timeout, c.start_period, c.retries), (None, None, None));

    let Instruction::Healthcheck(h) = ok(&node("healthcheck", &[], &["none"], 3)) else {
        panic!()
    };
    assert_eq!(h.health, Healthcheck::Disabled);
}

#[test]
fn healthcheck_errors() {
    assert_err(
        &node("healthcheck", &[], &[], 1),
        ErrorKind::ArgumentCount,
        "HEALTHCHECK requires at least one argument",
    );
    assert_err(
        &node("healthcheck", &[], &["NONE", "x"], 1),
        ErrorKind::ArgumentCount,
        "HEALTHCHECK NONE takes no arguments",
    );
    assert_err(
        &node("healthcheck", &[], &["CMD"], 1),
        ErrorKind::ArgumentCount,
        "missing command after HEALTHCHECK CMD",
    );
    assert_err(
        &node("healthcheck", &[], &["CONNECT", "TCP 7000"], 1),
        ErrorKind::InvalidArgument,
        "unknown type \"CONNECT\" in HEALTHCHECK (try CMD)",
    );
    assert_err(
        &node("healthcheck", &["--interval=500us"], &["CMD", "x"], 1),
        ErrorKind::InvalidFlag,
        "interval \"interval\" cannot be less than 1ms",
    );
    assert_err(
        &node("healthcheck", &["--timeout=10"], &["CMD", "x"], 1),
        ErrorKind::InvalidFlag,
        "invalid duration `10` for --timeout",
    );
    assert_err(
        &node("healthcheck", &["--retries=-1"], &["CMD", "x"], 1),
        ErrorKind::InvalidFlag,
        "--retries cannot be negative (-1)",
    );
    assert_err(
        &node("healthcheck", &["--retries=three"], &["CMD", "x"], 1),
        ErrorKind::InvalidFlag,
        "invalid value `three` for --retries",
    );
    let e = assert_err(
        &node("healthcheck", &["--intervall=5s"], &["CMD", "x"], 1),
        ErrorKind::UnknownFlag,
        "unknown flag: --intervall",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean --interval?"));
}

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
    assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
    assert_eq!(parse_go_duration("-1s"), Some(-1_000_000_000));
    assert_eq!(parse_go_duration("30"), None);
    assert_eq!(
        parse_health_duration("interval", "1ms").unwrap(),
        Some(MIN_HEALTHCHECK_DURATION)
    );
}

// ---- RUN --mount ----

#[test]
fn mount_bind_defaults() {
    let m = mount("target=/src").unwrap();
    assert_eq!(m.kind, MountType::Bind);
    assert!(m.read_only);
    assert_eq!(m.target.as_deref(), Some("/src"));
    let m = mount("type=bind,from=builder,src=/out,dst=/in,rw").unwrap();
    assert_eq!(m.from.as_deref(), Some("builder"));
    assert_eq!(m.source.as_deref(), Some("/out"));
    assert!(!m.read_only);
    let m = mount("type=bind,target=/x,readwrite=true").unwrap();
    assert!(!m.read_only);
}

#[test]
fn mount_cache_defaults_and_options() {
    let m = mount("type=cache,target=/root/.cache/").unwrap();
    assert_eq!(m.id.as_deref(), Some("/root/.cache"));
    assert!(!m.read_only);
    assert_eq!(m.sharing, CacheSharing::Shared);
    let m =
        mount("type=cache,id=go,target=/go,sharing=LOCKED,mode=0700,uid=1000,gid=1000,ro").unwrap();
    assert_eq!(m.id.as_deref(), Some("go"));
    assert_eq!(m.sharing, CacheSharing::Locked);
    assert_eq!(
        (m.mode, m.uid, m.gid),
        (Some(0o700), Some(1000), Some(1000))
    );
    assert!(m.read_only);
    assert_eq!(
        mount("type=cache,target=/x,sharing=private")
            .unwrap()
            .sharing,
        CacheSharing::Private
    );
}

#[test]
fn mount_tmpfs_secret_ssh() {
    let m = mount("type=tmpfs,target=/tmp,size=64m").unwrap();
    assert_eq!(m.size_limit, Some(64 << 20));
    assert!(!m.read_only);

    let m = mount("type=secret,id=npmrc").unwrap();
    assert_eq!(m.id.as_deref(), Some("npmrc"));
    assert_eq!(m.target.as_deref(), Some("/run/secrets/npmrc"));
    assert_eq!(m.mode, Some(0o400));
    assert!(!m.required);
    let m = mount("type=secret,target=/root/.aws/credentials,required").unwrap();
    assert_eq!(m.id.as_deref(), Some("credentials"));
    assert!(m.required);
    let m = mount("type=secret,id=tok,env=TOKEN").unwrap();
    assert_eq!(m.env.as_deref(), Some("TOKEN"));
    assert_eq!(m.target, None);
    let m = mount("type=secret,source=tok").unwrap();
    assert_eq!(m.id.as_deref(), Some("tok"));

    let mounts = parse_mounts(
        &[
            "type=ssh".to_string(),
            "type=cache,target=/c".to_string(),
            "type=ssh,id=gh,required=true".to_string(),
        ],
        &no_vars,
    )
    .unwrap();
    assert_eq!(mounts[0].id.as_deref(), Some("default"));
    assert_eq!(
        mounts[0].target.as_deref(),
        Some("/run/buildkit/ssh_agent.0")
    );
    assert_eq!(mounts[0].mode, Some(0o600));
    assert_eq!(mounts[2].id.as_deref(), Some("gh"));
    assert_eq!(
        mounts[2].target.as_deref(),
        Some("/run/buildkit/ssh_agent.1")
    );
    assert!(mounts[2].required);
}

#[test]
fn mount_values_are_expanded() {
    let expand = |s: &str| -> Result<String, DockerfileError> { Ok(s.replace("$DIR", "/cache")) };
    let m = parse_mount("type=cache,target=$DIR,id=$DIR", &expand).unwrap();
    assert_eq!(m.target.as_deref(), Some("/cache"));
    assert_eq!(m.id.as_deref(), Some("/cache"));
    let failing = |_: &str| -> Result<String, DockerfileError> {
        Err(DockerfileError::new(ErrorKind::Expansion, "boom"))
    };
    assert_eq!(
        parse_mount("target=/x", &failing).unwrap_err().kind,
        ErrorKind::Expansion
    );
}

#[test]
fn mount_errors() {
    let cases: &[(&str, &str)] = &[
        ("type=volume,target=/x", "unsupported mount type \"volume\""),
        (
            "type=cache,target=/x,sharing=exclusive",
            "unsupported sharing value \"exclusive\"",
        ),
        (
            "type=bind,target=/x,sharing=locked",
            "invalid cache sharing set for bind mount",
        ),
        (
            "type=bind,target=/x,mode=0644",
            "mode not allowed for \"bind\" type mounts",
        ),
        (
            "type=tmpfs,target=/x,uid=1",
            "uid not allowed for \"tmpfs\" type mounts",
        ),
        (
            "type=cache,target=/x,mode=999",
            "invalid value 999 for mode",
        ),
        ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
        (
            "type=bind,target=/x,ro=maybe",
            "invalid value for ro: maybe",
        ),
        (
            "type=bind,target=/x,required",
            "unexpected key `required` for mount type `bind`",
        ),
        (
            "type=cache,target=/x,size=1g",
            "unexpected key `size` for mount type `cache`",
        ),
        (
            "type=tmpfs,target=/x,size=lots",
            "invalid value for size: lots",
        ),
        (
            "type=bind,target=/x,flag",
            "invalid field `flag` must be a key=value pair",
        ),
        (
            "type=bind,target=/x,bind-propagation=rshared",
            "unexpected key `bind-propagation` in `bind-propagation=rshared`",
        ),
        ("type=cache", "mount target is required for cache mounts"),
        ("type=bind,target=/", "invalid mount target \"/\""),
        (
            "type=secret",
            "invalid secret mount. one of source, target required",
        ),
        (
            "type=secret,id=a,source=b",
            "both source and id can't be set",
        ),
        (
            "type=secret,id=a,from=x",
            "secret mount should not have a from",
        ),
        ("type=ssh,source=x", "ssh does not support source"),
    ];
    for (spec, message) in cases {
        let e = mount(spec).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidFlag, "{spec}");
        assert_eq!(e.message, *message, "{spec}");
    }
    assert_eq!(
        mount("type=cahce,target=/x").unwrap_err().hint.as_deref(),
        Some("did you mean cache?")
    );
    assert_eq!(
        mount("target=/x,tagret=/y").unwrap_err().hint.as_deref(),
        Some("did you mean target?")
    );
    assert_eq!(
        mount("type=cache,target=/x,sharing=lockd")
            .unwrap_err()
            .hint
            .as_deref(),
        Some("did you mean locked?")
    );
}

// ---- --chmod ----

#[test]
fn chmod_octal_and_symbolic() {
    assert_eq!(Chmod::parse("755").unwrap(), Chmod::Octal(0o755));
    assert_eq!(
        Chmod::parse("0644").unwrap().apply(0o100777, false),
        0o100644
    );
    let sym = Chmod::parse("u=rwX,go=rX").unwrap();
    assert_eq!(sym.apply(0o600, false), 0o644);
    assert_eq!(sym.apply(0o700, true), 0o755);
    assert_eq!(Chmod::parse("+x").unwrap().apply(0o644, false), 0o755);
    assert_eq!(Chmod::parse("g=u").unwrap().apply(0o750, false), 0o770);
    let Chmod::Symbolic(s) = Chmod::parse("a-w").unwrap() else {
        panic!()
    };
    assert_eq!(s.as_str(), "a-w");
    for bad in ["10000", "0o755", "rwx", "u+z", "u+x,"] {
        let e = Chmod::parse(bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidFlag, "{bad}");
    }
}
