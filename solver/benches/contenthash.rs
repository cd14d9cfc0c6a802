//! Hashing a 20k-file build context (DESIGN.md section 11).
//!
//! - `cold`: no memo, every file is read and hashed (the page cache is warm
//!   after the first iteration, so this measures hashing, not the disk);
//! - `memo-warm`: a memo that already knows every file, as on a no-op
//!   rebuild: one `stat` per entry and no read;
//! - `one-file`: a selection of a single file in the same tree, as for
//!   `COPY one-file /` from a large context.
//!
//! Run with `cargo bench -p solver --bench contenthash`.
// Setup failures panic, as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use solver::contenthash::{ContentHasher, MemoryMemo, NoMemo, Selection};

const DIRS: usize = 200;
const FILES_PER_DIR: usize = 100;

/// `DIRS` x `FILES_PER_DIR` files of 64 B to 4 KiB each; returns the total size.
fn tree(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for d in 0..DIRS {
        let dir = root.join(format!("pkg{d:03}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 64 + (x % 4032) as usize;
            let line = format!("// pkg{d} file{f} {x:016x}\n");
            let body = line.repeat(len / line.len() + 1);
            fs::write(dir.join(format!("f{f:03}.rs")), &body.as_bytes()[..len]).unwrap();
            total += len as u64;
        }
    }
    total
}

fn sel(source: &str) -> Selection {
    Selection {
        sources: vec![source.to_owned()],
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tree(dir.path());
    let root = dir.path();
    let all = sel(".");

    let mut g = c.benchmark_group("contenthash-20k");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("cold", |b| {
        b.iter(|| {
            ContentHasher::new(&NoMemo)
                .hash(black_box(root), &all)
                .unwrap()
        })
    });

    let memo = MemoryMemo::new();
    let first = ContentHasher::new(&memo).hash(root, &all).unwrap();
    assert_eq!(first.stats.files_read, (DIRS * FILES_PER_DIR) as u64);
    g.throughput(Throughput::Elements((DIRS * FILES_PER_DIR) as u64));
    g.bench_function("memo-warm", |b| {
        b.iter(|| {
            let r = ContentHasher::new(&memo)
                .hash(black_box(root), &all)
                .unwrap();
            debug_assert_eq!(r.stats.files_read, 0);
            r
        })
    });
    g.finish();

    let one = sel("pkg100/f050.rs");
    c.bench_function("contenthash-20k/one-file", |b| {
        b.iter(|| {
            ContentHasher::new(&NoMemo)
                .hash(black_box(root), &one)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
