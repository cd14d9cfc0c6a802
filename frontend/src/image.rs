//! Image configuration as the frontend computes it, in OCI image-spec JSON shape.
//!
//! Lowering reads the base image's config (ENV, WORKDIR, USER, ONBUILD... are
//! inherited) and writes the stage's own. Field names serialise exactly as the
//! OCI image spec (and Docker) spell them, so a base image's config blob
//! deserialises straight into [`ImageSpec`] and the exporter writes it back out
//! without a translation table.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{DockerfileError, ErrorKind};

/// An empty JSON object, the value type of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `HEALTHCHECK` settings; durations in nanoseconds as Docker stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    /// Time after which one check fails.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    /// Grace period after start.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    /// Interval during the start period.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The `config` object of an OCI image config: how a container of the image runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    /// `USER`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `EXPOSE`d ports (`80/tcp`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// `ENV`, as `KEY=VALUE` in definition order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`s.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    /// `WORKDIR`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// `LABEL`s.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// `HEALTHCHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `SHELL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// `ONBUILD` triggers, as instruction text.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "OnBuild")]
    pub on_build: Option<Vec<String>>,
    /// Set for shell-form CMD/ENTRYPOINT on Windows; kept when inherited.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
}

impl ImageConfig {
    /// The value of an environment variable, the last definition winning.
    pub fn env_get(&self, key: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k == key).then_some(v)
        })
    }

    /// Set an environment variable, replacing an earlier definition in place.
    pub fn env_set(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self
            .env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }

    /// The environment as `(key, value)` pairs.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}

/// One entry of the image history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Creation time (RFC 3339), set by the exporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction, BuildKit style (`RUN /bin/sh -c make # buildkit`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The author (`MAINTAINER`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// True for metadata-only instructions that add no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The `rootfs` object of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        Self {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// A whole OCI image config (the config blob).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author (`MAINTAINER`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// CPU architecture (`amd64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// How a container of the image runs.
    #[serde(default)]
    pub config: ImageConfig,
    /// Layers.
    #[serde(default)]
    pub rootfs: RootFs,
    /// History, bottom first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// A target or build platform (`linux/amd64`, `linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// Operating system.
    pub os: String,
    /// Architecture, in GOARCH spelling.
    pub architecture: String,
    /// Variant, possibly empty.
    pub variant: String,
}

impl Platform {
    /// The platform strata itself runs on.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "arm" => "arm",
            other => other,
        };
        let variant = "";
        Self {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.into(),
        }
    }

    /// Parse `os/arch[/variant]` (an architecture alone means linux), normalising
    /// aliases the way containerd does (`x86_64` -> `amd64`, `aarch64` -> `arm64`).
    pub fn parse(text: &str) -> Result<Self, DockerfileError> {
        let parts: Vec<&str> = text.split('/').collect();
        let invalid = || {
            DockerfileError::new(
                ErrorKind::InvalidArgument,
                format!("invalid platform `{text}`"),
            )
            .with_hint("platforms look like linux/amd64 or linux/arm64/v8")
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid());
        }
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, ""),
            [os, arch] => (*os, *arch, ""),
            [os, arch, variant] => (*os, *arch, *variant),
            _ => return Err(invalid()),
        };
        let os = os.to_ascii_lowercase();
        let (arch, mut variant) = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), variant.to_string()),
            // containerd normalises arm64/v8 to plain arm64, and so does BuildKit.
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                if variant == "8" || variant == "v8" {
                    String::new()
                } else {
                    variant.to_string()
                },
            ),
            "armhf" => ("arm".to_string(), "v7".to_string()),
            "armel" => ("arm".to_string(), "v6".to_string()),
            "i386" | "386" => ("386".to_string(), variant.to_string()),
            other => (other.to_string(), variant.to_string()),
        };
        if arch == "arm" && variant.is_empty() {
            variant = "v7".into();
        }
        Ok(Self {
            os,
            architecture: arch,
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parsing_normalises_aliases() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert!(Platform::parse("linux//").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn image_spec_reads_docker_config_json() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","A=1"],"Cmd":["sh"],"WorkingDir":"/w","OnBuild":["RUN echo hi"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000}},"rootfs":{"type":"layers","diff_ids":["sha256:00"]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let spec: ImageSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.config.env_get("A"), Some("1"));
        assert_eq!(spec.config.working_dir, "/w");
        assert_eq!(
            spec.config.on_build.as_deref(),
            Some(&["RUN echo hi".to_string()][..])
        );
        assert_eq!(
            spec.config.healthcheck.as_ref().unwrap().interval,
            30_000_000_000
        );
        assert!(spec.history[0].empty_layer);
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            back["config"]["ExposedPorts"]["80/tcp"],
            serde_json::json!({})
        );
        assert_eq!(back["rootfs"]["type"], "layers");
    }

    #[test]
    fn env_set_replaces_in_place() {
        let mut c = ImageConfig::default();
        c.env_set("A", "1");
        c.env_set("B", "2");
        c.env_set("A", "3");
        assert_eq!(c.env, vec!["A=3", "B=2"]);
    }
}
