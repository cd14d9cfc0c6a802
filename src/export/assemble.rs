//! Assembling an image: layers, then the config, then the manifest, all as store blobs.
//!
//! The config is the lowered [`ImageSpec`] completed with what only the end of a build
//! knows: `rootfs.diff_ids` (base layers then this build's), `created` (from
//! `SOURCE_DATE_EPOCH`, else now), the history times, `--label`s and the platform. The
//! manifest lists the blobs in one media-type family (OCI, or Docker schema2). Both are
//! serialised from structs with a fixed field order and no maps with unstable order, so
//! the same inputs and `SOURCE_DATE_EPOCH` give byte-identical blobs and digests.

use std::time::{SystemTime, UNIX_EPOCH};

use cache::layer::Compression;
use cache::records::Records;
use cache::{Digest, Lease, Store};
use frontend::image::{History, ImageSpec};
use serde::{Deserialize, Serialize};
use solver::solve::BaseLayer;

use super::error::{ExportError, Result};
use super::layers::{
    Layer, LayerOrigin, StepLayer, WriteSettings, layer_media_type, needs_oci, parse_digest,
    step_layers,
};
use super::options::ExportOptions;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The comment of history entries the exporter had to add for layers without one.
const ADDED_HISTORY_COMMENT: &str = "strata.exporter.image.v0";

/// A blob of the exported image (its manifest or config), as a descriptor names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

impl Descriptor {
    /// The same descriptor in the OCI types of the cache crate's API (for tagging).
    pub fn to_oci(&self) -> cache::oci_spec::image::Descriptor {
        cache::oci_spec::image::Descriptor::new(
            self.media_type.as_str().into(),
            self.size,
            self.digest,
        )
    }
}

/// An assembled image: every blob is in the store, nothing is named yet.
///
/// It holds a garbage-collection [`Lease`] until dropped, so tag it (and write its
/// outputs) before dropping it.
#[derive(Debug)]
pub struct Image {
    /// The manifest blob: what a name (tag) points to; its digest is the image digest.
    pub manifest: Descriptor,
    /// The config blob; its digest is the image ID (`--iidfile`).
    pub config: Descriptor,
    /// All layers, base first, in the manifest's media-type family.
    pub layers: Vec<Layer>,
    /// `SOURCE_DATE_EPOCH` of the export, reused for archive entry times.
    pub source_date_epoch: Option<i64>,
    /// The store holding every blob, for tagging and outputs.
    pub(crate) store: Store,
    /// Keeps garbage collection from removing the blobs before they are named.
    pub(crate) lease: Lease,
}

/// The image manifest, field order as registries and docker print it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: Vec<Descriptor>,
}

/// Writes the layers, config and manifest of an image into the store.
///
/// `spec` is the lowered config (history of this build has one `empty_layer: false`
/// entry per layer step); `base` are the base image's layers, already stored; `steps`
/// are this build's layer steps in order. Step layers are compressed in parallel and
/// recorded in `records`, and a step whose blob is recorded is not compressed again.
/// A step whose diff is empty adds no layer and its history entry becomes
/// `empty_layer: true`.
pub fn assemble(
    store: &Store,
    records: &Records,
    spec: ImageSpec,
    base: &[BaseLayer],
    steps: &[StepLayer],
    options: &ExportOptions,
) -> Result<Image> {
    let lease = store.lease()?;
    let oci = use_oci(base, options);

    let mut layers = Vec::with_capacity(base.len() + steps.len());
    for layer in base {
        let digest = parse_digest(&layer.digest, "a base layer")?;
        if !store.exists(&digest)? {
            return Err(ExportError::MissingBaseLayer {
                digest: layer.digest.clone(),
            });
        }
        layers.push(Layer {
            media_type: layer.media_type.clone(),
            digest,
            size: layer.size,
            diff_id: parse_digest(&layer.diff_id, "a base layer")?,
            origin: LayerOrigin::Base,
        });
    }
    let settings = WriteSettings {
        compression: options.compression,
        source_date_epoch: options.source_date_epoch,
        jobs: options.jobs,
    };
    let written = step_layers(store, &lease, records, steps, settings)?;
    let present: Vec<bool> = written.iter().map(Option::is_some).collect();
    layers.extend(written.into_iter().flatten());
    for layer in &mut layers {
        layer.media_type = layer_media_type(&layer.media_type, oci);
    }

    let times = build_times(records, steps, options.source_date_epoch);
    let spec = complete_spec(spec, base.len(), &present, &layers, &times, options);
    let (manifest_type, config_type) = if oci {
        (OCI_MANIFEST, OCI_CONFIG)
    } else {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let config_bytes = serde_json::to_vec(&spec).map_err(|source| ExportError::Json {
        what: "image config",
        source,
    })?;
    let config = Descriptor {
        media_type: config_type.to_owned(),
        digest: store.write_blob(&lease, &config_bytes)?,
        size: config_bytes.len() as u64,
    };
    let manifest_doc = Manifest {
        schema_version: 2,
        media_type: manifest_type,
        config: &config,
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: l.media_type.clone(),
                digest: l.digest,
                size: l.size,
            })
            .collect(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest_doc).map_err(|source| ExportError::Json {
        what: "image manifest",
        source,
    })?;
    let manifest = Descriptor {
        media_type: manifest_type.to_owned(),
        digest: store.write_blob(&lease, &manifest_bytes)?,
        size: manifest_bytes.len() as u64,
    };
    let count = |origin| layers.iter().filter(|l| l.origin == origin).count();
    tracing::info!(
        manifest = %manifest.digest,
        config = %config.digest,
        base = count(LayerOrigin::Base),
        reused = count(LayerOrigin::Reused),
        written = count(LayerOrigin::Written),
        "assembled image"
    );
    Ok(Image {
        manifest,
        config,
        layers,
        source_date_epoch: options.source_date_epoch,
        store: store.clone(),
        lease,
    })
}

