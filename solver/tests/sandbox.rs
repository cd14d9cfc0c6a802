//! Integration tests of the built-in sandbox with real namespaces, overlayfs and cgroups.
//!
//! Each test builds a busybox root at test time (Debian's `busybox-static`), runs steps on an
//! overlay of it and checks what the process could see and do. The init entry point is the
//! `strata-sandbox-init` binary of this crate: the test harness itself cannot be re-executed
//! as init. Without root, overlayfs or busybox the tests print why and skip.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use solver::sandbox::{
    BuiltinExecutor, CancelHandle, ErrorKind, Executor, ExitStatus, Mount, MountKind, Network,
    ProcessSpec, RootMount, RunOutcome, SandboxError, Stream, default_capability_mask,
    resolve_user,
};

const BUSYBOX: &str = "/bin/busybox";

/// A busybox image (lower), an upper and work dir, and a state dir, all in one temp dir.
struct TestContext {
    dir: tempfile::TempDir,
    executor: BuiltinExecutor,
}

/// Captured result of one run.
struct Run {
    outcome: RunOutcome,
    stdout: String,
    stderr: String,
}

impl TestContext {
    /// `None` (after saying why on stderr) when this host cannot run the sandbox.
    fn new() -> Option<Self> {
        if let Err(why) = BuiltinExecutor::check_host() {
            eprintln!("SKIPPED: {why}");
            return None;
        }
        if !Path::new(BUSYBOX).exists() {
            eprintln!("SKIPPED: {BUSYBOX} missing; hint: apt-get install busybox-static");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("strata-sandbox-test")
            .tempdir()
            .unwrap();
        let lower = dir.path().join("lower");
        for d in ["bin", "etc", "tmp", "home/bob"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, lower.join("bin/busybox")).unwrap();
        let list = std::process::Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", lower.join("bin").join(applet)).unwrap();
            }
        }
        std::fs::write(
            lower.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            lower.join("etc/group"),
            "root:x:0:\nwheel:x:10:bob\nbob:x:1000:\nstaff:x:50:\n",
        )
        .unwrap();
        for d in ["upper", "work", "state"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let executor = BuiltinExecutor::new(dir.path().join("state"))
            .with_init_program(env!("CARGO_BIN_EXE_strata-sandbox-init"));
        Some(TestContext { dir, executor })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A spec running `script` with `/bin/sh -c` on an overlay of the busybox image.
    fn spec(&self, script: &str) -> ProcessSpec {
        let root = RootMount::overlay(&[self.path("lower")], self.path("upper"), self.path("work"));
        ProcessSpec::new(
            vec!["/bin/sh".into(), "-c".into(), script.into()],
            vec![root],
        )
    }

    fn try_run(&self, spec: &ProcessSpec) -> Result<Run, SandboxError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut sink = |stream: Stream, line: &[u8]| match stream {
            Stream::Stdout => stdout.extend_from_slice(line),
            Stream::Stderr => stderr.extend_from_slice(line),
        };
        let outcome = self.executor.run(spec, &mut sink, &CancelHandle::new())?;
        Ok(Run {
            outcome,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    fn run(&self, spec: &ProcessSpec) -> Run {
        let run = self.try_run(spec).unwrap();
        eprintln!("stdout: {}\nstderr: {}", run.stdout, run.stderr);
        run
    }

    fn sh(&self, script: &str) -> Run {
        self.run(&self.spec(script))
    }
}

/// Host processes whose command line is exactly `argv`.
fn host_processes_with_cmdline(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

#[test]
fn echo_output_and_exit_status() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let run = ctx.sh("echo hello; echo oops >&2");
    assert_eq!(run.outcome.status, ExitStatus::Exited(0));
    assert_eq!(run.stdout, "hello\n");
    assert_eq!(run.stderr, "oops\n");
    // The busybox image has no /proc, /sys, /dev or /etc/hosts: all are stubs to drop.
    for stub in [
        "/proc",
        "/sys",
        "/dev",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/hostname",
    ] {
        assert!(
            run.outcome.created_stubs.iter().any(|s| s == stub),
            "{stub} not in {:?}",
            run.outcome.created_stubs
        );
    }
}

#[test]
fn failing_command_returns_its_code() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    assert_eq!(ctx.sh("exit 3").outcome.status, ExitStatus::Exited(3));
    assert_eq!(
        ctx.sh("kill -TERM $$").outcome.status,
        ExitStatus::Signaled(15)
    );
    assert_eq!(ctx.sh("kill -TERM $$").outcome.status.code(), 143);
    let mut spec = ctx.spec("");
    spec.argv = vec!["no-such-command".into()];
    let err = ctx.try_run(&spec).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .contains("executable file not found in $PATH"),
        "{err}"
    );
}

#[test]
fn host_filesystem_is_invisible_and_writes_land_in_upper() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let sentinel = ctx.path("host-sentinel");
    std::fs::write(&sentinel, "host").unwrap();
    let script = format!(
        "test -e {s} && echo visible; test -e /work && echo visible; echo data > /written; \
         mkdir -p /var/new; ls /",
        s = sentinel.display()
    );
    let run = ctx.sh(&script);
    assert!(run.outcome.status.success());
    assert!(!run.stdout.contains("visible"), "{}", run.stdout);
    assert_eq!(
        std::fs::read_to_string(ctx.path("upper/written")).unwrap(),
        "data\n"
    );
    assert!(ctx.path("upper/var/new").is_dir());
    assert!(!ctx.path("lower/written").exists());
}

