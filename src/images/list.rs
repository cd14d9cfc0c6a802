//! Summaries of the tagged images, for `strata images`.

use cache::Store;
use cache::oci_spec::image::{ImageIndex, ImageManifest};

use super::{ImageError, platform_of, read_optional};

/// A summary of one tagged image, for `strata images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The store name.
    pub name: String,
    /// The manifest (or index) digest.
    pub digest: String,
    /// Config plus layers, in bytes (compressed, as stored); `None` if blobs are missing.
    pub size: Option<u64>,
    /// The config's `created`, RFC 3339.
    pub created: Option<String>,
    /// The platform, from the config.
    pub platform: Option<String>,
}

/// Summaries of every tagged image of `store`, in `index.json` order.
pub fn list_images(store: &Store) -> Result<Vec<ImageSummary>, ImageError> {
    let mut out = Vec::new();
    for tagged in store.list()? {
        let descriptor = &tagged.descriptor;
        let mut summary = ImageSummary {
            name: tagged.name.clone(),
            digest: descriptor.digest().to_string(),
            size: None,
            created: None,
            platform: None,
        };
        let mut manifests = vec![descriptor.clone()];
        if registry_client::is_index(descriptor.media_type().as_ref()) {
            manifests = match read_optional(store, descriptor)? {
                Some(bytes) => serde_json::from_slice::<ImageIndex>(&bytes)
                    .map(|i| i.manifests().clone())
                    .unwrap_or_default(),
                None => Vec::new(),
            };
        }
        let mut size = 0u64;
        let mut complete = !manifests.is_empty();
        for m in &manifests {
            let manifest = read_optional(store, m)?
                .and_then(|b| serde_json::from_slice::<ImageManifest>(&b).ok());
            let Some(manifest) = manifest else {
                complete = false;
                continue;
            };
            size +=
                manifest.config().size() + manifest.layers().iter().map(|l| l.size()).sum::<u64>();
            if summary.created.is_none()
                && let Some(config) = read_optional(store, manifest.config())?
                && let Ok(spec) = serde_json::from_slice::<frontend::ImageSpec>(&config)
            {
                summary.platform = Some(platform_of(&spec).to_string());
                summary.created = spec.created;
            }
        }
        summary.size = complete.then_some(size);
        out.push(summary);
    }
    Ok(out)
}
