//! Shared by `tests/store.rs` and `tests/crash.rs`: real OCI images to write, a checker
//! of a store's on-disk invariants, and re-running the test binary as a child process.

// Each test binary uses part of this module; helpers panic on failure like tests do.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cache::oci_spec::image::{Descriptor, MediaType};
use cache::{Digest, Lease, Store};

/// A small real image: a gzip layer holding `/hello.txt` and `/data.bin`, its config and
/// its manifest.
pub struct TestImage {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

/// Deterministic, poorly compressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

impl TestImage {
    /// An image whose layer holds `data_len` bytes of noise derived from `seed`.
    pub fn new(seed: u64, data_len: usize) -> TestImage {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data, mode) in [
            ("hello.txt", b"hello from strata\n".to_vec(), 0o644),
            ("data.bin", noise(seed, data_len), 0o600),
        ] {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_mtime(1_700_000_000);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, &data[..]).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let diff_id = Digest::of(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let layer = gz.finish().unwrap();

        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Cmd": ["/bin/sh"], "Env": ["PATH=/bin"] },
            "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
            "history": [{ "created_by": format!("strata test image {seed}") }],
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": Digest::of(&config).to_string(),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": Digest::of(&layer).to_string(),
                "size": layer.len(),
            }],
        }))
        .unwrap();
        TestImage {
            layer,
            config,
            manifest,
        }
    }

    /// The blobs in the order a pull writes them: layer, config, manifest.
    pub fn blobs(&self) -> [&[u8]; 3] {
        [&self.layer, &self.config, &self.manifest]
    }

    pub fn digests(&self) -> [Digest; 3] {
        self.blobs().map(Digest::of)
    }

    pub fn manifest_descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::ImageManifest,
            self.manifest.len() as u64,
            Digest::of(&self.manifest),
        )
    }

    /// Writes every blob through a writer in 64 KiB chunks and commits it with its
    /// expected size and digest, as a pull would.
    pub fn write(&self, store: &Store, lease: &Lease) {
        for blob in self.blobs() {
            write_chunked(store, lease, blob);
        }
    }
}

/// Writes one blob in 64 KiB chunks and commits it with its expected size and digest.
pub fn write_chunked(store: &Store, lease: &Lease, blob: &[u8]) {
    let mut writer = store.writer(lease).unwrap();
    for chunk in blob.chunks(64 * 1024) {
        writer.write_all(chunk).unwrap();
    }
    writer.commit(blob.len() as u64, &Digest::of(blob)).unwrap();
}

/// Asserts the invariants of a store at rest: every file in `blobs/sha256` hashes to its
/// name, `index.json` parses, and every tagged manifest is present and verifies.
pub fn assert_store_valid(root: &Path) {
    let blobs = root.join("store/blobs/sha256");
    for entry in fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let data = fs::read(entry.path()).unwrap();
        assert_eq!(
            Digest::of(&data).hex(),
            name,
            "blob `{}` does not hash to its name",
            entry.path().display()
        );
    }
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("store/index.json")).unwrap()).unwrap();
    for entry in index["manifests"].as_array().unwrap() {
        let digest = Digest::parse(entry["digest"].as_str().unwrap()).unwrap();
        let data = fs::read(blobs.join(digest.hex())).unwrap();
        assert_eq!(Digest::of(&data), digest);
    }
}

/// The entries of `<root>/tmp/`.
pub fn tmp_entries(root: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(root.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// A command re-running this test binary for the single test `test_name` (a child-mode
/// entry point that does nothing unless its environment variables are set).
pub fn self_command(test_name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"]);
    cmd
}

/// Waits until `path` exists (a child's "ready" marker) and returns its content.
pub fn wait_for_file(path: &Path, child: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(content) = fs::read_to_string(path)
            && content.ends_with('\n')
        {
            return content;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "child exited with {status} before writing `{}`",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for `{}`",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
