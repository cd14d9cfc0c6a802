//! Generator of hostile layer tars, included by `cache/tests/hostile_layers.rs`.
//!
//! The tars are built at test time (no committed blobs) because several of them name
//! the test's own "outside" directory by absolute path. Headers are written raw, byte
//! by byte, since well-behaved tar builders refuse to produce `..` names.
//! Each case says whether a safe extractor must reject it or may unpack it, and what
//! must hold inside the target afterwards.

use std::path::Path;

/// What applying a hostile layer must result in.
pub enum Expect {
    /// The apply fails and the error message contains this text (an entry name).
    Rejected(&'static str),
    /// The apply succeeds; the function checks the target.
    Safe(fn(&Path)),
}

/// One crafted layer.
pub struct Hostile {
    pub name: &'static str,
    pub tar: Vec<u8>,
    pub expect: Expect,
    /// Apply with `DevicePolicy::Reject` instead of the default.
    pub reject_devices: bool,
}

/// A tar assembled from raw headers.
#[derive(Default)]
pub struct RawTar {
    buf: Vec<u8>,
}

pub const FILE: u8 = b'0';
pub const HARDLINK: u8 = b'1';
pub const SYMLINK: u8 = b'2';
pub const BLOCK: u8 = b'4';
pub const DIR: u8 = b'5';

impl RawTar {
    /// Appends one entry with a raw name and link name (no validation at all).
    pub fn entry(&mut self, kind: u8, name: &[u8], link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = [0u8; 512];
        h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        octal(&mut h[100..108], if kind == DIR { 0o755 } else { 0o644 });
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 1_600_000_000);
        h[156] = kind;
        h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        if kind == BLOCK {
            octal(&mut h[329..337], 8);
            octal(&mut h[337..345], 0);
        }
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
        octal(&mut h[148..155], sum);
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// Appends a PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        self.entry(b'x', b"PaxHeaders.0/x", b"", &body)
    }

