//! HEALTHCHECK and the Go-style durations its flags take (`30s`, `1m30s`, `1.5h`).
//!
//! BuildKit parses `--interval` and friends with Go's `time.ParseDuration`;
//! [`parse_go_duration`] accepts exactly that syntax so that every Dockerfile
//! BuildKit accepts works here, and rejects the rest with a message naming
//! the flag.

use std::time::Duration;

use crate::ast::Node;
use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::commands::{
    HealthConfig, HealthTest, Healthcheck, HealthcheckInstruction, Origin, ShellOrExec,
};
use crate::instructions::flags::{FlagKind, FlagSet, FlagSpec};
use crate::instructions::parse::{at_least_one, command_form};

/// The shortest non-zero interval Docker accepts for any HEALTHCHECK duration.
pub const MIN_HEALTHCHECK_DURATION: Duration = Duration::from_millis(1);

const FLAGS: &[FlagSpec] = &[
    ("interval", FlagKind::String),
    ("timeout", FlagKind::String),
    ("start-period", FlagKind::String),
    ("start-interval", FlagKind::String),
    ("retries", FlagKind::String),
];

/// The units of Go's `time.ParseDuration`, in nanoseconds.
const NANOS_PER_UNIT: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parse a Go duration string (`300ms`, `-1.5h`, `2h45m`) to signed nanoseconds.
///
/// Returns `None` for anything Go rejects: a missing unit (except a bare `0`),
/// an unknown unit, an empty string, or a value beyond Go's `int64` range.
pub fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let len = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(len)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)?;
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(scale)?;
        let mut divisor = 1i128;
        let mut fraction = 0i128;
        for digit in frac_part.bytes().take(30) {
            fraction = fraction * 10 + i128::from(digit - b'0');
            divisor *= 10;
        }
        value += fraction * scale / divisor;
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) + 1 {
            return None;
        }
        rest = after;
    }
    if negative {
        total = -total;
    }
    (total >= i128::from(i64::MIN) && total <= i128::from(i64::MAX)).then_some(total)
}

/// A HEALTHCHECK duration flag: `None` when absent or zero (inherit), an error
/// when malformed or below [`MIN_HEALTHCHECK_DURATION`].
pub fn parse_health_duration(flag: &str, value: &str) -> Result<Option<Duration>, DockerfileError> {
    let nanos = parse_go_duration(value).ok_or_else(|| {
        DockerfileError::new(
            ErrorKind::InvalidFlag,
            format!("invalid duration `{value}` for --{flag}"),
        )
        .with_hint("use a number with a unit: 30s, 1m30s, 1.5h, 500ms")
    })?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < MIN_HEALTHCHECK_DURATION.as_nanos() as i128 {
        return Err(DockerfileError::new(
            ErrorKind::InvalidFlag,
            format!("interval \"{flag}\" cannot be less than 1ms"),
        ));
    }
    let nanos = u64::try_from(nanos).map_err(|_| {
        DockerfileError::new(
            ErrorKind::InvalidFlag,
            format!("duration `{value}` is too long"),
        )
    })?;
    Ok(Some(Duration::from_nanos(nanos)))
}

fn parse_retries(value: &str) -> Result<Option<u32>, DockerfileError> {
    let retries: i32 = value.parse().map_err(|_| {
        DockerfileError::new(
            ErrorKind::InvalidFlag,
            format!("invalid value `{value}` for --retries"),
        )
        .with_hint("use a whole number such as --retries=3")
    })?;
    if retries < 0 {
        return Err(DockerfileError::new(
            ErrorKind::InvalidFlag,
            format!("--retries cannot be negative ({retries})"),
        ));
    }
    Ok((retries > 0).then_some(retries.unsigned_abs()))
}

/// Type a HEALTHCHECK node: args are `NONE`, or `CMD` then the command.
pub(crate) fn parse_healthcheck(
    node: &Node,
    origin: Origin,
) -> Result<HealthcheckInstruction, DockerfileError> {
    let Some((kind, rest)) = node.args.split_first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        // BuildKit does not look at flags here: `--interval=5s NONE` is accepted.
        if !rest.is_empty() {
            return Err(DockerfileError::new(
                ErrorKind::ArgumentCount,
                "HEALTHCHECK NONE takes no arguments",
            ));
        }
        return Ok(HealthcheckInstruction {
            health: Healthcheck::Disabled,
            origin,
        });
    }
    let flags = FlagSet::parse(&node.flags, FLAGS)?;
    if kind != "CMD" {
        return Err(DockerfileError::new(
            ErrorKind::InvalidArgument,
            format!("unknown type \"{kind}\" in HEALTHCHECK (try CMD)"),
        ));
    }
    let test = match command_form(node, rest) {
        ShellOrExec::Exec(argv) if !argv.is_empty() => HealthTest::Exec(argv),
        ShellOrExec::Shell(cmd) if !rest.is_empty() => HealthTest::Shell(cmd),
        _ => {
            return Err(DockerfileError::new(
                ErrorKind::ArgumentCount,
                "missing command after HEALTHCHECK CMD",
            ));
        }
    };
    let duration = |name: &str| match flags.string(name) {
        Some(value) if !value.is_empty() => parse_health_duration(name, &value),
        _ => Ok(None),
    };
    let retries = match flags.string("retries") {
        Some(value) if !value.is_empty() => parse_retries(&value)?,
        _ => None,
    };
    Ok(HealthcheckInstruction {
        health: Healthcheck::Check(HealthConfig {
            test,
            interval: duration("interval")?,
            timeout: duration("timeout")?,
            start_period: duration("start-period")?,
            start_interval: duration("start-interval")?,
            retries,
        }),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i128 = 1_000_000_000;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("30s"), Some(30 * SEC));
        assert_eq!(parse_go_duration("1m30s"), Some(90 * SEC));
        assert_eq!(parse_go_duration("1.5h"), Some(5400 * SEC));
        assert_eq!(parse_go_duration(".5s"), Some(SEC / 2));
        assert_eq!(parse_go_duration("1.s"), Some(SEC));
        assert_eq!(parse_go_duration("-2ms"), Some(-2_000_000));
        assert_eq!(parse_go_duration("+3us"), Some(3_000));
        assert_eq!(parse_go_duration("3µs"), Some(3_000));
        assert_eq!(
            parse_go_duration("1h2m3s4ms5us6ns"),
            Some(3723 * SEC + 4_005_006)
        );
        for bad in [
            "",
            "10",
            "s",
            "1x",
            "1.2.3s",
            ".s",
            "-",
            "1 s",
            "9999999999999h",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn health_durations() {
        assert_eq!(parse_health_duration("interval", "0s").unwrap(), None);
        assert_eq!(
            parse_health_duration("interval", "1ms").unwrap(),
            Some(Duration::from_millis(1))
        );
        let err = parse_health_duration("interval", "999us").unwrap_err();
        assert_eq!(err.message, "interval \"interval\" cannot be less than 1ms");
        assert!(parse_health_duration("timeout", "-1s").is_err());
        assert_eq!(parse_retries("0").unwrap(), None);
        assert_eq!(parse_retries("3").unwrap(), Some(3));
        assert_eq!(
            parse_retries("-1").unwrap_err().message,
            "--retries cannot be negative (-1)"
        );
    }
}
