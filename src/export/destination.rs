//! Where a tar-based output streams to: stdout, or a file that appears only complete.
//!
//! A file destination is written under a temporary name beside it and renamed over
//! `dest` once the archive is complete and synced, so a failed or interrupted export
//! never leaves a truncated tarball where a previous good one was.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};
use std::path::{Path, PathBuf};

use super::error::{ExportError, Result};

/// Buffer between tar writes (512-byte headers, 64 KiB copies) and the sink.
const BUFFER_SIZE: usize = 256 * 1024;

/// Where a tar-based output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `dest=-`: standard output (refused when it is a terminal).
    Stdout,
    /// A file, replaced atomically once complete.
    File(PathBuf),
}

impl Destination {
    /// The path used in error messages (`-` for stdout).
    pub(crate) fn label(&self) -> &Path {
        match self {
            Destination::Stdout => Path::new("-"),
            Destination::File(path) => path,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Stdout => f.write_str("stdout"),
            Destination::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// An open [`Destination`]: write the stream, then [`Sink::commit`].
pub(crate) enum Sink {
    /// Standard output, locked for the whole stream.
    Stdout(BufWriter<StdoutLock<'static>>),
    /// A temporary file renamed to `dest` on commit and removed if dropped before.
    File {
        file: Option<BufWriter<File>>,
        temp: PathBuf,
        dest: PathBuf,
    },
}

impl Sink {
    /// Opens `dest` for writing; stdout is refused when it is a terminal.
    pub(crate) fn open(dest: &Destination) -> Result<Sink> {
        match dest {
            Destination::Stdout => {
                let stdout = io::stdout();
                if stdout.is_terminal() {
                    return Err(ExportError::InvalidOutput {
                        spec: "dest=-".to_owned(),
                        reason: "refusing to write an archive to a terminal".to_owned(),
                        hint: "redirect stdout to a file or a pipe, or give `dest=FILE`".to_owned(),
                    });
                }
                Ok(Sink::Stdout(BufWriter::with_capacity(
                    BUFFER_SIZE,
                    stdout.lock(),
                )))
            }
            Destination::File(dest) => {
                if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(ExportError::io("create", parent))?;
                }
                let mut temp_name = dest.file_name().unwrap_or_default().to_os_string();
                temp_name.push(format!(".strata-{}.tmp", std::process::id()));
                let temp = dest.with_file_name(temp_name);
                let file = File::create(&temp).map_err(ExportError::io("create", &temp))?;
                Ok(Sink::File {
                    file: Some(BufWriter::with_capacity(BUFFER_SIZE, file)),
                    temp,
                    dest: dest.clone(),
                })
            }
        }
    }

    /// Flushes the stream; a file is synced and renamed into place.
    pub(crate) fn commit(mut self) -> Result<()> {
        match &mut self {
            Sink::Stdout(out) => out
                .flush()
                .map_err(ExportError::io("write", Path::new("-"))),
            Sink::File { file, temp, dest } => {
                let Some(buffered) = file.take() else {
                    return Ok(());
                };
                let published = buffered
                    .into_inner()
                    .map_err(|e| ExportError::io("write", temp)(e.into_error()))
                    .and_then(|file| file.sync_all().map_err(ExportError::io("sync", temp)))
                    .and_then(|()| {
                        std::fs::rename(&*temp, &*dest)
                            .map_err(ExportError::io("rename into", dest))
                    });
                if published.is_err() {
                    let _ = std::fs::remove_file(&*temp);
                }
                published?;
                tracing::debug!(dest = %dest.display(), "wrote archive");
                Ok(())
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::File { file: Some(f), .. } => f.write(buf),
            Sink::File { file: None, .. } => Err(io::Error::other("archive already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File { file: Some(f), .. } => f.flush(),
            Sink::File { file: None, .. } => Ok(()),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::File {
            file: Some(_),
            temp,
            ..
        } = self
            && let Err(e) = std::fs::remove_file(&*temp)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %temp.display(), error = %e, "cannot remove an unfinished archive");
        }
    }
}

/// The error for an `io::Error` met while streaming blobs into `dest`: a blob that
/// failed verification keeps its cache error, anything else names the destination.
pub(crate) fn stream_error(dest: &Path) -> impl Fn(io::Error) -> ExportError + '_ {
    move |e| {
        if e.get_ref().is_some_and(|inner| inner.is::<cache::Error>()) {
            ExportError::Store(cache::Error::from_io(e, dest))
        } else {
            ExportError::Io {
                action: "write",
                path: dest.to_path_buf(),
                source: e,
            }
        }
    }
}
