//! A pids cgroup per step: bounds fork bombs and lets the executor kill whatever is left.
//!
//! cgroup v1 (a `pids` hierarchy) is tried first, then v2 (pure or the hybrid `unified`
//! mount) when the `pids` controller can be enabled below our own cgroup. When neither
//! works (no cgroupfs in a container, v2 with processes in our cgroup), the step runs
//! without a pids limit and a warning is logged: `RLIMIT_NPROC` is no substitute because it
//! counts every process of the uid on the host, and root (the usual build user) would share
//! the count with the host's own root processes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One step's cgroup directory, removed by [`PidsCgroup::destroy`].
#[derive(Debug)]
pub(crate) struct PidsCgroup {
    dir: PathBuf,
    v2: bool,
}

impl PidsCgroup {
    /// Creates `strata-<name>` with `pids.max = limit`, or `None` when no pids controller
    /// is usable.
    pub(crate) fn create(name: &str, limit: u32) -> Option<Self> {
        let candidates = [v1_dir(), v2_dir()];
        for (base, v2) in candidates.into_iter().flatten() {
            let dir = base.join(format!("strata-{name}"));
            match try_create(&dir, limit) {
                Ok(()) => return Some(PidsCgroup { dir, v2 }),
                Err(e) => {
                    tracing::debug!(path = %dir.display(), error = %e, "pids cgroup unusable");
                    let _ = std::fs::remove_dir(&dir);
                }
            }
        }
        tracing::warn!(
            "no usable pids cgroup: sandboxed steps run without a process limit; \
             hint: run strata as root with cgroupfs mounted"
        );
        None
    }

    /// Moves process `pid` (and its future children) into the cgroup.
    pub(crate) fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }

    /// Kills every process still in the cgroup, waits for them to go, removes it.
    pub(crate) fn destroy(self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.v2 {
                let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
            }
            let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    tracing::warn!(path = %self.dir.display(), error = %e, "leaked pids cgroup");
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// The cgroup directory (for diagnostics and tests).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

fn try_create(dir: &Path, limit: u32) -> std::io::Result<()> {
    std::fs::create_dir(dir)?;
    std::fs::write(dir.join("pids.max"), limit.to_string())
}

/// Our own path in the hierarchy named by `controller` in `/proc/self/cgroup` (`""` means
/// the v2 line).
fn own_path(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        let matches = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        matches.then(|| path.to_owned())
    })
}

/// Mount point of a cgroup filesystem from `/proc/self/mountinfo`: `cgroup2`, or a v1
/// `cgroup` mount whose super options include `option`.
fn mount_point(fstype: &str, option: Option<&str>) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let fs = right.next()?;
        let _source = right.next()?;
        let super_opts = right.next().unwrap_or("");
        let ok = fs == fstype && option.is_none_or(|o| super_opts.split(',').any(|s| s == o));
        ok.then(|| PathBuf::from(mount_point))
    })
}

fn v1_dir() -> Option<(PathBuf, bool)> {
    let path = own_path("pids")?;
    let mount = mount_point("cgroup", Some("pids"))?;
    Some((mount.join(path.trim_start_matches('/')), false))
}

fn v2_dir() -> Option<(PathBuf, bool)> {
    let path = own_path("")?;
    let mount = mount_point("cgroup2", None)?;
    let dir = mount.join(path.trim_start_matches('/'));
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    if !controllers.split_whitespace().any(|c| c == "pids") {
        return None;
    }
    // Enabling fails when our own cgroup holds processes (the "no internal processes"
    // rule) unless it is the root; that case falls through to "no limit".
    let subtree = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    if !subtree.split_whitespace().any(|c| c == "pids") {
        std::fs::write(dir.join("cgroup.subtree_control"), "+pids").ok()?;
    }
    Some((dir, true))
}