#[test]
fn host_processes_are_invisible() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let run = ctx.sh("echo $$; ls /proc | grep -c '^[0-9]'; ps -o pid,args");
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("2"), "main process is pid 2, after init");
    let count: u32 = lines.next().unwrap().parse().unwrap();
    assert!(count <= 5, "saw {count} processes");
    let ps = run.stdout;
    assert!(
        ps.contains("strata-sandbox-init"),
        "pid 1 is our init: {ps}"
    );
    assert!(!ps.contains("cargo"), "{ps}");
}

#[test]
fn capabilities_and_seccomp_match_docker_defaults() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let mask = format!("{:016x}", default_capability_mask());
    assert_eq!(mask, "00000000a80425fb");
    let script =
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status";
    let run = ctx.sh(script);
    for line in [
        format!("CapBnd:\t{mask}"),
        format!("CapEff:\t{mask}"),
        format!("CapPrm:\t{mask}"),
        "CapInh:\t0000000000000000".to_owned(),
        "Seccomp:\t2".to_owned(),
        "NoNewPrivs:\t0".to_owned(),
    ] {
        assert!(
            run.stdout.contains(&line),
            "missing {line:?} in {}",
            run.stdout
        );
    }
    let mut spec = ctx.spec(script);
    spec.user = resolve_user(&ctx.path("lower"), "bob").unwrap();
    let run = ctx.run(&spec);
    assert!(
        run.stdout.contains(&format!("CapBnd:\t{mask}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        run.stdout
    );
}

#[test]
fn masked_and_readonly_kernel_paths() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let masked = solver::sandbox::MASKED_PATHS.join(" ");
    let run = ctx.sh(&format!(
        "for p in {masked}; do \
           if [ -d $p ]; then echo \"$p $(ls -A $p | wc -l)\"; \
           elif [ -e $p ]; then echo \"$p $(cat $p | wc -c)\"; fi; done; \
         echo 1 > /proc/sys/kernel/ns_last_pid && echo writable /proc/sys; \
         echo 1 > /proc/irq/x && echo writable /proc/irq; \
         touch /sys/x && echo writable /sys; \
         ls /dev | tr '\\n' ' '"
    ));
    let mut checked = 0;
    let mut dev = "";
    for line in run.stdout.lines() {
        if let Some((path, size)) = line.split_once(' ')
            && path.starts_with('/')
        {
            assert_eq!(size, "0", "{path} is not masked");
            assert!(
                std::path::Path::new(path).exists(),
                "{path} was reported but does not exist on the host"
            );
            checked += 1;
        } else if line.starts_with("writable") {
            panic!("{line}");
        } else {
            dev = line;
        }
    }
    // This kernel has /proc/keys, /proc/timer_list, /proc/acpi or /sys/firmware.
    assert!(checked > 0, "no masked path exists: {}", run.stdout);
    assert!(
        run.stderr.contains("Read-only file system"),
        "{}",
        run.stderr
    );
    for node in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "fd", "ptmx",
    ] {
        assert!(
            dev.split(' ').any(|n| n == node),
            "/dev/{node} missing: {dev}"
        );
    }
    let run = ctx.sh("head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok");
    assert_eq!(run.stdout, "4\nnull-ok\n");
}

