//! The four kinds of build step: Source, Exec, File and Merge.
//!
//! Ops are plain data. Their `Canonical` encodings hold only what changes the
//! result of the step: a progress name or a Dockerfile line never enters a
//! digest, and neither do proxy variables (see [`ExecOp::proxy_env`]).

use serde::Serialize;

use super::encode::{Canonical, Encoder};

/// Index of another vertex's output that an op reads (position in [`super::Vertex::inputs`]).
pub type InputIndex = usize;

/// A build step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Op {
    /// Where a filesystem comes from: an image, scratch, the context, a URL, git.
    Source(SourceOp),
    /// A process run in the sandbox over a root filesystem.
    Exec(ExecOp),
    /// File operations (COPY, ADD, WORKDIR's mkdir) applied to an input.
    File(FileOp),
    /// Layers stacked on each other without copying (`COPY --link`).
    Merge(MergeOp),
}

/// Where a filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum SourceOp {
    /// A registry image; `reference` is normalised (`docker.io/library/busybox:latest`)
    /// and pinned with `@sha256:` once resolved.
    Image {
        /// The normalised reference.
        reference: String,
        /// The platform wanted (`linux/amd64`).
        platform: String,
    },
    /// The empty filesystem.
    Scratch,
    /// A local build context. Only the paths a step reads are ever hashed.
    Context {
        /// Which context (`context` for the main one, or a named context).
        name: String,
        /// Paths the step needs (empty: everything).
        include: Vec<String>,
        /// `.dockerignore` patterns, applied before anything is hashed.
        exclude: Vec<String>,
    },
    /// A file downloaded over HTTP(S) by ADD.
    Http {
        /// The URL.
        url: String,
        /// `--checksum` (`sha256:...`), when given.
        checksum: Option<String>,
        /// The file name to store under.
        filename: String,
    },
    /// A git repository fetched by ADD.
    Git {
        /// The remote URL.
        remote: String,
        /// Branch, tag or commit (`#ref`).
        reference: Option<String>,
        /// Sub-directory (`#ref:dir`).
        subdir: Option<String>,
        /// `--keep-git-dir`.
        keep_git_dir: bool,
    },
}

/// The network a RUN step sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The host's network (BuildKit's default for `docker build --network=host`).
    #[default]
    Default,
    /// Only loopback.
    None,
    /// The host's network, explicitly.
    Host,
}

/// Which sharing rule a cache mount follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CacheSharing {
    /// Concurrent builds use the same directory.
    #[default]
    Shared,
    /// Each concurrent user gets its own directory.
    Private,
    /// Concurrent users wait for each other.
    Locked,
}

/// Ownership and permission of something a mount creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct MountPerms {
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
}

/// What a mount of an exec op is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountKind {
    /// A directory of an input (the root, or `--mount=type=bind`).
    Bind {
        /// Which input provides it.
        input: InputIndex,
        /// The path inside that input.
        selector: String,
        /// Writes are visible to the step (never kept, except for the root).
        readonly: bool,
    },
    /// A persistent cache directory (`--mount=type=cache`): never in the key or the image.
    Cache {
        /// Cache id (defaults to the target).
        id: String,
        /// Sharing mode.
        sharing: CacheSharing,
        /// Seeded from this input, when `from=` was given.
        input: Option<InputIndex>,
        /// Path inside the seed input.
        selector: String,
        /// Read-only.
        readonly: bool,
        /// Ownership of the created directory.
        perms: MountPerms,
    },
    /// An in-memory filesystem.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
    /// A secret file or variable; its value never enters a key, a layer or a log.
    Secret {
        /// Secret id (`--secret id=...`).
        id: String,
        /// Exposed as this environment variable instead of (or as well as) a file.
        env: Option<String>,
        /// Fail when the secret was not provided.
        required: bool,
        /// Ownership of the file.
        perms: MountPerms,
    },
    /// A forwarded SSH agent socket.
    Ssh {
        /// Agent id (`default`).
        id: String,
        /// Fail when no agent was provided.
        required: bool,
        /// Ownership of the socket.
        perms: MountPerms,
    },
}

/// One mount of an exec op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecMount {
    /// Where it appears inside the sandbox (`/` for the root).
    pub target: String,
    /// What it is.
    pub kind: MountKind,
}

