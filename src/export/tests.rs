//! End-to-end tests of the export module on real files: a base layer made here and
//! stored as a tar.gz, and step upperdirs made here (one adding files, one deleting a
//! base file with an overlay whiteout, one empty). Results are checked by reading the
//! blobs back and with skopeo and umoci; `docker load` only if a daemon answers.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use cache::layer::{Compression, MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_TAR_GZIP, MEDIA_TYPE_TAR_ZSTD};
use cache::records::Records;
use cache::{Digest, Root};
use frontend::image::{History, ImageSpec, Platform};
use serde_json::Value;
use solver::solve::BaseLayer;
use tempfile::TempDir;

use super::assemble::{DOCKER_CONFIG, DOCKER_MANIFEST, Image, OCI_CONFIG, OCI_MANIFEST};
use super::destination::Destination;
use super::error::ExportError;
use super::layers::LayerOrigin;
use super::{ExportOptions, Output, StepLayer, assemble};

/// The fixed `SOURCE_DATE_EPOCH` of the tests: 2001-09-09T01:46:40Z.
const EPOCH: i64 = 1_000_000_000;

/// A strata root with a base layer in its store, step upperdirs and a lowered spec.
struct Fixture {
    _dir: TempDir,
    root: Root,
    records: Records,
    base: Vec<BaseLayer>,
    steps: Vec<StepLayer>,
    spec: ImageSpec,
    work: PathBuf,
}

impl Fixture {
    /// Builds everything with file times set to `mtime`.
    fn new(mtime: SystemTime) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path().join("root")).unwrap();
        let records = Records::new(dir.path().join("root").join("index"));
        let base = vec![store_base_layer(&root)];
        let work = dir.path().join("work");

        let add = work.join("step-add");
        fs::create_dir_all(add.join("app")).unwrap();
        fs::write(add.join("app/hello.txt"), "hello\n").unwrap();
        fs::write(add.join("app/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        set_mode(&add.join("app/run.sh"), 0o755);
        std::os::unix::fs::symlink("hello.txt", add.join("app/link")).unwrap();
        let delete = work.join("step-delete");
        fs::create_dir_all(delete.join("etc")).unwrap();
        mknod_whiteout(&delete.join("etc/remove-me"));
        let empty = work.join("step-empty");
        fs::create_dir_all(&empty).unwrap();
        for path in [
            add.join("app/hello.txt"),
            add.join("app/run.sh"),
            add.join("app"),
            delete.join("etc"),
        ] {
            fs::File::open(&path).unwrap().set_modified(mtime).unwrap();
        }

        let steps = vec![
            StepLayer::new("step-add", add),
            StepLayer::new("step-delete", delete),
            StepLayer::new("step-empty", empty),
        ];
        let mut spec = ImageSpec::default();
        spec.config.env = vec!["PATH=/usr/bin:/bin".into()];
        spec.config.cmd = Some(vec!["/bin/tool".into()]);
        spec.config
            .labels
            .insert("from.dockerfile".into(), "1".into());
        spec.history = vec![
            History {
                created: Some("2020-01-01T00:00:00Z".into()),
                created_by: "base layer".into(),
                ..History::default()
            },
            history("COPY app /app # buildkit", false),
            history("ENV X=1", true),
            history("RUN /bin/sh -c rm /etc/remove-me # buildkit", false),
            history("RUN /bin/sh -c true # buildkit", false),
        ];
        Fixture {
            _dir: dir,
            root,
            records,
            base,
            steps,
            spec,
            work,
        }
    }

    fn assemble(&self, options: &ExportOptions) -> Result<Image, ExportError> {
        assemble(
            self.root.store(),
            &self.records,
            self.spec.clone(),
            &self.base,
            &self.steps,
            options,
        )
    }

    fn json(&self, digest: &Digest) -> Value {
        serde_json::from_slice(&self.root.store().read_all_verified(digest).unwrap()).unwrap()
    }
}

fn history(created_by: &str, empty_layer: bool) -> History {
    History {
        created_by: created_by.into(),
        empty_layer,
        ..History::default()
    }
}