/// Whether the image uses OCI media types: asked for, or forced by zstd layers.
fn use_oci(base: &[BaseLayer], options: &ExportOptions) -> bool {
    if options.oci_mediatypes {
        return true;
    }
    let zstd_steps = matches!(options.compression, Compression::Zstd { .. });
    let zstd_base = base.iter().any(|l| needs_oci(&l.media_type));
    if zstd_steps || zstd_base {
        tracing::warn!("zstd layers have no Docker media type: using OCI media types");
        return true;
    }
    false
}

/// The times an image records: its `created` and each layer step's history time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BuildTimes {
    /// The config's `created`, and the time of history entries that have none.
    image: String,
    /// Per layer step, when its cache record was made (`None`: use `image`).
    steps: Vec<Option<String>>,
}

/// The times of an image built from `steps`.
///
/// With `SOURCE_DATE_EPOCH`, every time is the epoch. Without it, a layer step's time
/// is when its cache record was made (when the step last actually ran), and the image's
/// is the latest of them, as BuildKit does: a fully cached rebuild then writes the same
/// config and manifest, so the image digest and ID do not change and the store is left
/// as it was. If any step's record is unknown (an index that cannot be read), the
/// image's time is now, so it is never older than a step it holds.
fn build_times(records: &Records, steps: &[StepLayer], epoch: Option<i64>) -> BuildTimes {
    if let Some(epoch) = epoch {
        return BuildTimes {
            image: rfc3339(epoch, 0),
            steps: vec![None; steps.len()],
        };
    }
    let known: Vec<Option<i64>> = steps.iter().map(|s| step_created(records, &s.id)).collect();
    let latest = known.iter().copied().collect::<Option<Vec<i64>>>();
    let image = match latest.and_then(|t| t.into_iter().max()) {
        Some(t) => rfc3339(t, 0),
        None => now_rfc3339(),
    };
    BuildTimes {
        image,
        steps: known
            .into_iter()
            .map(|t| t.map(|t| rfc3339(t, 0)))
            .collect(),
    }
}

/// When the cache record of the step with this id (its cache key in hex) was made.
fn step_created(records: &Records, id: &str) -> Option<i64> {
    let key = parse_key(id)?;
    match records.step(&key) {
        Ok(record) => record.map(|r| r.created),
        Err(e) => {
            tracing::warn!(step = id, error = %e, "cannot read the step's cache record; the image gets the current time");
            None
        }
    }
}

/// A cache key from its 64-digit lowercase hex spelling.
fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (out, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        *out = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(key)
}

/// The final config: platform, labels, `rootfs`, `created` and history completed.
///
/// `present[i]` says whether step `i` produced a layer.
fn complete_spec(
    mut spec: ImageSpec,
    base_layers: usize,
    present: &[bool],
    layers: &[Layer],
    times: &BuildTimes,
    options: &ExportOptions,
) -> ImageSpec {
    let created = times.image.as_str();
    spec.architecture = options.platform.architecture.clone();
    spec.os = options.platform.os.clone();
    spec.variant = options.platform.variant.clone();
    for (k, v) in &options.labels {
        spec.config.labels.insert(k.clone(), v.clone());
    }
    spec.rootfs.kind = "layers".to_owned();
    spec.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.to_string()).collect();
    spec.created = Some(created.to_owned());
    spec.history = complete_history(spec.history, base_layers, present, &times.steps, created);
    spec
}

