//! What a sandboxed process is: the plain-data description an [`Executor`](super::Executor)
//! runs, and what comes back.
//!
//! Everything here is serialisable because the built-in executor hands the spec to a fresh
//! process over a pipe (see [`super::init`]); nothing in it refers to the build graph.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// The `PATH` a step gets when its environment has none, the same as Docker's and BuildKit's.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Default hostname, like BuildKit's `buildkitsandbox`: builds must not see the host's name.
pub const DEFAULT_HOSTNAME: &str = "strata";

/// Default `pids.max` for one step: generous for `make -j` and JVM thread pools, yet small
/// enough that a fork bomb cannot exhaust the host's pid space (`pid_max` is 32768 here).
pub const DEFAULT_PIDS_LIMIT: u32 = 4096;

/// One process to run in a fresh sandbox: the whole contract between the solver and an
/// executor.
///
/// Build one with [`ProcessSpec::new`] and adjust the public fields; the defaults match what
/// `docker build` gives a `RUN` step (root, `/`, `PATH` set, own hostname, host network).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProcessSpec {
    /// Program and arguments; `argv[0]` without a `/` is looked up in the spec's `PATH`.
    pub argv: Vec<String>,
    /// Environment as `KEY=value` strings, passed verbatim.
    pub env: Vec<String>,
    /// Working directory inside the root; created (mode 0755) when missing, as BuildKit does.
    pub cwd: String,
    /// Numeric identity the process runs as (see [`super::user::resolve_user`]).
    pub user: Ids,
    /// Hostname inside the new UTS namespace.
    pub hostname: String,
    /// Network mode (`RUN --network`).
    pub network: Network,
    /// Mount descriptions that build the root, applied in order at `/` (usually one overlay).
    pub root: Vec<RootMount>,
    /// Mounts on top of the root (`RUN --mount`, secrets), applied in order.
    pub mounts: Vec<Mount>,
    /// Files the sandbox bind-mounts at `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`.
    pub etc: EtcFiles,
    /// Upper bound on processes and threads in the step (`None`: no limit).
    pub pids_limit: Option<u32>,
}

impl ProcessSpec {
    /// A spec for `argv` on the given root with `docker build` defaults.
    pub fn new(argv: Vec<String>, root: Vec<RootMount>) -> Self {
        ProcessSpec {
            argv,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: "/".to_owned(),
            user: Ids::default(),
            hostname: DEFAULT_HOSTNAME.to_owned(),
            network: Network::Host,
            root,
            mounts: Vec::new(),
            etc: EtcFiles::for_hostname(DEFAULT_HOSTNAME),
            pids_limit: Some(DEFAULT_PIDS_LIMIT),
        }
    }
}

/// Numeric user and groups, resolved before the sandbox starts so that the sandbox never
/// parses image files while privileged inside the image's root.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (`setgroups`); empty clears the host's.
    pub additional_gids: Vec<u32>,
}

/// `RUN --network=` modes the built-in executor supports.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Network {
    /// Share the host's network namespace (BuildKit's default for `docker build`).
    #[default]
    Host,
    /// A new network namespace with only `lo`, up.
    None,
}

/// One mount that builds the root, in containerd's shape: the snapshotter describes, the
/// sandbox performs.
///
/// Examples: `{fstype: "overlay", source: "overlay", options: ["lowerdir=/a:/b",
/// "upperdir=/u", "workdir=/w"]}`, or `{fstype: "bind", source: "/snap/1", options:
/// ["rbind", "rw"]}` for the copy-based fallback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RootMount {
    /// Filesystem type (`overlay`, `bind`, `tmpfs`...). `bind` means a bind mount.
    pub fstype: String,
    /// Source (a host path for binds).
    pub source: String,
    /// Options as in mount(8): flag names (`ro`, `rbind`, `nosuid`...) or `key=value` data.
    pub options: Vec<String>,
}

impl RootMount {
    /// The usual root: an overlay of read-only `lower` layers (top first) and a writable
    /// `upper`, whose changes become the step's layer.
    pub fn overlay(lower: &[PathBuf], upper: PathBuf, work: PathBuf) -> Self {
        let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
        RootMount {
            fstype: "overlay".to_owned(),
            source: "overlay".to_owned(),
            options: vec![
                format!("lowerdir={}", lower.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
            ],
        }
    }

    /// A writable bind of a prepared directory (the copy-based snapshotter).
    pub fn bind(dir: PathBuf) -> Self {
        RootMount {
            fstype: "bind".to_owned(),
            source: dir.display().to_string(),
            options: vec!["rbind".to_owned(), "rw".to_owned()],
        }
    }
}

/// A mount inside the root, with its target path as the process sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the root; created (with missing parents) when absent.
    pub target: String,
    /// What is mounted there.
    pub kind: MountKind,
}

