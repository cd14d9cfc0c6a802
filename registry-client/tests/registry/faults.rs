//! Pulls through the fault-injecting proxy: retries, backoff, resumption, verification.

use registry_client::{ErrorKind, WriterSink};

use super::support::{BaseImage, Fault, FaultProxy, FaultRule, ImageFormat, Registry, sha256};
use super::{client, reference};

struct Setup {
    _registry: Registry,
    proxy: FaultProxy,
    image: BaseImage,
}

fn setup() -> Setup {
    let registry = Registry::start();
    let image = BaseImage::multi_platform();
    image.push(&registry.host(), "busybox:latest", None, ImageFormat::Oci);
    let proxy = FaultProxy::start(registry.addr);
    Setup {
        _registry: registry,
        proxy,
        image,
    }
}

#[tokio::test]
async fn pull_succeeds_through_5xx_429_and_dropped_connections() {
    let s = setup();
    s.proxy.set_rules(vec![
        FaultRule::new("GET", "/manifests/", 2, Fault::Status(503)),
        FaultRule::new("GET", "/manifests/", 2, Fault::DropMidBody),
        FaultRule::new("GET", "/blobs/", 3, Fault::Status(500)),
        FaultRule::new("GET", "/blobs/", 3, Fault::RetryAfter(429, 0)),
        FaultRule::new("GET", "/blobs/", 2, Fault::DropMidBody),
        FaultRule::new("", "", 11, Fault::Status(502)),
    ]);
    let client = client();
    let r = reference(&s.proxy.host(), "busybox:latest");
    for want in &s.image.images {
        let resolved = match client
            .resolve_for(&r, &want.platform.parse().unwrap())
            .await
        {
            Ok(r) => r,
            Err(e) => panic!("{e}\n{:#?}", s.proxy.requests()),
        };
        assert_eq!(resolved.manifest.digest.to_string(), want.manifest_digest);
        for layer in &resolved.layers {
            let mut buf = Vec::new();
            if let Err(e) = client.fetch_blob(&r, layer, &mut buf).await {
                panic!("{e}\n{:#?}", s.proxy.requests());
            }
            assert_eq!(sha256(&buf), layer.digest().to_string());
        }
    }
    let log = s.proxy.requests();
    let fired = s.proxy.faults_fired();
    assert!(fired >= 4, "faults fired: {fired}\n{log:#?}");
    assert!(log.iter().any(|r| r.status == 429));
    assert!(
        log.iter()
            .any(|r| r.fault.as_deref() == Some("DropMidBody"))
    );
}

#[tokio::test]
async fn dropped_download_resumes_with_a_range_request() {
    let s = setup();
    s.proxy.set_rules(vec![
        FaultRule::new("GET", "/blobs/", 1, Fault::DropMidBody).times(1),
    ]);
    let client = client();
    let r = reference(&s.proxy.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();
    // The config fetch took the fault; the layer then downloads normally.
    let layer = &resolved.layers[0];
    s.proxy.set_rules(vec![
        FaultRule::new("GET", "/blobs/", 1, Fault::DropMidBody).times(1),
    ]);
    s.proxy.clear_requests();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer");
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    client.fetch_blob(&r, layer, &mut file).await.unwrap();
    drop(file);
    assert_eq!(super::file_digest(&path), layer.digest().to_string());
    let log = s.proxy.requests();
    assert_eq!(log.len(), 2, "{log:#?}");
    let range = log[1].range.as_deref().expect("second request is ranged");
    let offset: u64 = range
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert_eq!(offset, layer.size() / 2, "resumed where the body was cut");
    assert_eq!(log[1].status, 206);
}

#[tokio::test]
async fn unresumable_download_restarts_or_fails_clearly() {
    let s = setup();
    let client = client();
    let r = reference(&s.proxy.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();
    let layer = &resolved.layers[0];
    let rules = || {
        vec![
            FaultRule::new("GET", "/blobs/", 1, Fault::DropMidBody).times(1),
            FaultRule::new("GET", "/blobs/", 1, Fault::IgnoreRange),
        ]
    };

    // A sink that can rewind: the blob restarts from byte 0.
    s.proxy.set_rules(rules());
    let mut buf = Vec::new();
    client.fetch_blob(&r, layer, &mut buf).await.unwrap();
    assert_eq!(sha256(&buf), layer.digest().to_string());

    // A sink that cannot rewind: a clear error, not a corrupt blob.
    s.proxy.set_rules(rules());
    let mut sink = WriterSink(Vec::new());
    let err = client.fetch_blob(&r, layer, &mut sink).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("cannot rewind"), "{err}");
}

#[tokio::test]
async fn corrupted_blob_is_a_digest_mismatch() {
    let s = setup();
    let client = client();
    let r = reference(&s.proxy.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();
    s.proxy.set_rules(vec![FaultRule::new(
        "GET",
        "/blobs/",
        1,
        Fault::CorruptBody,
    )]);
    let err = client
        .fetch_blob(&r, &resolved.layers[0], &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    assert!(
        err.to_string()
            .contains(&resolved.layers[0].digest().to_string()),
        "{err}"
    );

    // A corrupted manifest fetched by digest is caught too.
    s.proxy.set_rules(vec![FaultRule::new(
        "GET",
        "/manifests/sha256:",
        1,
        Fault::CorruptBody,
    )]);
    let err = client.resolve(&resolved.pinned()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
}

#[tokio::test]
async fn persistent_failure_gives_up_as_unavailable() {
    let s = setup();
    s.proxy.set_rules(vec![FaultRule::new(
        "GET",
        "/manifests/",
        1,
        Fault::Status(503),
    )]);
    let client = client();
    let r = reference(&s.proxy.host(), "busybox:latest");
    let err = client.resolve(&r).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("fault injected: 503"), "{err}");
    // One attempt plus max_retries (6) retries.
    assert_eq!(s.proxy.requests().len(), 7);
}

#[tokio::test]
async fn at_most_n_concurrent_requests_per_host() {
    let s = setup();
    let mut config = super::config();
    config.transport.max_concurrent_per_host = 2;
    let client = registry_client::Client::new(config).unwrap();
    let r = reference(&s.proxy.host(), "busybox:latest");
    let resolved = client.resolve(&r).await.unwrap();
    s.proxy
        .set_rules(vec![FaultRule::new("GET", "/blobs/", 1, Fault::Delay(100))]);
    // Spawned tasks: the client's futures are Send and the client is cheap to clone.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, r, layer) = (client.clone(), r.clone(), resolved.layers[0].clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                client
                    .fetch_blob(&r, &layer, &mut buf)
                    .await
                    .map(|_| sha256(&buf))
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.unwrap().unwrap(),
            resolved.layers[0].digest().to_string()
        );
    }
    assert_eq!(s.proxy.max_in_flight(), 2);
}
