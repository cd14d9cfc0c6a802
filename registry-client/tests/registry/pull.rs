//! Pulling: manifests, configs, layers, platforms, verification.

use registry_client::{Descriptor, ErrorKind, Platform};

use super::support::{BaseImage, ImageFormat, Registry, sha256};
use super::{client, reference};

#[tokio::test]
async fn pull_anonymous_oci_image() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(&registry.host(), "busybox:latest", None, ImageFormat::Oci);
    let want = &image.images[0];

    let client = client();
    let r = reference(&registry.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();
    assert!(resolved.index.is_none());
    assert_eq!(resolved.manifest.digest.to_string(), want.manifest_digest);
    assert_eq!(resolved.manifest.media_type, registry_client::OCI_MANIFEST);
    assert_eq!(
        resolved.config_descriptor.digest().to_string(),
        want.config_digest
    );
    assert_eq!(sha256(&resolved.config_bytes), want.config_digest);
    assert_eq!(resolved.config.os().to_string(), "linux");
    assert_eq!(resolved.layers.len(), 1);
    assert_eq!(
        resolved.pinned().digest().unwrap().to_string(),
        want.manifest_digest
    );

    for layer in &resolved.layers {
        let mut buf = Vec::new();
        let n = client.fetch_blob(&r, layer, &mut buf).await.unwrap();
        assert_eq!(n, layer.size());
        assert_eq!(sha256(&buf), layer.digest().to_string());
    }
    // The pinned reference resolves to the same manifest.
    let again = client.resolve(&resolved.pinned()).await.unwrap();
    assert_eq!(again.manifest.digest, resolved.manifest.digest);
}

#[tokio::test]
async fn pull_docker_schema2_image() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "docker/busybox:v2",
        None,
        ImageFormat::Docker,
    );
    let client = client();
    let r = reference(&registry.host(), "docker/busybox:v2");
    let resolved = client.resolve(&r).await.unwrap();
    assert_eq!(
        resolved.manifest.media_type,
        registry_client::DOCKER_MANIFEST
    );
    assert_eq!(resolved.layers.len(), 1);
    let mut buf = Vec::new();
    client
        .fetch_blob(&r, &resolved.layers[0], &mut buf)
        .await
        .unwrap();
    assert_eq!(sha256(&buf), resolved.layers[0].digest().to_string());
}

#[tokio::test]
async fn platform_selection_from_index() {
    let registry = Registry::start();
    let image = BaseImage::multi_platform();
    image.push(&registry.host(), "multi:latest", None, ImageFormat::Oci);
    let client = client();
    let r = reference(&registry.host(), "multi:latest");

    for want in &image.images {
        let platform: Platform = want.platform.parse().unwrap();
        let resolved = client.resolve_for(&r, &platform).await.unwrap();
        let index = resolved.index.as_ref().expect("resolved through the index");
        assert!(index.is_index());
        assert_eq!(Some(index.digest.to_string()), image.index_digest);
        assert_eq!(
            resolved.manifest.digest.to_string(),
            want.manifest_digest,
            "{platform}"
        );
        assert_eq!(
            resolved.layers[0].digest().to_string(),
            want.layer_digests[0]
        );
        assert_eq!(
            resolved.config.architecture().to_string(),
            platform.architecture
        );
    }
    // arm64 without a variant matches the v8 entry.
    let arm = client
        .resolve_for(&r, &"linux/arm64".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(arm.config.architecture().to_string(), "arm64");

    let err = client
        .resolve_for(&r, &"linux/riscv64".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PlatformNotFound);
    let msg = err.to_string();
    assert!(
        msg.contains("linux/riscv64") && msg.contains("linux/amd64") && msg.contains("linux/arm64"),
        "{msg}"
    );
}

#[tokio::test]
async fn blob_streamed_into_a_file_has_the_right_digest() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(&registry.host(), "busybox:latest", None, ImageFormat::Oci);
    let client = client();
    let r = reference(&registry.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer");
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    client
        .fetch_blob(&r, &resolved.layers[0], &mut file)
        .await
        .unwrap();
    drop(file);
    assert_eq!(super::file_digest(&path), image.images[0].layer_digests[0]);
    assert!(
        resolved.layers[0].size() > 500_000,
        "the busybox layer is a real blob"
    );
}

#[tokio::test]
async fn wrong_size_and_missing_objects() {
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(&registry.host(), "busybox:latest", None, ImageFormat::Oci);
    let client = client();
    let r = reference(&registry.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();

    let layer = &resolved.layers[0];
    let short = Descriptor::new(
        layer.media_type().clone(),
        layer.size() - 1,
        layer.digest().clone(),
    );
    let err = client
        .fetch_blob(&r, &short, &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");

    let err = client
        .resolve(&reference(&registry.host(), "busybox:nope"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");

    let err = client
        .resolve(&reference(&registry.host(), "nothing/here"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