/// Accepts one connection and returns what it sent.
fn listen_once() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut got = String::new();
            let _ = conn.read_to_string(&mut got);
            let _ = tx.send(got);
        }
    });
    (port, rx)
}

#[test]
fn network_none_has_only_loopback_and_cannot_reach_the_host() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let (port, rx) = listen_once();
    let mut spec = ctx.spec(&format!(
        "ls /sys/class/net; echo ping | nc -w 2 127.0.0.1 {port} && echo connected; \
         ip addr show lo | grep -q UP && echo lo-up"
    ));
    spec.network = Network::None;
    let run = ctx.run(&spec);
    assert!(run.stdout.starts_with("lo\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("connected"), "{}", run.stdout);
    assert!(run.stdout.contains("lo-up"), "{}", run.stdout);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn host_network_reaches_a_host_listener() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let (port, rx) = listen_once();
    let run = ctx.sh(&format!("echo ping | nc -w 2 127.0.0.1 {port}"));
    assert!(run.outcome.status.success());
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "ping\n");
}

#[test]
fn background_processes_die_with_the_step() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let run = ctx.sh("sleep 987654 & sleep 987654 & echo started");
    assert_eq!(run.stdout, "started\n");
    assert!(host_processes_with_cmdline(&["sleep", "987654"]).is_empty());
}

#[test]
fn fork_bomb_is_bounded_and_killed() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let mut spec = ctx
        .spec("i=0; while [ $i -lt 200 ]; do sleep 876543 & i=$((i+1)); done; echo finished-loop");
    spec.pids_limit = Some(32);
    let started = Instant::now();
    let run = ctx.run(&spec);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        !run.stdout.contains("finished-loop"),
        "pids limit not enforced"
    );
    assert!(run.stderr.contains("can't fork"), "{}", run.stderr);
    assert!(!run.outcome.status.success());
    assert!(host_processes_with_cmdline(&["sleep", "876543"]).is_empty());

    // The classic bomb: the shell returns at once, the bomb grows against the limit and is
    // killed when the step ends.
    let mut spec = ctx.spec("f() { f | f & }; f; sleep 1; ls /proc | grep -c '^[0-9]'");
    spec.pids_limit = Some(64);
    let run = ctx.run(&spec);
    let count: u32 = run.stdout.trim().parse().unwrap_or(0);
    assert!(count <= 64, "{count} processes");
    let leftovers = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/root"))
                .is_ok_and(|root| root.starts_with(ctx.dir.path()))
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn user_resolution_by_name_uid_and_pair() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let lower = ctx.path("lower");
    let cases = [
        ("bob", "uid=1000(bob) gid=1000(bob) groups=10(wheel)"),
        ("1000", "uid=1000(bob) gid=1000(bob) groups=10(wheel)"),
        ("1000:50", "uid=1000(bob) gid=50(staff)"),
        ("bob:staff", "uid=1000(bob) gid=50(staff)"),
        ("4242", "uid=4242 gid=0(root)"),
    ];
    for (user, want) in cases {
        let mut spec = ctx.spec("id; touch /root-owned 2>/dev/null && echo wrote-root");
        spec.user = resolve_user(&lower, user).unwrap();
        let run = ctx.run(&spec);
        assert_eq!(run.stdout, format!("{want}\n"), "USER {user}");
    }
    let err = resolve_user(&lower, "foo").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user foo: no matching entries in passwd file"
    );
}

#[test]
fn seccomp_blocks_namespace_and_mount_syscalls_for_root() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    // unshare(0) needs no capability, so only seccomp can refuse it.
    let run = ctx.sh("unshare true && echo unshare-ok; mkdir -p /mnt; \
         mount -t tmpfs none /mnt && echo mount-ok; chroot / true && echo chroot-ok");
    assert!(!run.stdout.contains("unshare-ok"), "{}", run.stdout);
    assert!(!run.stdout.contains("mount-ok"), "{}", run.stdout);
    assert!(
        run.stdout.contains("chroot-ok"),
        "CAP_SYS_CHROOT is a default: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Operation not permitted"),
        "{}",
        run.stderr
    );
}

#[test]
fn cancellation_kills_a_long_step_promptly() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let spec = ctx.spec("sleep 765432 & sleep 765432");
    let cancel = CancelHandle::new();
    let canceller = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        canceller.cancel();
    });
    let started = Instant::now();
    let mut sink = |_: Stream, _: &[u8]| {};
    let err = ctx.executor.run(&spec, &mut sink, &cancel).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(host_processes_with_cmdline(&["sleep", "765432"]).is_empty());
}

