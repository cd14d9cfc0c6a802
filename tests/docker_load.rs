//! `strata build --output type=docker,dest=FILE.tar` loaded by a real docker daemon.
//!
//! The test starts its own `dockerd` (`tests/support_docker`: Debian's `docker.io`,
//! private data root and socket, no networking set-up), stopped when the test ends.
//! Without `dockerd` the test says so and skips; it needs root (the build's sandbox and
//! the daemon) and skips elsewhere, like the other build tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_build;
mod support_docker;

use std::fs;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;
use sha2::Digest as _;
use support_build::TestContext;
use support_docker::Dockerd;

/// The entries of a tar file: name -> bytes.
fn tar_entries(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Builds an image on busybox (a `RUN` layer, a `COPY` layer, `ENV`, `CMD`) exported
/// as a docker tarball; asserts the tarball's `docker save` structure; then the private
/// daemon loads it: `docker image inspect` gives the same image ID (config digest),
/// `Env`, `Cmd`, tags and layer diff IDs, and `docker run --network=none` runs it.
#[test]
fn docker_tarball_loads_into_a_real_docker_daemon_and_runs() {
    let Some(t) = TestContext::new("docker_tarball_loads_into_a_real_docker_daemon_and_runs")
    else {
        return;
    };
    let ctx = t.context(
        "app",
        &[
            (
                "Dockerfile",
                "FROM busybox:latest\nENV GREETING=hello\n\
                 RUN mkdir -p /app && echo \"$GREETING from run\" > /app/run.txt\n\
                 COPY app.txt /app/app.txt\nCMD [\"cat\", \"/app/run.txt\"]\n",
            ),
            ("app.txt", "the app file\n"),
        ],
    );
    let out = t.dir().join("out");
    fs::create_dir_all(&out).unwrap();
    let tarball = out.join("image.tar");
    let iidfile = out.join("iid");
    let output = format!("type=docker,dest={}", tarball.display());
    let iid_arg = iidfile.display().to_string();
    t.build(
        &ctx,
        &[
            "-t",
            "app:1",
            "-t",
            "example.com/team/app:2",
            "--output",
            &output,
            "--iidfile",
            &iid_arg,
        ],
    )
    .ok();
    let image_id = fs::read_to_string(&iidfile).unwrap();

    // The structure `docker save` writes, whether or not a daemon is here.
    let entries = tar_entries(&tarball);
    let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let manifest = &manifest.as_array().unwrap()[0];
    assert_eq!(
        manifest["RepoTags"],
        serde_json::json!(["app:1", "example.com/team/app:2"])
    );
    let config_path = manifest["Config"].as_str().unwrap();
    let config_bytes = &entries[config_path];
    assert_eq!(
        sha256(config_bytes),
        image_id,
        "Config is the image ID's blob"
    );
    let config: Value = serde_json::from_slice(config_bytes).unwrap();
    let layers = manifest["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "busybox, RUN, COPY");
    for layer in layers {
        assert!(entries.contains_key(layer.as_str().unwrap()), "{layer}");
    }
    let repositories: Value = serde_json::from_slice(&entries["repositories"]).unwrap();
    assert!(repositories["app"]["1"].is_string(), "{repositories}");
    assert!(entries.contains_key("index.json") && entries.contains_key("oci-layout"));

    let Some(daemon) = Dockerd::start() else {
        return;
    };
    let tarball_arg = tarball.display().to_string();
    let loaded = daemon.docker_ok(&["load", "-i", &tarball_arg]);
    assert!(loaded.contains("Loaded image: app:1"), "{loaded}");
    assert!(
        loaded.contains("Loaded image: example.com/team/app:2"),
        "{loaded}"
    );

    let inspect: Value =
        serde_json::from_str(&daemon.docker_ok(&["image", "inspect", "app:1"])).unwrap();
    let inspect = &inspect[0];
    assert_eq!(inspect["Id"], image_id.as_str());
    let mut tags: Vec<&str> = inspect["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["app:1", "example.com/team/app:2"]);
    assert_eq!(inspect["Config"]["Env"], config["config"]["Env"]);
    assert!(
        inspect["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "GREETING=hello"),
        "{inspect}"
    );
    assert_eq!(
        inspect["Config"]["Cmd"],
        serde_json::json!(["cat", "/app/run.txt"])
    );
    assert_eq!(inspect["RootFS"]["Layers"], config["rootfs"]["diff_ids"]);

    // runc under the private daemon: the image's CMD, and a file of the COPY layer.
    let ran = daemon.docker_ok(&["run", "--rm", "--network=none", "app:1"]);
    assert_eq!(ran, "hello from run\n");
    let ran = daemon.docker_ok(&[
        "run",
        "--rm",
        "--network=none",
        "example.com/team/app:2",
        "cat",
        "/app/app.txt",
    ]);
    assert_eq!(ran, "the app file\n");
}
