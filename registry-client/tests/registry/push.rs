//! Pushing: blobs (skip, mount, monolithic, chunked, resumed) and manifests, checked with
//! skopeo, a tool we did not write.

use bytes::Bytes;
use registry_client::{
    BlobPushed, Client, Descriptor, FileSource, OCI_MANIFEST, PushConfig, Reference, UploadMode,
};

use super::support::{BaseImage, Fault, FaultProxy, FaultRule, Registry, skopeo_inspect};
use super::{client, config, reference};

/// Pushes the layout's single image (config, layers, then manifest) to `r` under `tags`.
async fn push_layout(
    client: &Client,
    r: &Reference,
    image: &BaseImage,
    tags: &[&str],
) -> (String, Vec<BlobPushed>) {
    let layout = image.layout();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let img = &image.images[0];
    let manifest = std::fs::read(blob(&img.manifest_digest)).unwrap();
    let mut outcomes = Vec::new();
    for d in std::iter::once(&img.config_digest).chain(&img.layer_digests) {
        let size = std::fs::metadata(blob(d)).unwrap().len();
        let desc = Descriptor::new(
            "application/octet-stream".into(),
            size,
            d.parse::<registry_client::Digest>().unwrap(),
        );
        outcomes.push(
            client
                .push_blob(r, &desc, &FileSource(blob(d)), None)
                .await
                .unwrap(),
        );
    }
    let digest = client
        .push_manifest(r, tags, OCI_MANIFEST, Bytes::from(manifest))
        .await
        .unwrap();
    assert_eq!(digest.to_string(), img.manifest_digest);
    (digest.to_string(), outcomes)
}

fn chunked_client(chunk_size: u64) -> Client {
    let mut c = config();
    c.push = PushConfig {
        mode: UploadMode::Chunked,
        chunk_size,
    };
    Client::new(c).unwrap()
}

fn count(proxy: &FaultProxy, method: &str, path: &str) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path))
        .count()
}

#[tokio::test]
async fn push_is_visible_to_skopeo_and_a_second_push_uploads_nothing() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    let image = BaseImage::busybox();
    let client = client();
    let r = reference(&proxy.host(), "pushed/busybox:v1");
    client.check_push_access(&r).await.unwrap();
    let (digest, outcomes) = push_layout(&client, &r, &image, &["v1", "latest"]).await;
    assert_eq!(outcomes, vec![BlobPushed::Uploaded, BlobPushed::Uploaded]);

    for tag in ["v1", "latest"] {
        let seen = skopeo_inspect(
            &format!("{}/pushed/busybox:{tag}", registry.host()),
            None,
            false,
        );
        assert_eq!(seen["Digest"], digest.as_str(), "{seen}");
        assert_eq!(seen["Layers"][0], image.images[0].layer_digests[0].as_str());
    }
    // Monolithic: one POST and one PUT per blob, no PATCH.
    assert_eq!(count(&proxy, "PATCH", "/blobs/uploads/"), 0);
    assert_eq!(count(&proxy, "PUT", "/blobs/uploads/"), 2);

    proxy.clear_requests();
    let (_, outcomes) = push_layout(&client, &r, &image, &["v1"]).await;
    assert_eq!(outcomes, vec![BlobPushed::Exists, BlobPushed::Exists]);
    let log = proxy.requests();
    assert!(
        log.iter()
            .all(|r| r.method == "HEAD" || (r.method == "PUT" && r.path.contains("/manifests/"))),
        "{log:#?}"
    );
}

#[tokio::test]
async fn forced_chunked_upload() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    let image = BaseImage::busybox();
    let client = chunked_client(256 * 1024);
    let r = reference(&proxy.host(), "chunked/busybox:latest");
    let (digest, _) = push_layout(&client, &r, &image, &["latest"]).await;
    let layer_size = image.images[0].layer_sizes[0];
    let expected_patches = layer_size.div_ceil(256 * 1024) as usize + 1; // + the config
    assert_eq!(count(&proxy, "PATCH", "/blobs/uploads/"), expected_patches);
    let seen = skopeo_inspect(
        &format!("{}/chunked/busybox:latest", registry.host()),
        None,
        false,
    );
    assert_eq!(seen["Digest"], digest.as_str());
}

