//! The build flags that shape an exported image, and their parsing from the CLI's
//! strings (`--label K=V`, `--compression zstd --compression-level 19`).

use std::collections::BTreeMap;

use cache::layer::Compression;
use frontend::image::Platform;

use super::error::{ExportError, Result};

/// How to export: the build flags that shape the image's bytes.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// `--compression` and `--compression-level` for this build's layers.
    pub compression: Compression,
    /// `--oci-mediatypes` (default true); false writes Docker schema2 media types,
    /// except that zstd layers force OCI types (Docker has none for them).
    pub oci_mediatypes: bool,
    /// `SOURCE_DATE_EPOCH`: clamps file times and sets `created`, for reproducible
    /// digests. `None` uses the current time.
    pub source_date_epoch: Option<i64>,
    /// `--label KEY=VALUE`s, added to (and overriding) the Dockerfile's labels.
    pub labels: BTreeMap<String, String>,
    /// The image's platform (`--platform`, else the host's).
    pub platform: Platform,
    /// How many layers may be compressed at once.
    pub jobs: usize,
}

impl Default for ExportOptions {
    /// gzip level 6, OCI media types, the current time, no labels, the host platform,
    /// one compression job per core.
    fn default() -> Self {
        ExportOptions {
            compression: Compression::default(),
            oci_mediatypes: true,
            source_date_epoch: None,
            labels: BTreeMap::new(),
            platform: Platform::host(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The layer compression for `--compression NAME [--compression-level N]`, NAME being
/// `gzip`, `zstd` or `uncompressed`; levels are checked against the format's range
/// (gzip 0-9, default 6; zstd 1-22, default 3).
pub fn compression(name: &str, level: Option<i32>) -> Result<Compression> {
    let invalid = |reason: String, hint: &str| ExportError::InvalidOption {
        option: "--compression",
        reason,
        hint: hint.to_owned(),
    };
    match (name, level) {
        ("gzip", None) => Ok(Compression::Gzip { level: 6 }),
        ("gzip", Some(level @ 0..=9)) => Ok(Compression::Gzip {
            level: level.unsigned_abs(),
        }),
        ("zstd", None) => Ok(Compression::Zstd { level: 3 }),
        ("zstd", Some(level @ 1..=22)) => Ok(Compression::Zstd { level }),
        ("uncompressed", None) => Ok(Compression::None),
        ("gzip" | "zstd", Some(level)) => Err(invalid(
            format!("level {level} is out of range for {name}"),
            "gzip takes 0-9, zstd 1-22",
        )),
        ("uncompressed", Some(_)) => Err(invalid(
            "uncompressed layers take no level".to_owned(),
            "drop `--compression-level`",
        )),
        (other, _) => Err(invalid(
            format!("unknown compression `{other}`"),
            "use `gzip`, `zstd` or `uncompressed`",
        )),
    }
}

/// Parses `--label KEY=VALUE` flags; a later flag for a key wins, as with docker.
pub fn parse_labels<S: AsRef<str>>(labels: &[S]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for label in labels {
        let label = label.as_ref();
        match label.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                out.insert(key.to_owned(), value.to_owned());
            }
            _ => {
                return Err(ExportError::InvalidOption {
                    option: "--label",
                    reason: format!("`{label}` is not KEY=VALUE"),
                    hint: "write `--label org.opencontainers.image.source=https://...`".to_owned(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_flags_are_checked() {
        assert_eq!(
            compression("gzip", None).unwrap(),
            Compression::Gzip { level: 6 }
        );
        assert_eq!(
            compression("zstd", Some(19)).unwrap(),
            Compression::Zstd { level: 19 }
        );
        assert_eq!(
            compression("uncompressed", None).unwrap(),
            Compression::None
        );
        for (name, level) in [
            ("gzip", Some(10)),
            ("zstd", Some(0)),
            ("uncompressed", Some(1)),
            ("xz", None),
        ] {
            let err = compression(name, level).unwrap_err();
            assert!(matches!(err, ExportError::InvalidOption { .. }), "{err}");
        }
    }

    #[test]
    fn labels_parse_and_later_ones_win() {
        let labels = parse_labels(&["a=1", "b=x=y", "a=2", "c="]).unwrap();
        assert_eq!(labels["a"], "2");
        assert_eq!(labels["b"], "x=y");
        assert_eq!(labels["c"], "");
        assert!(parse_labels(&["novalue"]).is_err());
        assert!(parse_labels(&["=v"]).is_err());
    }
}