    /// Appends a GNU long-name header applying to the next entry.
    pub fn gnu_long_name(&mut self, name: &[u8]) -> &mut Self {
        let mut data = name.to_vec();
        data.push(0);
        self.entry(b'L', b"././@LongLink", b"", &data)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

fn rejected(name: &'static str, tar: Vec<u8>, needle: &'static str) -> Hostile {
    Hostile {
        name,
        tar,
        expect: Expect::Rejected(needle),
        reject_devices: false,
    }
}

fn safe(name: &'static str, tar: Vec<u8>, check: fn(&Path)) -> Hostile {
    Hostile {
        name,
        tar,
        expect: Expect::Safe(check),
        reject_devices: false,
    }
}

/// All hostile layers. `outside` is a directory next to the target holding `sentinel`.
pub fn hostile_layers(outside: &Path) -> Vec<Hostile> {
    let out = outside
        .to_str()
        .expect("utf-8 temp path")
        .as_bytes()
        .to_vec();
    let out_sentinel = [&out[..], b"/sentinel"].concat();
    let abs_pwned = [&out[..], b"/pwned"].concat();
    let mut v = Vec::new();

    v.push(rejected(
        "dotdot-file",
        RawTar::default()
            .entry(FILE, b"../pwned", b"", b"x")
            .finish(),
        "../pwned",
    ));
    v.push(rejected(
        "dotdot-nested",
        RawTar::default()
            .entry(DIR, b"a/", b"", b"")
            .entry(FILE, b"a/../../pwned", b"", b"x")
            .finish(),
        "a/../../pwned",
    ));
    v.push(safe(
        "absolute-path",
        RawTar::default()
            .entry(FILE, &abs_pwned, b"", b"x")
            .finish(),
        |t| {
            // Neutralised: the absolute name lands inside the target.
            let inside = t.join(
                std::str::from_utf8(
                    &t.parent()
                        .unwrap()
                        .join("outside/pwned")
                        .as_os_str()
                        .as_encoded_bytes()[1..],
                )
                .unwrap(),
            );
            assert!(inside.is_file(), "expected {inside:?}");
        },
    ));
    v.push(rejected(
        "symlink-then-write-through",
        RawTar::default()
            .entry(SYMLINK, b"a", &out, b"")
            .entry(FILE, b"a/pwned", b"", b"x")
            .finish(),
        "a/pwned",
    ));
    v.push(rejected(
        "relative-symlink-escape",
        RawTar::default()
            .entry(SYMLINK, b"up", b"../outside", b"")
            .entry(FILE, b"up/pwned", b"", b"x")
            .finish(),
        "up/pwned",
    ));
    v.push(rejected(
        "symlink-chain",
        RawTar::default()
            .entry(SYMLINK, b"b", &out, b"")
            .entry(SYMLINK, b"a", b"b", b"")
            .entry(FILE, b"a/pwned", b"", b"x")
            .finish(),
        "a/pwned",
    ));
    v.push(safe(
        "file-replaces-symlink-to-outside-file",
        RawTar::default()
            .entry(SYMLINK, b"link", &out_sentinel, b"")
            .entry(FILE, b"link", b"", b"owned")
            .finish(),
        |t| {
            let m = std::fs::symlink_metadata(t.join("link")).unwrap();
            assert!(m.is_file());
            assert_eq!(std::fs::read(t.join("link")).unwrap(), b"owned");
        },
    ));
    v.push(rejected(
        "hardlink-absolute-outside",
        RawTar::default()
            .entry(HARDLINK, b"h", &out_sentinel, b"")
            .finish(),
        "`h`",
    ));
    v.push(rejected(
        "hardlink-dotdot",
        RawTar::default()
            .entry(HARDLINK, b"h", b"../outside/sentinel", b"")
            .finish(),
        "`h`",
    ));
    v.push(rejected(
        "hardlink-through-symlink",
        RawTar::default()
            .entry(SYMLINK, b"a", &out, b"")
            .entry(HARDLINK, b"h", b"a/sentinel", b"")
            .finish(),
        "`h`",
    ));
    v.push(safe(
        "hardlink-to-symlink-then-overwrite",
        RawTar::default()
            .entry(SYMLINK, b"s", &out_sentinel, b"")
            .entry(HARDLINK, b"h", b"s", b"")
            .entry(FILE, b"h", b"", b"overwritten")
            .finish(),
        |t| {
            assert!(
                std::fs::symlink_metadata(t.join("s"))
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(std::fs::read(t.join("h")).unwrap(), b"overwritten");
        },
    ));
    v.push(rejected(
        "hardlink-to-directory",
        RawTar::default()
            .entry(DIR, b"d/", b"", b"")
            .entry(HARDLINK, b"h", b"d", b"")
            .finish(),
        "`h`",
    ));
    v.push(rejected(
        "dir-swapped-for-symlink",
        RawTar::default()
            .entry(DIR, b"d/", b"", b"")
            .entry(SYMLINK, b"d", &out, b"")
            .entry(FILE, b"d/pwned", b"", b"x")
            .finish(),
        "d/pwned",
    ));
    v.push(safe(
        "file-replaces-dir",
        RawTar::default()
            .entry(DIR, b"d/", b"", b"")
            .entry(FILE, b"d/x", b"", b"x")
            .entry(FILE, b"d", b"", b"f")
            .finish(),
        |t| assert!(std::fs::symlink_metadata(t.join("d")).unwrap().is_file()),
    ));
    v.push(safe(
        "dir-replaces-symlink-to-outside",
        RawTar::default()
            .entry(SYMLINK, b"s", &out, b"")
            .entry(DIR, b"s/", b"", b"")
            .finish(),
        |t| assert!(std::fs::symlink_metadata(t.join("s")).unwrap().is_dir()),
    ));
    v.push(rejected(
        "whiteout-through-symlink",
        RawTar::default()
            .entry(SYMLINK, b"a", &out, b"")
            .entry(FILE, b"a/.wh.sentinel", b"", b"")
            .finish(),
        "a/.wh.sentinel",
    ));
    v.push(rejected(
        "opaque-through-symlink",
        RawTar::default()
            .entry(SYMLINK, b"a", &out, b"")
            .entry(FILE, b"a/.wh..wh..opq", b"", b"")
            .finish(),
        "a/.wh..wh..opq",
    ));
    v.push(rejected(
        "whiteout-of-dotdot",
        RawTar::default().entry(FILE, b".wh...", b"", b"").finish(),
        ".wh...",
    ));
    v.push(rejected(
        "pax-path-traversal",
        RawTar::default()
            .pax(&[("path", b"../../pwned")])
            .entry(FILE, b"innocent", b"", b"x")
            .finish(),
        "../../pwned",
    ));
    v.push(rejected(
        "gnu-longname-traversal",
        RawTar::default()
            .gnu_long_name(b"../pwned-gnu")
            .entry(FILE, b"innocent", b"", b"x")
            .finish(),
        "../pwned-gnu",
    ));
    v.push(rejected(
        "pax-linkpath-escape",
        RawTar::default()
            .pax(&[("linkpath", b"../outside/sentinel")])
            .entry(HARDLINK, b"h", b"ok", b"")
            .finish(),
        "`h`",
    ));
    v.push(safe(
        "overlay-xattr-injection",
        RawTar::default()
            .entry(DIR, b"o/", b"", b"")
            .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
            .entry(DIR, b"o/", b"", b"")
            .finish(),
        |t| {
            let v = rustix::fs::lgetxattr(t.join("o"), "trusted.overlay.opaque", &mut [0u8; 8][..]);
            assert!(v.is_err(), "overlay xattr must be dropped");
        },
    ));
    v.push(Hostile {
        name: "block-device-refused",
        tar: RawTar::default().entry(BLOCK, b"sda", b"", b"").finish(),
        expect: Expect::Rejected("`sda`"),
        reject_devices: true,
    });
    v.push(safe(
        "block-device-stays-inside",
        RawTar::default()
            .entry(SYMLINK, b"dev", &out, b"")
            .entry(BLOCK, b"dev2/sda", b"", b"")
            .finish(),
        |t| {
            use std::os::unix::fs::FileTypeExt;
            if rustix::process::geteuid().is_root() {
                assert!(
                    std::fs::symlink_metadata(t.join("dev2/sda"))
                        .unwrap()
                        .file_type()
                        .is_block_device()
                );
            }
        },
    ));
    v
}
