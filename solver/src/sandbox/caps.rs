//! Linux capabilities for the step's process: Docker's default set.
//!
//! The bounding set is cut to the 14 capabilities Docker grants by default, so nothing the
//! step executes (not even a setuid-root binary) can regain more. Root gets the same set as
//! permitted and effective; a non-root user gets none effective (and, after `execve` of a
//! plain binary, none permitted), as with `docker run --user`. The inheritable set stays
//! empty, as in Docker and containerd since CVE-2022-24769; ambient is cleared.

use super::error::SetupError;

/// Docker's default capabilities: name (as in `capsh`/OCI without the `CAP_` prefix) and
/// number. Changing this changes what every build can do.
pub const DEFAULT_CAPABILITIES: &[(&str, u32)] = &[
    ("CHOWN", 0),
    ("DAC_OVERRIDE", 1),
    ("FOWNER", 3),
    ("FSETID", 4),
    ("KILL", 5),
    ("SETGID", 6),
    ("SETUID", 7),
    ("SETPCAP", 8),
    ("NET_BIND_SERVICE", 10),
    ("NET_RAW", 13),
    ("SYS_CHROOT", 18),
    ("MKNOD", 27),
    ("AUDIT_WRITE", 29),
    ("SETFCAP", 31),
];

/// [`DEFAULT_CAPABILITIES`] as the bit mask `/proc/PID/status` shows (`00000000a80425fb`).
pub fn default_capability_mask() -> u64 {
    DEFAULT_CAPABILITIES
        .iter()
        .fold(0u64, |mask, (_, bit)| mask | (1u64 << bit))
}

/// Drops every capability outside `keep` from the bounding set (needs `CAP_SETPCAP`).
pub(crate) fn restrict_bounding_set(keep: u64) -> Result<(), SetupError> {
    for cap in 0..64u32 {
        // SAFETY: PR_CAPBSET_READ takes an integer argument and touches no memory.
        let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if present < 0 {
            // Past the kernel's last capability.
            break;
        }
        if present == 1 && keep & (1u64 << cap) == 0 {
            // SAFETY: PR_CAPBSET_DROP takes an integer argument and touches no memory.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                return Err(SetupError::op("prctl(PR_CAPBSET_DROP)", nix::Error::last())
                    .with_detail(format!("capability {cap}")));
            }
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // EINVAL: a kernel without ambient capabilities (< 4.3), nothing to clear.
    if rc != 0 && nix::Error::last() != nix::Error::EINVAL {
        return Err(SetupError::op(
            "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            nix::Error::last(),
        ));
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets of the calling thread.
pub(crate) fn set_capabilities(
    effective: u64,
    permitted: u64,
    inheritable: u64,
) -> Result<(), SetupError> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |v: u64| [v as u32, (v >> 32) as u32];
    let (e, p, i) = (split(effective), split(permitted), split(inheritable));
    let data = [
        Data {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        Data {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: capset(2) version 3 reads one header and two data structs; both are live,
    // correctly laid out (#[repr(C)]) locals for the duration of the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if rc != 0 {
        return Err(SetupError::op("capset", nix::Error::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_mask_matches_docker() {
        assert_eq!(super::default_capability_mask(), 0xa80425fb);
    }
}
