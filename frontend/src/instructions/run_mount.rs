//! `RUN --mount=type=...,target=...` specs, the equivalent of BuildKit's
//! `commands_runmount.go` plus the defaults its lowering fills in.
//!
//! A spec is a CSV line of `key=value` fields. Values may hold variables, so the
//! full check happens when the lowering knows them: it calls [`parse_mount`]
//! (or [`parse_mounts`]) with its expander. When the instruction is typed only
//! what needs no variables is checked ([`check_unexpanded`]).

use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::suggest;

/// What a `--mount` provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountType {
    /// A directory of the build context, a stage or an image (read-only by default).
    #[default]
    Bind,
    /// A persistent cache directory shared between builds.
    Cache,
    /// An empty in-memory directory.
    Tmpfs,
    /// A secret file (or environment variable) given with `--secret`.
    Secret,
    /// An SSH agent socket given with `--ssh`.
    Ssh,
}

impl MountType {
    /// The spelling used in specs (`bind`, `cache`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Cache => "cache",
            Self::Tmpfs => "tmpfs",
            Self::Secret => "secret",
            Self::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    /// Every writer uses the same directory at once.
    #[default]
    Shared,
    /// A writer that finds the cache busy gets a fresh one.
    Private,
    /// A writer waits until the cache is free.
    Locked,
}

/// A typed `--mount`, with BuildKit's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunMount {
    /// The mount type (`type=`, default `bind`).
    pub kind: MountType,
    /// `from=`: the stage or image to mount from (context when `None`; cache
    /// mounts without it start empty).
    pub from: Option<String>,
    /// `source=`/`src=`: the path inside `from`, or the secret id.
    pub source: Option<String>,
    /// `target=`/`dst=`/`destination=`: where to mount. `None` only for a
    /// secret exposed solely as an environment variable.
    pub target: Option<String>,
    /// Read-only; defaults to true except for cache and tmpfs mounts.
    pub read_only: bool,
    /// The cache id (default: the cleaned target), secret id (default: source,
    /// else the target's base name) or SSH id (default `default`).
    pub id: Option<String>,
    /// `sharing=` of a cache mount.
    pub sharing: CacheSharing,
    /// `required`: fail when the secret or SSH agent is not provided.
    pub required: bool,
    /// `env=`: expose a secret as this environment variable.
    pub env: Option<String>,
    /// `mode=` (octal); secrets default to 0400 and SSH sockets to 0600.
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `size=` of a tmpfs mount, in bytes.
    pub size_limit: Option<u64>,
}

/// Every key a spec may use, for did-you-mean hints.
const ALL_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

fn bad(message: impl Into<String>) -> DockerfileError {
    DockerfileError::new(ErrorKind::InvalidFlag, message)
}

/// The checks that need no variables, run when RUN is typed: the spec is valid
/// CSV and `from=` holds no variable (stages must be known before ARGs are).
pub(crate) fn check_unexpanded(spec: &str) -> Result<(), DockerfileError> {
    for field in split_csv(spec)? {
        if let Some((key, value)) = field.split_once('=')
            && key.eq_ignore_ascii_case("from")
            && value.find('$').is_some_and(|i| i + 1 != value.len())
        {
            return Err(bad("`from` doesn't support variable expansion")
                .with_hint("define an alias stage with FROM and mount from it instead"));
        }
    }
    Ok(())
}

/// Type every `--mount` of one RUN; SSH sockets without a target are numbered
/// `/run/buildkit/ssh_agent.N` in order, as BuildKit does.
pub fn parse_mounts(
    specs: &[String],
    expand: &dyn Fn(&str) -> Result<String, DockerfileError>,
) -> Result<Vec<RunMount>, DockerfileError> {
    let mut ssh_index = 0;
    specs
        .iter()
        .map(|spec| {
            let mount = parse_mount_numbered(spec, expand, ssh_index)?;
            if mount.kind == MountType::Ssh {
                ssh_index += 1;
            }
            Ok(mount)
        })
        .collect()
}

/// Type one `--mount` spec, expanding each value with `expand` first.
///
/// An SSH mount without a target gets `/run/buildkit/ssh_agent.0`; use
/// [`parse_mounts`] for the numbering across several SSH mounts.
pub fn parse_mount(
    spec: &str,
    expand: &dyn Fn(&str) -> Result<String, DockerfileError>,
) -> Result<RunMount, DockerfileError> {
    parse_mount_numbered(spec, expand, 0)
}

