//! Layer compression and decompression, with both OCI digests computed in the same pass.
//!
//! An OCI image names a layer twice: the *diffID* is the sha256 of the uncompressed tar
//! (it goes in the image config), the *digest* is the sha256 of the blob as stored and
//! pushed (it goes in the manifest). [`Compressor`] is a `Write` adapter that computes
//! both while compressing, so `write_layer` can stream straight into it: no temporary
//! uncompressed tar, no layer held in memory.

use std::io::{self, BufRead, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use super::error::LayerError;

/// OCI media type of an uncompressed layer.
pub const MEDIA_TYPE_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI media type of a gzip layer.
pub const MEDIA_TYPE_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI media type of a zstd layer.
pub const MEDIA_TYPE_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema2 media type of a (gzip) layer.
pub const MEDIA_TYPE_DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";

/// How a layer blob is (or is to be) compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (the OCI and Docker default), level 0-9.
    Gzip {
        /// 0 = store, 1 = fastest, 9 = smallest; 6 is gzip's default.
        level: u32,
    },
    /// zstd, level 1-22 (3 is zstd's default); smaller and much faster to decompress.
    Zstd {
        /// Compression level.
        level: i32,
    },
    /// A plain tar.
    None,
}

impl Default for Compression {
    /// gzip level 6: what every registry and runtime accepts.
    fn default() -> Self {
        Self::Gzip { level: 6 }
    }
}

impl Compression {
    /// The compression implied by a layer media type (OCI or Docker); `None` if unknown.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            MEDIA_TYPE_TAR | "application/vnd.docker.image.rootfs.diff.tar" => Some(Self::None),
            MEDIA_TYPE_TAR_GZIP | MEDIA_TYPE_DOCKER_GZIP => Some(Self::default()),
            MEDIA_TYPE_TAR_ZSTD => Some(Self::Zstd { level: 3 }),
            _ => None,
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self {
            Self::Gzip { .. } => MEDIA_TYPE_TAR_GZIP,
            Self::Zstd { .. } => MEDIA_TYPE_TAR_ZSTD,
            Self::None => MEDIA_TYPE_TAR,
        }
    }
}

/// What one compression pass produced: the two OCI digests and the two sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressStats {
    /// `sha256:<hex>` of the uncompressed tar (the image config's diffID).
    pub diff_id: String,
    /// `sha256:<hex>` of the compressed blob (the manifest's layer digest).
    pub digest: String,
    /// Bytes of the compressed blob.
    pub compressed_size: u64,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<Hashing<W>>),
    Zstd(zstd::stream::write::Encoder<'static, Hashing<W>>),
    Plain(Hashing<W>),
}

/// A `Write` adapter that compresses into `out` and computes diffID and digest on the way.
///
/// Write the uncompressed tar into it (e.g. pass `&mut compressor` to
/// [`write_layer`](super::write_layer)), then call [`Compressor::finish`].
/// The output is reproducible: the gzip header has no mtime and no file name, and zstd
/// is run single-threaded so the bytes do not depend on the machine's core count.
pub struct Compressor<W: Write> {
    encoder: Encoder<W>,
    hasher: Sha256,
    count: u64,
    /// Input is handed to the encoder in fixed-size chunks: deflate and zstd output can
    /// depend on how the input was split, and the digest must not depend on the caller.
    pending: Vec<u8>,
}

/// The size of the chunks the encoder sees.
const CHUNK: usize = 128 * 1024;