fn options() -> ExportOptions {
    ExportOptions {
        source_date_epoch: Some(EPOCH),
        labels: BTreeMap::from([("extra".to_owned(), "yes".to_owned())]),
        platform: Platform::parse("linux/amd64").unwrap(),
        jobs: 2,
        ..ExportOptions::default()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// An overlayfs whiteout: a character device 0/0 (we run as root).
fn mknod_whiteout(path: &Path) {
    let status = Command::new("mknod")
        .arg(path)
        .args(["c", "0", "0"])
        .status()
        .unwrap();
    assert!(status.success(), "mknod {}", path.display());
}

/// The base image's one layer: `etc/os-release`, `etc/remove-me`, `bin/tool`, stored
/// gzip-compressed with OCI media type.
fn store_base_layer(root: &Root) -> BaseLayer {
    let mut builder = tar::Builder::new(Vec::new());
    let mut entry = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_500_000_000);
        h.set_size(data.len() as u64);
        builder.append_data(&mut h, path, data).unwrap();
    };
    entry("bin/", tar::EntryType::Directory, 0o755, b"");
    entry("bin/tool", tar::EntryType::Regular, 0o755, b"#!/bin/sh\n");
    entry("etc/", tar::EntryType::Directory, 0o755, b"");
    entry(
        "etc/os-release",
        tar::EntryType::Regular,
        0o644,
        b"ID=base\n",
    );
    entry("etc/remove-me", tar::EntryType::Regular, 0o644, b"doomed\n");
    let tar = builder.into_inner().unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let mut writer = store.writer(&lease).unwrap();
    let stats =
        cache::layer::compress(tar.as_slice(), Compression::default(), &mut writer).unwrap();
    let (digest, size) = writer.commit_computed().unwrap();
    assert_eq!(digest.to_string(), stats.digest);
    BaseLayer {
        diff_id: stats.diff_id,
        digest: stats.digest,
        size,
        media_type: MEDIA_TYPE_TAR_GZIP.to_owned(),
    }
}

/// Runs a command, asserts success, returns its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The entries of a tar file, path to content.
fn tar_entries(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

#[test]
fn assembles_config_manifest_and_history() {
    let f = Fixture::new(SystemTime::now());
    let image = f.assemble(&options()).unwrap();
    let origins: Vec<LayerOrigin> = image.layers.iter().map(|l| l.origin).collect();
    assert_eq!(
        origins,
        [
            LayerOrigin::Base,
            LayerOrigin::Written,
            LayerOrigin::Written
        ]
    );

    let config = f.json(&image.config.digest);
    let diff_ids: Vec<String> = image.layers.iter().map(|l| l.diff_id.to_string()).collect();
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(diff_ids));
    assert_eq!(diff_ids[0], f.base[0].diff_id);
    assert_eq!(config["created"], "2001-09-09T01:46:40Z");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Labels"]["extra"], "yes");
    assert_eq!(config["config"]["Labels"]["from.dockerfile"], "1");
    let history = config["history"].as_array().unwrap();
    let empty: Vec<bool> = history
        .iter()
        .map(|h| h["empty_layer"].as_bool().unwrap_or(false))
        .collect();
    // base, COPY, ENV, RUN rm (a whiteout), RUN true (empty diff: no layer)
    assert_eq!(empty, [false, false, true, false, true]);
    assert_eq!(history[0]["created"], "2020-01-01T00:00:00Z");
    assert!(
        history[1..]
            .iter()
            .all(|h| h["created"] == "2001-09-09T01:46:40Z")
    );

    let manifest = f.json(&image.manifest.digest);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(image.manifest.media_type, OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(
        manifest["config"]["digest"],
        image.config.digest.to_string()
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert!(layers.iter().all(|l| l["mediaType"] == MEDIA_TYPE_TAR_GZIP));
    assert_eq!(layers[0]["digest"], f.base[0].digest);
    // The field order is fixed: schemaVersion, mediaType, config, layers.
    let text = String::from_utf8(
        f.root
            .store()
            .read_all_verified(&image.manifest.digest)
            .unwrap(),
    )
    .unwrap();
    assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType""#), "{text}");
}

#[test]
fn docker_media_types_convert_base_layers_and_zstd_forces_oci() {
    let f = Fixture::new(SystemTime::now());
    let docker = ExportOptions {
        oci_mediatypes: false,
        ..options()
    };
    let image = f.assemble(&docker).unwrap();
    let manifest = f.json(&image.manifest.digest);
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], DOCKER_CONFIG);
    let layers = manifest["layers"].as_array().unwrap();
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"] == MEDIA_TYPE_DOCKER_GZIP),
        "{manifest}"
    );
    // The base layer keeps its blob; only its media type changed family.
    assert_eq!(layers[0]["digest"], f.base[0].digest);

    let plain = ExportOptions {
        oci_mediatypes: false,
        compression: Compression::None,
        ..options()
    };
    let image = f.assemble(&plain).unwrap();
    let types: Vec<&str> = image.layers.iter().map(|l| l.media_type.as_str()).collect();
    let docker_tar = "application/vnd.docker.image.rootfs.diff.tar";
    assert_eq!(types, [MEDIA_TYPE_DOCKER_GZIP, docker_tar, docker_tar]);
    // Uncompressed: the blob is the tar, digest and diffID agree.
    assert_eq!(image.layers[1].digest, image.layers[1].diff_id);

    let zstd = ExportOptions {
        oci_mediatypes: false,
        compression: Compression::Zstd { level: 3 },
        ..options()
    };
    let image = f.assemble(&zstd).unwrap();
    let manifest = f.json(&image.manifest.digest);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            MEDIA_TYPE_TAR_GZIP,
            MEDIA_TYPE_TAR_ZSTD,
            MEDIA_TYPE_TAR_ZSTD
        ]
    );
}

