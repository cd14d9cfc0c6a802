//! Base images made at test time from Debian's `busybox-static`, written as OCI layouts
//! and pushed to a test registry with `skopeo`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ensure_tool, run, sha256};

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ls", "mkdir", "rm", "cp", "mv", "ln", "true", "false", "env", "test",
    "[", "sleep", "touch", "chmod", "chown", "grep", "sed", "head", "tail", "wc", "id", "pwd",
    "printf", "find", "tar", "gzip", "sort", "uname", "date", "stat",
];
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Which manifest format to push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// OCI manifests and index (as written).
    Oci,
    /// Docker schema 2 (skopeo `--format v2s2`).
    Docker,
}

/// One platform's image inside a layout.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    /// `linux/amd64`, `linux/arm64/v8`...
    pub platform: String,
    /// Digest of the manifest as written in the layout.
    pub manifest_digest: String,
    /// Digest of the config blob.
    pub config_digest: String,
    /// Digests of the compressed layers.
    pub layer_digests: Vec<String>,
    /// Sizes of the compressed layers.
    pub layer_sizes: Vec<u64>,
    /// A file that only this platform's layer contains.
    pub marker: String,
}

/// An OCI layout holding a busybox image (or a two-platform index of them).
pub struct BaseImage {
    /// The layout directory's owner.
    pub dir: tempfile::TempDir,
    /// The tag inside the layout.
    pub tag: String,
    /// The index digest, for multi-platform layouts.
    pub index_digest: Option<String>,
    /// The platform images.
    pub images: Vec<PlatformImage>,
}

/// The host's architecture in GOARCH spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl BaseImage {
    /// A single-platform busybox image for the host architecture.
    pub fn busybox() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        init_layout(&layout);
        let image = write_image(&layout, host_arch(), None, true);
        let desc = descriptor(OCI_MANIFEST, &image.manifest_digest, &layout, None);
        write_index(&layout, vec![with_ref_name(desc, "latest")]);
        Self {
            dir,
            tag: "latest".to_owned(),
            index_digest: None,
            images: vec![image],
        }
    }

    /// An index of two images: busybox for the host architecture, and for the other of
    /// amd64/arm64 an image whose only layer holds a marker file.
    pub fn multi_platform() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        init_layout(&layout);
        let other = if host_arch() == "arm64" {
            "amd64"
        } else {
            "arm64"
        };
        let mut images = Vec::new();
        let mut entries = Vec::new();
        for (arch, busybox) in [(host_arch(), true), (other, false)] {
            let variant = (arch == "arm64").then_some("v8");
            let image = write_image(&layout, arch, variant, busybox);
            let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant {
                platform["variant"] = v.into();
            }
            entries.push(descriptor(
                OCI_MANIFEST,
                &image.manifest_digest,
                &layout,
                Some(platform),
            ));
            images.push(image);
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        });
        let index_digest = write_blob(&layout, index.to_string().as_bytes());
        let desc = descriptor(OCI_INDEX, &index_digest, &layout, None);
        write_index(&layout, vec![with_ref_name(desc, "latest")]);
        Self {
            dir,
            tag: "latest".to_owned(),
            index_digest: Some(index_digest),
            images,
        }
    }

    /// The layout directory.
    pub fn layout(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    /// `oci:DIR:tag`, for skopeo.
    pub fn layout_ref(&self) -> String {
        format!("oci:{}:{}", self.layout().display(), self.tag)
    }

    /// Pushes to `docker://<host>/<repo_tag>` with skopeo (all platforms).
    pub fn push(
        &self,
        host: &str,
        repo_tag: &str,
        creds: Option<(&str, &str)>,
        format: ImageFormat,
    ) {
        skopeo_push(
            &self.layout_ref(),
            &format!("{host}/{repo_tag}"),
            creds,
            format,
            self.index_digest.is_some(),
        );
    }
}

/// `skopeo copy` from `src` (any transport) to `docker://<dest>`, TLS verification off.
pub fn skopeo_push(
    src: &str,
    dest: &str,
    creds: Option<(&str, &str)>,
    format: ImageFormat,
    all: bool,
) {
    ensure_tool("/usr/bin/skopeo", "skopeo");
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
    ]);
    if all {
        cmd.arg("--all");
    }
    if format == ImageFormat::Docker {
        cmd.args(["--format", "v2s2"]);
    }
    if let Some((u, p)) = creds {
        cmd.arg(format!("--dest-creds={u}:{p}"));
    }
    cmd.arg(src).arg(format!("docker://{dest}"));
    run(&mut cmd);
}

/// `skopeo inspect [--raw]` of `docker://<reference>`, parsed.
pub fn skopeo_inspect(
    reference: &str,
    creds: Option<(&str, &str)>,
    raw: bool,
) -> serde_json::Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    if let Some((u, p)) = creds {
        cmd.arg(format!("--creds={u}:{p}"));
    }
    cmd.arg(format!("docker://{reference}"));
    serde_json::from_str(&run(&mut cmd)).unwrap()
}

fn init_layout(layout: &Path) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
}

fn write_index(layout: &Path, manifests: Vec<serde_json::Value>) {
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
}

fn with_ref_name(mut desc: serde_json::Value, tag: &str) -> serde_json::Value {
    desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    desc
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn write_blob(layout: &Path, data: &[u8]) -> String {
    let digest = sha256(data);
    std::fs::write(blob_path(layout, &digest), data).unwrap();
    digest
}

fn descriptor(
    media_type: &str,
    digest: &str,
    layout: &Path,
    platform: Option<serde_json::Value>,
) -> serde_json::Value {
    let size = std::fs::metadata(blob_path(layout, digest)).unwrap().len();
    let mut d = serde_json::json!({"mediaType": media_type, "digest": digest, "size": size});
    if let Some(p) = platform {
        d["platform"] = p;
    }
    d
}

/// Writes layer, config and manifest blobs for one platform.
fn write_image(layout: &Path, arch: &str, variant: Option<&str>, busybox: bool) -> PlatformImage {
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    let marker = format!("etc/strata-test-platform-{arch}");
    for d in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join(&marker), format!("linux/{arch}\n")).unwrap();
    if busybox {
        ensure_tool(BUSYBOX, "busybox-static");
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    }
    let tar_bytes = Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
        ])
        .args([
            "--format=posix",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
        ])
        .arg("-C")
        .arg(&rootfs)
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(
        tar_bytes.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&tar_bytes.stderr)
    );
    let tar_bytes = tar_bytes.stdout;
    let diff_id = sha256(&tar_bytes);
    let tar_path = work.path().join("layer.tar");
    std::fs::write(&tar_path, &tar_bytes).unwrap();
    let gz = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(&tar_path)
        .output()
        .unwrap();
    assert!(gz.status.success(), "gzip failed");
    let layer_digest = write_blob(layout, &gz.stdout);
    let mut config = serde_json::json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "strata test harness"}],
    });
    if let Some(v) = variant {
        config["variant"] = v.into();
    }
    let config_digest = write_blob(layout, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config_digest, layout, None),
        "layers": [descriptor(OCI_LAYER, &layer_digest, layout, None)],
    });
    let manifest_digest = write_blob(layout, manifest.to_string().as_bytes());
    PlatformImage {
        platform: match variant {
            Some(v) => format!("linux/{arch}/{v}"),
            None => format!("linux/{arch}"),
        },
        manifest_digest,
        config_digest,
        layer_digests: vec![layer_digest],
        layer_sizes: vec![gz.stdout.len() as u64],
        marker,
    }
}