/// Makes the history agree with the layers: the last `present.len()` layer entries are
/// this build's steps (an empty step's entry becomes `empty_layer`); the ones before
/// belong to the base layers, padded with added entries when the base image had too
/// few and marked empty when it had too many (as BuildKit repairs odd base images);
/// a step's entry without a time gets its `step_times` one (parallel to `present`) if
/// known; other entries without a time get `created`.
fn complete_history(
    mut history: Vec<History>,
    base_layers: usize,
    present: &[bool],
    step_times: &[Option<String>],
    created: &str,
) -> Vec<History> {
    let added = || History {
        comment: ADDED_HISTORY_COMMENT.to_owned(),
        ..History::default()
    };
    let layer_entries = |history: &[History]| -> Vec<usize> {
        let entries = history.iter().enumerate();
        entries
            .filter(|(_, h)| !h.empty_layer)
            .map(|(i, _)| i)
            .collect()
    };
    let mut indexes = layer_entries(&history);
    if indexes.len() < present.len() {
        tracing::warn!("fewer history entries than layer steps: adding entries");
        history.extend(std::iter::repeat_with(added).take(present.len() - indexes.len()));
        indexes = layer_entries(&history);
    }
    let first_step = indexes.len() - present.len();
    if first_step < base_layers {
        let at = indexes.get(first_step).copied().unwrap_or(history.len());
        let padding = std::iter::repeat_with(added).take(base_layers - first_step);
        history.splice(at..at, padding);
        indexes = layer_entries(&history);
    } else {
        for &i in &indexes[base_layers..first_step] {
            tracing::warn!(created_by = %history[i].created_by, "base history entry without a layer marked empty");
            history[i].empty_layer = true;
        }
    }
    let step_entries = &indexes[indexes.len() - present.len()..];
    for (&i, &has_layer) in step_entries.iter().zip(present) {
        history[i].empty_layer = !has_layer;
    }
    for (&i, time) in step_entries.iter().zip(step_times) {
        if history[i].created.is_none() {
            history[i].created.clone_from(time);
        }
    }
    for entry in &mut history {
        if entry.created.is_none() {
            entry.created = Some(created.to_owned());
        }
    }
    history
}

/// The current time in RFC 3339 with nanoseconds, as BuildKit writes it.
fn now_rfc3339() -> String {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => rfc3339(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => rfc3339(0, 0),
    }
}

/// `secs` (Unix time) as RFC 3339 UTC, e.g. `2024-01-01T00:00:00Z`; nanoseconds are
/// printed without trailing zeros (Go's `RFC3339Nano`), and not at all when zero.
pub(crate) fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = crate::calendar::civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc_times() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1, 0), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(0, 120_000_000), "1970-01-01T00:00:00.12Z");
    }

    fn entry(created_by: &str, empty: bool) -> History {
        History {
            created_by: created_by.to_owned(),
            empty_layer: empty,
            ..History::default()
        }
    }

    #[test]
    fn history_marks_empty_steps_and_keeps_base_entries() {
        let base = History {
            created: Some("2020-01-01T00:00:00Z".into()),
            ..entry("base", false)
        };
        let history = vec![
            base,
            entry("ENV A=1", true),
            entry("RUN a", false),
            entry("RUN b", false),
        ];
        let out = complete_history(history, 1, &[true, false], &[None, None], "T");
        let flags: Vec<bool> = out.iter().map(|h| h.empty_layer).collect();
        assert_eq!(flags, [false, true, false, true]);
        assert_eq!(out[0].created.as_deref(), Some("2020-01-01T00:00:00Z"));
        assert!(out[1..].iter().all(|h| h.created.as_deref() == Some("T")));
    }

    #[test]
    fn history_is_padded_or_trimmed_to_the_layers() {
        // A base image without history: an entry is added for its layer, before the
        // build's own entry, which stays the step's.
        let out = complete_history(vec![entry("RUN a", false)], 1, &[true], &[None], "T");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].comment, ADDED_HISTORY_COMMENT);
        assert!(!out[0].empty_layer && !out[1].empty_layer);
        assert_eq!(out[1].created_by, "RUN a");
        // Too many base entries: the surplus is marked empty, the step keeps its own.
        let surplus = vec![entry("x", false), entry("y", false), entry("RUN a", false)];
        let out = complete_history(surplus, 1, &[false], &[None], "T");
        let flags: Vec<bool> = out.iter().map(|h| h.empty_layer).collect();
        assert_eq!(flags, [false, true, true]);
    }

    #[test]
    fn step_entries_take_their_steps_times() {
        let history = vec![
            entry("base", false),
            entry("RUN a", false),
            entry("ENV A=1", true),
            entry("RUN b", false),
            entry("CMD x", true),
        ];
        let times = [Some("S1".to_owned()), None];
        let out = complete_history(history, 1, &[true, false], &times, "T");
        let got: Vec<&str> = out.iter().filter_map(|h| h.created.as_deref()).collect();
        // The empty step keeps an entry (marked empty) and, its time unknown, the image's.
        assert_eq!(got, ["T", "S1", "T", "T", "T"]);
        assert!(out[3].empty_layer);
    }

    #[test]
    fn cache_keys_parse_from_hex() {
        let key = [0xabu8; 32];
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_key(&hex), Some(key));
        assert_eq!(parse_key("step-add"), None);
        assert_eq!(parse_key(&hex[1..]), None);
        assert_eq!(parse_key(&"zz".repeat(32)), None);
    }
}