#[tokio::test]
async fn rejected_monolithic_upload_falls_back_to_chunked() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    proxy.set_rules(vec![
        FaultRule::new("PUT", "/blobs/uploads/", 1, Fault::Status(413)).times(1),
    ]);
    let image = BaseImage::busybox();
    let client = client();
    let r = reference(&proxy.host(), "fallback/busybox:latest");
    let (digest, _) = push_layout(&client, &r, &image, &["latest"]).await;
    assert_eq!(proxy.faults_fired(), 1);
    assert!(count(&proxy, "PATCH", "/blobs/uploads/") >= 1);
    let seen = skopeo_inspect(
        &format!("{}/fallback/busybox:latest", registry.host()),
        None,
        false,
    );
    assert_eq!(seen["Digest"], digest.as_str());
}

#[tokio::test]
async fn interrupted_uploads_resume_from_the_registry_offset() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    let image = BaseImage::busybox();
    let chunk = 256 * 1024;

    // Chunked: the third PATCH's connection drops; the upload asks where the registry
    // is (GET -> 204 + Range) and continues there.
    proxy.set_rules(vec![
        FaultRule::new("PATCH", "/blobs/uploads/", 3, Fault::DropConnection).times(1),
    ]);
    let client = chunked_client(chunk);
    let r = reference(&proxy.host(), "resumed/busybox:latest");
    let (digest, _) = push_layout(&client, &r, &image, &["latest"]).await;
    assert_eq!(proxy.faults_fired(), 1);
    let log = proxy.requests();
    assert!(
        log.iter()
            .any(|r| r.method == "GET" && r.path.contains("/blobs/uploads/") && r.status == 204),
        "{log:#?}"
    );
    let layer_patches = image.images[0].layer_sizes[0].div_ceil(chunk) as usize;
    // Every chunk was sent once, plus the one whose connection dropped, plus the config.
    assert_eq!(
        count(&proxy, "PATCH", "/blobs/uploads/"),
        layer_patches + 2,
        "{log:#?}"
    );
    let seen = skopeo_inspect(
        &format!("{}/resumed/busybox:latest", registry.host()),
        None,
        false,
    );
    assert_eq!(seen["Digest"], digest.as_str());

    // Monolithic: a 500 on the PUT is retried (resumed or restarted) and succeeds.
    proxy.clear_requests();
    proxy.set_rules(vec![
        FaultRule::new("PUT", "/blobs/uploads/", 1, Fault::Status(500)).times(1),
    ]);
    let r = reference(&proxy.host(), "resumed2/busybox:latest");
    let (digest, _) = push_layout(&super::client(), &r, &image, &["latest"]).await;
    assert_eq!(proxy.faults_fired(), 1);
    let seen = skopeo_inspect(
        &format!("{}/resumed2/busybox:latest", registry.host()),
        None,
        false,
    );
    assert_eq!(seen["Digest"], digest.as_str());
}

#[tokio::test]
async fn cross_repository_mount() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    let image = BaseImage::busybox();
    let client = client();
    let source = reference(&proxy.host(), "source/busybox:latest");
    push_layout(&client, &source, &image, &["latest"]).await;

    proxy.clear_requests();
    let target = reference(&proxy.host(), "target/busybox:latest");
    let layer = &image.images[0].layer_digests[0];
    let path = image
        .layout()
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let desc = Descriptor::new(
        "application/octet-stream".into(),
        image.images[0].layer_sizes[0],
        layer.parse::<registry_client::Digest>().unwrap(),
    );
    let outcome = client
        .push_blob(&target, &desc, &FileSource(path), Some(&source))
        .await
        .unwrap();
    assert_eq!(outcome, BlobPushed::Mounted);
    assert!(client.blob_exists(&target, desc.digest()).await.unwrap());
    let log = proxy.requests();
    assert!(
        log.iter()
            .any(|r| r.method == "POST" && r.path.contains("mount=") && r.status == 201),
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|r| r.method == "PUT" || r.method == "PATCH"),
        "no bytes sent: {log:#?}"
    );
}
