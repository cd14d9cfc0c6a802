//! History `created_by` strings in BuildKit's spelling.

/// Go's `%q` of a string slice: `["/bin/sh" "-c" "echo hi"]`, which is how
/// BuildKit prints CMD, ENTRYPOINT, SHELL and HEALTHCHECK in history.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `RUN |2 A=1 B=2 /bin/sh -c make # buildkit`: BuildKit prefixes the args
/// in scope, counted, so that history shows what the step depended on.
pub(crate) fn created_by_run(argv: &[String], args: &[(String, String)], _shell: bool) -> String {
    let mut out = String::from("RUN ");
    if !args.is_empty() {
        out.push_str(&format!("|{} ", args.len()));
        for (k, v) in args {
            out.push_str(&format!("{k}={v} "));
        }
    }
    out.push_str(&argv.join(" "));
    out.push_str(" # buildkit");
    out
}

/// `COPY src dest # buildkit`.
pub(crate) fn created_by_copy(original: &str) -> String {
    format!("{} # buildkit", collapse(original))
}

/// `EXPOSE map[80/tcp:{} 443/tcp:{}]`, as BuildKit prints Go's map.
pub(crate) fn expose(ports: &[String]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort();
    sorted.dedup();
    let inner: Vec<String> = sorted.iter().map(|p| format!("{p}:{{}}")).collect();
    format!("EXPOSE map[{}]", inner.join(" "))
}

/// The instruction text on one line, for progress names.
pub(crate) fn progress_text(original: &str) -> String {
    collapse(original)
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_history_lists_args() {
        let argv = vec!["/bin/sh".to_string(), "-c".into(), "make".into()];
        assert_eq!(
            created_by_run(&argv, &[], true),
            "RUN /bin/sh -c make # buildkit"
        );
        let args = vec![("A".to_string(), "1".to_string())];
        assert_eq!(
            created_by_run(&argv, &args, true),
            "RUN |1 A=1 /bin/sh -c make # buildkit"
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            go_quote_list(&["a\"b".into(), "c".into()]),
            r#"["a\"b" "c"]"#
        );
        assert_eq!(
            expose(&["80/tcp".into(), "443/tcp".into()]),
            "EXPOSE map[443/tcp:{} 80/tcp:{}]"
        );
    }
}
