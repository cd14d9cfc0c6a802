//! Platforms (`os/arch[/variant]`) and how an index entry is matched against one.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A target platform, as `--platform` spells it: `linux/amd64`, `linux/arm64/v8`.
///
/// Normalised on construction (`x86_64` -> `amd64`, `aarch64` -> `arm64`, the default
/// `arm64` variant `v8` dropped) so that matching is a plain comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in GOARCH spelling, e.g. `amd64`.
    pub architecture: String,
    /// CPU variant, e.g. `v7` for `arm`.
    pub variant: Option<String>,
}

impl Platform {
    /// Builds and normalises a platform.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let (architecture, default_variant) = match architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => ("amd64".to_owned(), None),
            "aarch64" => ("arm64".to_owned(), None),
            "armhf" => ("arm".to_owned(), Some("v7")),
            "armel" => ("arm".to_owned(), Some("v6")),
            "i386" | "i686" => ("386".to_owned(), None),
            other => (other.to_owned(), None),
        };
        let mut variant = variant
            .map(str::to_ascii_lowercase)
            .or(default_variant.map(str::to_owned));
        if architecture == "arm64" && variant.as_deref() == Some("v8") {
            variant = None;
        }
        if architecture == "arm" && variant.is_none() {
            variant = Some("v7".to_owned());
        }
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// The platform this process runs on (Linux images on any host OS).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self::new("linux", arch, None)
    }

    /// Whether an index entry's platform satisfies this one. A wanted platform without a
    /// variant accepts any variant.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.os == candidate.os
            && self.architecture == candidate.architecture
            && (self.variant.is_none() || self.variant == candidate.variant)
    }

    pub(crate) fn from_oci(p: &oci_spec::image::Platform) -> Self {
        Self::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::InvalidReference {
            input: s.to_owned(),
            reason: "platform must be `os/arch[/variant]`".to_owned(),
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Self::new(os, arch, None)),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Self::new(os, arch, Some(variant)))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_normalise() {
        let p: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        assert_eq!(
            "linux/arm64/v8".parse::<Platform>().unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            "linux/aarch64".parse::<Platform>().unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            "linux/arm".parse::<Platform>().unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//".parse::<Platform>().is_err());
    }

    #[test]
    fn variant_matching() {
        let any_arm: Platform = "linux/arm64".parse().unwrap();
        assert!(any_arm.matches(&"linux/arm64/v8".parse().unwrap()));
        let v6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!v6.matches(&"linux/arm/v7".parse().unwrap()));
        assert!(!v6.matches(&"windows/arm/v6".parse().unwrap()));
    }
}
