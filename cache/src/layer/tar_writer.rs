//! A minimal reproducible tar writer: ustar headers plus PAX records when needed.
//!
//! We write our own instead of `tar::Builder` because reproducibility needs exact
//! control of every byte: empty uname/gname, no atime/ctime, fixed PAX header names,
//! PAX (not GNU) long names, and xattr records in sorted order.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;
const MAX_OCTAL_7: u64 = 0o7777777;
const MAX_OCTAL_11: u64 = 0o77777777777;

/// Tar type flags we emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Hardlink,
    Symlink,
    Char,
    Block,
    Directory,
    Fifo,
}

impl Kind {
    fn flag(self) -> u8 {
        match self {
            Self::Regular => b'0',
            Self::Hardlink => b'1',
            Self::Symlink => b'2',
            Self::Char => b'3',
            Self::Block => b'4',
            Self::Directory => b'5',
            Self::Fifo => b'6',
        }
    }
}

/// Everything that goes into one entry's header(s).
#[derive(Debug, Clone)]
pub(crate) struct Header<'a> {
    /// Entry name; directories end with `/`.
    pub path: &'a [u8],
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Seconds since the epoch; negative values are written as 0.
    pub mtime: i64,
    pub link: &'a [u8],
    pub dev: (u32, u32),
    /// Sorted by name by the caller.
    pub xattrs: &'a [(String, Vec<u8>)],
}

/// Writes tar entries to `out`, counting bytes.
pub(crate) struct TarWriter<W> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self { out }
    }

    /// Writes the header (and a PAX header before it if needed); the caller then writes
    /// exactly `size` bytes of content with [`TarWriter::body`].
    pub(crate) fn header(&mut self, h: &Header<'_>) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if h.path.len() > 100 {
            pax.push(("path".into(), h.path.to_vec()));
        }
        if h.link.len() > 100 {
            pax.push(("linkpath".into(), h.link.to_vec()));
        }
        if h.size > MAX_OCTAL_11 {
            pax.push(("size".into(), h.size.to_string().into_bytes()));
        }
        if h.uid > MAX_OCTAL_7 {
            pax.push(("uid".into(), h.uid.to_string().into_bytes()));
        }
        if h.gid > MAX_OCTAL_7 {
            pax.push(("gid".into(), h.gid.to_string().into_bytes()));
        }
        for (name, value) in h.xattrs {
            pax.push((format!("SCHILY.xattr.{name}"), value.clone()));
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                body.extend_from_slice(&pax_record(k, v));
            }
            let name = pax_header_name(h.path);
            let block = ustar(
                &Header {
                    path: &name,
                    kind: Kind::Regular,
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    size: body.len() as u64,
                    mtime: 0,
                    link: b"",
                    dev: (0, 0),
                    xattrs: &[],
                },
                b'x',
            );
            self.out.write_all(&block)?;
            self.out.write_all(&body)?;
            self.pad(body.len() as u64)?;
        }
        self.out.write_all(&ustar(h, h.kind.flag()))
    }

    /// Copies exactly `size` bytes from `content` and pads to a block; returns false if
    /// `content` ended early (the file shrank), in which case the stream is unusable.
    pub(crate) fn body(&mut self, content: impl Read, size: u64) -> io::Result<bool> {
        let n = io::copy(&mut content.take(size), &mut self.out)?;
        if n != size {
            return Ok(false);
        }
        self.pad(size)?;
        Ok(true)
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes the two zero blocks that end an archive and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One `"<len> <key>=<value>\n"` record, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

/// `dir/PaxHeaders.0/base` as Go's archive/tar names it, cut to fit the name field.
fn pax_header_name(path: &[u8]) -> Vec<u8> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let (dir, base) = match trimmed.iter().rposition(|b| *b == b'/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => (&b""[..], trimmed),
    };
    let mut name = dir.to_vec();
    name.extend_from_slice(b"PaxHeaders.0/");
    name.extend_from_slice(base);
    if name.len() > 100 {
        let mut short = b"PaxHeaders.0/".to_vec();
        short.extend_from_slice(&base[..base.len().min(100 - short.len())]);
        return short;
    }
    name
}

/// Builds a 512-byte ustar header block.
fn ustar(h: &Header<'_>, flag: u8) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let path = &h.path[..h.path.len().min(100)];
    b[..path.len()].copy_from_slice(path);
    octal(&mut b[100..108], u64::from(h.mode & 0o7777));
    octal(
        &mut b[108..116],
        if h.uid > MAX_OCTAL_7 { 0 } else { h.uid },
    );
    octal(
        &mut b[116..124],
        if h.gid > MAX_OCTAL_7 { 0 } else { h.gid },
    );
    octal(
        &mut b[124..136],
        if h.size > MAX_OCTAL_11 { 0 } else { h.size },
    );
    octal(
        &mut b[136..148],
        u64::try_from(h.mtime).unwrap_or(0).min(MAX_OCTAL_11),
    );
    b[156] = flag;
    let link = &h.link[..h.link.len().min(100)];
    b[157..157 + link.len()].copy_from_slice(link);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if matches!(h.kind, Kind::Char | Kind::Block) {
        octal(&mut b[329..337], u64::from(h.dev.0).min(MAX_OCTAL_7));
        octal(&mut b[337..345], u64::from(h.dev.1).min(MAX_OCTAL_7));
    }
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|x| u64::from(*x)).sum();
    octal(&mut b[148..155], sum);
    b[155] = b' ';
    b
}

/// Writes `v` as zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    let s = s.as_bytes();
    field[..digits].copy_from_slice(&s[s.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record("path", b"ab"), b"11 path=ab\n".to_vec());
        let r = pax_record("k", &[b'x'; 95]);
        assert_eq!(r.len(), 102);
        assert!(r.starts_with(b"102 k="));
    }

    #[test]
    fn header_roundtrips_through_tar_crate() {
        let mut w = TarWriter::new(Vec::new());
        let long = vec![b'a'; 150];
        let xattrs = vec![("user.k".to_string(), b"v".to_vec())];
        w.header(&Header {
            path: &long,
            kind: Kind::Regular,
            mode: 0o4755,
            uid: 3_000_000,
            gid: 7,
            size: 3,
            mtime: 42,
            link: b"",
            dev: (0, 0),
            xattrs: &xattrs,
        })
        .unwrap();
        assert!(w.body(&b"abc"[..], 3).unwrap());
        let bytes = w.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut entries = ar.entries().unwrap();
        let e = entries.next().unwrap().unwrap();
        assert_eq!(&*e.path_bytes(), &long[..]);
        assert_eq!(e.header().mode().unwrap(), 0o4755);
        assert_eq!(e.header().mtime().unwrap(), 42);
        assert!(entries.next().is_none());
    }
}
