//! Flags written between an instruction keyword and its arguments
//! (`COPY --chown=app --link src dst`), the equivalent of BuildKit's `BFlags`.
//!
//! Each instruction declares the flags it accepts with their [`FlagKind`];
//! [`FlagSet::parse`] then checks the raw words the parser kept and reports
//! unknown, duplicated or malformed flags with BuildKit's wording, plus a
//! did-you-mean hint for near misses.

use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::suggest;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--link`, `--link=true` or `--link=false`.
    Bool,
    /// `--chown=value`, at most once.
    String,
    /// `--mount=value`, any number of times.
    Strings,
}

/// A flag an instruction accepts: its name without dashes and its kind.
pub(crate) type FlagSpec = (&'static str, FlagKind);

#[derive(Debug, Clone)]
enum FlagValue {
    Bool(bool),
    String(String),
    Strings(Vec<String>),
}

/// The flags of one instruction after validation.
#[derive(Debug, Clone)]
pub(crate) struct FlagSet {
    values: Vec<(&'static str, FlagValue)>,
}

impl FlagSet {
    /// Check `raw` (flags verbatim, `--name[=value]`) against `specs`.
    ///
    /// A lone `--` ends the flags, as in BuildKit.
    pub(crate) fn parse(raw: &[String], specs: &[FlagSpec]) -> Result<Self, DockerfileError> {
        let mut values: Vec<(&'static str, FlagValue)> = Vec::new();
        for word in raw {
            if word == "--" {
                break;
            }
            let Some(body) = word.strip_prefix("--") else {
                return Err(DockerfileError::new(
                    ErrorKind::InvalidFlag,
                    format!("flag should start with --: {word}"),
                ));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(spec_name, kind)) = specs.iter().find(|(n, _)| *n == name) else {
                return Err(unknown_flag(name, specs));
            };
            let existing = values.iter_mut().find(|(n, _)| *n == spec_name);
            if existing.is_some() && kind != FlagKind::Strings {
                return Err(DockerfileError::new(
                    ErrorKind::InvalidFlag,
                    format!("duplicate flag specified: --{name}"),
                ));
            }
            let missing = || {
                DockerfileError::new(
                    ErrorKind::InvalidFlag,
                    format!("missing a value on flag: --{name}"),
                )
                .with_hint(format!("write it as --{name}=<value>"))
            };
            match kind {
                FlagKind::Bool => {
                    let parsed = match value {
                        None => true,
                        Some("") => return Err(missing()),
                        Some(v) => match v.to_ascii_lowercase().as_str() {
                            "true" => true,
                            "false" => false,
                            _ => {
                                return Err(DockerfileError::new(
                                    ErrorKind::InvalidFlag,
                                    format!("expecting boolean value for flag --{name}, not: {v}"),
                                ));
                            }
                        },
                    };
                    values.push((spec_name, FlagValue::Bool(parsed)));
                }
                FlagKind::String => {
                    let value = value.ok_or_else(missing)?;
                    values.push((spec_name, FlagValue::String(value.to_string())));
                }
                FlagKind::Strings => {
                    let value = value.ok_or_else(missing)?.to_string();
                    match existing {
                        Some((_, FlagValue::Strings(list))) => list.push(value),
                        _ => values.push((spec_name, FlagValue::Strings(vec![value]))),
                    }
                }
            }
        }
        Ok(Self { values })
    }

    fn get(&self, name: &str) -> Option<&FlagValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The value of a string flag, `None` when it was not written or written
    /// empty (`--chown=`), which BuildKit treats as unset.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.string_raw(name).filter(|s| !s.is_empty())
    }

    /// The value of a string flag as written, even when empty.
    pub(crate) fn string_raw(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(FlagValue::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// The value of a bool flag, `None` when it was not written.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(FlagValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Every value of a repeatable flag, in the order written.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(FlagValue::Strings(list)) => list.clone(),
            _ => Vec::new(),
        }
    }
}

fn unknown_flag(name: &str, specs: &[FlagSpec]) -> DockerfileError {
    let err = DockerfileError::new(ErrorKind::UnknownFlag, format!("unknown flag: --{name}"));
    match suggest::closest(name, specs.iter().map(|(n, _)| *n), false) {
        Some(best) => err.with_hint(format!("did you mean --{best}?")),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FlagSpec] = &[
        ("chown", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];

    fn parse(raw: &[&str]) -> Result<FlagSet, DockerfileError> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        FlagSet::parse(&raw, SPECS)
    }

    #[test]
    fn values_of_every_kind() {
        let set = parse(&["--chown=1:2", "--link", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(set.string("chown").as_deref(), Some("1:2"));
        assert_eq!(set.bool("link"), Some(true));
        assert_eq!(set.strings("exclude"), vec!["a", "b"]);
        let set = parse(&["--link=FALSE", "--", "--chown"]).unwrap();
        assert_eq!(set.bool("link"), Some(false));
        assert_eq!(set.string("chown"), None);
    }

    #[test]
    fn errors_name_the_flag() {
        let err = parse(&["--chwon=x"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownFlag);
        assert_eq!(err.message, "unknown flag: --chwon");
        assert_eq!(err.hint.as_deref(), Some("did you mean --chown?"));
        assert_eq!(
            parse(&["--chown"]).unwrap_err().message,
            "missing a value on flag: --chown"
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err().message,
            "missing a value on flag: --link"
        );
        let err = parse(&["--link", "--link"]).unwrap_err();
        assert_eq!(err.message, "duplicate flag specified: --link");
        let err = parse(&["--link=maybe"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidFlag);
        assert_eq!(
            err.message,
            "expecting boolean value for flag --link, not: maybe"
        );
        assert_eq!(parse(&["-x"]).unwrap_err().kind, ErrorKind::InvalidFlag);
    }
}
