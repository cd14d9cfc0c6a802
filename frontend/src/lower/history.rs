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

/// `COPY src1 src2 <<EOT dest # buildkit`: BuildKit's text names the expanded sources
/// (heredocs by their name) and destination, never the flags (`--from`, `--chown`...).
pub(crate) fn created_by_copy(
    keyword: &str,
    sources: &[String],
    inline: &[&str],
    dest: &str,
) -> String {
    let mut out = keyword.to_string();
    for src in sources {
        out.push(' ');
        out.push_str(src);
    }
    for name in inline {
        out.push_str(" <<");
        out.push_str(name);
    }
    out.push(' ');
    out.push_str(dest);
    out.push_str(" # buildkit");
    out
}

/// `HEALTHCHECK &{["CMD-SHELL" "curl x"] "30s" "5s" "0s" '\x03'}`: Go's `%q` of the
/// health config struct as docker 20.10's BuildKit prints it (test, interval, timeout,
/// start period, retries as a quoted rune); the start interval of newer Dockerfiles is
/// added only when set.
pub(crate) fn healthcheck(hc: &crate::image::Healthcheck) -> String {
    let mut durations = vec![hc.interval, hc.timeout, hc.start_period];
    if hc.start_interval != 0 {
        durations.push(hc.start_interval);
    }
    let mut out = format!("HEALTHCHECK &{{{}", go_quote_list(&hc.test));
    for ns in durations {
        out.push_str(&format!(" \"{}\"", go_duration(ns)));
    }
    out.push_str(&format!(" {}}}", go_quote_rune(hc.retries)));
    out
}

/// Go's `time.Duration.String()`: `0s`, `1.5s`, `1m30s`, `2h0m0s`, `500ms`, `10µs`, `7ns`.
fn go_duration(ns: u64) -> String {
    fn fraction(value: u64, unit: u64) -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let frac = format!("{rest:0digits$}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    match ns {
        0 => "0s".into(),
        n if n < US => format!("{n}ns"),
        n if n < MS => format!("{}µs", fraction(n, US)),
        n if n < S => format!("{}ms", fraction(n, MS)),
        n => {
            let hours = n / (3600 * S);
            let minutes = n / (60 * S) % 60;
            let seconds = fraction(n % (60 * S), S);
            if hours > 0 {
                format!("{hours}h{minutes}m{seconds}s")
            } else if minutes > 0 {
                format!("{minutes}m{seconds}s")
            } else {
                format!("{seconds}s")
            }
        }
    }
}

/// Go's `%q` of an integer: the rune it is, quoted (`'\x04'`, `'A'`).
fn go_quote_rune(n: u64) -> String {
    let c = u32::try_from(n).ok().and_then(char::from_u32);
    match c {
        Some('\x07') => r"'\a'".into(),
        Some('\x08') => r"'\b'".into(),
        Some('\x0c') => r"'\f'".into(),
        Some('\n') => r"'\n'".into(),
        Some('\r') => r"'\r'".into(),
        Some('\t') => r"'\t'".into(),
        Some('\x0b') => r"'\v'".into(),
        Some('\'') => r"'\''".into(),
        Some('\\') => r"'\\'".into(),
        Some(c) if (c as u32) < 0x80 && !c.is_ascii_control() => format!("'{c}'"),
        Some(c) if (c as u32) < 0x80 => format!("'\\x{:02x}'", c as u32),
        Some(c) if !c.is_control() => format!("'{c}'"),
        Some(c) if (c as u32) <= 0xffff => format!("'\\u{:04x}'", c as u32),
        Some(c) => format!("'\\U{:08x}'", c as u32),
        None => r"'\ufffd'".into(),
    }
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
    fn healthcheck_is_printed_as_go_quotes_the_struct() {
        let hc = crate::image::Healthcheck {
            test: vec!["CMD-SHELL".into(), "wget -q x || exit 1".into()],
            interval: 30_000_000_000,
            timeout: 5_000_000_000,
            start_period: 90_500_000_000,
            retries: 4,
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&hc),
            r#"HEALTHCHECK &{["CMD-SHELL" "wget -q x || exit 1"] "30s" "5s" "1m30.5s" '\x04'}"#
        );
        let none = crate::image::Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&none),
            r#"HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\x00'}"#
        );
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(7_200_000_000_000), "2h0m0s");
        assert_eq!(go_quote_rune(65), "'A'");
        assert_eq!(go_quote_rune(10), r"'\n'");
    }

    #[test]
    fn copy_history_names_sources_and_dest_without_flags() {
        assert_eq!(
            created_by_copy("COPY", &["a".into(), "b/".into()], &["EOT"], "/d/"),
            "COPY a b/ <<EOT /d/ # buildkit"
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
