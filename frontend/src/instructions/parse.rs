//! Typing one AST node: [`parse_instruction`] and one function per keyword.
//!
//! The checks and their order follow BuildKit's `instructions/parse.go`, so a
//! Dockerfile that BuildKit rejects is rejected here with the same complaint
//! (lower-cased where it starts a sentence).

use crate::ast::{Node, SourceRange};
use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::chmod::Chmod;
use crate::instructions::commands::*;
use crate::instructions::flags::{FlagKind, FlagSet, FlagSpec};
use crate::instructions::{healthcheck, run_mount, suggest};

/// Every instruction keyword, upper-case, for did-you-mean hints.
pub const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Type and validate one instruction of the AST.
///
/// Errors carry the node's lines. Values that need variables (paths, `--chown`,
/// mount specs, ports) are kept as written for the lowering to expand.
pub fn parse_instruction(node: &Node) -> Result<Instruction, DockerfileError> {
    parse_at(node, node.range)
}

/// Like [`parse_instruction`], reporting errors at `range` (ONBUILD's nested
/// node may carry no lines of its own).
fn parse_at(node: &Node, range: SourceRange) -> Result<Instruction, DockerfileError> {
    let origin = Origin {
        range,
        original: node.original.clone(),
    };
    let keyword = node.keyword.to_ascii_lowercase();
    let parsed = match keyword.as_str() {
        "from" => parse_from(node, origin).map(Instruction::From),
        "run" => parse_run(node, origin).map(Instruction::Run),
        "cmd" => parse_cmd(node, origin).map(Instruction::Cmd),
        "entrypoint" => parse_entrypoint(node, origin).map(Instruction::Entrypoint),
        "label" => parse_label(node, origin).map(Instruction::Label),
        "maintainer" => parse_maintainer(node, origin).map(Instruction::Maintainer),
        "expose" => parse_expose(node, origin).map(Instruction::Expose),
        "env" => parse_env(node, origin).map(Instruction::Env),
        "add" => parse_add(node, origin).map(Instruction::Add),
        "copy" => parse_copy(node, origin).map(Instruction::Copy),
        "volume" => parse_volume(node, origin).map(Instruction::Volume),
        "user" => parse_user(node, origin).map(Instruction::User),
        "workdir" => parse_workdir(node, origin).map(Instruction::Workdir),
        "arg" => parse_arg(node, origin).map(Instruction::Arg),
        "onbuild" => parse_onbuild(node, origin).map(Instruction::Onbuild),
        "stopsignal" => parse_stopsignal(node, origin).map(Instruction::StopSignal),
        "healthcheck" => healthcheck::parse_healthcheck(node, origin).map(Instruction::Healthcheck),
        "shell" => parse_shell(node, origin).map(Instruction::Shell),
        _ => Err(unknown_instruction(&node.keyword)),
    };
    parsed.map_err(|e| e.at(range))
}

fn unknown_instruction(keyword: &str) -> DockerfileError {
    let upper = keyword.to_ascii_uppercase();
    let err = DockerfileError::new(
        ErrorKind::UnknownInstruction,
        format!("unknown instruction: {upper}"),
    );
    match suggest::closest(&upper, KEYWORDS, false) {
        Some(best) => err.with_hint(format!("did you mean {best}?")),
        None => err,
    }
}

pub(crate) fn at_least_one(keyword: &str) -> DockerfileError {
    DockerfileError::new(
        ErrorKind::ArgumentCount,
        format!("{keyword} requires at least one argument"),
    )
}

fn exactly_one(keyword: &str) -> DockerfileError {
    DockerfileError::new(
        ErrorKind::ArgumentCount,
        format!("{keyword} requires exactly one argument"),
    )
}

fn invalid(message: impl Into<String>) -> DockerfileError {
    DockerfileError::new(ErrorKind::InvalidArgument, message)
}

