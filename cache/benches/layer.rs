//! Writing and compressing layers (DESIGN.md section 11).
//!
//! - `write_layer/5k-files`: a 5,000-file upperdir (50 directories, 1-16 KiB
//!   files, some symlinks) written as a tar to a sink, then through gzip and
//!   zstd compressors as a build does;
//! - `compress/64MiB`: 64 MiB of layer-like data (text-like runs with some
//!   incompressible blocks) through gzip (zlib-rs) levels 1 and 6, zstd
//!   level 3 and no compression (digests only).
//!
//! Run with `cargo bench -p cache --bench layer`.
// Setup failures panic, as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::hint::black_box;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use cache::layer::{Compression, Compressor, WriteOptions, compress, write_layer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const DIRS: usize = 50;
const FILES_PER_DIR: usize = 100;
const COMPRESS_BYTES: usize = 64 << 20;

struct Rng(u64);

impl Rng {
    fn step(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Layer-like bytes: mostly text made of a small vocabulary (compresses about
/// 3-4x, like sources and configs), one block in eight random (like already
/// compressed or stripped binary data).
fn layer_like(len: usize, rng: &mut Rng) -> Vec<u8> {
    let words: Vec<String> = (0..512)
        .map(|_| {
            let n = 2 + (rng.step() % 10) as usize;
            (0..n)
                .map(|_| char::from(b'a' + (rng.step() % 26) as u8))
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(len + 4096);
    while out.len() < len {
        if rng.step().is_multiple_of(8) {
            for _ in 0..512 {
                out.extend_from_slice(&rng.step().to_le_bytes());
            }
        } else {
            for i in 0..400 {
                out.extend_from_slice(words[(rng.step() % 512) as usize].as_bytes());
                out.push(if i % 12 == 11 { b'\n' } else { b' ' });
            }
        }
    }
    out.truncate(len);
    out
}

/// The upperdir; returns the bytes of file content.
fn upperdir(root: &Path, rng: &mut Rng) -> u64 {
    let mut total = 0u64;
    for d in 0..DIRS {
        let dir = root.join(format!("usr/lib/pkg{d:02}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            let name = dir.join(format!("file{f:03}.so"));
            if f % 25 == 24 {
                symlink(format!("file{:03}.so", f - 1), &name).unwrap();
                continue;
            }
            let len = 1024 + (rng.step() % (15 * 1024)) as usize;
            fs::write(&name, layer_like(len, rng)).unwrap();
            total += len as u64;
        }
    }
    total
}

fn write_layer_bench(c: &mut Criterion) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let dir = tempfile::tempdir().unwrap();
    let bytes = upperdir(dir.path(), &mut rng);
    let opts = WriteOptions {
        source_date_epoch: Some(0),
        ..Default::default()
    };
    let stats = write_layer(dir.path(), io::sink(), opts.clone()).unwrap();
    assert_eq!(stats.files + stats.symlinks, (DIRS * FILES_PER_DIR) as u64);

    let mut g = c.benchmark_group("write_layer/5k-files");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("tar", |b| {
        b.iter(|| write_layer(black_box(dir.path()), io::sink(), opts.clone()).unwrap())
    });
    for (name, compression) in [
        ("gzip-6", Compression::Gzip { level: 6 }),
        ("zstd-3", Compression::Zstd { level: 3 }),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Compressor::new(compression, io::sink()).unwrap();
                write_layer(black_box(dir.path()), &mut out, opts.clone()).unwrap();
                out.finish().unwrap().0
            })
        });
    }
    g.finish();
}

fn compress_bench(c: &mut Criterion) {
    let data = layer_like(COMPRESS_BYTES, &mut Rng(0xd1b5_4a32_d192_ed03));
    let mut g = c.benchmark_group("compress/64MiB");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, compression) in [
        ("none", Compression::None),
        ("gzip-1", Compression::Gzip { level: 1 }),
        ("gzip-6", Compression::Gzip { level: 6 }),
        ("zstd-3", Compression::Zstd { level: 3 }),
    ] {
        let stats = compress(&data[..], compression, io::sink()).unwrap();
        let ratio = data.len() as f64 / stats.compressed_size as f64;
        eprintln!("compress/64MiB/{name}: ratio {ratio:.2}x");
        g.bench_function(name, |b| {
            b.iter(|| compress(black_box(&data[..]), compression, io::sink()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, write_layer_bench, compress_bench);
criterion_main!(benches);
