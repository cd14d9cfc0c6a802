//! Namespace creation and the per-namespace setup that needs no filesystem: hostname and
//! the loopback interface.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sched::{CloneFlags, unshare};
use nix::unistd::sethostname;

use super::error::SetupError;
use super::spec::Network;

/// Leaves the host's mount, pid, UTS and IPC namespaces (and network for
/// [`Network::None`]). The calling process stays in the host pid namespace; its next child
/// becomes pid 1 of the new one.
pub(crate) fn unshare_namespaces(network: Network) -> Result<(), SetupError> {
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if network == Network::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| SetupError::op("unshare", e).with_detail(format!("{flags:?}")))
}

/// Sets the hostname of the new UTS namespace.
pub(crate) fn set_hostname(name: &str) -> Result<(), SetupError> {
    sethostname(name).map_err(|e| SetupError::op("sethostname", e).with_detail(name.to_owned()))
}

/// Brings `lo` up in a fresh network namespace (it starts down), so `localhost` works
/// while nothing else is reachable.
pub(crate) fn bring_up_loopback() -> Result<(), SetupError> {
    // SAFETY: socket(2) with constant arguments; the result is checked below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(SetupError::op("socket", nix::Error::last()));
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads ifr_name and writes ifr_flags of the live `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(SetupError::sys(
            "ioctl(SIOCGIFFLAGS)",
            "lo",
            nix::Error::last(),
        ));
    }
    // SAFETY: the kernel filled the flags member of the union above.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads ifr_name and ifr_flags of the live `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(SetupError::sys(
            "ioctl(SIOCSIFFLAGS)",
            "lo",
            nix::Error::last(),
        ));
    }
    Ok(())
}
