//! The cache index: step records, context-hash memos and layer blobs, in redb.
//!
//! One small embedded database (`<root>/index`) answers the three questions a
//! warm build asks: "has this step (by cache key) been run, and where is its
//! snapshot?", "has this context file (by inode, size, times and mode) been
//! hashed before?", and "has this layer been compressed before, and which blob
//! holds it?". Values are JSON so the format can grow fields; the schema
//! version is part of the table names.
//!
//! Every [`Records`] of one index in a process shares one open handle
//! (`handle.rs`), and several strata processes may share a root: redb's
//! multi-writer mode lets each hold its own handle, one write transaction at a
//! time. A transaction is short (a lookup or a handful of inserts).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

mod handle;

const STEPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("steps.v1");
const MEMO: TableDefinition<&[u8], &[u8]> = TableDefinition::new("context-memo.v1");
const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("layer-blobs.v1");
const LAST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("last-inputs.v1");
const HTTP: TableDefinition<&[u8], &[u8]> = TableDefinition::new("http.v1");

/// Errors of the cache index.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The database could not be opened or used.
    #[error("cache index `{path}`: {message}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        message: String,
    },
    /// A record did not decode (written by an incompatible version).
    #[error("cache index `{path}`: corrupt record: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What failed to decode.
        message: String,
    },
}

/// What a cached step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The snapshot directory name under `snapshots/` holding the step's diff.
    pub snapshot: String,
    /// Unix seconds when the step ran.
    pub created: i64,
    /// Unix seconds of the last cache hit, for LRU pruning.
    pub last_used: i64,
}

/// A compressed layer blob in the content store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Digest of the uncompressed layer (`sha256:...`), the image config's diffID.
    pub diff_id: String,
    /// Digest of the compressed blob (`sha256:...`).
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its OCI media type.
    pub media_type: String,
}

/// What the last download of an `ADD <url>` source gave, for a conditional
/// request (`If-None-Match` / `If-Modified-Since`) the next time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRecord {
    /// The response's `ETag`, verbatim.
    pub etag: Option<String>,
    /// The response's `Last-Modified`, verbatim.
    pub last_modified: Option<String>,
    /// Content digest of the downloaded file (`sha256:...`).
    pub digest: String,
    /// The directory name under `snapshots/` holding the file.
    pub snapshot: String,
}

/// One raw row of a table: key and value bytes.
type Row = (Vec<u8>, Vec<u8>);

/// What [`Records::remove`] removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// Step records, by cache key.
    pub steps: Vec<[u8; 32]>,
    /// Layer-blob records, by name (`<layer>/<compression>`, see [`Records::blob_keys`]).
    pub blobs: Vec<String>,
    /// Download records, by source name.
    pub http: Vec<String>,
    /// Every step's last inputs (what `--explain-cache` compares with).
    pub last_inputs: bool,
    /// Every memoised context-file digest.
    pub memos: bool,
}

/// The cache index of one strata root.
#[derive(Debug, Clone)]
pub struct Records {
    path: PathBuf,
    shared: Arc<handle::Shared>,
}

