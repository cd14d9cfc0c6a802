//! `strata build -`: the build context read from stdin, as `docker build -` reads it.
//!
//! Docker decides by content what stdin holds: a tar archive (plain, gzip or zstd) is the
//! whole context, unpacked here into a private directory; anything else is a lone
//! Dockerfile, built with an empty context (so `COPY` has nothing to copy).
//!
//! ```text
//! tar -C app -c . | strata build -t app -       # the context is the tar
//! strata build -t app - < Dockerfile             # no context, the Dockerfile only
//! ```

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// What stdin held.
#[derive(Debug)]
pub enum StdinContext {
    /// A tar archive, unpacked into this directory (the build context).
    Tar(PathBuf),
    /// A Dockerfile; the build context is this empty directory.
    Dockerfile {
        /// The empty context directory.
        dir: PathBuf,
        /// The Dockerfile's text.
        text: String,
    },
}

/// The first bytes of a tar header block, and where its checksum field sits.
const BLOCK: usize = 512;
const CHECKSUM: std::ops::Range<usize> = 148..156;

/// Reads stdin-like `input` and unpacks or keeps it under `dir` (created; must not exist
/// or be empty).
pub fn read(mut input: impl Read, dir: &Path) -> anyhow::Result<StdinContext> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let mut head = Vec::with_capacity(BLOCK);
    (&mut input)
        .take(BLOCK as u64)
        .read_to_end(&mut head)
        .context("reading the build context from stdin")?;
    let whole = std::io::Cursor::new(head.clone()).chain(input);
    match Kind::of(&head) {
        Kind::Gzip => unpack(flate2::read::GzDecoder::new(whole), dir),
        Kind::Zstd => unpack(
            zstd::stream::read::Decoder::new(whole).context("reading zstd from stdin")?,
            dir,
        ),
        Kind::Tar => unpack(whole, dir),
        Kind::Unsupported(name) => bail!(
            "the build context on stdin is {name}-compressed, which strata cannot read\nhint: decompress it first, or send a plain, gzip or zstd tar"
        ),
        Kind::Text => {
            let mut bytes = Vec::new();
            BufReader::new(whole)
                .read_to_end(&mut bytes)
                .context("reading the Dockerfile from stdin")?;
            let text = String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!(
                    "stdin is neither a tar archive nor a UTF-8 Dockerfile\nhint: send a tar of the context (`tar -c . | strata build -`) or a Dockerfile"
                )
            })?;
            Ok(StdinContext::Dockerfile {
                dir: dir.to_path_buf(),
                text,
            })
        }
    }
}

fn unpack(reader: impl Read, dir: &Path) -> anyhow::Result<StdinContext> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    // `unpack` refuses entries that would land outside `dir` (`..`, absolute paths,
    // writes through symlinks it extracted).
    archive
        .unpack(dir)
        .context("unpacking the build context tar from stdin")?;
    Ok(StdinContext::Tar(dir.to_path_buf()))
}

/// What the first bytes of stdin say it is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Tar,
    Gzip,
    Zstd,
    Unsupported(&'static str),
    Text,
}

impl Kind {
    fn of(head: &[u8]) -> Kind {
        if head.starts_with(&[0x1f, 0x8b]) {
            Kind::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Kind::Zstd
        } else if head.starts_with(b"BZh") {
            Kind::Unsupported("bzip2")
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Kind::Unsupported("xz")
        } else if is_tar_header(head) {
            Kind::Tar
        } else {
            Kind::Text
        }
    }
}

/// Whether `head` starts with a tar header block: its checksum field (octal) equals the
/// sum of the block's bytes with that field counted as spaces. That holds for ustar, GNU
/// and old v7 archives and, in practice, never for text.
fn is_tar_header(head: &[u8]) -> bool {
    let Some(block) = head.get(..BLOCK) else {
        return false;
    };
    let field = &block[CHECKSUM];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| c.is_digit(8))
        .collect();
    let Ok(expected) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if CHECKSUM.contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == expected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, text.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_tar_is_unpacked_and_text_is_a_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("Dockerfile", "FROM scratch\n"), ("a/b.txt", "b\n")]);
        let ctx = read(&tar[..], &dir.path().join("t")).unwrap();
        let StdinContext::Tar(path) = ctx else {
            panic!("{ctx:?}")
        };
        assert_eq!(
            std::fs::read_to_string(path.join("a/b.txt")).unwrap(),
            "b\n"
        );

        let ctx = read(&b"FROM scratch\nCOPY x /\n"[..], &dir.path().join("d")).unwrap();
        let StdinContext::Dockerfile { dir: d, text } = ctx else {
            panic!("{ctx:?}")
        };
        assert_eq!(text, "FROM scratch\nCOPY x /\n");
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0);
    }

    #[test]
    fn a_gzip_tar_is_unpacked() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_of(&[("f", "x")])).unwrap();
        let ctx = read(&gz.finish().unwrap()[..], dir.path()).unwrap();
        assert!(matches!(ctx, StdinContext::Tar(_)), "{ctx:?}");
        assert_eq!(std::fs::read_to_string(dir.path().join("f")).unwrap(), "x");
    }

    #[test]
    fn detection_by_content() {
        assert_eq!(Kind::of(b"BZh91AY"), Kind::Unsupported("bzip2"));
        assert_eq!(Kind::of(b"FROM busybox\n"), Kind::Text);
        // A 512-byte text is not a tar.
        assert_eq!(Kind::of(&[b'#'; 600]), Kind::Text);
        assert_eq!(Kind::of(&tar_of(&[("x", "y")])), Kind::Tar);
        assert!(
            read(
                &[0xffu8, 0xfe, 0x00][..],
                tempfile::tempdir().unwrap().path()
            )
            .is_err()
        );
    }
}