impl<W: Write> Compressor<W> {
    /// Starts a compressed stream into `out`.
    pub fn new(compression: Compression, out: W) -> Result<Self, LayerError> {
        let sink = Hashing {
            inner: out,
            hasher: Sha256::new(),
            count: 0,
        };
        let encoder = match compression {
            Compression::Gzip { level } => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(sink, flate2::Compression::new(level.min(9))),
            ),
            Compression::Zstd { level } => Encoder::Zstd(
                zstd::stream::write::Encoder::new(sink, level).map_err(LayerError::Output)?,
            ),
            Compression::None => Encoder::Plain(sink),
        };
        Ok(Self {
            encoder,
            hasher: Sha256::new(),
            count: 0,
            pending: Vec::with_capacity(CHUNK),
        })
    }

    /// Flushes the compressor's trailer and returns the digests and the output writer.
    pub fn finish(mut self) -> Result<(CompressStats, W), LayerError> {
        self.drain().map_err(LayerError::Output)?;
        let sink = match self.encoder {
            Encoder::Gzip(e) => e.finish().map_err(LayerError::Output)?,
            Encoder::Zstd(e) => e.finish().map_err(LayerError::Output)?,
            Encoder::Plain(s) => s,
        };
        let Hashing {
            mut inner,
            hasher,
            count,
        } = sink;
        inner.flush().map_err(LayerError::Output)?;
        let stats = CompressStats {
            diff_id: format!("sha256:{}", hex::encode(self.hasher.finalize())),
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            compressed_size: count,
            uncompressed_size: self.count,
        };
        Ok((stats, inner))
    }
}

impl<W: Write> Compressor<W> {
    /// Hands the pending input to the encoder.
    fn drain(&mut self) -> io::Result<()> {
        let chunk = &self.pending[..];
        match &mut self.encoder {
            Encoder::Gzip(e) => e.write_all(chunk)?,
            Encoder::Zstd(e) => e.write_all(chunk)?,
            Encoder::Plain(s) => s.write_all(chunk)?,
        }
        self.pending.clear();
        Ok(())
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.pending.len() == CHUNK {
            self.drain()?;
        }
        Ok(n)
    }

    /// Does nothing: flushing a gzip or zstd encoder ends a block early and so changes
    /// the output bytes (and the digest). [`Compressor::finish`] writes everything out.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Compresses `input` into `out` in one pass and returns both digests and sizes.
pub fn compress(
    mut input: impl Read,
    compression: Compression,
    out: impl Write,
) -> Result<CompressStats, LayerError> {
    let mut c = Compressor::new(compression, out)?;
    io::copy(&mut input, &mut c).map_err(|e| LayerError::TarStream {
        after: None,
        source: e,
    })?;
    Ok(c.finish()?.0)
}

/// Recognises the compression of a blob from its first bytes.
///
/// Anything that is not a known compressed format is taken for a plain tar;
/// xz and bzip2 are recognised only to be refused with a clear error.
pub fn detect_compression(head: &[u8]) -> Result<Compression, LayerError> {
    if head.starts_with(GZIP_MAGIC) {
        Ok(Compression::default())
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok(Compression::Zstd { level: 3 })
    } else if head.starts_with(XZ_MAGIC) {
        Err(LayerError::UnsupportedCompression { found: "xz".into() })
    } else if head.starts_with(BZIP2_MAGIC) {
        Err(LayerError::UnsupportedCompression {
            found: "bzip2".into(),
        })
    } else {
        Ok(Compression::None)
    }
}

/// Wraps `reader` in the decoder for `compression`, or detects it from magic bytes.
pub(crate) fn decompressed<'a>(
    reader: impl Read + 'a,
    compression: Option<Compression>,
) -> Result<Box<dyn Read + 'a>, LayerError> {
    let mut buffered = BufReader::with_capacity(128 * 1024, reader);
    let compression = match compression {
        Some(c) => c,
        None => {
            let head = buffered.fill_buf().map_err(|e| LayerError::TarStream {
                after: None,
                source: e,
            })?;
            detect_compression(head)?
        }
    };
    Ok(match compression {
        Compression::Gzip { .. } => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd { .. } => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| {
                LayerError::TarStream {
                    after: None,
                    source: e,
                }
            })?,
        ),
        Compression::None => Box::new(buffered),
    })
}