fn parse_mount_numbered(
    spec: &str,
    expand: &dyn Fn(&str) -> Result<String, DockerfileError>,
    ssh_index: usize,
) -> Result<RunMount, DockerfileError> {
    let mut m = RunMount::default();
    let mut read_only: Option<bool> = None;
    let mut sharing_set = false;
    for field in split_csv(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_ascii_lowercase(), value),
            None => {
                match field.to_ascii_lowercase().as_str() {
                    "readonly" | "ro" => read_only = Some(true),
                    "readwrite" | "rw" => read_only = Some(false),
                    "required" => m.required = required_allowed(&m, "required")?,
                    _ => {
                        return Err(bad(format!(
                            "invalid field `{field}` must be a key=value pair"
                        )));
                    }
                }
                continue;
            }
        };
        let value = expand(value)?;
        let invalid_value = || bad(format!("invalid value for {key}: {value}"));
        match key.as_str() {
            "type" => m.kind = mount_type(&value)?,
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => read_only = Some(parse_go_bool(&value).ok_or_else(invalid_value)?),
            "readwrite" | "rw" => {
                read_only = Some(!parse_go_bool(&value).ok_or_else(invalid_value)?);
            }
            "required" => {
                required_allowed(&m, &key)?;
                m.required = parse_go_bool(&value).ok_or_else(invalid_value)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(unexpected_for_type(&key, m.kind));
                }
                m.size_limit = Some(ram_in_bytes(&value).ok_or_else(invalid_value)?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = sharing(&value)?;
                sharing_set = true;
            }
            "mode" => {
                let mode = u32::from_str_radix(&value, 8)
                    .map_err(|_| bad(format!("invalid value {value} for mode")))?;
                m.mode = Some(mode);
            }
            "uid" | "gid" => {
                let n: u32 = value
                    .parse()
                    .map_err(|_| bad(format!("invalid value {value} for {key}")))?;
                if key == "uid" {
                    m.uid = Some(n);
                } else {
                    m.gid = Some(n);
                }
            }
            "env" => m.env = Some(value),
            _ => {
                let err = bad(format!("unexpected key `{key}` in `{field}`"));
                return Err(match suggest::closest(&key, ALL_KEYS, true) {
                    Some(best) => err.with_hint(format!("did you mean {best}?")),
                    None => err,
                });
            }
        }
    }
    validate(&mut m, read_only, sharing_set, ssh_index)?;
    Ok(m)
}

fn validate(
    m: &mut RunMount,
    read_only: Option<bool>,
    sharing_set: bool,
    ssh_index: usize,
) -> Result<(), DockerfileError> {
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(bad(format!(
                    "{name} not allowed for \"{}\" type mounts",
                    m.kind.as_str()
                )));
            }
        }
    }
    m.read_only = read_only.unwrap_or(!matches!(m.kind, MountType::Cache | MountType::Tmpfs));
    match m.kind {
        MountType::Secret => {
            if m.from.is_some() {
                return Err(bad("secret mount should not have a from"));
            }
            if sharing_set {
                return Err(bad("secret mount should not define sharing"));
            }
            if m.source.is_none() && m.target.is_none() && m.id.is_none() {
                return Err(bad("invalid secret mount. one of source, target required")
                    .with_hint("name the secret: --mount=type=secret,id=mytoken"));
            }
            if m.source.is_some() && m.id.is_some() {
                return Err(bad("both source and id can't be set"));
            }
            let id = match (m.source.take().or(m.id.take()), m.target.as_deref()) {
                (Some(id), _) => id,
                (None, Some(target)) => base_name(target).to_string(),
                (None, None) => String::new(),
            };
            if m.env.is_none() && m.target.is_none() {
                m.target = Some(format!("/run/secrets/{}", base_name(&id)));
            }
            m.id = Some(id);
            m.mode.get_or_insert(0o400);
        }
        MountType::Ssh => {
            if m.source.is_some() {
                return Err(bad("ssh does not support source"));
            }
            if sharing_set {
                return Err(bad("invalid cache sharing set for ssh mount"));
            }
            m.id.get_or_insert_with(|| "default".to_string());
            m.target
                .get_or_insert_with(|| format!("/run/buildkit/ssh_agent.{ssh_index}"));
            m.mode.get_or_insert(0o600);
        }
        MountType::Bind | MountType::Cache | MountType::Tmpfs => {
            if sharing_set && m.kind != MountType::Cache {
                return Err(bad(format!(
                    "invalid cache sharing set for {} mount",
                    m.kind.as_str()
                )));
            }
            let target = match m.target.as_deref() {
                None | Some("") => {
                    return Err(bad(format!(
                        "mount target is required for {} mounts",
                        m.kind.as_str()
                    ))
                    .with_hint("add target=<path> to the --mount spec"));
                }
                Some(t) => t,
            };
            // A relative target is resolved against WORKDIR at lowering, where
            // a target that ends up at `/` is rejected.
            if target.starts_with('/') && crate::path::clean(target) == "/" {
                return Err(bad(format!("invalid mount target \"{target}\"")));
            }
            if m.kind == MountType::Cache
                && target.starts_with('/')
                && m.id.as_deref().is_none_or(str::is_empty)
            {
                m.id = Some(crate::path::clean(target));
            }
        }
    }
    Ok(())
}

