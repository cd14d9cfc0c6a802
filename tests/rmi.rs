//! End-to-end tests of `strata rmi` once a build cache exists: removing an image frees
//! the blobs only it referenced, keeps the layer blobs the build cache records pin (so a
//! rebuild is still a cache hit that reuses them) and keeps the base image's blobs; a
//! pulled image's blobs go too. The real binary runs against a root seeded by
//! `tests/support_build` and Debian's `docker-registry` started by the registry harness.
//! The tests need root (namespaces, overlayfs); elsewhere each one prints why it skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../registry-client/tests/support/mod.rs"]
mod support;
mod support_build;

use std::collections::BTreeSet;
use std::path::Path;

use support::{BaseImage, ImageFormat, Registry};
use support_build::{BASE, TestContext, strata_ok};

/// The digests of the blobs in the root's store.
fn blobs(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("store/blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

/// An image's manifest, config and layer digests, read from the store.
struct ImageBlobs {
    manifest: String,
    config: String,
    layers: Vec<String>,
}

impl ImageBlobs {
    fn read(root: &Path, name: &str) -> Self {
        let root = cache::Root::open(root).unwrap();
        let store = root.store();
        let descriptor = store.resolve(name).unwrap();
        let digest = cache::Digest::try_from(descriptor.digest()).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&store.read_all_verified(&digest).unwrap()).unwrap();
        let layers = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned())
            .collect();
        Self {
            manifest: digest.to_string(),
            config: manifest["config"]["digest"].as_str().unwrap().to_owned(),
            layers,
        }
    }
}

#[test]
fn rmi_after_a_build_keeps_cached_layers_and_frees_the_rest() {
    let Some(t) = TestContext::new("rmi_after_a_build_keeps_cached_layers_and_frees_the_rest")
    else {
        return;
    };
    let root = t.root().to_path_buf();
    let base = ImageBlobs::read(&root, &format!("docker.io/library/{BASE}"));
    let dockerfile = "FROM busybox\nRUN echo built > /built.txt\nCOPY app.txt /app.txt\nCMD [\"cat\", \"/app.txt\"]\n";
    let first = t.build_ok("app", dockerfile, &[("app.txt", "hello\n")], "demo:1");
    let image = ImageBlobs::read(&root, "docker.io/library/demo:1");
    let own: Vec<&String> = image
        .layers
        .iter()
        .filter(|l| !base.layers.contains(l))
        .collect();
    assert_eq!(own.len(), 2, "RUN and COPY each add a layer: {own:?}");
    assert!(
        root.join("index").is_file(),
        "the build wrote a cache index"
    );

    let (stdout, stderr) = strata_ok(&root, &["rmi", "demo:1"]);
    assert!(
        stdout.contains("Untagged: docker.io/library/demo:1"),
        "{stdout}"
    );
    let after = blobs(&root);
    // Only this image referenced its manifest and config: they are gone, and said so.
    for gone in [&image.manifest, &image.config] {
        assert!(
            !after.contains(gone),
            "{gone} survived rmi\n{stdout}{stderr}"
        );
        assert!(stdout.contains(&format!("Deleted: {gone}")), "{stdout}");
    }
    // The cache records pin the step layers; the base image is still tagged.
    for kept in own.iter().copied().chain(&base.layers) {
        assert!(after.contains(kept), "{kept} was collected\n{stdout}");
    }
    assert!(after.contains(&base.manifest) && after.contains(&base.config));
    assert!(
        !stderr.contains("blobs kept"),
        "the collection ran despite the cache index: {stderr}"
    );

    // The rebuild hits the cache for every step and reuses the pinned layer blobs.
    let ctx = t.dir().join("app");
    let second = t.build(&ctx, &["-t", "demo:1"]).ok();
    for step in ["RUN echo built", "COPY app.txt"] {
        assert!(
            second.step(step).cached,
            "{step} not CACHED:\n{}",
            second.stderr
        );
    }
    assert_eq!(second.image_id(), first.image_id());
    let rebuilt = ImageBlobs::read(&root, "docker.io/library/demo:1");
    assert_eq!(rebuilt.layers, image.layers);
    assert_eq!(rebuilt.manifest, image.manifest);
}

#[test]
fn rmi_of_a_pulled_image_frees_its_blobs_when_a_build_cache_exists() {
    let Some(t) =
        TestContext::new("rmi_of_a_pulled_image_frees_its_blobs_when_a_build_cache_exists")
    else {
        return;
    };
    let root = t.root().to_path_buf();
    // A build first, so that the root has a cache index with layer records.
    t.build_ok("app", "FROM busybox\nRUN echo x > /x\n", &[], "cached:1");
    assert!(root.join("index").is_file());
    let before = blobs(&root);

    let registry = Registry::start();
    let pulled = BaseImage::busybox();
    pulled.push(&registry.host(), "other:1", None, ImageFormat::Oci);
    let name = format!("{}/other:1", registry.host());
    strata_ok(&root, &["pull", &name]);
    let image = ImageBlobs::read(&root, &name);
    let added: BTreeSet<String> = blobs(&root).difference(&before).cloned().collect();
    assert!(added.contains(&image.manifest) && added.contains(&image.config));
    assert!(image.layers.iter().all(|l| added.contains(l)));

    let (stdout, _) = strata_ok(&root, &["rmi", &name]);
    assert!(stdout.contains(&format!("Untagged: {name}")), "{stdout}");
    assert_eq!(
        blobs(&root),
        before,
        "rmi removes exactly the pulled image's blobs\n{stdout}"
    );
    for layer in &image.layers {
        assert!(stdout.contains(&format!("Deleted: {layer}")), "{stdout}");
    }
}