/// The kinds of mounts a `RUN` step uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MountKind {
    /// Bind a host file or directory (cache, bind and secret mounts); a file source gets a
    /// file target, a directory source a directory target.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Remount read-only after binding.
        readonly: bool,
    },
    /// A fresh tmpfs (`RUN --mount=type=tmpfs`).
    Tmpfs {
        /// Size limit in bytes (`None`: the kernel default, half of RAM).
        size: Option<u64>,
        /// Mode of the tmpfs root (`None`: 01777).
        mode: Option<u32>,
    },
}

/// Contents of the generated `/etc` files; `None` leaves the image's own file alone.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EtcFiles {
    /// `/etc/hosts`.
    pub hosts: Option<String>,
    /// `/etc/resolv.conf`.
    pub resolv_conf: Option<String>,
    /// `/etc/hostname`.
    pub hostname: Option<String>,
}

/// Nameservers Docker falls back to when the host only has loopback resolvers, which would
/// be unreachable (or someone else's) from inside a sandbox.
const FALLBACK_NAMESERVERS: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";

impl EtcFiles {
    /// `/etc/hosts`, `/etc/hostname` for `hostname` and `/etc/resolv.conf` from the host.
    pub fn for_hostname(hostname: &str) -> Self {
        EtcFiles {
            hosts: Some(hosts_file(hostname)),
            resolv_conf: Some(resolv_conf_from_host()),
            hostname: Some(format!("{hostname}\n")),
        }
    }
}

/// The `/etc/hosts` BuildKit generates: loopback names plus the sandbox's hostname.
pub fn hosts_file(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// [`hosts_file`] plus one `IP<TAB>NAME` line per `--add-host` entry, in order, as Docker
/// appends them. An entry is `name:ip`: the first `:` separates, so an IPv6 address needs no
/// brackets. The CLI validated the entries; one without a `:` is skipped.
pub fn hosts_file_with_extra(hostname: &str, extra_hosts: &[String]) -> String {
    let mut out = hosts_file(hostname);
    for (name, ip) in extra_hosts.iter().filter_map(|e| e.split_once(':')) {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// The host's `/etc/resolv.conf` without loopback nameservers (a host resolver such as
/// systemd-resolved on 127.0.0.53 is not reachable from another network namespace), or
/// Docker's public fallback when nothing is left or the file is unreadable.
pub fn resolv_conf_from_host() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    filter_resolv_conf(&host)
}

/// Drops loopback `nameserver` lines; adds the fallback servers if none remain.
pub fn filter_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            let loopback = addr
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
            if loopback {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str(FALLBACK_NAMESERVERS);
    }
    out
}

/// How the process ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The code BuildKit prints in "did not complete successfully: exit code: N": the exit
    /// code, or 128 + signal like a shell.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(sig) => 128 + sig,
        }
    }

    /// Whether the step succeeded.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

/// What a finished run reports besides output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// Exit status of the main process.
    pub status: ExitStatus,
    /// Paths (inside the root, parents before children) of the empty files and directories
    /// the sandbox created as mount targets; the caller removes them from the layer, deepest
    /// first, because the image never had them.
    pub created_stubs: Vec<String>,
}

/// Which stream a line of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
}

/// Receives a step's output as it is produced, one line at a time (newline included; a final
/// unterminated line is delivered at the end), so progress can show it live.
pub trait OutputSink {
    /// Called for each line, in the order lines arrive on their stream.
    fn line(&mut self, stream: Stream, line: &[u8]);
}

impl<F: FnMut(Stream, &[u8])> OutputSink for F {
    fn line(&mut self, stream: Stream, line: &[u8]) {
        self(stream, line)
    }
}

/// Forward lines to a channel, e.g. to a progress task on another thread; a closed
/// receiver drops lines rather than failing the step.
impl OutputSink for std::sync::mpsc::Sender<(Stream, Vec<u8>)> {
    fn line(&mut self, stream: Stream, line: &[u8]) {
        let _ = self.send((stream, line.to_vec()));
    }
}

/// Asks a running step to stop: every process in its sandbox is killed.
///
/// Clone it, hand one clone to the executor and keep the other (for Ctrl-C or a failed
/// sibling step). Cancelling before the run starts makes the run return at once.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// A handle that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation; the executor notices within its poll interval (~50 ms).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