fn no_flags(node: &Node) -> Result<FlagSet, DockerfileError> {
    FlagSet::parse(&node.flags, &[])
}

/// The command of RUN/CMD/ENTRYPOINT: exec form keeps the JSON elements,
/// shell form joins the words, as BuildKit's `handleJSONArgs` does.
pub(crate) fn command_form(node: &Node, args: &[String]) -> ShellOrExec {
    if node.json {
        ShellOrExec::Exec(args.to_vec())
    } else {
        ShellOrExec::Shell(args.join(" "))
    }
}

fn command_line(node: &Node) -> CommandLine {
    CommandLine {
        form: command_form(node, &node.args),
        heredocs: node.heredocs.clone(),
    }
}

/// The text after `# <name> ` in the comment lines above an instruction.
fn comment_for(node: &Node, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let prefix = format!("{name} ");
    node.comments
        .iter()
        .find_map(|line| line.trim_start().strip_prefix(&prefix).map(str::to_string))
}

/// True when shell expansion with no variables set would leave `word` as is:
/// no quotes, no escapes, no `$name`, `${...}` or special parameter.
pub(crate) fn is_literal(word: &str) -> bool {
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '\\' => return false,
            '$' => {
                if let Some(&next) = chars.peek()
                    && (next.is_alphanumeric() || "_{@*#?$!-".contains(next))
                {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

fn parse_from(node: &Node, origin: Origin) -> Result<FromInstruction, DockerfileError> {
    let args = &node.args;
    let stage_name = match args.len() {
        3 if args[1].eq_ignore_ascii_case("as") => {
            let name = args[2].to_ascii_lowercase();
            if !is_valid_stage_name(&name) {
                return Err(invalid(format!(
                    "invalid name for build stage: \"{}\", name can't start with a number or contain symbols",
                    args[2]
                )));
            }
            Some(name)
        }
        1 => None,
        _ => {
            return Err(DockerfileError::new(
                ErrorKind::ArgumentCount,
                "FROM requires either one or three arguments",
            )
            .with_hint("write FROM <image> or FROM <image> AS <name>"));
        }
    };
    let flags = FlagSet::parse(&node.flags, &[("platform", FlagKind::String)])?;
    let comment = stage_name.as_deref().and_then(|n| comment_for(node, n));
    Ok(FromInstruction {
        base: args[0].clone(),
        stage_name,
        platform: flags.string("platform"),
        comment,
        origin,
    })
}

/// BuildKit's stage-name rule: `^[a-z][a-z0-9-_.]*$` (after lower-casing).
pub(crate) fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

const RUN_FLAGS: &[FlagSpec] = &[
    ("mount", FlagKind::Strings),
    ("network", FlagKind::String),
    ("security", FlagKind::String),
];

fn parse_run(node: &Node, origin: Origin) -> Result<RunInstruction, DockerfileError> {
    let flags = FlagSet::parse(&node.flags, RUN_FLAGS)?;
    let mounts = flags.strings("mount");
    for spec in &mounts {
        run_mount::check_unexpanded(spec)?;
    }
    let network = match flags.string_raw("network").as_deref() {
        None | Some("default") => NetworkMode::Default,
        Some("none") => NetworkMode::None,
        Some("host") => NetworkMode::Host,
        Some(other) => {
            return Err(DockerfileError::new(
                ErrorKind::InvalidFlag,
                format!("invalid network mode \"{other}\""),
            )
            .with_hint("use --network=default, --network=none or --network=host"));
        }
    };
    let security = match flags.string_raw("security").as_deref() {
        None | Some("sandbox") => SecurityMode::Sandbox,
        Some("insecure") => SecurityMode::Insecure,
        Some(other) => {
            return Err(DockerfileError::new(
                ErrorKind::InvalidFlag,
                format!("security \"{other}\" is not valid"),
            )
            .with_hint("use --security=sandbox or --security=insecure"));
        }
    };
    Ok(RunInstruction {
        command: command_line(node),
        mounts,
        network,
        security,
        origin,
    })
}

fn parse_cmd(node: &Node, origin: Origin) -> Result<CmdInstruction, DockerfileError> {
    no_flags(node)?;
    Ok(CmdInstruction {
        command: command_line(node),
        origin,
    })
}

fn parse_entrypoint(node: &Node, origin: Origin) -> Result<EntrypointInstruction, DockerfileError> {
    no_flags(node)?;
    Ok(EntrypointInstruction {
        command: command_line(node),
        origin,
    })
}

/// ENV and LABEL arguments: name, value, separator triples from the parser.
fn key_values(node: &Node, keyword: &str) -> Result<Vec<KeyValue>, DockerfileError> {
    if node.args.is_empty() {
        return Err(at_least_one(keyword));
    }
    if !node.args.len().is_multiple_of(3) {
        return Err(invalid(format!(
            "bad input to {keyword}, too many arguments"
        )));
    }
    node.args
        .chunks(3)
        .map(|triple| {
            if triple[0].is_empty() {
                return Err(invalid(format!("{keyword} names can not be blank")));
            }
            Ok(KeyValue {
                key: triple[0].clone(),
                value: triple[1].clone(),
                legacy: triple[2].is_empty(),
            })
        })
        .collect()
}

fn parse_label(node: &Node, origin: Origin) -> Result<LabelInstruction, DockerfileError> {
    no_flags(node)?;
    Ok(LabelInstruction {
        labels: key_values(node, "LABEL")?,
        origin,
    })
}

fn parse_env(node: &Node, origin: Origin) -> Result<EnvInstruction, DockerfileError> {
    no_flags(node)?;
    Ok(EnvInstruction {
        vars: key_values(node, "ENV")?,
        origin,
    })
}

fn parse_maintainer(node: &Node, origin: Origin) -> Result<MaintainerInstruction, DockerfileError> {
    if node.args.len() != 1 {
        return Err(exactly_one("MAINTAINER"));
    }
    no_flags(node)?;
    Ok(MaintainerInstruction {
        maintainer: node.args[0].clone(),
        origin,
    })
}

fn parse_expose(node: &Node, origin: Origin) -> Result<ExposeInstruction, DockerfileError> {
    if node.args.is_empty() {
        return Err(at_least_one("EXPOSE"));
    }
    no_flags(node)?;
    Ok(ExposeInstruction {
        ports: node.args.clone(),
        origin,
    })
}

/// `<<EOF`, `<<-EOF`, `3<<"EOF"`: the heredoc name and chomp flag of a source
/// or destination word, or `None` for an ordinary path.
fn heredoc_word(word: &str) -> Option<String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| rest.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
        .unwrap_or(rest);
    Some(unquoted.to_string())
}

fn sources_and_dest(node: &Node, keyword: &str) -> Result<SourcesAndDest, DockerfileError> {
    let (dest, sources) = node
        .args
        .split_last()
        .ok_or_else(|| missing_destination(keyword))?;
    if heredoc_word(dest).is_some() {
        return Err(invalid(format!(
            "{keyword} cannot accept a heredoc as a destination"
        )));
    }
    let mut files = SourcesAndDest {
        sources: Vec::new(),
        inline: Vec::new(),
        dest: dest.clone(),
    };
    for source in sources {
        match heredoc_word(source) {
            Some(name) => {
                let heredoc = node.heredocs.iter().find(|h| h.name == name);
                files.inline.push(InlineSource {
                    content: heredoc.map(|h| h.content.clone()).unwrap_or_default(),
                    expand: heredoc.is_none_or(|h| h.expand),
                    path: name,
                });
            }
            None => files.sources.push(source.clone()),
        }
    }
    Ok(files)
}

fn missing_destination(keyword: &str) -> DockerfileError {
    DockerfileError::new(
        ErrorKind::ArgumentCount,
        format!("{keyword} requires at least two arguments, but only one was provided"),
    )
    .with_hint("destination could not be determined")
}

/// Validate a `--chmod` value now when it has no variables; otherwise the
/// lowering checks it after expansion.
fn check_chmod(value: Option<&str>) -> Result<(), DockerfileError> {
    match value {
        Some(v) if is_literal(v) => Chmod::parse(v).map(|_| ()),
        _ => Ok(()),
    }
}

const ADD_FLAGS: &[FlagSpec] = &[
    ("chown", FlagKind::String),
    ("chmod", FlagKind::String),
    ("link", FlagKind::Bool),
    ("keep-git-dir", FlagKind::Bool),
    ("checksum", FlagKind::String),
    ("unpack", FlagKind::Bool),
    ("exclude", FlagKind::Strings),
];

fn parse_add(node: &Node, origin: Origin) -> Result<AddInstruction, DockerfileError> {
    if node.args.len() < 2 {
        return Err(missing_destination("ADD"));
    }
    let flags = FlagSet::parse(&node.flags, ADD_FLAGS)?;
    let chmod = flags.string("chmod");
    check_chmod(chmod.as_deref())?;
    Ok(AddInstruction {
        files: sources_and_dest(node, "ADD")?,
        chown: flags.string("chown"),
        chmod,
        link: flags.bool("link").unwrap_or(false),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack: flags.bool("unpack"),
        excludes: flags.strings("exclude"),
        origin,
    })
}

const COPY_FLAGS: &[FlagSpec] = &[
    ("chown", FlagKind::String),
    ("from", FlagKind::String),
    ("chmod", FlagKind::String),
    ("link", FlagKind::Bool),
    ("parents", FlagKind::Bool),
    ("exclude", FlagKind::Strings),
];

fn parse_copy(node: &Node, origin: Origin) -> Result<CopyInstruction, DockerfileError> {
    if node.args.len() < 2 {
        return Err(missing_destination("COPY"));
    }
    let flags = FlagSet::parse(&node.flags, COPY_FLAGS)?;
    let from = flags.string("from");
    if let Some(from) = &from
        && !is_literal(from)
    {
        // BuildKit (since v0.25) refuses these instead of failing later on an
        // unexpanded name: stages must be resolvable before any ARG is known.
        return Err(DockerfileError::new(
            ErrorKind::InvalidFlag,
            "variable expansion is not supported for --from",
        )
        .with_hint("define a new stage with FROM using ARG from global scope as a workaround"));
    }
    let chmod = flags.string("chmod");
    check_chmod(chmod.as_deref())?;
    Ok(CopyInstruction {
        files: sources_and_dest(node, "COPY")?,
        from,
        chown: flags.string("chown"),
        chmod,
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        excludes: flags.strings("exclude"),
        origin,
    })
}

fn parse_volume(node: &Node, origin: Origin) -> Result<VolumeInstruction, DockerfileError> {
    if node.args.is_empty() {
        return Err(at_least_one("VOLUME"));
    }
    no_flags(node)?;
    let volumes = node
        .args
        .iter()
        .map(|v| {
            let v = v.trim();
            if v.is_empty() {
                Err(invalid("VOLUME specified can not be an empty string"))
            } else {
                Ok(v.to_string())
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(VolumeInstruction { volumes, origin })
}

fn parse_user(node: &Node, origin: Origin) -> Result<UserInstruction, DockerfileError> {
    if node.args.len() != 1 {
        return Err(exactly_one("USER"));
    }
    no_flags(node)?;
    Ok(UserInstruction {
        user: node.args[0].clone(),
        origin,
    })
}

fn parse_workdir(node: &Node, origin: Origin) -> Result<WorkdirInstruction, DockerfileError> {
    if node.args.len() != 1 {
        return Err(exactly_one("WORKDIR"));
    }
    no_flags(node)?;
    Ok(WorkdirInstruction {
        path: node.args[0].clone(),
        origin,
    })
}

fn parse_arg(node: &Node, origin: Origin) -> Result<ArgInstruction, DockerfileError> {
    if node.args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    no_flags(node)?;
    let args = node
        .args
        .iter()
        .map(|word| {
            let (name, default) = match word.split_once('=') {
                Some(("", _)) => return Err(invalid("ARG names can not be blank")),
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (word.clone(), None),
            };
            Ok(ArgDefinition {
                comment: comment_for(node, &name),
                name,
                default,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ArgInstruction { args, origin })
}

fn parse_onbuild(node: &Node, origin: Origin) -> Result<OnbuildInstruction, DockerfileError> {
    let Some(nested) = node.nested.as_deref() else {
        return Err(at_least_one("ONBUILD"));
    };
    no_flags(node)?;
    let trigger = nested.keyword.to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err(invalid(
                "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ));
        }
        "MAINTAINER" | "FROM" => {
            return Err(invalid(format!(
                "{trigger} isn't allowed as an ONBUILD trigger"
            )));
        }
        _ => {}
    }
    let typed = parse_at(nested, origin.range)?;
    let mut expression = strip_onbuild_keyword(&node.original).to_string();
    let heredocs = if nested.heredocs.is_empty() {
        &node.heredocs
    } else {
        &nested.heredocs
    };
    for heredoc in heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    Ok(OnbuildInstruction {
        trigger: Box::new(typed),
        expression,
        origin,
    })
}

/// `ONBUILD RUN x` -> `RUN x` (keyword matched case-insensitively).
fn strip_onbuild_keyword(original: &str) -> &str {
    let trimmed = original.trim_start();
    match trimmed.get(..7) {
        Some(head) if head.eq_ignore_ascii_case("onbuild") => trimmed[7..].trim_start(),
        _ => original,
    }
}

fn parse_stopsignal(node: &Node, origin: Origin) -> Result<StopSignalInstruction, DockerfileError> {
    if node.args.len() != 1 {
        return Err(exactly_one("STOPSIGNAL"));
    }
    no_flags(node)?;
    Ok(StopSignalInstruction {
        signal: node.args[0].clone(),
        origin,
    })
}

fn parse_shell(node: &Node, origin: Origin) -> Result<ShellInstruction, DockerfileError> {
    no_flags(node)?;
    if node.args.is_empty() {
        return Err(at_least_one("SHELL"));
    }
    if !node.json {
        return Err(invalid("SHELL requires the arguments to be in JSON form")
            .with_hint("write SHELL [\"executable\", \"parameters\"]"));
    }
    Ok(ShellInstruction {
        shell: node.args.clone(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_words() {
        assert!(is_literal("builder"));
        assert!(is_literal("cost$"));
        assert!(!is_literal("$stage"));
        assert!(!is_literal("${stage}"));
        assert!(!is_literal("\"quoted\""));
        assert!(!is_literal("a\\b"));
    }

    #[test]
    fn heredoc_words() {
        assert_eq!(heredoc_word("<<EOF").as_deref(), Some("EOF"));
        assert_eq!(heredoc_word("<<-\"EOF\"").as_deref(), Some("EOF"));
        assert_eq!(heredoc_word("3<<'END'").as_deref(), Some("END"));
        assert_eq!(heredoc_word("file.txt"), None);
        assert_eq!(heredoc_word("<<"), None);
    }

    #[test]
    fn stage_names() {
        assert!(is_valid_stage_name("build-1.x_y"));
        assert!(!is_valid_stage_name("1build"));
        assert!(!is_valid_stage_name("bu!ld"));
        assert!(!is_valid_stage_name(""));
    }

    #[test]
    fn onbuild_keyword_stripped() {
        assert_eq!(strip_onbuild_keyword("onbuild   RUN x"), "RUN x");
        assert_eq!(strip_onbuild_keyword("  ONBUILD COPY . /"), "COPY . /");
    }
}
