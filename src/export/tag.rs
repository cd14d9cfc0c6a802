//! Naming an assembled image: tags in the local store, `--iidfile`, `--metadata-file`.
//!
//! Names are normalised as docker does (`app:1` is `docker.io/library/app:1`) by the
//! registry client's [`Reference`], so that `strata build -t app:1` and a later
//! `skopeo copy oci:<root>/store:docker.io/library/app:1` agree on the name.

use std::collections::BTreeMap;
use std::path::Path;

use registry_client::Reference;
use serde_json::json;

use super::assemble::Image;
use super::error::{ExportError, Result};

/// The full, normalised form of an image name given with `-t` (`app` ->
/// `docker.io/library/app:latest`), checked against the store's name grammar.
///
/// Digests are refused: a build produces a new digest, it cannot be named by one.
pub fn normalize_name(name: &str) -> Result<String> {
    let invalid = |reason: String| ExportError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    let reference = Reference::parse(name).map_err(|e| invalid(e.to_string()))?;
    if reference.digest().is_some() {
        return Err(invalid(
            "a built image cannot be named by a digest".to_owned(),
        ));
    }
    let full = reference.to_string();
    cache::validate_name(&full).map_err(|e| invalid(e.to_string()))?;
    Ok(full)
}

/// Normalises every `-t` name, keeping the first of duplicates, in order.
pub fn normalize_names<S: AsRef<str>>(names: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let full = normalize_name(name.as_ref())?;
        if !out.contains(&full) {
            out.push(full);
        }
    }
    Ok(out)
}

/// Names the image in the local store under each of `names` (already normalised),
/// replacing what they named before.
pub fn tag(image: &Image, names: &[String]) -> Result<()> {
    let descriptor = image.manifest.to_oci();
    for name in names {
        let previous = image.store.tag(&image.lease, name, &descriptor)?;
        match previous {
            Some(old) if old.digest() != descriptor.digest() => {
                tracing::info!(%name, old = %old.digest(), new = %image.manifest.digest, "moved tag")
            }
            _ => tracing::info!(%name, digest = %image.manifest.digest, "tagged image"),
        }
    }
    Ok(())
}

/// Writes the image ID (the config digest) to `path`, as `docker build --iidfile` does:
/// scripts read it to refer to the image without a name.
pub fn write_iidfile(image: &Image, path: &Path) -> Result<()> {
    std::fs::write(path, image.config.digest.to_string()).map_err(ExportError::io("write", path))
}

/// The `--metadata-file` document, in buildx's vocabulary.
///
/// Keys: `containerimage.digest` (manifest), `containerimage.config.digest`,
/// `containerimage.descriptor` and, when named, `image.name` (comma-joined).
pub fn metadata(image: &Image, names: &[String]) -> serde_json::Value {
    let mut doc = BTreeMap::new();
    doc.insert(
        "containerimage.config.digest",
        json!(image.config.digest.to_string()),
    );
    doc.insert(
        "containerimage.descriptor",
        json!({
            "mediaType": image.manifest.media_type,
            "digest": image.manifest.digest.to_string(),
            "size": image.manifest.size,
        }),
    );
    doc.insert(
        "containerimage.digest",
        json!(image.manifest.digest.to_string()),
    );
    if !names.is_empty() {
        doc.insert("image.name", json!(names.join(",")));
    }
    json!(doc)
}

/// Writes [`metadata`] to `path` (pretty-printed, as buildx does), for CI scripts that
/// need the digest of what was built.
pub fn write_metadata_file(image: &Image, names: &[String], path: &Path) -> Result<()> {
    let mut text =
        serde_json::to_vec_pretty(&metadata(image, names)).map_err(|source| ExportError::Json {
            what: "metadata file",
            source,
        })?;
    text.push(b'\n');
    std::fs::write(path, text).map_err(ExportError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_like_docker() {
        assert_eq!(normalize_name("app:1").unwrap(), "docker.io/library/app:1");
        assert_eq!(
            normalize_name("app").unwrap(),
            "docker.io/library/app:latest"
        );
        assert_eq!(
            normalize_name("localhost:5000/team/app:2").unwrap(),
            "localhost:5000/team/app:2"
        );
        assert_eq!(
            normalize_names(&["app", "docker.io/library/app:latest", "b:1"]).unwrap(),
            ["docker.io/library/app:latest", "docker.io/library/b:1"]
        );
    }

    #[test]
    fn malformed_names_are_input_errors() {
        for bad in [
            "App:1",
            "app:",
            "",
            "app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let err = normalize_name(bad).unwrap_err();
            assert!(
                matches!(err, ExportError::InvalidName { .. }),
                "{bad}: {err}"
            );
        }
    }
}