/// A process run in the sandbox (RUN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOp {
    /// The argv, shell already prepended for shell form.
    pub args: Vec<String>,
    /// `KEY=VALUE` pairs in order, ENV and ARG values included.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// The user (`name`, `uid`, `uid:gid`) resolved at run time.
    pub user: String,
    /// Network mode.
    pub network: NetworkMode,
    /// `--security=insecure`.
    pub insecure: bool,
    /// Mounts; the first is the root (a Bind of input 0 at `/`).
    pub mounts: Vec<ExecMount>,
    /// Proxy variables (`HTTP_PROXY` and friends): in the environment but never in
    /// the digest or the history, as in BuildKit.
    pub proxy_env: Vec<String>,
    /// Host names added to `/etc/hosts` (`--add-host`).
    pub extra_hosts: Vec<String>,
}

/// `--chown` as written, resolved against the destination image at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chown {
    /// User name or uid.
    pub user: String,
    /// Group name or gid, when given.
    pub group: Option<String>,
}

/// Options of a copy action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CopyOptions {
    /// `--chown`.
    pub chown: Option<Chown>,
    /// `--chmod`, octal or symbolic, as written.
    pub chmod: Option<String>,
    /// Copy a directory's contents rather than the directory itself.
    pub dir_contents_only: bool,
    /// Sources may contain wildcards.
    pub allow_wildcard: bool,
    /// A wildcard matching nothing is not an error.
    pub allow_empty_wildcard: bool,
    /// Unpack local archives (ADD).
    pub unpack_archive: bool,
    /// Create missing parents of the destination.
    pub create_dest_path: bool,
    /// Follow a symlink given as a source.
    pub follow_symlinks: bool,
    /// `--parents`: keep the source's parent directories.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// Fixed mtime for created files (`SOURCE_DATE_EPOCH`, ADD's Last-Modified).
    pub timestamp: Option<i64>,
}

/// One file action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum FileAction {
    /// Copy paths of `input` to `dest` (COPY, ADD).
    Copy {
        /// Which input the sources come from.
        input: InputIndex,
        /// Source paths (may hold wildcards).
        src: Vec<String>,
        /// Destination (absolute; a trailing `/` means "into this directory").
        dest: String,
        /// Options.
        options: CopyOptions,
    },
    /// Create a directory (WORKDIR).
    Mkdir {
        /// Absolute path.
        path: String,
        /// Permission bits.
        mode: u32,
        /// Create parents.
        parents: bool,
        /// Owner.
        chown: Option<Chown>,
    },
    /// Create a file with given contents (heredoc sources).
    Mkfile {
        /// Absolute path.
        path: String,
        /// Permission bits.
        mode: u32,
        /// Contents.
        data: Vec<u8>,
        /// Owner.
        chown: Option<Chown>,
    },
    /// Remove a path.
    Rm {
        /// Absolute path.
        path: String,
        /// A missing path is fine.
        allow_not_found: bool,
    },
}

/// File operations applied in order to input 0 (the destination).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOp {
    /// The actions.
    pub actions: Vec<FileAction>,
}

/// Its inputs' filesystems stacked, the first at the bottom (`COPY --link`:
/// the stage so far, then a copy made on scratch). Stacking needs no options
/// and copies nothing: the result is the inputs' layer chains one after the
/// other, so the later input's layers stay the image layers they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MergeOp {}

impl Canonical for Op {
    fn encode(&self, e: &mut Encoder) {
        e.tag("op/v1");
        match self {
            Op::Source(s) => e.nested("source", s),
            Op::Exec(x) => e.nested("exec", x),
            Op::File(f) => e.nested("file", f),
            Op::Merge(_) => e.tag("merge"),
        };
    }
}

impl Canonical for SourceOp {
    fn encode(&self, e: &mut Encoder) {
        match self {
            SourceOp::Image {
                reference,
                platform,
            } => e
                .tag("image")
                .str("ref", reference)
                .str("platform", platform),
            SourceOp::Scratch => e.tag("scratch"),
            SourceOp::Context {
                name,
                include,
                exclude,
            } => e
                .tag("context")
                .str("name", name)
                .strs("include", include)
                .strs("exclude", exclude),
            SourceOp::Http {
                url,
                checksum,
                filename,
            } => e
                .tag("http")
                .str("url", url)
                .opt_str("checksum", checksum.as_deref())
                .str("filename", filename),
            SourceOp::Git {
                remote,
                reference,
                subdir,
                keep_git_dir,
            } => e
                .tag("git")
                .str("remote", remote)
                .opt_str("ref", reference.as_deref())
                .opt_str("subdir", subdir.as_deref())
                .bool("keep_git_dir", *keep_git_dir),
        };
    }
}

