//! `--output`: where an image goes besides the local store, parsed from buildx's
//! syntax (`type=oci,dest=image.tar`), and the dispatch to the writers.
//!
//! Accepted forms, as `docker buildx build -o` accepts them:
//!
//! | spec                                  | result                                   |
//! |---------------------------------------|------------------------------------------|
//! | `type=oci,dest=img.tar[,name=a:1]`    | OCI image layout tarball                 |
//! | `type=oci,dest=DIR,tar=false`         | OCI image layout directory               |
//! | `type=docker,dest=img.tar[,name=a:1]` | a tarball `docker load` accepts          |
//! | `type=local,dest=DIR`                 | the image's filesystem, unpacked in DIR  |
//! | `type=tar,dest=fs.tar`                | the image's filesystem as one tar        |
//! | `DIR`                                 | `type=local,dest=DIR`                    |
//! | `-`                                   | `type=tar,dest=-`                        |
//!
//! `dest=-` writes the tar-based types to stdout.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::archive::{write_docker_archive, write_oci_layout};
use super::assemble::Image;
use super::destination::Destination;
use super::error::{ExportError, Result};
use super::filesystem::{write_filesystem_tar, write_local};
use super::tag::normalize_names;

/// One parsed `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `type=oci`: an OCI image layout, as a tarball or (`tar=false`) a directory.
    Oci {
        /// The tarball's destination, or the directory when `tar` is false.
        dest: Destination,
        /// Whether to write a tarball (default) or a directory.
        tar: bool,
        /// `name=` (normalised); empty means the `-t` names.
        names: Vec<String>,
    },
    /// `type=docker`: a tarball in `docker save` format.
    Docker {
        /// The tarball's destination.
        dest: Destination,
        /// `name=` (normalised); empty means the `-t` names.
        names: Vec<String>,
    },
    /// `type=local`: the final filesystem unpacked into a directory.
    Local {
        /// The directory (created if missing).
        dest: PathBuf,
    },
    /// `type=tar`: the final filesystem as one tar.
    Tar {
        /// The tar's destination.
        dest: Destination,
    },
}

impl Output {
    /// Whether this output streams to stdout (`-o -`, `dest=-`): the build then prints
    /// nothing else there, or the archive would be corrupt.
    pub fn writes_to_stdout(&self) -> bool {
        match self {
            Output::Oci { dest, .. } | Output::Docker { dest, .. } | Output::Tar { dest } => {
                *dest == Destination::Stdout
            }
            Output::Local { .. } => false,
        }
    }

    /// Parses one `--output` value.
    pub fn parse(spec: &str) -> Result<Output> {
        let invalid = |reason: String, hint: &str| ExportError::InvalidOutput {
            spec: spec.to_owned(),
            reason,
            hint: hint.to_owned(),
        };
        let usage = "write `type=oci|docker|tar,dest=FILE` or `type=local,dest=DIR`";
        if spec.is_empty() {
            return Err(invalid("the value is empty".into(), usage));
        }
        if !spec.contains('=') {
            return Ok(if spec == "-" {
                Output::Tar {
                    dest: Destination::Stdout,
                }
            } else {
                Output::Local {
                    dest: PathBuf::from(spec),
                }
            });
        }
        let mut kind = None;
        let mut dest = None;
        let mut tar = None;
        let mut names = Vec::new();
        let mut seen = Vec::new();
        for field in spec.split(',') {
            let Some((key, value)) = field.split_once('=') else {
                return Err(invalid(format!("`{field}` is not KEY=VALUE"), usage));
            };
            let key = key.trim().to_ascii_lowercase();
            if seen.contains(&key) && key != "name" {
                return Err(invalid(format!("`{key}` is given twice"), usage));
            }
            seen.push(key.clone());
            match key.as_str() {
                "type" => kind = Some(value.to_owned()),
                "dest" => dest = Some(value.to_owned()),
                "tar" => {
                    tar = Some(match value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(invalid(
                                format!("`tar={value}` is not a boolean"),
                                "write `tar=true` or `tar=false`",
                            ));
                        }
                    });
                }
                "name" => names.extend(
                    value
                        .split(';')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                ),
                _ => {
                    return Err(invalid(
                        format!("unknown key `{key}`"),
                        "the keys are `type`, `dest`, `tar` (type=oci) and `name` (type=oci|docker)",
                    ));
                }
            }
        }
        let Some(kind) = kind else {
            return Err(invalid("`type` is missing".into(), usage));
        };
        if matches!(kind.as_str(), "image" | "registry") {
            return Err(invalid(
                format!("type={kind} is not an --output of strata"),
                "the image goes to the local store by default; name it with `-t` and add `--push` for a registry",
            ));
        }
        let dest_hint = "add `dest=PATH`, or `dest=-` for stdout";
        let Some(dest) = dest.filter(|d| !d.is_empty()) else {
            return Err(invalid(format!("type={kind} needs `dest`"), dest_hint));
        };
        let destination = || match dest.as_str() {
            "-" => Destination::Stdout,
            path => Destination::File(PathBuf::from(path)),
        };
        if tar.is_some() && kind != "oci" {
            return Err(invalid(
                format!("`tar` applies to type=oci, not type={kind}"),
                "remove `tar=`",
            ));
        }
        if !names.is_empty() && !matches!(kind.as_str(), "oci" | "docker") {
            return Err(invalid(
                format!("`name` applies to type=oci and type=docker, not type={kind}"),
                "name the image with `-t`",
            ));
        }
        let names = normalize_names(&names)?;
        match kind.as_str() {
            "oci" => {
                let tar = tar.unwrap_or(true);
                if !tar && dest == "-" {
                    return Err(invalid(
                        "a directory cannot be written to stdout".into(),
                        "give a directory with `dest=DIR`, or drop `tar=false`",
                    ));
                }
                Ok(Output::Oci {
                    dest: destination(),
                    tar,
                    names,
                })
            }
            "docker" => Ok(Output::Docker {
                dest: destination(),
                names,
            }),
            "tar" => Ok(Output::Tar {
                dest: destination(),
            }),
            "local" => {
                if dest == "-" {
                    return Err(invalid(
                        "type=local writes a directory, not a stream".into(),
                        "use `type=tar,dest=-` to stream the filesystem",
                    ));
                }
                Ok(Output::Local {
                    dest: PathBuf::from(&dest),
                })
            }
            other => Err(invalid(
                format!("unknown type `{other}`"),
                "the types are `oci`, `docker`, `local` and `tar`",
            )),
        }
    }
}