#[test]
fn output_is_streamed_as_produced() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let spec = ctx.spec("echo first; sleep 2; echo second");
    let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
    let started = Instant::now();
    let watcher = std::thread::spawn(move || {
        let mut arrivals = Vec::new();
        while let Ok((_, line)) = rx.recv() {
            arrivals.push((String::from_utf8(line).unwrap(), started.elapsed()));
        }
        arrivals
    });
    let mut sink = tx;
    ctx.executor
        .run(&spec, &mut sink, &CancelHandle::new())
        .unwrap();
    drop(sink);
    let arrivals = watcher.join().unwrap();
    assert_eq!(arrivals.len(), 2);
    assert_eq!(arrivals[0].0, "first\n");
    assert!(
        arrivals[1].1 - arrivals[0].1 >= Duration::from_millis(1500),
        "{arrivals:?}"
    );
}

#[test]
fn extra_mounts_generated_files_and_stubs() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    let data = ctx.path("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("in.txt"), "from host\n").unwrap();
    let secret = ctx.path("secret");
    std::fs::File::create(&secret)
        .unwrap()
        .write_all(b"s3cret")
        .unwrap();
    let mut spec = ctx.spec(
        "cat /src/in.txt; touch /src/new 2>/dev/null && echo ro-broken; \
         echo scratch > /scratch/f && cat /scratch/f; cat /run/secrets/token; echo; \
         hostname; cat /etc/hostname; grep -c builder /etc/hosts; pwd",
    );
    spec.mounts = vec![
        Mount {
            target: "/src".into(),
            kind: MountKind::Bind {
                source: data,
                readonly: true,
            },
        },
        Mount {
            target: "/scratch".into(),
            kind: MountKind::Tmpfs {
                size: Some(1 << 20),
                mode: None,
            },
        },
        Mount {
            target: "/run/secrets/token".into(),
            kind: MountKind::Bind {
                source: secret,
                readonly: true,
            },
        },
    ];
    spec.hostname = "builder".into();
    spec.etc = solver::sandbox::EtcFiles::for_hostname("builder");
    spec.cwd = "/work/dir".into();
    let run = ctx.run(&spec);
    assert_eq!(
        run.stdout,
        "from host\nscratch\ns3cret\nbuilder\nbuilder\n1\n/work/dir\n"
    );
    let stubs = &run.outcome.created_stubs;
    for stub in [
        "/src",
        "/scratch",
        "/run",
        "/run/secrets",
        "/run/secrets/token",
    ] {
        assert!(stubs.iter().any(|s| s == stub), "{stub} not in {stubs:?}");
    }
    // Stubs exist in the upper dir (the caller drops them); the tmpfs contents do not.
    assert!(ctx.path("upper/run/secrets/token").exists());
    assert_eq!(
        std::fs::metadata(ctx.path("upper/run/secrets/token"))
            .unwrap()
            .len(),
        0
    );
    assert!(!ctx.path("upper/scratch/f").exists());
    assert!(
        ctx.path("upper/work/dir").is_dir(),
        "cwd is created and kept"
    );
}

#[test]
fn hostile_symlinks_cannot_make_the_sandbox_write_on_the_host() {
    let Some(ctx) = TestContext::new() else {
        return;
    };
    // The image's /etc and /proc point at a host directory (absolute, and via `..`).
    let hostside = ctx.path("hostside");
    std::fs::create_dir(&hostside).unwrap();
    let lower = ctx.path("lower");
    std::fs::remove_dir_all(lower.join("etc")).unwrap();
    std::os::unix::fs::symlink(&hostside, lower.join("etc")).unwrap();
    let escape = format!("../../../../../../../..{}", hostside.display());
    std::os::unix::fs::symlink(&escape, lower.join("proc")).unwrap();
    // Either the run fails cleanly or it resolves the links inside the root; the host
    // directory stays untouched in both cases.
    let result = ctx.try_run(&ctx.spec("cat /etc/hosts; ls /proc | head -1"));
    if let Err(e) = &result {
        assert_eq!(e.kind(), ErrorKind::Other, "{e}");
    }
    assert_eq!(std::fs::read_dir(&hostside).unwrap().count(), 0);
}
