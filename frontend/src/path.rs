//! Lexical paths inside an image: the one cleaner that typing and lowering share.
//!
//! Dockerfile paths are slash-separated and never touch the host, so they are
//! cleaned as text, the way BuildKit does with Go's `path.Clean`: `a//b` is
//! `a/b`, `./` elements vanish, `x/..` cancels out and `..` above `/` stays at
//! `/`. [`resolve`] builds on [`clean`] to turn a destination or mount target
//! as written (`./src/`, relative to WORKDIR) into the absolute path the graph
//! holds (`/app/src/`).
//!
//! ```text
//! clean("/a/./b/../c/")      == "/a/c"
//! clean("a/../..")           == ".."
//! resolve("/app", "src/")    == "/app/src/"
//! resolve("/app", "/abs")    == "/abs"
//! resolve("/a/b", "../c")    == "/a/c"
//! ```

/// Go's `path.Clean`: the shortest lexically equal path. An empty result is
/// `.`; a rooted path never climbs above `/`; a trailing `/` is dropped.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `path` resolved against the directory `base` (WORKDIR; empty means `/`),
/// cleaned and absolute. A path that names a directory as written (a trailing
/// `/`, `.` or `/.`) keeps a trailing `/`, because COPY reads it as "into this
/// directory"; `/` itself has none added.
pub(crate) fn resolve(base: &str, path: &str) -> String {
    let names_dir = path.ends_with('/') || path == "." || path.ends_with("/.");
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{base}/{path}")
    };
    let mut out = clean(&joined);
    if names_dir && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_follows_go() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("a//b", "a/b"),
            ("a/./b/", "a/b"),
            ("a/b/../c", "a/c"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/..", "/"),
            ("/../a", "/a"),
            ("/", "/"),
            ("/a/./b/../c/", "/a/c"),
            // .dockerignore patterns are cleaned too; `!` is just a character here.
            ("!./foo", "!./foo"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    #[test]
    fn resolve_against_workdir() {
        assert_eq!(resolve("/app", "src"), "/app/src");
        assert_eq!(resolve("/app", "/abs"), "/abs");
        assert_eq!(resolve("/app", "./"), "/app/");
        assert_eq!(resolve("/app", "."), "/app/");
        assert_eq!(resolve("", "x/"), "/x/");
        assert_eq!(resolve("/a/b", "../c"), "/a/c");
        assert_eq!(resolve("/", "."), "/");
        assert_eq!(resolve("/", "../../etc"), "/etc");
        assert_eq!(resolve("/app/", "a//b/."), "/app/a/b/");
    }
}
