use super::*;

const D: &str = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

/// (input, full form, familiar form)
const VALID: &[(&str, &str, &str)] = &[
    (
        "busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "busybox:1.36",
        "docker.io/library/busybox:1.36",
        "busybox:1.36",
    ),
    (
        "library/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "docker.io/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    (
        "index.docker.io/library/busybox",
        "docker.io/library/busybox:latest",
        "busybox:latest",
    ),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("user/app:v1.0", "docker.io/user/app:v1.0", "user/app:v1.0"),
    ("a/b/c/d", "docker.io/a/b/c/d:latest", "a/b/c/d:latest"),
    (
        "ghcr.io/owner/repo:tag",
        "ghcr.io/owner/repo:tag",
        "ghcr.io/owner/repo:tag",
    ),
    ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
    (
        "localhost:5000/x",
        "localhost:5000/x:latest",
        "localhost:5000/x:latest",
    ),
    (
        "127.0.0.1:5000/a/b:tag",
        "127.0.0.1:5000/a/b:tag",
        "127.0.0.1:5000/a/b:tag",
    ),
    (
        "host:5000/a/b:tag",
        "host:5000/a/b:tag",
        "host:5000/a/b:tag",
    ),
    ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
    (
        "Example.COM/repo",
        "Example.COM/repo:latest",
        "Example.COM/repo:latest",
    ),
    (
        "foo_bar/baz",
        "docker.io/foo_bar/baz:latest",
        "foo_bar/baz:latest",
    ),
    (
        "foo__bar",
        "docker.io/library/foo__bar:latest",
        "foo__bar:latest",
    ),
    (
        "foo---bar",
        "docker.io/library/foo---bar:latest",
        "foo---bar:latest",
    ),
    (
        "foo.bar",
        "docker.io/library/foo.bar:latest",
        "foo.bar:latest",
    ),
    (
        "busybox:_tag",
        "docker.io/library/busybox:_tag",
        "busybox:_tag",
    ),
    (
        "busybox:TAG-1.x",
        "docker.io/library/busybox:TAG-1.x",
        "busybox:TAG-1.x",
    ),
    (
        "r.example.com:443/team/app:1.4",
        "r.example.com:443/team/app:1.4",
        "r.example.com:443/team/app:1.4",
    ),
];

#[test]
fn valid_references_normalise() {
    for (input, full, familiar) in VALID {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.to_string(), *full, "full form of {input}");
        assert_eq!(r.familiar(), *familiar, "familiar form of {input}");
        // The full form parses back to the same reference.
        assert_eq!(Reference::parse(full).unwrap(), r, "round trip of {input}");
    }
}

#[test]
fn digests_and_tag_plus_digest() {
    let r = Reference::parse(&format!("busybox@{D}")).unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.digest().unwrap().as_ref(), D);
    assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
    assert_eq!(r.object(), D);

    let r = Reference::parse(&format!("localhost:5000/a/b:1.0@{D}")).unwrap();
    assert_eq!(r.tag(), Some("1.0"));
    assert_eq!(r.digest().unwrap().as_ref(), D);
    assert_eq!(r.object(), D, "the digest wins over the tag for fetches");
    assert_eq!(r.familiar(), format!("localhost:5000/a/b:1.0@{D}"));
}

#[test]
fn api_host_maps_docker_hub() {
    assert_eq!(
        Reference::parse("busybox").unwrap().api_host(),
        "registry-1.docker.io"
    );
    assert_eq!(
        Reference::parse("ghcr.io/a/b").unwrap().api_host(),
        "ghcr.io"
    );
    assert_eq!(
        Reference::parse("localhost:5000/a").unwrap().api_host(),
        "localhost:5000"
    );
}

/// (input, expected reason substring)
const INVALID: &[(&str, &str)] = &[
    ("", "at least one component"),
    ("Busybox", "repository name must be lowercase"),
    ("user/App", "repository name must be lowercase"),
    ("ghcr.io/Owner/repo", "repository name must be lowercase"),
    ("busybox:", "invalid tag format"),
    ("busybox:-tag", "invalid tag format"),
    ("busybox:ta/g", "invalid"),
    ("busybox@sha256:abc", "invalid digest format"),
    ("busybox@sha256", "invalid digest format"),
    ("busybox@", "invalid digest format"),
    (":tag", "at least one component"),
    ("/busybox", "must not be empty"),
    ("busybox/", "must not be empty"),
    ("a//b", "must not be empty"),
    ("-busybox", "start and end"),
    ("busybox-", "start and end"),
    ("foo___bar", "invalid separator"),
    ("foo..bar", "invalid separator"),
    ("foo.-bar", "invalid separator"),
    ("host:port/x", "invalid port"),
    ("-host.com/x", "invalid domain"),
    (
        "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
        "64-byte hexadecimal",
    ),
    (
        "busybox:tag@sha256:A3ED95CAEB02FFE68CDD9FD84406680AE93D633CB16422D00E8A7C22955B46D4",
        "invalid digest format",
    ),
];

#[test]
fn invalid_references_are_rejected_with_docker_wording() {
    for (input, reason) in INVALID {
        let err = Reference::parse(input).expect_err(input);
        assert_eq!(err.kind(), crate::ErrorKind::InvalidReference);
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid reference format: "),
            "{input}: {msg}"
        );
        assert!(msg.contains(reason), "{input}: {msg}");
    }
    let long = format!("{}/x", "a".repeat(260));
    assert!(Reference::parse(&long).is_err());
    let long_tag = format!("busybox:{}", "t".repeat(129));
    assert!(Reference::parse(&long_tag).is_err());
}

#[test]
fn uppercase_message_is_exact() {
    let err = Reference::parse("Busybox").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid reference format: repository name must be lowercase: `Busybox`"
    );
}