impl Canonical for MountPerms {
    fn encode(&self, e: &mut Encoder) {
        for (tag, v) in [("mode", self.mode), ("uid", self.uid), ("gid", self.gid)] {
            match v {
                Some(v) => e.u64(tag, u64::from(v)),
                None => e.tag(tag).tag("none"),
            };
        }
    }
}

impl Canonical for ExecMount {
    fn encode(&self, e: &mut Encoder) {
        e.str("target", &self.target);
        match &self.kind {
            MountKind::Bind {
                input,
                selector,
                readonly,
            } => e
                .tag("bind")
                .u64("input", *input as u64)
                .str("selector", selector)
                .bool("readonly", *readonly),
            MountKind::Cache {
                id,
                sharing,
                input,
                selector,
                readonly,
                perms,
            } => e
                .tag("cache")
                .str("id", id)
                .u64("sharing", *sharing as u64)
                .opt_str("input", input.map(|i| i.to_string()).as_deref())
                .str("selector", selector)
                .bool("readonly", *readonly)
                .nested("perms", perms),
            MountKind::Tmpfs { size } => e
                .tag("tmpfs")
                .opt_str("size", size.map(|s| s.to_string()).as_deref()),
            MountKind::Secret {
                id,
                env,
                required,
                perms,
            } => e
                .tag("secret")
                .str("id", id)
                .opt_str("env", env.as_deref())
                .bool("required", *required)
                .nested("perms", perms),
            MountKind::Ssh {
                id,
                required,
                perms,
            } => e
                .tag("ssh")
                .str("id", id)
                .bool("required", *required)
                .nested("perms", perms),
        };
    }
}

impl Canonical for ExecOp {
    fn encode(&self, e: &mut Encoder) {
        e.strs("args", &self.args)
            .strs("env", &self.env)
            .str("cwd", &self.cwd)
            .str("user", &self.user)
            .u64("network", self.network as u64)
            .bool("insecure", self.insecure)
            .list("mounts", &self.mounts)
            .strs("extra_hosts", &self.extra_hosts);
    }
}

impl Canonical for Chown {
    fn encode(&self, e: &mut Encoder) {
        e.str("user", &self.user)
            .opt_str("group", self.group.as_deref());
    }
}

fn encode_chown(e: &mut Encoder, chown: &Option<Chown>) {
    match chown {
        Some(c) => e.nested("chown", c),
        None => e.tag("chown").tag("none"),
    };
}

impl Canonical for CopyOptions {
    fn encode(&self, e: &mut Encoder) {
        encode_chown(e, &self.chown);
        e.opt_str("chmod", self.chmod.as_deref())
            .bool("dir_contents_only", self.dir_contents_only)
            .bool("allow_wildcard", self.allow_wildcard)
            .bool("allow_empty_wildcard", self.allow_empty_wildcard)
            .bool("unpack_archive", self.unpack_archive)
            .bool("create_dest_path", self.create_dest_path)
            .bool("follow_symlinks", self.follow_symlinks)
            .bool("parents", self.parents)
            .strs("exclude", &self.exclude)
            .opt_str(
                "timestamp",
                self.timestamp.map(|t| t.to_string()).as_deref(),
            );
    }
}

impl Canonical for FileAction {
    fn encode(&self, e: &mut Encoder) {
        match self {
            FileAction::Copy {
                input,
                src,
                dest,
                options,
            } => {
                e.tag("copy")
                    .u64("input", *input as u64)
                    .strs("src", src)
                    .str("dest", dest)
                    .nested("options", options);
            }
            FileAction::Mkdir {
                path,
                mode,
                parents,
                chown,
            } => {
                e.tag("mkdir")
                    .str("path", path)
                    .u64("mode", u64::from(*mode))
                    .bool("parents", *parents);
                encode_chown(e, chown);
            }
            FileAction::Mkfile {
                path,
                mode,
                data,
                chown,
            } => {
                e.tag("mkfile")
                    .str("path", path)
                    .u64("mode", u64::from(*mode))
                    .bytes("data", data);
                encode_chown(e, chown);
            }
            FileAction::Rm {
                path,
                allow_not_found,
            } => {
                e.tag("rm")
                    .str("path", path)
                    .bool("allow_not_found", *allow_not_found);
            }
        }
    }
}

impl Canonical for FileOp {
    fn encode(&self, e: &mut Encoder) {
        e.list("actions", &self.actions);
    }
}