fn required_allowed(m: &RunMount, key: &str) -> Result<bool, DockerfileError> {
    if matches!(m.kind, MountType::Secret | MountType::Ssh) {
        Ok(true)
    } else {
        Err(unexpected_for_type(key, m.kind))
    }
}

fn unexpected_for_type(key: &str, kind: MountType) -> DockerfileError {
    bad(format!(
        "unexpected key `{key}` for mount type `{}`",
        kind.as_str()
    ))
}

fn mount_type(value: &str) -> Result<MountType, DockerfileError> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "bind" => MountType::Bind,
        "cache" => MountType::Cache,
        "tmpfs" => MountType::Tmpfs,
        "secret" => MountType::Secret,
        "ssh" => MountType::Ssh,
        _ => {
            let err = bad(format!("unsupported mount type \"{value}\""));
            let types = ["bind", "cache", "tmpfs", "secret", "ssh"];
            return Err(match suggest::closest(value, types, true) {
                Some(best) => err.with_hint(format!("did you mean {best}?")),
                None => err,
            });
        }
    })
}

fn sharing(value: &str) -> Result<CacheSharing, DockerfileError> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "shared" => CacheSharing::Shared,
        "private" => CacheSharing::Private,
        "locked" => CacheSharing::Locked,
        _ => {
            let err = bad(format!("unsupported sharing value \"{value}\""));
            let modes = ["shared", "private", "locked"];
            return Err(match suggest::closest(value, modes, true) {
                Some(best) => err.with_hint(format!("did you mean {best}?")),
                None => err,
            });
        }
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5g`, `512KiB`, `1024` (binary units).
pub(crate) fn ram_in_bytes(value: &str) -> Option<u64> {
    let number_len = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, rest) = value.split_at(number_len);
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let shift = match chars.peek().map(char::to_ascii_lowercase) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            10 * (1 + "kmgtp".find(c)?)
        }
        _ => 0,
    };
    chars.next_if(|c| c.eq_ignore_ascii_case(&'i'));
    chars.next_if(|c| c.eq_ignore_ascii_case(&'b'));
    if chars.next().is_some() {
        return None;
    }
    let bytes = number * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes < 9.2e18).then_some(bytes as u64)
}

/// Split one CSV record (RFC 4180 quoting, as Go's CSV readers do).
pub(crate) fn split_csv(line: &str) -> Result<Vec<String>, DockerfileError> {
    let fail = |why: &str| bad(format!("failed to parse csv mounts: {why}"));
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(fail("extraneous or missing \" in quoted-field")),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err(fail("extraneous or missing \" in quoted-field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err(fail("bare \" in non-quoted-field")),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// Go's `path.Base`: the last element, `/` for the root, `.` for nothing.
fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records() {
        assert_eq!(split_csv("a,b=c").unwrap(), vec!["a", "b=c"]);
        assert_eq!(split_csv("\"x,y\",z").unwrap(), vec!["x,y", "z"]);
        assert_eq!(split_csv("\"a\"\"b\"").unwrap(), vec!["a\"b"]);
        assert_eq!(split_csv("").unwrap(), vec![""]);
        assert!(split_csv("a\"b").is_err());
        assert!(split_csv("\"open").is_err());
    }

    #[test]
    fn sizes_and_paths() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Some(3 << 29));
        assert_eq!(ram_in_bytes("512 KiB"), Some(512 << 10));
        assert_eq!(ram_in_bytes("big"), None);
        assert_eq!(ram_in_bytes("10x"), None);
        assert_eq!(base_name("/run/secrets/tok"), "tok");
        assert_eq!(base_name("/"), "/");
    }
}