#[test]
fn same_epoch_gives_the_same_digest_in_another_root_with_other_mtimes() {
    let now = SystemTime::now();
    let a = Fixture::new(now);
    let b = Fixture::new(now - Duration::from_secs(86_400 * 30));
    let image_a = a.assemble(&options()).unwrap();
    let image_b = b.assemble(&options()).unwrap();
    assert_eq!(image_a.manifest, image_b.manifest);
    assert_eq!(image_a.config, image_b.config);
    assert_ne!(a.root.path(), b.root.path());
}

#[test]
fn a_recorded_blob_is_reused_and_a_collected_one_rewritten() {
    let f = Fixture::new(SystemTime::now());
    let first = f.assemble(&options()).unwrap();
    let record = f.records.blob("step-add", "gzip-6").unwrap().unwrap();
    assert_eq!(record.digest, first.layers[1].digest.to_string());
    assert!(f.records.blob("step-empty", "gzip-6").unwrap().is_none());

    let second = f.assemble(&options()).unwrap();
    let origins: Vec<LayerOrigin> = second.layers.iter().map(|l| l.origin).collect();
    assert_eq!(
        origins,
        [LayerOrigin::Base, LayerOrigin::Reused, LayerOrigin::Reused]
    );
    assert_eq!(first.manifest, second.manifest);

    // Another level is another blob: not reused.
    let level9 = ExportOptions {
        compression: Compression::Gzip { level: 9 },
        ..options()
    };
    assert_eq!(
        f.assemble(&level9).unwrap().layers[1].origin,
        LayerOrigin::Written
    );

    // A recorded blob that was garbage-collected is written again.
    fs::remove_file(f.root.store().path(&first.layers[1].digest)).unwrap();
    let third = f.assemble(&options()).unwrap();
    assert_eq!(third.layers[1].origin, LayerOrigin::Written);
    assert_eq!(third.layers[2].origin, LayerOrigin::Reused);
    assert_eq!(third.manifest, first.manifest);
}

#[test]
fn empty_steps_only_add_no_layer_and_missing_base_blobs_fail() {
    let mut f = Fixture::new(SystemTime::now());
    f.steps.drain(..2);
    f.spec.history.truncate(1);
    f.spec.history.push(history("RUN true", false));
    let image = f.assemble(&options()).unwrap();
    assert_eq!(image.layers.len(), 1);
    let config = f.json(&image.config.digest);
    assert_eq!(config["history"][1]["empty_layer"], true);

    fs::remove_file(f.root.store().path(&image.layers[0].digest)).unwrap();
    let err = f.assemble(&options()).unwrap_err();
    assert!(matches!(err, ExportError::MissingBaseLayer { .. }), "{err}");
}