impl Records {
    /// The index stored at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let shared = handle::shared(&path);
        Self { path, shared }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db_err(&self, e: impl std::fmt::Display) -> RecordsError {
        RecordsError::Database {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn open(&self) -> Result<Arc<Database>, RecordsError> {
        self.shared.get().map_err(|e| self.db_err(e))
    }

    fn get_raw(
        &self,
        table: TableDefinition<&[u8], &[u8]>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, RecordsError> {
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.db_err(e))?;
        let t = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.db_err(e)),
        };
        let value = t.get(key).map_err(|e| self.db_err(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn put_raw(
        &self,
        table: TableDefinition<&[u8], &[u8]>,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), RecordsError> {
        let db = self.open()?;
        let txn = db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut t = txn.open_table(table).map_err(|e| self.db_err(e))?;
            t.insert(key, value).map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    fn decode<T: for<'de> Deserialize<'de>>(&self, bytes: &[u8]) -> Result<T, RecordsError> {
        serde_json::from_slice(bytes).map_err(|e| RecordsError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// The record of the step with this cache key.
    pub fn step(&self, key: &[u8; 32]) -> Result<Option<StepRecord>, RecordsError> {
        self.get_raw(STEPS, key.as_slice())?
            .map(|b| self.decode(&b))
            .transpose()
    }

    /// Record a step's result; the snapshot must already be published.
    pub fn put_step(&self, key: &[u8; 32], record: &StepRecord) -> Result<(), RecordsError> {
        let bytes = serde_json::to_vec(record).map_err(|e| self.db_err(e))?;
        self.put_raw(STEPS, key.as_slice(), &bytes)
    }

    /// The memoised digest of a context file, by its encoded stat identity
    /// (dev, inode, size, mtime, ctime, mode: if none changed, the bytes did not
    /// either; size and mtime alone would miss a rewrite that restores them).
    pub fn memo(&self, key: &[u8]) -> Result<Option<[u8; 32]>, RecordsError> {
        Ok(self
            .get_raw(MEMO, key)?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()))
    }

    /// Every memoised context-file digest, read in one transaction so a build
    /// that hashes many files does not open the database per file.
    pub fn memos(&self) -> Result<std::collections::HashMap<Vec<u8>, [u8; 32]>, RecordsError> {
        use redb::ReadableTable;
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.db_err(e))?;
        let t = match txn.open_table(MEMO) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(self.db_err(e)),
        };
        let mut out = std::collections::HashMap::new();
        for entry in t.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = entry.map_err(|e| self.db_err(e))?;
            if let Ok(d) = <[u8; 32]>::try_from(v.value()) {
                out.insert(k.value().to_vec(), d);
            }
        }
        Ok(out)
    }

    /// Memoise many context-file digests in one transaction.
    pub fn put_memos(&self, entries: &[(Vec<u8>, [u8; 32])]) -> Result<(), RecordsError> {
        if entries.is_empty() {
            return Ok(());
        }
        let db = self.open()?;
        let txn = db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut t = txn.open_table(MEMO).map_err(|e| self.db_err(e))?;
            for (k, d) in entries {
                t.insert(k.as_slice(), d.as_slice())
                    .map_err(|e| self.db_err(e))?;
            }
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// The blob holding a layer in a given compression; `layer` names the
    /// layer (a step's cache key in hex, or a base layer's diffID).
    pub fn blob(&self, layer: &str, compression: &str) -> Result<Option<BlobRecord>, RecordsError> {
        let key = format!("{layer}/{compression}");
        self.get_raw(BLOBS, key.as_bytes())?
            .map(|b| self.decode(&b))
            .transpose()
    }

    /// Remember the blob holding a layer in a given compression.
    pub fn put_blob(
        &self,
        layer: &str,
        compression: &str,
        record: &BlobRecord,
    ) -> Result<(), RecordsError> {
        let key = format!("{layer}/{compression}");
        let bytes = serde_json::to_vec(record).map_err(|e| self.db_err(e))?;
        self.put_raw(BLOBS, key.as_bytes(), &bytes)
    }

    /// The blobs the layer records pin, for garbage collection: a step's layer blob
    /// stays in the store after the last image using it is removed, so a rebuild
    /// reuses it instead of compressing again. These are extra roots for
    /// [`GcGuard::collect`](crate::GcGuard::collect); read them after taking the guard.
    ///
    /// A root without an index (no build ran yet) pins nothing, and the index is not
    /// created by asking. A record whose digest does not parse pins nothing either: it
    /// can never be reused ([`Digest::parse`](crate::Digest::parse) rejects it there too).
    pub fn pinned_blobs(&self) -> Result<Vec<crate::Digest>, RecordsError> {
        use redb::ReadableTable;
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.db_err(e))?;
        let t = match txn.open_table(BLOBS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.db_err(e)),
        };
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| self.db_err(e))? {
            let (_, v) = entry.map_err(|e| self.db_err(e))?;
            let record: BlobRecord = self.decode(v.value())?;
            match crate::Digest::parse(&record.digest) {
                Ok(digest) => out.push(digest),
                Err(_) => {
                    tracing::debug!(digest = %record.digest, "layer record with an unusable digest pins nothing")
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The last download of a remote file; `source` names it (its URL and
    /// the file name it is stored under).
    pub fn http(&self, source: &str) -> Result<Option<HttpRecord>, RecordsError> {
        self.get_raw(HTTP, source.as_bytes())?
            .map(|b| self.decode(&b))
            .transpose()
    }

    /// Remember a download of a remote file; the snapshot must already be published.
    pub fn put_http(&self, source: &str, record: &HttpRecord) -> Result<(), RecordsError> {
        let bytes = serde_json::to_vec(record).map_err(|e| self.db_err(e))?;
        self.put_raw(HTTP, source.as_bytes(), &bytes)
    }

    /// Every row of `table`, read in one transaction; a root without an index has none
    /// (and asking does not create the index).
    fn all_raw(&self, table: TableDefinition<&[u8], &[u8]>) -> Result<Vec<Row>, RecordsError> {
        use redb::ReadableTable;
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        let db = self.open()?;
        let txn = db.begin_read().map_err(|e| self.db_err(e))?;
        let t = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.db_err(e)),
        };
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = entry.map_err(|e| self.db_err(e))?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Every step record with its cache key, for `strata prune` and `strata du`. A row
    /// whose key is not 32 bytes cannot be looked up by any build and is skipped.
    pub fn steps(&self) -> Result<Vec<([u8; 32], StepRecord)>, RecordsError> {
        let mut out = Vec::new();
        for (k, v) in self.all_raw(STEPS)? {
            if let Ok(key) = <[u8; 32]>::try_from(k.as_slice()) {
                out.push((key, self.decode(&v)?));
            }
        }
        Ok(out)
    }

    /// The names of every layer-blob record (`<layer>/<compression>`), for `strata prune`
    /// to drop those of the layers it removes.
    pub fn blob_keys(&self) -> Result<Vec<String>, RecordsError> {
        Ok(self
            .all_raw(BLOBS)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }

    /// Every download record with its source name, for `strata prune`.
    pub fn http_records(&self) -> Result<Vec<(String, HttpRecord)>, RecordsError> {
        let mut out = Vec::new();
        for (k, v) in self.all_raw(HTTP)? {
            out.push((String::from_utf8_lossy(&k).into_owned(), self.decode(&v)?));
        }
        Ok(out)
    }

    /// Marks the steps with these keys as used at `now` (Unix seconds), in one
    /// transaction: a solve calls it once at its end with every cache hit, so that
    /// `strata prune` removes the least recently *used* records first. Keys without
    /// a record (pruned meanwhile) are skipped.
    pub fn touch_steps(&self, keys: &[[u8; 32]], now: i64) -> Result<(), RecordsError> {
        if keys.is_empty() {
            return Ok(());
        }
        use redb::ReadableTable;
        let db = self.open()?;
        let txn = db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut t = txn.open_table(STEPS).map_err(|e| self.db_err(e))?;
            for key in keys {
                let old = t
                    .get(key.as_slice())
                    .map_err(|e| self.db_err(e))?
                    .map(|v| v.value().to_vec());
                let Some(old) = old else { continue };
                let mut record: StepRecord = self.decode(&old)?;
                if record.last_used >= now {
                    continue;
                }
                record.last_used = now;
                let bytes = serde_json::to_vec(&record).map_err(|e| self.db_err(e))?;
                t.insert(key.as_slice(), bytes.as_slice())
                    .map_err(|e| self.db_err(e))?;
            }
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// Removes records in one transaction (all or none), for `strata prune`: it runs
    /// before the snapshots they name are deleted, so no record ever names a half-deleted
    /// snapshot. A root without an index has nothing to remove.
    pub fn remove(&self, removal: &Removal) -> Result<(), RecordsError> {
        if !self.path.exists() {
            return Ok(());
        }
        let db = self.open()?;
        let txn = db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut t = txn.open_table(STEPS).map_err(|e| self.db_err(e))?;
            for key in &removal.steps {
                t.remove(key.as_slice()).map_err(|e| self.db_err(e))?;
            }
            let mut t = txn.open_table(BLOBS).map_err(|e| self.db_err(e))?;
            for key in &removal.blobs {
                t.remove(key.as_bytes()).map_err(|e| self.db_err(e))?;
            }
            let mut t = txn.open_table(HTTP).map_err(|e| self.db_err(e))?;
            for key in &removal.http {
                t.remove(key.as_bytes()).map_err(|e| self.db_err(e))?;
            }
        }
        if removal.last_inputs {
            txn.delete_table(LAST).map_err(|e| self.db_err(e))?;
        }
        if removal.memos {
            txn.delete_table(MEMO).map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// What a step (by its stable name) was last run with, for `--explain-cache`.
    pub fn last_inputs(&self, name: &str) -> Result<Option<Vec<u8>>, RecordsError> {
        self.get_raw(LAST, name.as_bytes())
    }

    /// Remember what a step was run with (an opaque encoding of its inputs).
    pub fn put_last_inputs(&self, name: &str, inputs: &[u8]) -> Result<(), RecordsError> {
        self.put_raw(LAST, name.as_bytes(), inputs)
    }

    /// Remember what many steps were run with, in one transaction (one commit's
    /// fsyncs for a whole build instead of one per step).
    pub fn put_many_last_inputs(&self, entries: &[(String, Vec<u8>)]) -> Result<(), RecordsError> {
        if entries.is_empty() {
            return Ok(());
        }
        let db = self.open()?;
        let txn = db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut t = txn.open_table(LAST).map_err(|e| self.db_err(e))?;
            for (name, inputs) in entries {
                t.insert(name.as_bytes(), inputs.as_slice())
                    .map_err(|e| self.db_err(e))?;
            }
        }
        txn.commit().map_err(|e| self.db_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let r = Records::new(dir.path().join("index"));
        let key = [7u8; 32];
        assert_eq!(r.step(&key).unwrap(), None);
        let rec = StepRecord {
            snapshot: "abc".into(),
            created: 1,
            last_used: 2,
        };
        r.put_step(&key, &rec).unwrap();
        let again = Records::new(dir.path().join("index"));
        assert_eq!(again.step(&key).unwrap(), Some(rec));

        let sk = vec![1u8, 2, 3];
        assert_eq!(r.memo(&sk).unwrap(), None);
        r.put_memos(&[(sk.clone(), [9; 32])]).unwrap();
        assert_eq!(r.memo(&sk).unwrap(), Some([9; 32]));
        assert_eq!(r.memo(&[1u8, 2, 4]).unwrap(), None);
        assert_eq!(r.memos().unwrap().get(&sk), Some(&[9; 32]));

        let b = BlobRecord {
            diff_id: "sha256:11".into(),
            digest: "sha256:00".into(),
            size: 1,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        };
        r.put_blob("sha256:11", "gzip", &b).unwrap();
        assert_eq!(r.blob("sha256:11", "gzip").unwrap(), Some(b));
        // "sha256:00" is no valid digest: it pins nothing.
        assert_eq!(r.pinned_blobs().unwrap(), vec![]);
        assert_eq!(r.blob("sha256:11", "zstd").unwrap(), None);

        let h = HttpRecord {
            etag: Some("\"x\"".into()),
            last_modified: None,
            digest: "sha256:22".into(),
            snapshot: "http-22".into(),
        };
        assert_eq!(r.http("http://a/b\0b").unwrap(), None);
        r.put_http("http://a/b\0b", &h).unwrap();
        assert_eq!(r.http("http://a/b\0b").unwrap(), Some(h));
    }

    #[test]
    fn layer_records_pin_their_blobs_and_no_index_pins_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let r = Records::new(&path);
        assert_eq!(r.pinned_blobs().unwrap(), vec![]);
        assert!(!path.exists(), "asking must not create the index");
        let a = crate::Digest::of(b"a");
        let b = crate::Digest::of(b"b");
        for (layer, compression, digest) in
            [("s1", "gzip", a), ("s1", "zstd", b), ("s2", "gzip", a)]
        {
            let record = BlobRecord {
                diff_id: crate::Digest::of(layer.as_bytes()).to_string(),
                digest: digest.to_string(),
                size: 1,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            };
            r.put_blob(layer, compression, &record).unwrap();
        }
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(r.pinned_blobs().unwrap(), want);
    }

    #[test]
    fn touch_and_remove_change_only_what_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let r = Records::new(&path);
        r.remove(&Removal::default()).unwrap();
        assert!(!path.exists(), "removing from no index must not create it");
        for k in [1u8, 2] {
            let rec = StepRecord {
                snapshot: format!("s{k}"),
                created: 10,
                last_used: 10,
            };
            r.put_step(&[k; 32], &rec).unwrap();
        }
        r.touch_steps(&[[1; 32], [9; 32]], 50).unwrap();
        assert_eq!(r.step(&[1; 32]).unwrap().unwrap().last_used, 50);
        assert_eq!(r.step(&[2; 32]).unwrap().unwrap().last_used, 10);
        assert_eq!(r.step(&[9; 32]).unwrap(), None, "touch creates no record");
        r.put_last_inputs("n", b"x").unwrap();
        r.put_memos(&[(vec![1], [3; 32])]).unwrap();
        r.remove(&Removal {
            steps: vec![[1; 32]],
            last_inputs: true,
            ..Removal::default()
        })
        .unwrap();
        let left: Vec<[u8; 32]> = r.steps().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, vec![[2; 32]]);
        assert_eq!(r.last_inputs("n").unwrap(), None);
        assert_eq!(r.memo(&[1]).unwrap(), Some([3; 32]));
    }

    /// The child half of `another_process_uses_the_index_while_this_one_holds_it`.
    #[test]
    fn child_writes_and_reads_the_index() {
        let Some(path) = std::env::var_os("STRATA_RECORDS_CHILD") else {
            return;
        };
        let r = Records::new(PathBuf::from(path));
        assert_eq!(r.step(&[1; 32]).unwrap().unwrap().snapshot, "parent");
        let rec = StepRecord {
            snapshot: "child".into(),
            created: 2,
            last_used: 2,
        };
        r.put_step(&[2; 32], &rec).unwrap();
    }

    #[test]
    fn another_process_uses_the_index_while_this_one_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let r = Records::new(&path);
        let rec = StepRecord {
            snapshot: "parent".into(),
            created: 1,
            last_used: 1,
        };
        r.put_step(&[1; 32], &rec).unwrap();
        // `r` keeps the database open; another process must not wait for it.
        let started = std::time::Instant::now();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "records::tests::child_writes_and_reads_the_index",
            ])
            .env("STRATA_RECORDS_CHILD", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(r.step(&[2; 32]).unwrap().unwrap().snapshot, "child");
    }

    #[test]
    fn concurrent_threads_share_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = path.clone();
                s.spawn(move || {
                    let r = Records::new(path);
                    for i in 0..10u8 {
                        let rec = StepRecord {
                            snapshot: format!("{t}-{i}"),
                            created: 0,
                            last_used: 0,
                        };
                        r.put_step(&[t * 16 + i; 32], &rec).unwrap();
                    }
                });
            }
        });
        let r = Records::new(path);
        for t in 0..4u8 {
            for i in 0..10u8 {
                assert_eq!(
                    r.step(&[t * 16 + i; 32]).unwrap().unwrap().snapshot,
                    format!("{t}-{i}")
                );
            }
        }
    }
}