impl FromStr for Output {
    type Err = ExportError;

    fn from_str(spec: &str) -> Result<Output> {
        Output::parse(spec)
    }
}

/// Writes `image` to `output`; `names` (normalised `-t` names) name it in archives
/// unless the output has its own `name=`. `scratch` is a directory on the root's file
/// system for temporary trees (`cache::Root::scratch_dir`).
pub fn write_output(
    image: &Image,
    output: &Output,
    names: &[String],
    scratch: &Path,
) -> Result<()> {
    let pick = |own: &[String]| {
        if own.is_empty() {
            names.to_vec()
        } else {
            own.to_vec()
        }
    };
    match output {
        Output::Oci {
            dest,
            tar,
            names: own,
        } => write_oci_layout(image, dest, *tar, &pick(own)),
        Output::Docker { dest, names: own } => write_docker_archive(image, dest, &pick(own)),
        Output::Local { dest } => write_local(image, dest).map(|_| ()),
        Output::Tar { dest } => write_filesystem_tar(image, dest, scratch),
    }
    .inspect(|()| tracing::info!(?output, "exported image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_buildx_forms() {
        assert_eq!(
            Output::parse("type=oci,dest=out.tar").unwrap(),
            Output::Oci {
                dest: Destination::File("out.tar".into()),
                tar: true,
                names: vec![]
            }
        );
        assert_eq!(
            Output::parse("type=oci,dest=dir,tar=false,name=app:1").unwrap(),
            Output::Oci {
                dest: Destination::File("dir".into()),
                tar: false,
                names: vec!["docker.io/library/app:1".into()]
            }
        );
        assert_eq!(
            Output::parse("type=docker,dest=-").unwrap(),
            Output::Docker {
                dest: Destination::Stdout,
                names: vec![]
            }
        );
        assert_eq!(
            Output::parse("type=local,dest=out").unwrap(),
            Output::Local { dest: "out".into() }
        );
        assert_eq!(
            Output::parse("-").unwrap(),
            Output::Tar {
                dest: Destination::Stdout
            }
        );
        assert_eq!(
            Output::parse("some/dir").unwrap(),
            Output::Local {
                dest: "some/dir".into()
            }
        );
    }

    #[test]
    fn rejects_malformed_specs_with_a_reason() {
        for (spec, needle) in [
            ("type=oci", "needs `dest`"),
            ("dest=x", "`type` is missing"),
            ("type=zip,dest=x", "unknown type `zip`"),
            ("type=local,dest=-", "not a stream"),
            ("type=oci,dest=-,tar=false", "stdout"),
            ("type=tar,dest=x,tar=false", "applies to type=oci"),
            ("type=oci,dest=x,tar=maybe", "not a boolean"),
            ("type=oci,dest=x,colour=red", "unknown key `colour`"),
            ("type=oci,dest=x,dest=y", "given twice"),
            ("type=oci,dest", "not KEY=VALUE"),
            ("type=image,name=a", "not an --output"),
            ("", "empty"),
        ] {
            let err = Output::parse(spec).unwrap_err();
            assert!(
                matches!(err, ExportError::InvalidOutput { .. }),
                "{spec}: {err}"
            );
            assert!(err.to_string().contains(needle), "{spec}: {err}");
            assert!(err.to_string().contains("hint: "), "{spec}: {err}");
        }
    }
}