#[test]
fn tagged_image_reads_with_skopeo_and_unpacks_with_umoci() {
    let f = Fixture::new(SystemTime::now());
    let image = f.assemble(&options()).unwrap();
    let names = super::normalize_names(&["app:1", "registry.example.com/team/app:2"]).unwrap();
    assert_eq!(names[0], "docker.io/library/app:1");
    super::tag(&image, &names).unwrap();
    let store = f.root.store();
    let found = store.resolve("docker.io/library/app:1").unwrap();
    assert_eq!(
        found.digest().to_string(),
        image.manifest.digest.to_string()
    );

    let store_dir = store.dir().to_str().unwrap();
    let inspect = run(
        "skopeo",
        &[
            "inspect",
            &format!("oci:{store_dir}:docker.io/library/app:1"),
        ],
    );
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], image.manifest.digest.to_string());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(inspect["Labels"]["extra"], "yes");

    let bundle = f.work.join("bundle");
    let bundle = bundle.to_str().unwrap();
    run(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{store_dir}:registry.example.com/team/app:2"),
            bundle,
        ],
    );
    let rootfs = Path::new(bundle).join("rootfs");
    assert_eq!(
        fs::read_to_string(rootfs.join("app/hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/os-release")).unwrap(),
        "ID=base\n"
    );
    assert!(rootfs.join("bin/tool").is_file());
    assert!(
        !rootfs.join("etc/remove-me").exists(),
        "the whiteout deletes the base file"
    );
}

#[test]
fn oci_archive_and_directory_read_with_skopeo() {
    let f = Fixture::new(SystemTime::now());
    let image = f.assemble(&options()).unwrap();
    let names = super::normalize_names(&["app:1"]).unwrap();
    let file = f.work.join("out/image.tar");
    let output = Output::parse(&format!("type=oci,dest={}", file.display())).unwrap();
    super::write_output(&image, &output, &names, f.root.scratch_dir()).unwrap();

    let entries = tar_entries(&file);
    assert_eq!(entries["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index: Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.manifest.digest.to_string());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/library/app:1"
    );
    for layer in &image.layers {
        assert!(entries.contains_key(&format!("blobs/sha256/{}", layer.digest.hex())));
    }
    let archive = format!("oci-archive:{}", file.display());
    let inspect: Value = serde_json::from_str(&run("skopeo", &["inspect", &archive])).unwrap();
    assert_eq!(inspect["Digest"], image.manifest.digest.to_string());
    // The same image gives the same archive bytes.
    let again = f.work.join("out/again.tar");
    let output = Output::parse(&format!("type=oci,dest={}", again.display())).unwrap();
    super::write_output(&image, &output, &names, f.root.scratch_dir()).unwrap();
    assert_eq!(fs::read(&file).unwrap(), fs::read(&again).unwrap());

    let dir = f.work.join("layout");
    let output = Output::parse(&format!("type=oci,dest={},tar=false", dir.display())).unwrap();
    super::write_output(&image, &output, &names, f.root.scratch_dir()).unwrap();
    let layout = format!("oci:{}:1", dir.display());
    let inspect: Value = serde_json::from_str(&run("skopeo", &["inspect", &layout])).unwrap();
    assert_eq!(inspect["Digest"], image.manifest.digest.to_string());
}

#[test]
fn docker_archive_has_docker_save_structure() {
    let f = Fixture::new(SystemTime::now());
    let docker = ExportOptions {
        oci_mediatypes: false,
        ..options()
    };
    let image = f.assemble(&docker).unwrap();
    let names = super::normalize_names(&["app:1"]).unwrap();
    let file = f.work.join("docker.tar");
    let output = Output::Docker {
        dest: Destination::File(file.clone()),
        names: vec![],
    };
    super::write_output(&image, &output, &names, f.root.scratch_dir()).unwrap();

    let entries = tar_entries(&file);
    let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    let manifest = &manifest[0];
    assert_eq!(manifest["RepoTags"], serde_json::json!(["app:1"]));
    let config_path = manifest["Config"].as_str().unwrap();
    assert_eq!(
        config_path,
        format!("blobs/sha256/{}", image.config.digest.hex())
    );
    let config: Value = serde_json::from_slice(&entries[config_path]).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    let layers = manifest["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for layer in layers {
        assert!(entries.contains_key(layer.as_str().unwrap()), "{layer}");
    }
    let repositories: Value = serde_json::from_slice(&entries["repositories"]).unwrap();
    assert!(repositories["app"]["1"].is_string(), "{repositories}");

    let archive = format!("docker-archive:{}", file.display());
    let inspect: Value = serde_json::from_str(&run("skopeo", &["inspect", &archive])).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);

    let daemon = Command::new("docker").arg("info").output();
    if !daemon.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping `docker load`: no docker daemon answers `docker info`");
        return;
    }
    let loaded = run("docker", &["load", "-i", file.to_str().unwrap()]);
    assert!(loaded.contains("app:1"), "{loaded}");
    let id = run(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", "app:1"],
    );
    assert_eq!(id.trim(), image.config.digest.to_string());
}

#[test]
fn local_and_tar_outputs_hold_the_final_filesystem() {
    let f = Fixture::new(SystemTime::now());
    let image = f.assemble(&options()).unwrap();
    let local = f.work.join("local");
    let output = Output::parse(local.to_str().unwrap()).unwrap();
    super::write_output(&image, &output, &[], f.root.scratch_dir()).unwrap();
    assert_eq!(
        fs::read_to_string(local.join("app/hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_link(local.join("app/link")).unwrap(),
        Path::new("hello.txt")
    );
    assert_eq!(
        fs::read_to_string(local.join("etc/os-release")).unwrap(),
        "ID=base\n"
    );
    assert!(!local.join("etc/remove-me").exists());

    let file = f.work.join("fs.tar");
    let output = Output::parse(&format!("type=tar,dest={}", file.display())).unwrap();
    super::write_output(&image, &output, &[], f.root.scratch_dir()).unwrap();
    let entries = tar_entries(&file);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "app/",
            "app/hello.txt",
            "app/link",
            "app/run.sh",
            "bin/",
            "bin/tool",
            "etc/",
            "etc/os-release"
        ]
    );
    assert_eq!(entries["app/hello.txt"], b"hello\n");
    // The scratch tree is gone.
    assert_eq!(fs::read_dir(f.root.scratch_dir()).unwrap().count(), 0);
}

#[test]
fn iidfile_and_metadata_file_name_the_digests() {
    let f = Fixture::new(SystemTime::now());
    let image = f.assemble(&options()).unwrap();
    let names = super::normalize_names(&["app:1", "app:2"]).unwrap();
    let iid = f.work.join("iid");
    super::write_iidfile(&image, &iid).unwrap();
    assert_eq!(
        fs::read_to_string(&iid).unwrap(),
        image.config.digest.to_string()
    );
    let meta = f.work.join("meta.json");
    super::write_metadata_file(&image, &names, &meta).unwrap();
    let meta: Value = serde_json::from_slice(&fs::read(&meta).unwrap()).unwrap();
    assert_eq!(
        meta["containerimage.digest"],
        image.manifest.digest.to_string()
    );
    assert_eq!(
        meta["containerimage.config.digest"],
        image.config.digest.to_string()
    );
    assert_eq!(meta["containerimage.descriptor"]["mediaType"], OCI_MANIFEST);
    assert_eq!(
        meta["image.name"],
        "docker.io/library/app:1,docker.io/library/app:2"
    );
}

#[test]
fn mount_stubs_reported_by_the_sandbox_are_left_out() {
    let mut f = Fixture::new(SystemTime::now());
    let dir = f.work.join("step-stubs");
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/hosts"), "").unwrap();
    fs::write(dir.join("data"), "kept\n").unwrap();
    let mut step = StepLayer::new("step-stubs", &dir);
    step.exclude.insert("/etc/hosts".into());
    f.steps = vec![step];
    f.spec.history.truncate(1);
    f.spec.history.push(history("RUN make", false));
    let image = f.assemble(&options()).unwrap();
    let local = f.work.join("local");
    super::write_output(
        &image,
        &Output::Local {
            dest: local.clone(),
        },
        &[],
        f.root.scratch_dir(),
    )
    .unwrap();
    assert_eq!(fs::read_to_string(local.join("data")).unwrap(), "kept\n");
    assert!(!local.join("etc/hosts").exists());
    assert!(
        local.join("etc/remove-me").exists(),
        "no whiteout in this build"
    );
}
